"""Escalation policies and where each alert stands in them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.models.base import Base

if TYPE_CHECKING:
    from coordinator.models.incidents import Alert


class EscalationPolicy(Base):
    """Timed steps an agency's alerts follow for responders who stay silent."""

    __tablename__ = "escalation_policy"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    steps: Mapped[list[EscalationStep]] = relationship(
        order_by="EscalationStep.position", cascade="all, delete-orphan"
    )


class EscalationStep(Base):
    __tablename__ = "escalation_step"
    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policy.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    delay_seconds: Mapped[int] = mapped_column(Integer)
    channels: Mapped[list[str]] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(String(40), default="same")  # same, backup, agency:<slug>


class AlertEscalation(Base):
    """Where one alert stands in one agency's policy: durable, so a restart of
    every process loses no step and runs none twice."""

    __tablename__ = "alert_escalation"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policy.id"))
    next_position: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(index=True)  # None: finished or stopped
    last_run_at: Mapped[datetime | None]
    alert: Mapped[Alert] = relationship()
    policy: Mapped[EscalationPolicy] = relationship()
    __table_args__ = (UniqueConstraint("alert_id", "agency_id"),)
