"""Incidents, their alerts, notifications and answers, and the outbox that sends them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.models.base import Base, utcnow

if TYPE_CHECKING:
    from coordinator.models.people import Agency, Responder


class Incident(Base):
    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open")  # INCIDENT_STATUSES
    mode: Mapped[str] = mapped_column(String(10), default="live")  # INCIDENT_MODES
    origin: Mapped[str] = mapped_column(
        String(20), default="console", server_default="console"
    )  # INCIDENT_ORIGINS
    # A drill from a schedule or a team test closes itself at this time (hub loop).
    auto_close_at: Mapped[datetime | None] = mapped_column(index=True)
    drill_schedule_id: Mapped[int | None] = mapped_column(ForeignKey("drill_schedule.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stood_down_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Set by the retention job (TOCSIN_RETENTION_DAYS after closing): names, numbers
    # and addresses of its notifications and answers are gone; figures and report stay.
    personal_data_erased_at: Mapped[datetime | None]
    alerts: Mapped[list[Alert]] = relationship(back_populates="incident", order_by="Alert.id")


class ModeChangeError(ValueError):
    """An incident's mode is set when it is declared and never changed."""


@event.listens_for(Incident.mode, "set", active_history=True)
def _mode_is_fixed(incident: Incident, value: str, old: object, _initiator: object) -> None:
    # The last guard behind every path (console, API, CAP): a drill's figures must never
    # turn live, nor a live incident become a drill that reaches simulated responders.
    if isinstance(old, str) and value != old:
        raise ModeChangeError(
            f"incident {incident.id}: its mode ({old}) was chosen when it was declared "
            "and cannot be changed"
        )


class AlertAgency(Base):
    __tablename__ = "alert_agency"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)


class Alert(Base):
    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    message: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    kind: Mapped[str] = mapped_column(String(20), default="alert", server_default="alert")
    # Who was targeted (see services/targeting.py): agencies, team ids, skills,
    # on-duty only, radius in metres around the incident.
    targeting: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # Responders needed, by skill ("any" counts everyone): {"firefighter": 4, "paramedic": 1}.
    quorum: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    quorum_deadline_at: Mapped[datetime | None]
    quorum_met_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    incident: Mapped[Incident] = relationship(back_populates="alerts")
    agencies: Mapped[list[Agency]] = relationship(secondary="alert_agency")
    notifications: Mapped[list[Notification]] = relationship(back_populates="alert")


class Notification(Base):
    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responder.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    segments: Mapped[int | None] = mapped_column(Integer)
    # Delivery is at least once: a provider that accepted the notification again (a
    # redelivery after a crash or outage) is counted here, with every provider id seen.
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    provider_ids: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # The notification this one replaces after a failure (fallback) or replay.
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"))
    # The escalation step that sent it (None: the alert itself or a fallback).
    step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the status first reached sent / delivered / failed (after-action reports:
    # time to deliver). An undelivered SMS has both sent_at and failed_at.
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    alert: Mapped[Alert] = relationship(back_populates="notifications")
    responder: Mapped[Responder] = relationship()
    __table_args__ = (Index("ix_notification_address_created", "address", "created_at"),)


class Response(Base):
    """One answer of one responder to one alert; the same answer twice is one row."""

    __tablename__ = "response"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responder.id"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"))
    channel: Mapped[str] = mapped_column(String(10))
    answer: Mapped[str] = mapped_column(String(20))
    eta_minutes: Mapped[int | None] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    responder: Mapped[Responder] = relationship()
    __table_args__ = (UniqueConstraint("alert_id", "responder_id", "answer"),)


class Outbox(Base):
    """Messages written in the same transaction as the rows they announce.

    The relay publishes them and sets published_at only after the broker
    confirmed, so a broker outage delays alerts but never loses them.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"))
    exchange: Mapped[str] = mapped_column(String(20))  # "notify" (later: other kinds)
    routing_key: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A drill's message: the relay hands live ones to the broker first and holds
    # drill ones back while the channel's queue is long (coordinator/relay.py).
    drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class DeadLetter(Base):
    """A notification the notifier gave up on after its last retry, kept for the
    console to list and send again."""

    __tablename__ = "dead_letter"
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    payload: Mapped[str] = mapped_column(Text)  # the NotifyMessage as last tried
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replayed_by: Mapped[str | None] = mapped_column(String(120))
    notification: Mapped[Notification] = relationship()
