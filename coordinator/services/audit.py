"""Append-only audit trail: one row per action of a person or the system."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from coordinator.models import AuditEvent


def record(
    session: Session, actor: str, action: str, incident_id: int | None = None, **detail: Any
) -> None:
    """Add an audit row to the caller's transaction, so it commits with the action."""
    session.add(AuditEvent(actor=actor, action=action, incident_id=incident_id, detail=detail))
