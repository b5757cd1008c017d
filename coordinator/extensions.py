"""Flask extensions, created here and wired in create_app (no app at import).

Several hubs share what they emit to consoles through RabbitMQ: each hub sends
an emit to its own consoles at once and publishes it on a fanout exchange; every
other hub reads it from its own queue and sends it to its consoles (HubQueue).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import gevent
import kombu
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect
from gevent.queue import Full, Queue
from socketio import KombuManager, Manager

log = logging.getLogger(__name__)

socketio = SocketIO(async_mode="gevent")
login_manager = LoginManager()
csrf = CSRFProtect()

# Emits held for the other hubs while RabbitMQ is unreachable; past this many,
# new ones are dropped (this hub's own consoles still get them).
BACKLOG = 10_000
# A hub's queue outlives a lost connection by this long, so a short outage
# loses nothing, and a hub gone for good leaves nothing behind for longer.
QUEUE_EXPIRES_MS = 60_000
MAX_RETRY_SECONDS = 5.0


def client_manager(queue_url: str, prefix: str) -> Manager:
    """A new Socket.IO client manager for one app.

    SocketIO keeps init_app's options from one call to the next, so every app
    names its own: an app without a queue must not inherit an earlier app's.
    """
    if not queue_url:
        return Manager()
    return HubQueue(queue_url, channel=f"{prefix}tocsin.socketio")


class HubQueue(KombuManager):
    """Flask-SocketIO's RabbitMQ manager, made safe for an emergency hub.

    The library publishes in the emitting greenlet and, with RabbitMQ down,
    retries there forever: a responder's answer would hang with it. Here an emit
    reaches this hub's consoles at once and waits in a backlog that one greenlet
    publishes, with publisher confirms (a message written to a connection the
    broker has already dropped would otherwise vanish without an error).

    Each hub reads one queue named after its host and process, so an operator
    can tell whose it is; it survives a short outage, and RabbitMQ deletes it
    QUEUE_EXPIRES_MS after its hub stopped reading.
    """

    def __init__(self, url: str, channel: str) -> None:
        options = {"transport_options": {"confirm_publish": True}, "connect_timeout": 5}
        super().__init__(url, channel=channel, connection_options=options)
        self.queue_name = f"{channel}.{socket.gethostname()}.{os.getpid()}"
        self._backlog: Queue = Queue(BACKLOG)
        self._publisher: gevent.Greenlet | None = None
        self._producer: kombu.Producer | None = None
        self._dropped = 0

    def _queue(self) -> kombu.Queue:
        arguments = {"x-expires": QUEUE_EXPIRES_MS}
        return kombu.Queue(
            self.queue_name, self._exchange(), durable=False, queue_arguments=arguments
        )

    def _publish(self, data: Any) -> None:
        """Hand the message to the publishing greenlet; never block the emitter."""
        if self._publisher is None:
            self._publisher = gevent.spawn(self._publish_backlog)
        try:
            self._backlog.put_nowait(data)
        except Full:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.error(
                    "Socket.IO queue: backlog full, %d emits not sent to other hubs", self._dropped
                )

    def _publish_backlog(self) -> None:
        while True:
            self._send(self._backlog.get())

    def _send(self, data: Any) -> None:
        """Publish one message, waiting out an outage: order is kept, nothing skipped."""
        failures = 0
        while True:
            try:
                if self._producer is None:
                    self._producer = self.publisher_connection.Producer(exchange=self._exchange())
                self._producer.publish(self.json.dumps(data))
            except Exception as exc:  # any kombu, amqp or socket error: retry, never die
                failures += 1
                if failures == 1:
                    log.warning(
                        "Socket.IO queue: cannot publish to RabbitMQ (%r); other hubs' "
                        "consoles wait, %d emits held",
                        exc,
                        self._backlog.qsize() + 1,
                    )
                self._reset_publisher()
                gevent.sleep(min(failures * 0.5, MAX_RETRY_SECONDS))
            else:
                if failures:
                    log.info("Socket.IO queue: publishing to RabbitMQ again")
                return

    def _reset_publisher(self) -> None:
        """Forget a broken connection without talking to the broker; the next
        publish connects afresh."""
        self._producer = None
        try:
            self.publisher_connection.collect()
        except Exception:  # already broken: nothing more to release
            log.debug("Socket.IO queue: dropping the old connection failed", exc_info=True)
