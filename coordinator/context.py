"""What views and background loops of one app share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from gevent.event import Event

from coordinator.config import Settings
from coordinator.db import Database
from coordinator.links import LinkSigner

if TYPE_CHECKING:
    from coordinator.events import StatusWriter


@dataclass
class Tocsin:
    """Kept on app.extensions["tocsin"]."""

    settings: Settings
    db: Database
    links: LinkSigner
    outbox_written: Event = field(default_factory=Event)  # wakes the relay
    statuses: StatusWriter | None = None  # batches status reports while the hub loops run


def tocsin() -> Tocsin:
    return current_app.extensions["tocsin"]
