"""What the simulator saw and did, kept in memory for tests and operators to inspect."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["messages", "calls", "emails", "pushes", "callbacks"]
KINDS: tuple[Kind, ...] = ("messages", "calls", "emails", "pushes", "callbacks")


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    # Lists inside a record (a call's TwiML documents) keep growing on other threads.
    return {key: list(value) if isinstance(value, list) else value for key, value in item.items()}


class Store:
    """Append-only lists guarded by one lock: HTTP, SMTP and callback threads all write here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[Kind, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        # When each item was taken (epoch seconds): cheap figures for benchmarks.
        self._accepted: dict[Kind, list[float]] = {kind: [] for kind in KINDS}
        # Message and call resources (as the REST API shows them) and their
        # records (as /sim shows them), by sid: updates must not scan the lists.
        self._resources: dict[str, dict[str, Any]] = {}
        self._records: dict[str, dict[str, Any]] = {}

    def add(self, kind: Kind, item: dict[str, Any], at: float | None = None) -> None:
        """Keep item; `at` is when its request arrived (default: now)."""
        with self._lock:
            self._lists[kind].append(item)
            self._accepted[kind].append(at or time.time())

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {kind: len(items) for kind, items in self._lists.items()}

    def accepted(self) -> dict[str, list[float]]:
        with self._lock:
            return {kind: list(times) for kind, times in self._accepted.items()}

    def list(self, kind: Kind) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy(item) for item in self._lists[kind]]

    def reset(self) -> None:
        with self._lock:
            for items in self._lists.values():
                items.clear()
            for times in self._accepted.values():
                times.clear()
            self._resources.clear()
            self._records.clear()

    def add_resource(
        self, kind: Kind, record: dict[str, Any], resource: dict[str, Any], at: float | None = None
    ) -> None:
        with self._lock:
            self._lists[kind].append(record)
            self._accepted[kind].append(at or time.time())
            self._records[resource["sid"]] = record
            self._resources[resource["sid"]] = resource

    def resource(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            resource = self._resources.get(sid)
            return dict(resource) if resource else None

    def update(self, sid: str, resource: dict[str, Any], record: dict[str, Any]) -> None:
        """Change fields of a resource and of its record; a sid dropped by reset is ignored."""
        with self._lock:
            if sid in self._resources:
                self._resources[sid].update(resource)
                self._records[sid].update(record)

    def append(self, sid: str, field: str, value: Any) -> None:
        with self._lock:
            if sid in self._records:
                self._records[sid][field].append(value)

    def set_status(self, sid: str, status: str, date_rfc2822: str) -> None:
        """Record a new delivery status on both the record and the Twilio resource."""
        resource: dict[str, Any] = {"status": status, "date_updated": date_rfc2822}
        if status == "sent":
            resource["date_sent"] = date_rfc2822
        self.update(sid, resource, {"status": status})
