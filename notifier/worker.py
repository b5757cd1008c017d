"""The worker loop: take a notify message, send it within the provider's pace, report.

Every outcome is published before the message is acked, so nothing is
dropped silently:
- sent: a "sent" event with the provider's id (and SMS segments);
- permanent failure: a "failed" event;
- transient failure: the next attempt goes to a retry queue (back-off) and a
  "retrying" event tells the console why; after max_attempts tries the
  message goes to the dead queue instead, where the coordinator records it.
If one of those publishes fails, the exception propagates and the transport
redelivers the message (at least once; a duplicate is possible, loss is not).
"""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from broker.messages import DeadLetter, MessageError, NotifyMessage, ResultEvent
from broker.transport import Drop, Transport
from notifier.channels import Channel, SendError, Sent
from notifier.config import NotifierSettings
from notifier.events import EventPublisher
from notifier.pacing import Pacer

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        transport: Transport,
        channels: dict[str, Channel],
        settings: NotifierSettings | None = None,
    ) -> None:
        self.transport = transport
        self.channels = channels
        self.settings = settings or NotifierSettings()
        self.events = EventPublisher(transport)
        # One pacer per channel (one sender each), shared by all its handler greenlets.
        self.pacers = {name: Pacer(*self.settings.limits(name)) for name in channels}

    def handle(self, body: bytes) -> None:
        try:
            msg = NotifyMessage.from_json(body)
        except MessageError as exc:
            raise Drop(str(exc)) from exc
        channel = self.channels.get(msg.channel)
        if channel is None:
            raise Drop(f"this worker has no {msg.channel} channel")
        try:
            sent = self._send(channel, msg)
        except SendError as exc:
            self._failed(msg, exc)
            return
        self._report(msg, "sent", provider_id=sent.provider_id, segments=sent.segments)

    def _send(self, channel: Channel, msg: NotifyMessage) -> Sent:
        if msg.simulated and not self.settings.reaches_simulator(msg.channel, msg.address):
            # A made-up number must never reach a real carrier (or cost a real SMS).
            raise SendError(
                "simulated responder: sent only to the provider simulator, and this worker's "
                f"{msg.channel} goes to a real provider",
                permanent=True,
            )
        with self.pacers[msg.channel]:
            try:
                return channel.send(msg)
            except SendError:
                raise
            except Exception as exc:
                # A bug or an unforeseen provider failure: retried and, if it
                # persists, dead-lettered where someone sees it, rather than
                # requeued forever.
                log.exception(
                    "notification %s: %s channel raised", msg.notification_id, msg.channel
                )
                raise SendError(f"unexpected {type(exc).__name__}: {exc}") from exc

    def _failed(self, msg: NotifyMessage, exc: SendError) -> None:
        nid, error = msg.notification_id, str(exc)
        if exc.permanent:
            log.warning("notification %s failed for good: %s", nid, error)
            self._report(msg, "failed", error=error)
        elif msg.attempt < self.settings.max_attempts:
            log.warning("notification %s attempt %s: %s; will retry", nid, msg.attempt, error)
            # The event first: should the retry publish then fail, the
            # redelivered message is the only copy left to send, not a second one.
            self._report(msg, "retrying", error=error)
            self.transport.publish_retry(msg)
        else:
            log.warning("notification %s gave up after %s attempts: %s", nid, msg.attempt, error)
            letter = DeadLetter(message=msg.to_json().decode(), error=error, attempts=msg.attempt)
            self.transport.publish_dead(letter, msg.channel)

    def _report(
        self,
        msg: NotifyMessage,
        status: str,
        *,
        provider_id: str | None = None,
        error: str | None = None,
        segments: int | None = None,
    ) -> None:
        self.events.publish(
            ResultEvent(
                notification_id=msg.notification_id,
                incident_id=msg.incident_id,
                channel=msg.channel,
                status=status,
                provider_id=provider_id,
                error=error,
                attempt=msg.attempt,
                segments=segments,
            )
        )

    def run(self, stop: Event, *, prefetch: int = 10) -> None:
        """Consume every configured channel's queue until stop is set.

        Each channel's queue gets as many handler greenlets as its provider
        takes concurrent requests; its pacer keeps them within the rate.
        """
        self.transport.declare()
        consumers = []
        for name in self.channels:
            concurrency = self.pacers[name].concurrency
            consumers.append(
                gevent.spawn(
                    self.transport.consume,
                    self.transport.topology.notify_queue(name),
                    self.handle,
                    prefetch=max(prefetch, concurrency),
                    concurrency=concurrency,
                    stop=stop,
                )
            )
        log.info("worker consuming %s", ", ".join(self.channels))
        gevent.joinall(consumers, raise_error=True)
