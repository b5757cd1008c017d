"""Append-only audit trail: one row per action of a person or the system.

Each row carries the hash of the row before it and its own hash over a
canonical serialisation of what it says, so an edited or deleted row breaks
the chain that `tocsin audit verify` walks (verify() below).

The chain has one writer at a time or it forks, and its order is the order of
ids. So record() only notes the entry; the transaction's entries are chained
and inserted as it commits, after all its other work: on SQLite under the
Database write lock every write transaction already holds; on PostgreSQL under
a transaction-level advisory lock taken at that moment. Holding the lock only
for the last statements keeps it short (a 10,000-recipient alert does not make
every answer wait) and cannot deadlock: whoever holds it waits on no row lock.
An entry recorded in a savepoint that rolls back goes with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from coordinator.models import AuditEvent, as_utc, utcnow

# pg_advisory_xact_lock key of the chain ("tocsinAU"); any fixed 64-bit number would do.
LOCK_KEY = 0x746F6373696E4155
MAX_REPORTED = 50  # problems listed by verify; the count covers all of them
PENDING = "audit_pending"  # session.info key: [(transaction, AuditEvent without hash)]


def record(
    session: Session, actor: str, action: str, incident_id: int | None = None, **detail: Any
) -> None:
    """Add an audit row to the caller's transaction, so it commits with the action."""
    row = AuditEvent(
        at=utcnow(), actor=actor, action=action, incident_id=incident_id,
        detail=json.loads(canonical(detail)),  # exactly what the JSON column gives back
    )  # fmt: skip
    _pending(session).append((_innermost(session), row))


def _pending(session: Session) -> list[tuple[SessionTransaction, AuditEvent]]:
    if PENDING not in session.info:
        event.listen(session, "before_commit", _chain_pending)
        event.listen(session, "after_soft_rollback", _drop_rolled_back)
        session.info[PENDING] = []
    return session.info[PENDING]


def _innermost(session: Session) -> SessionTransaction:
    found = session.get_nested_transaction() or session.get_transaction()
    if found is None:
        session.connection()  # begins the transaction the entry belongs to
        found = session.get_transaction()
    assert found is not None
    return found


def _chain_pending(session: Session) -> None:
    """At commit: take the chain, then insert the entries in order, each onto the last."""
    pending = session.info.get(PENDING)
    if not pending:
        return
    committing = session.get_transaction()
    # Entries of an earlier transaction that closed without commit are long void.
    rows = [row for t, row in pending if committing is not None and _within(t, committing)]
    pending.clear()
    if not rows:
        return
    _lock_chain(session)
    prev_hash = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    for row in rows:
        row.prev_hash = prev_hash
        row.hash = prev_hash = entry_hash(
            prev_hash, row.at, row.actor, row.action, row.incident_id, row.detail
        )
        session.add(row)
        session.flush()  # one INSERT each: ids follow the chain


def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """Entries of a transaction (or savepoint) that rolled back never happened."""
    pending = session.info.get(PENDING)
    if pending:
        pending[:] = [(t, row) for t, row in pending if not _within(t, previous)]


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def entry_hash(
    prev_hash: str | None,
    at: datetime,
    actor: str,
    action: str,
    incident_id: int | None,
    detail: dict[str, Any],
) -> str:
    """sha256 over everything a row says and the hash of the row before it."""
    payload = [prev_hash, _utc(at), actor, action, incident_id, detail]
    return hashlib.sha256(canonical(payload).encode()).hexdigest()


def canonical(value: Any) -> str:
    """One serialisation for one value: sorted keys, no spaces, times as ISO UTC."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)  # an odd detail must never stop the action it describes


def _utc(at: datetime) -> str:
    return as_utc(at).isoformat()


def _lock_chain(session: Session) -> None:
    """Serialise chain writers on PostgreSQL until the transaction ends (SQLite's
    writers already hold the Database write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _signed(LOCK_KEY)})


def _signed(key: int) -> int:
    return key - (1 << 64) if key >= 1 << 63 else key


# --- verification -------------------------------------------------------------


@dataclass
class Verification:
    entries: int = 0
    problems: int = 0
    reported: list[str] = field(default_factory=list)  # the first MAX_REPORTED, in id order
    head_id: int | None = None
    head_hash: str | None = None

    @property
    def intact(self) -> bool:
        return self.problems == 0

    def problem(self, message: str) -> None:
        self.problems += 1
        if len(self.reported) < MAX_REPORTED:
            self.reported.append(message)


def verify(
    session: Session,
    *,
    batch: int = 2000,
    progress: Callable[[int], None] | None = None,
    every: int = 100_000,
) -> Verification:
    """Walk the chain in id order, streaming, and say which rows break it and why.

    `progress(entries)` is called every `every` rows, for long walks.
    """
    result = Verification()
    previous: tuple[int, str | None] | None = None  # (id, stored hash) of the row before
    for row in _rows(session, batch):
        result.entries += 1
        for message in _check(row, previous):
            result.problem(message)
        previous = (row.id, row.hash)
        if progress and result.entries % every == 0:
            progress(result.entries)
    if previous is not None:
        result.head_id, result.head_hash = previous
    return result


def _rows(session: Session, batch: int) -> Iterator[Any]:
    columns = (
        AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action,
        AuditEvent.incident_id, AuditEvent.detail, AuditEvent.prev_hash, AuditEvent.hash,
    )  # fmt: skip
    query = select(*columns).order_by(AuditEvent.id).execution_options(yield_per=batch)
    yield from session.execute(query)


def _check(row: Any, previous: tuple[int, str | None] | None) -> Iterator[str]:
    if row.hash is None:
        yield f"row {row.id}: has no hash (written outside the audit chain)"
    else:
        expected = entry_hash(
            row.prev_hash, row.at, row.actor, row.action, row.incident_id, row.detail or {}
        )
        if expected != row.hash:
            yield f"row {row.id}: hash does not match its content (the row was edited)"
    if previous is None:
        if row.prev_hash is not None:
            yield (
                f"row {row.id}: prev_hash points at a row that is not there "
                "(rows before it were deleted)"
            )
        return
    prev_id, prev_hash = previous
    if prev_hash is not None and row.prev_hash != prev_hash:
        yield (
            f"row {row.id}: prev_hash does not match the hash of row {prev_id} "
            f"(a row between {prev_id} and {row.id} was deleted, or row {row.id} was edited)"
        )
