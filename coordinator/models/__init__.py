"""The domain words of ARCHITECTURE.md as tables, one module per part of the domain.

Times are stored as timezone-aware UTC. Statuses and answers are short
strings checked here, so SQLite and PostgreSQL store the same thing. Every
table is importable from here (`from coordinator.models import Incident`), so
Alembic and the code see one metadata.
"""

from coordinator.models.base import (
    ALERT_KINDS,
    ANSWER_LABELS,
    ANSWERS,
    AVAILABLE_ANSWERS,
    CHANNEL_LABELS,
    FAILED,
    INCIDENT_KINDS,
    INCIDENT_MODES,
    INCIDENT_ORIGINS,
    INCIDENT_STATUSES,
    ROLES,
    SEVERITIES,
    STATUS_RANK,
    Base,
    as_utc,
    utcnow,
)
from coordinator.models.cap import CapAreaCode, CapMessage, CapRoutingRule
from coordinator.models.drills import DrillSchedule, IncidentReport
from coordinator.models.escalation import AlertEscalation, EscalationPolicy, EscalationStep
from coordinator.models.incidents import (
    Alert,
    AlertAgency,
    DeadLetter,
    Incident,
    ModeChangeError,
    Notification,
    Outbox,
    Response,
)
from coordinator.models.people import Agency, ContactPoint, Responder, SimulationProfile, Team, User
from coordinator.models.records import ApiToken, AuditEvent, Template
from coordinator.models.security import LoginThrottle, UserSession

__all__ = [
    "LoginThrottle",
    "UserSession",
    "ROLES",
    "INCIDENT_KINDS",
    "SEVERITIES",
    "ANSWERS",
    "AVAILABLE_ANSWERS",
    "INCIDENT_STATUSES",
    "INCIDENT_MODES",
    "INCIDENT_ORIGINS",
    "ALERT_KINDS",
    "ANSWER_LABELS",
    "STATUS_RANK",
    "FAILED",
    "CHANNEL_LABELS",
    "utcnow",
    "as_utc",
    "Base",
    "Agency",
    "Team",
    "Responder",
    "ContactPoint",
    "User",
    "SimulationProfile",
    "Incident",
    "ModeChangeError",
    "AlertAgency",
    "Alert",
    "Notification",
    "Response",
    "Outbox",
    "DeadLetter",
    "EscalationPolicy",
    "EscalationStep",
    "AlertEscalation",
    "Template",
    "ApiToken",
    "AuditEvent",
    "DrillSchedule",
    "IncidentReport",
    "CapMessage",
    "CapRoutingRule",
    "CapAreaCode",
]
