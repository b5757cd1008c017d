"""The worker loop: take a notify message, send it, report the result.

A message is acked only after the provider accepted it and the result event
was confirmed by the broker, or after a permanent failure was reported.
A transient failure raises, so the transport redelivers it (at least once).
"""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from broker.messages import MessageError, NotifyMessage, ResultEvent
from broker.transport import Drop, Transport
from notifier.channels import Channel, SendError

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, transport: Transport, channels: dict[str, Channel]) -> None:
        self.transport = transport
        self.channels = channels

    def handle(self, body: bytes) -> None:
        try:
            msg = NotifyMessage.from_json(body)
        except MessageError as exc:
            raise Drop(str(exc)) from exc
        channel = self.channels.get(msg.channel)
        if channel is None:
            raise Drop(f"this worker has no {msg.channel} channel")
        try:
            provider_id = channel.send(msg)
        except SendError as exc:
            if not exc.permanent:
                log.warning("notification %s: %s; will retry", msg.notification_id, exc)
                raise
            log.warning("notification %s failed for good: %s", msg.notification_id, exc)
            self._report(msg, "failed", error=str(exc))
            return
        self._report(msg, "sent", provider_id=provider_id)

    def _report(self, msg: NotifyMessage, status: str, **fields: str | None) -> None:
        self.transport.publish_event(
            ResultEvent(
                notification_id=msg.notification_id,
                incident_id=msg.incident_id,
                channel=msg.channel,
                status=status,
                **fields,  # type: ignore[arg-type]
            )
        )

    def run(self, stop: Event, *, prefetch: int = 10) -> None:
        """Consume every configured channel's queue until stop is set."""
        self.transport.declare()
        consumers = [
            gevent.spawn(
                self.transport.consume,
                self.transport.topology.notify_queue(name),
                self.handle,
                prefetch=prefetch,
                stop=stop,
            )
            for name in self.channels
        ]
        log.info("worker consuming %s", ", ".join(self.channels))
        gevent.joinall(consumers, raise_error=True)
