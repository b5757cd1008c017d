"""Message templates, API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.models.base import Base, utcnow

if TYPE_CHECKING:
    from coordinator.models.people import Agency


class Template(Base):
    """A message per incident kind with placeholders such as {title} and {location}."""

    __tablename__ = "message_template"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("kind", "name"),)


class ApiToken(Base):
    """A computer-aided dispatch system's key to one agency; only its hash is kept."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists, never enough to use
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    agency: Mapped[Agency] = relationship()


class AuditEvent(Base):
    """Append-only record of what a person or the system did.

    Each row carries the hash of the previous one (services/audit.py), so an
    edited or deleted row breaks the chain that `tocsin audit verify` checks.
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(
        String(120)
    )  # "user:commander", "system:relay", "responder:12"
    action: Mapped[str] = mapped_column(String(60))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)
