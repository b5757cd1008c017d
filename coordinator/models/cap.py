"""CAP 1.2 messages in and out, agencies' routing rules and known area codes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.models.base import Base, utcnow

if TYPE_CHECKING:
    from coordinator.models.people import Agency, Team


class CapMessage(Base):
    """A CAP 1.2 document received (direction "in") or sent ("out"), kept as it was.

    (sender, identifier) names a CAP message; an Update or Cancel names the
    earlier ones in `references`, which is how it finds its incident.
    """

    __tablename__ = "cap_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    # The agency whose API token imported it (its token may then read and alert the
    # incident before anyone was alerted); None: imported on the console or the CLI.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    identifier: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # Actual, Exercise, ...
    msg_type: Mapped[str] = mapped_column(String(20))  # Alert, Update, Cancel, ...
    references: Mapped[str] = mapped_column(Text, default="", server_default="")
    event: Mapped[str] = mapped_column(String(255), default="", server_default="")
    document: Mapped[str] = mapped_column(Text)  # the XML
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("direction", "sender", "identifier"),)


class CapRoutingRule(Base):
    """Off by default: an agency's rule that an imported CAP event alerts some of its
    people at once (e.g. "Severe Thunderstorm Warning" -> the council's duty team)."""

    __tablename__ = "cap_routing_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    event: Mapped[str] = mapped_column(String(255))  # matched without regard to case
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))  # None: whole agency
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    agency: Mapped[Agency] = relationship()
    team: Mapped[Team | None] = relationship()


class CapAreaCode(Base):
    """A CAP <geocode> the city knows (valueName + value -> a circle), so an
    imported area given only by code still has a place and a radius."""

    __tablename__ = "cap_area_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    value_name: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    __table_args__ = (UniqueConstraint("value_name", "value"),)
