"""Who may do what: the one table every view asks.

A rule names the roles allowed an action. Roles in AGENCY_SCOPED are further
held to their own agency (User.agency_id): an agency coordinator runs its own
roster and never sees another's, because rosters hold personal phone numbers.
Views check the role first (403 when it is not allowed at all) and then the
object's agency (404, as if the object did not exist: one agency cannot even
learn which ids another agency has).

To add an action, add a row here and use `can()` or `permission_required()`
(coordinator/views/auth.py); tests/test_roles.py states the expected outcome
of each route for every role.
"""

from __future__ import annotations

from typing import Any

from coordinator.models import ROLES

EVERYONE = frozenset(ROLES)
SENDERS = frozenset({"admin", "commander", "dispatcher"})
COMMANDERS = frozenset({"admin", "commander"})

RULES: dict[str, frozenset[str]] = {
    # incidents: every signed-in role watches; senders alert; commanders end them
    "incidents.view": EVERYONE,
    "incidents.send": SENDERS,  # declare, alert, follow-up (update)
    "incidents.change_status": COMMANDERS,  # stand down, reopen, close
    "dead_letters.view": EVERYONE,
    "dead_letters.replay": SENDERS,
    "templates.view": SENDERS,
    "templates.edit": COMMANDERS,
    # rosters hold personal phone numbers: observers never read them
    "rosters.read": frozenset({"admin", "commander", "dispatcher", "coordinator"}),
    # teams, responders, contact points, CSV import, on-duty toggle
    "rosters.write": frozenset({"admin", "coordinator"}),
    "agencies.manage": frozenset({"admin"}),  # create and rename agencies
    "users.manage": frozenset({"admin"}),  # create, role, agency, password, deactivate
    # escalation policies say nothing personal: everyone reads; an agency's own edit
    "policies.view": EVERYONE,
    "policies.edit": frozenset({"admin", "coordinator"}),
    # drills: schedules and team tests alert people, so observers stay out; a
    # coordinator schedules and tests their own agency's teams only
    "drills.view": frozenset({"admin", "commander", "dispatcher", "coordinator"}),
    "drills.schedule": frozenset({"admin", "commander", "coordinator"}),
    "drills.test_team": frozenset({"admin", "commander", "coordinator"}),
    # CAP 1.2: importing opens an incident (and may alert, by a routing rule); an
    # agency's routing rules are its own to set
    "cap.import": SENDERS,
    "cap.rules": frozenset({"admin", "coordinator"}),
    # after-action reports hold names but no contact details (the CSV neither):
    # everyone who watches incidents reads them, as the board
    "reports.view": EVERYONE,
    # drills compared: aggregates only; a coordinator sees their own agency's
    "drills.compare": EVERYONE,
    # opt in to (or out of) the public responsiveness page: an agency's own decision
    "responsiveness.publish": frozenset({"admin", "coordinator"}),
}
# Roles whose rights stop at their own agency's objects.
AGENCY_SCOPED = frozenset({"coordinator"})
# A coordinator belongs to an agency; nobody else does (validated on users).
ROLES_WITH_AGENCY = AGENCY_SCOPED


def roles_for(action: str) -> frozenset[str]:
    """The roles allowed an action; a KeyError for an action not in RULES."""
    return RULES[action]


def allowed(user: Any, action: str) -> bool:
    """The user's role may do this at all (some agency, at least)."""
    return _signed_in(user) and user.role in roles_for(action)


def can(user: Any, action: str, agency_id: int | None = None) -> bool:
    """The user may do this; with agency_id, to that agency's objects."""
    if not allowed(user, action):
        return False
    if agency_id is None or user.role not in AGENCY_SCOPED:
        return True
    return user.agency_id is not None and user.agency_id == agency_id


def _signed_in(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and bool(getattr(user, "active", False))
