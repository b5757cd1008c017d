"""The domain words of ARCHITECTURE.md as tables.

Times are stored as timezone-aware UTC. Statuses and answers are short
strings checked here, so SQLite and PostgreSQL store the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("admin", "commander", "dispatcher", "coordinator", "observer")
INCIDENT_KINDS = ("fire", "chemical", "flood", "collision", "mass_casualty", "storm", "other")
SEVERITIES = ("minor", "moderate", "major", "critical")
ANSWERS = ("acknowledged", "en_route", "on_scene", "unavailable")
# Answers that count towards a quorum and stop escalation for the responder.
AVAILABLE_ANSWERS = ("acknowledged", "en_route", "on_scene")
INCIDENT_STATUSES = ("open", "stood_down", "closed")
# Chosen when the incident is declared and never changed afterwards: a drill's
# figures never mix with live ones, and simulated responders only ever hear drills.
INCIDENT_MODES = ("live", "drill")
# Where an incident came from: the console, the REST API, a CAP 1.2 document,
# a drill schedule or a coordinator's instant "test my team".
INCIDENT_ORIGINS = ("console", "api", "cap", "schedule", "team_test")
# An alert is the first call-out or a later one (escalation); an update or a
# stand-down is a follow-up to the people already alerted.
ALERT_KINDS = ("alert", "update", "stand_down")
ANSWER_LABELS = {
    "acknowledged": "Acknowledged",
    "en_route": "En route",
    "on_scene": "On scene",
    "unavailable": "Unavailable",
}
# Notification statuses move forward only: a late "sent" never overwrites "delivered".
# "cancelled": never handed to the notifier because the responder answered first.
STATUS_RANK = {
    "pending": 0,
    "queued": 1,
    "sent": 2,
    "delivered": 3,
    "failed": 3,
    "undelivered": 3,
    "cancelled": 3,
}
FAILED = ("failed", "undelivered")
CHANNEL_LABELS = {"sms": "SMS", "voice": "Voice call", "email": "Email", "push": "Push"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """An aware UTC time: SQLite hands timestamps back without a zone (they were
    written as UTC); PostgreSQL's may carry the session's zone."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Agency(Base):
    __tablename__ = "agency"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Opt-in: anonymised drill figures on the public responsiveness page.
    publish_responsiveness: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    teams: Mapped[list[Team]] = relationship(back_populates="agency", order_by="Team.name")


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # Who an escalation step with target "backup" alerts when this team is silent.
    backup_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    agency: Mapped[Agency] = relationship(back_populates="teams")
    backup_team: Mapped[Team | None] = relationship(
        remote_side="Team.id",
        post_update=True,  # teams may back each other up
    )
    __table_args__ = (UniqueConstraint("agency_id", "name"),)


class Responder(Base):
    __tablename__ = "responder"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Made by `tocsin drill city`: reachable only through the provider simulator,
    # alerted only by drills (services/targeting.py refuses them for live incidents).
    simulated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    agency: Mapped[Agency] = relationship()
    team: Mapped[Team | None] = relationship()
    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="responder", order_by="ContactPoint.position", cascade="all, delete-orphan"
    )


class ContactPoint(Base):
    __tablename__ = "contact_point"
    id: Mapped[int] = mapped_column(primary_key=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responder.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    responder: Mapped[Responder] = relationship(back_populates="contact_points")


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    agency: Mapped[Agency | None] = relationship()

    # flask-login's user protocol
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


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


class SimulationProfile(Base):
    """How an agency's simulated responders behave in the provider simulator
    (`tocsin drill city`): a whole city's exercise rehearsed on one machine."""

    __tablename__ = "sim_profile"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), unique=True)
    answer_rate: Mapped[float] = mapped_column(Float)  # of those not silent, share who answer
    delay_median_s: Mapped[float] = mapped_column(Float)  # lognormal time to answer
    delay_sigma: Mapped[float] = mapped_column(Float)
    unavailable_share: Mapped[float] = mapped_column(Float)  # of answers, "unavailable"
    silent_share: Mapped[float] = mapped_column(Float)  # never answer anything
    fail_share: Mapped[float] = mapped_column(Float)  # numbers whose messages fail
    agency: Mapped[Agency] = relationship()


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
