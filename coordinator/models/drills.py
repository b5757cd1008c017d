"""Drill schedules and the after-action reports of incidents."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.models.base import Base, utcnow

if TYPE_CHECKING:
    from coordinator.models.people import Agency, Team


class DrillSchedule(Base):
    """A recurring drill of an agency or one of its teams (an RFC 5545 RRULE in a
    time zone, so 10:00 Europe/London stays 10:00 across DST). Durable like
    AlertEscalation: the hub's runner starts a due drill and moves next_due_at
    on in one transaction, so a due drill runs once across restarts."""

    __tablename__ = "drill_schedule"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))  # None: whole agency
    name: Mapped[str] = mapped_column(String(120))
    rule: Mapped[str] = mapped_column(String(400))  # RRULE, e.g. FREQ=MONTHLY;BYDAY=1MO
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)  # the rule's DTSTART (UTC)
    message: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=30)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)  # None: no more runs
    last_run_at: Mapped[datetime | None]  # its drills: Incident.drill_schedule_id
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    agency: Mapped[Agency] = relationship()
    team: Mapped[Team | None] = relationship()


class IncidentReport(Base):
    """The after-action report's figures (coordinator/reports/), computed once when
    the incident closed; every rendering (HTML, PDF, CSV) reads them."""

    __tablename__ = "incident_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), unique=True)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    figures: Mapped[str] = mapped_column(Text)  # JSON
    # coordinator/reports/figures.py FORMAT: a report of another format is rebuilt
    format: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Small per-agency figures for drills compared and the public page, so they never
    # parse whole reports (a 5,000-responder drill's figures are a few megabytes).
    summary: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
