"""What views and background loops of one app share."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from gevent.event import Event

from coordinator.config import Settings
from coordinator.db import Database
from coordinator.links import LinkSigner


@dataclass
class Tocsin:
    """Kept on app.extensions["tocsin"]."""

    settings: Settings
    db: Database
    links: LinkSigner
    outbox_written: Event = field(default_factory=Event)  # wakes the relay


def tocsin() -> Tocsin:
    return current_app.extensions["tocsin"]
