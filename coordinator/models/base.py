"""What every table shares: the domain's fixed words, UTC times, the declarative base."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    MetaData,
)
from sqlalchemy.orm import DeclarativeBase

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
