"""What the simulator saw and did, kept in memory for tests and operators to inspect."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["messages", "emails", "callbacks"]
KINDS: tuple[Kind, ...] = ("messages", "emails", "callbacks")


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Append-only lists guarded by one lock: HTTP, SMTP and callback threads all write here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[Kind, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        # Message resources by sid, so status updates and fetches find them.
        self._resources: dict[str, dict[str, Any]] = {}

    def add(self, kind: Kind, item: dict[str, Any]) -> None:
        with self._lock:
            self._lists[kind].append(item)

    def list(self, kind: Kind) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._lists[kind]]

    def reset(self) -> None:
        with self._lock:
            for items in self._lists.values():
                items.clear()
            self._resources.clear()

    def add_message(self, record: dict[str, Any], resource: dict[str, Any]) -> None:
        with self._lock:
            self._lists["messages"].append(record)
            self._resources[resource["sid"]] = resource

    def message_resource(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            resource = self._resources.get(sid)
            return dict(resource) if resource else None

    def set_status(self, sid: str, status: str, date_rfc2822: str) -> None:
        """Record a new delivery status on both the record and the Twilio resource."""
        with self._lock:
            resource = self._resources.get(sid)
            if resource is None:  # reset while callbacks were still pending
                return
            resource["status"] = status
            resource["date_updated"] = date_rfc2822
            if status == "sent":
                resource["date_sent"] = date_rfc2822
            for record in self._lists["messages"]:
                if record["sid"] == sid:
                    record["status"] = status
