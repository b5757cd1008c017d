"""Accounts and roles: the authorisation matrix, users, passwords, inactive accounts.

MATRIX is a table of actions (method, URL, form data) with the expected
outcome for each demo user: allowed (2xx or 3xx), 403 (the role may not),
404 (another agency's object, or one outside the agency in the URL) or 400
(allowed, but the form names another agency's team). Expectations are written
out here, not read from coordinator/permissions.py, so a change to the table
shows up as a failing row. Every denied request must also change nothing.

To add a route: add a Case. Rows run in order for one user on a fresh
database, so rows that delete things come last and use the spare objects of
World.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from coordinator.models import (
    Agency,
    AuditEvent,
    CapRoutingRule,
    ContactPoint,
    DeadLetter,
    DrillSchedule,
    Incident,
    Notification,
    Responder,
    Team,
    User,
)
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import DEMO_PASSWORD, csrf_token, login

OK = "ok"  # any 2xx or 3xx
ADMIN, COMMANDER, DISPATCHER, OBSERVER = "admin", "commander", "dispatcher", "observer"
FIRE_COORD, POLICE_COORD = "fire-coordinator", "police-coordinator"
USERS = (ADMIN, COMMANDER, DISPATCHER, OBSERVER, FIRE_COORD, POLICE_COORD)
EVERYONE = frozenset(USERS)
SENDERS = frozenset({ADMIN, COMMANDER, DISPATCHER})
FIRE_READERS = frozenset({ADMIN, COMMANDER, DISPATCHER, FIRE_COORD})
FIRE_WRITERS = frozenset({ADMIN, FIRE_COORD})


@dataclass
class World:
    """Ids the rows need, made before the user signs in."""

    ids: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, key: str) -> int:
        return self.ids[key]


Url = str | Callable[[World], str]
Data = dict | Callable[[World], dict] | None


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Url
    data: Data = None
    ok: frozenset[str] = frozenset()  # allowed: 2xx or 3xx
    hidden: frozenset[str] = frozenset()  # 404
    invalid: frozenset[str] = frozenset()  # 400: allowed, refused by validation
    # everyone else: 403

    def expected(self, user: str) -> str | int:
        if user in self.ok:
            return OK
        if user in self.hidden:
            return 404
        if user in self.invalid:
            return 400
        return 403


def fire_roster(path: str = "") -> Callable[[World], str]:
    return lambda w: "/rosters/fire" + path.format(**w.ids)


def police_roster(path: str = "") -> Callable[[World], str]:
    return lambda w: "/rosters/police" + path.format(**w.ids)


def responder_data(name: str, team: str) -> Callable[[World], dict]:
    return lambda w: {
        "name": name,
        "team_id": str(w[team]),
        "skills": "Firefighter, hazmat",
        "on_duty": "1",
        "language": "en",
        "channel-0": "sms",
        "address-0": "+447700900123",
    }


INCIDENT = {
    "title": "Matrix incident",
    "kind": "fire",
    "severity": "major",
    "mode": "drill",
    "lat": "51.45",
    "lon": "-2.58",
    "message": "Matrix test.",
    "agencies": ["ambulance"],
    "channels": ["sms"],
}

CAP_DOCUMENT = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<identifier>MATRIX-1</identifier><sender>matrix@example.org</sender>
<sent>2026-03-01T10:00:00+00:00</sent><status>Exercise</status><msgType>Alert</msgType>
<scope>Public</scope><info><category>Met</category><event>Matrix storm</event>
<urgency>Immediate</urgency><severity>Minor</severity><certainty>Observed</certainty>
<area><areaDesc>Harbourside</areaDesc><circle>51.4484,-2.6006 1</circle></area></info>
</alert>"""

DRILL_SCHEDULERS = frozenset({ADMIN, COMMANDER, FIRE_COORD, POLICE_COORD})
DRILL_SCHEDULE = {
    "name": "Matrix drill", "agency": "fire", "frequency": "weekly", "weekday": "TU",
    "time": "10:00", "timezone": "Europe/London", "message": "Matrix drill.", "channels": ["sms"],
    "duration_minutes": "30", "action": "save",
}  # fmt: skip

MATRIX: list[Case] = [
    # --- console (the lead adds incident lifecycle, templates, policies, tokens rows)
    Case("incident list", "GET", "/", ok=EVERYONE),
    Case("declare form", "GET", "/incidents/new", ok=SENDERS),
    Case("declare", "POST", "/incidents/new", INCIDENT, ok=SENDERS),
    Case("board", "GET", lambda w: f"/incidents/{w['incident']}", ok=EVERYONE),
    Case("dead letters", "GET", "/dead-letters", ok=EVERYONE),
    Case("replay", "POST", lambda w: f"/dead-letters/{w['dead_letter']}/replay", ok=SENDERS),
    Case("follow-up", "POST", lambda w: f"/incidents/{w['incident']}/follow-up",
         {"message": "Matrix update."}, ok=SENDERS),
    # --- CAP 1.2 (before "close": they need the incident open)
    Case("cap import form", "GET", "/cap/import", ok=SENDERS),
    Case("cap import", "POST", "/cap/import", {"xml": CAP_DOCUMENT}, ok=SENDERS),
    Case("cap xml of the latest alert", "GET", lambda w: f"/incidents/{w['incident']}/cap.xml",
         ok=EVERYONE),
    Case("cap xml of an alert", "GET", lambda w: f"/alerts/{w['alert']}/cap.xml", ok=EVERYONE),
    Case("alert form", "GET", lambda w: f"/incidents/{w['incident']}/alert", ok=SENDERS),
    Case("alert", "POST", lambda w: f"/incidents/{w['incident']}/alert",
         {"agencies": ["ambulance"], "channels": ["sms"], "message": "Matrix alert."},
         ok=SENDERS),
    Case("stand-down message", "POST",
         lambda w: f"/incidents/{w['incident']}/stand-down-message", {"message": "Matrix."},
         ok=frozenset({ADMIN, COMMANDER})),
    Case("cap rules", "GET", "/cap/rules", ok=FIRE_WRITERS | {POLICE_COORD}),
    Case("fire cap rules", "GET", "/cap/rules/fire", ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("police cap rules", "GET", "/cap/rules/police", ok={ADMIN, POLICE_COORD},
         hidden={FIRE_COORD}),
    Case("new fire cap rule", "POST", "/cap/rules/fire",
         {"event": "Matrix event", "channels": ["sms"]}, ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("switch a fire cap rule", "POST", lambda w: f"/cap/rules/fire/{w['fire_rule']}/active",
         {"active": "0"}, ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("fire cap rule under police", "POST",
         lambda w: f"/cap/rules/police/{w['fire_rule']}/active", {"active": "1"},
         hidden={ADMIN, POLICE_COORD, FIRE_COORD}),
    Case("close", "POST", lambda w: f"/incidents/{w['incident']}/status",
         {"status": "closed"}, ok=frozenset({ADMIN, COMMANDER})),
    Case("templates", "GET", "/templates/", ok=SENDERS),
    Case("new template", "POST", "/templates/new",
         {"kind": "flood", "name": "Matrix", "body": "Flood at {location}"},
         ok=frozenset({ADMIN, COMMANDER})),
    Case("escalation state", "GET", lambda w: f"/incidents/{w['incident']}/escalation",
         ok=EVERYONE),
    Case("policies", "GET", "/policies", ok=EVERYONE),
    Case("fire policy", "GET", "/policies/fire", ok=frozenset({ADMIN, FIRE_COORD})),
    Case("tokens", "GET", "/admin/tokens", ok=frozenset({ADMIN})),
    Case("audit log", "GET", "/audit", ok=frozenset({ADMIN})),
    # --- after-action reports (no contact details in any of them), drills compared
    Case("report", "GET", lambda w: f"/incidents/{w['incident']}/report", ok=EVERYONE),
    Case("report pdf", "GET", lambda w: f"/incidents/{w['incident']}/report.pdf", ok=EVERYONE),
    Case("report csv", "GET", lambda w: f"/incidents/{w['incident']}/report/notifications.csv",
         ok=EVERYONE),
    Case("report chart", "GET",
         lambda w: f"/incidents/{w['incident']}/report/charts/funnel.svg", ok=EVERYONE),
    Case("drills compared list", "GET", "/agencies", ok=EVERYONE),
    Case("fire drills compared", "GET", "/agencies/fire/drills", ok=EVERYONE - {POLICE_COORD},
         hidden={POLICE_COORD}),
    Case("fire drills trend", "GET", "/agencies/fire/drills/trend.svg",
         ok=EVERYONE - {POLICE_COORD}, hidden={POLICE_COORD}),
    Case("police drills compared", "GET", "/agencies/police/drills",
         ok=EVERYONE - {FIRE_COORD}, hidden={FIRE_COORD}),
    Case("unknown agency's drills", "GET", "/agencies/coastguard/drills", hidden=EVERYONE),
    Case("publish fire's responsiveness", "POST", "/agencies/fire/publish", {"publish": "1"},
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("publish, bad value", "POST", "/agencies/fire/publish", {"publish": "maybe"},
         invalid=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("publish police's responsiveness", "POST", "/agencies/police/publish",
         {"publish": "1"}, ok={ADMIN, POLICE_COORD}, hidden={FIRE_COORD}),
    # --- drills: schedules and team tests (observers stay out; coordinators their own)
    Case("drills page", "GET", "/drills", ok=EVERYONE - {OBSERVER}),
    Case("new drill schedule form", "GET", "/drills/schedules/new", ok=DRILL_SCHEDULERS),
    Case("new fire drill schedule", "POST", "/drills/schedules/new", DRILL_SCHEDULE,
         ok=DRILL_SCHEDULERS - {POLICE_COORD}, hidden={POLICE_COORD}),
    Case("pause a fire drill schedule", "POST",
         lambda w: f"/drills/schedules/{w['fire_schedule']}/active", {"active": "0"},
         ok=DRILL_SCHEDULERS - {POLICE_COORD}, hidden={POLICE_COORD}),
    Case("test a fire team", "POST", "/drills/team-test",
         lambda w: {"team_id": str(w["fire_team"])}, ok=DRILL_SCHEDULERS - {POLICE_COORD},
         hidden={POLICE_COORD}),
    Case("test a police team", "POST", "/drills/team-test",
         lambda w: {"team_id": str(w["police_team"])}, ok=DRILL_SCHEDULERS - {FIRE_COORD},
         hidden={FIRE_COORD}),
    # --- rosters: reading
    Case("roster list", "GET", "/rosters", ok=FIRE_READERS | {POLICE_COORD}),
    Case("fire roster", "GET", fire_roster(), ok=FIRE_READERS, hidden={POLICE_COORD}),
    Case("police roster", "GET", police_roster(), ok=EVERYONE - {OBSERVER, FIRE_COORD},
         hidden={FIRE_COORD}),
    Case("unknown agency", "GET", "/rosters/coastguard", hidden=FIRE_READERS | {POLICE_COORD}),
    # --- rosters: writing one's own agency
    Case("new team form", "GET", fire_roster("/teams/new"), ok=FIRE_WRITERS,
         hidden={POLICE_COORD}),
    Case("new team", "POST", fire_roster("/teams/new"),
         lambda w: {"name": "Red Watch", "backup_team_id": str(w["fire_team"])},
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("edit team", "POST", fire_roster("/teams/{fire_team}"),
         lambda w: {"name": "Blue Watch", "backup_team_id": str(w["fire_team2"])},
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("new responder form", "GET", fire_roster("/responders/new"), ok=FIRE_WRITERS,
         hidden={POLICE_COORD}),
    Case("new responder", "POST", fire_roster("/responders/new"),
         responder_data("Matrix Person", "fire_team"), ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("responder form", "GET", fire_roster("/responders/{fire_responder}"),
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("edit responder", "POST", fire_roster("/responders/{fire_responder}"),
         responder_data("Matrix Edited", "fire_team2"), ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("off duty", "POST", fire_roster("/responders/{fire_responder}/duty"), {"on_duty": "0"},
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("import page", "GET", fire_roster("/import"), ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("import template", "GET", fire_roster("/import/template.csv"), ok=FIRE_WRITERS,
         hidden={POLICE_COORD}),
    Case("police team by police coordinator", "POST", police_roster("/teams/{police_team}"),
         {"name": "Response Alpha"}, ok={ADMIN, POLICE_COORD}, hidden={FIRE_COORD}),
    # --- across agencies: ids of one agency under another's URL, or in the form
    Case("fire responder under police", "GET", police_roster("/responders/{fire_responder}"),
         hidden={ADMIN, POLICE_COORD, FIRE_COORD}),
    Case("fire team under police", "POST", police_roster("/teams/{fire_team}"),
         {"name": "Taken"}, hidden={ADMIN, POLICE_COORD, FIRE_COORD}),
    Case("fire duty under police", "POST", police_roster("/responders/{fire_responder}/duty"),
         {"on_duty": "1"}, hidden={ADMIN, POLICE_COORD, FIRE_COORD}),
    Case("move into a police team", "POST", fire_roster("/responders/{fire_responder}"),
         responder_data("Matrix Moved", "police_team"), invalid=FIRE_WRITERS,
         hidden={POLICE_COORD}),
    Case("new responder in a police team", "POST", fire_roster("/responders/new"),
         responder_data("Matrix Spy", "police_team"), invalid=FIRE_WRITERS,
         hidden={POLICE_COORD}),
    Case("police team as backup", "POST", fire_roster("/teams/new"),
         lambda w: {"name": "Mixed", "backup_team_id": str(w["police_team"])},
         invalid=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("import into fire", "POST", fire_roster("/import"), {"action": "import", "staged": "x"},
         invalid=FIRE_WRITERS, hidden={POLICE_COORD}),
    # --- agencies and users: admins only
    Case("new agency", "POST", "/rosters/new", {"slug": "coastguard", "name": "Coastguard"},
         ok={ADMIN}),
    Case("rename agency", "POST", "/rosters/fire/edit", {"name": "Fire and Rescue Service"},
         ok={ADMIN}),
    Case("users", "GET", "/users", ok={ADMIN}),
    Case("new user form", "GET", "/users/new", ok={ADMIN}),
    Case("new user", "POST", "/users/new",
         {"username": "matrix-user", "password": "long-enough-1", "role": "observer"},
         ok={ADMIN}),
    Case("user form", "GET", lambda w: f"/users/{w['spare_user']}", ok={ADMIN}),
    Case("change role", "POST", lambda w: f"/users/{w['spare_user']}",
         {"role": "coordinator", "agency": "police"}, ok={ADMIN}),
    Case("reset password", "POST", lambda w: f"/users/{w['spare_user']}/password",
         {"password": "another-long-one"}, ok={ADMIN}),
    Case("deactivate", "POST", lambda w: f"/users/{w['spare_user']}/active", {"active": "0"},
         ok={ADMIN}),
    # --- deleting: last, on objects nobody else uses
    Case("delete fire spare under police", "POST",
         police_roster("/responders/{fire_spare_responder}/delete"),
         hidden={ADMIN, POLICE_COORD, FIRE_COORD}),
    Case("delete responder", "POST", fire_roster("/responders/{fire_spare_responder}/delete"),
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("delete team", "POST", fire_roster("/teams/{fire_spare_team}/delete"),
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("delete a fire cap rule", "POST", lambda w: f"/cap/rules/fire/{w['fire_rule']}/delete",
         ok=FIRE_WRITERS, hidden={POLICE_COORD}),
    Case("delete a fire drill schedule", "POST",
         lambda w: f"/drills/schedules/{w['fire_schedule']}/delete",
         ok=DRILL_SCHEDULERS - {POLICE_COORD}, hidden={POLICE_COORD}),
]  # fmt: skip


def build_world(tocsin) -> World:
    """Spare objects for the rows that delete, an incident and a dead letter."""
    w = World()
    with tocsin.db.write() as s:
        fire, police = (
            s.scalar(select(Agency).where(Agency.slug == x)) for x in ("fire", "police")
        )
        fire_teams = s.scalars(select(Team).where(Team.agency_id == fire.id).order_by(Team.id))
        w.ids["fire_team"], w.ids["fire_team2"] = (t.id for t in fire_teams)
        w.ids["police_team"] = s.scalar(
            select(Team.id).where(Team.agency_id == police.id).order_by(Team.id)
        )
        w.ids["fire_responder"] = s.scalar(
            select(Responder.id).where(Responder.agency_id == fire.id)
        )
        spare_team = Team(agency_id=fire.id, name="Spare")
        spare = Responder(agency_id=fire.id, name="Spare Person", skills=[])
        spare.contact_points = [ContactPoint(channel="sms", address="+447700900999", position=0)]
        someone = User(username="spare-user", password_hash="x", role="observer")
        s.add_all([spare_team, spare, someone])
        form = IncidentForm("Earlier", "fire", "minor", "51.45", "-2.58", "Earlier.", ["ambulance"])
        incident = declare_incident(s, form, None, tocsin.links, actor="test:world")
        s.flush()
        first = s.scalars(select(Notification).order_by(Notification.id)).first()
        letter = DeadLetter(
            notification_id=first.id, channel=first.channel, payload="{}", error="gone", attempts=5
        )
        s.add(letter)
        rule = CapRoutingRule(agency_id=fire.id, event="Matrix", channels=["sms"], created_by="t")
        s.add(rule)
        schedule = DrillSchedule(
            agency_id=fire.id, name="Matrix drill", rule="FREQ=WEEKLY;BYDAY=TU;BYHOUR=10",
            timezone="Europe/London", message="Matrix.", channels=["sms"], created_by="t",
        )  # fmt: skip
        s.add(schedule)
        s.flush()
        w.ids["fire_schedule"] = schedule.id
        w.ids |= {
            "alert": incident.alerts[0].id,
            "fire_rule": rule.id,
            "fire_spare_team": spare_team.id,
            "fire_spare_responder": spare.id,
            "spare_user": someone.id,
            "incident": incident.id,
            "dead_letter": letter.id,
        }
    return w


def fingerprint(tocsin) -> tuple:
    """What a refused request must leave as it was."""
    s = tocsin.db.session
    counted = tuple(
        s.scalar(select(func.count()).select_from(m))
        for m in (Agency, Team, Responder, ContactPoint, User, Incident, Notification, AuditEvent)
    ) + (s.scalar(select(func.count()).select_from(DrillSchedule)),)
    rows = (
        tuple(
            s.execute(
                select(Agency.id, Agency.name, Agency.publish_responsiveness).order_by(Agency.id)
            )
        ),
        tuple(s.execute(select(Team.id, Team.name, Team.backup_team_id).order_by(Team.id))),
        tuple(
            s.execute(
                select(Responder.id, Responder.name, Responder.team_id, Responder.on_duty).order_by(
                    Responder.id
                )
            )
        ),
        tuple(
            s.execute(select(User.id, User.role, User.agency_id, User.active, User.password_hash))
        ),
        tuple(s.execute(select(DeadLetter.id, DeadLetter.replayed_at))),
    )
    tocsin.db.remove()
    return counted, rows


def request(client, method: str, url: str, data: dict | None):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(url)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


@pytest.mark.parametrize("user", USERS)
def test_it_enforces_the_roles_matrix(client, tocsin, subtests, user):
    world = build_world(tocsin)
    login(client, user)
    for case in MATRIX:
        url = case.url(world) if callable(case.url) else case.url
        data = case.data(world) if callable(case.data) else case.data
        expected = case.expected(user)
        with subtests.test(msg=f"{user}: {case.name}: {case.method} {url}"):
            before = fingerprint(tocsin) if expected != OK else None
            status = request(client, case.method, url, data).status_code
            outcome = OK if 200 <= status < 400 else status
            assert outcome == expected, f"{case.method} {url} gave {status}"
            if before is not None:
                assert fingerprint(tocsin) == before, "a refused request changed something"


def test_it_sends_every_role_to_sign_in_first(client, tocsin):
    world = build_world(tocsin)
    for case in MATRIX:
        url = case.url(world) if callable(case.url) else case.url
        if case.method == "GET":
            response = client.get(url)
            assert response.status_code == 302 and "/login" in response.headers["Location"], url


# --- users ---------------------------------------------------------------------


def admin_post(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    return request(client, "POST", url, data)


def user_row(tocsin, username: str) -> User | None:
    user = tocsin.db.session.scalar(select(User).where(User.username == username))
    tocsin.db.remove()
    return user


def count_users(tocsin) -> int:
    n = tocsin.db.session.scalar(select(func.count()).select_from(User))
    tocsin.db.remove()
    return n


def test_it_creates_a_coordinator_who_manages_only_their_agency(client, tocsin):
    login(client, ADMIN)
    response = admin_post(
        client, "/users/new",
        {"username": "amb-coord", "password": "ambulance-2025", "role": "coordinator",
         "agency": "ambulance"},
    )  # fmt: skip
    assert response.status_code == 302
    made = user_row(tocsin, "amb-coord")
    assert (made.role, made.active) == ("coordinator", True)
    actions = tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.created")
    )
    entry = actions.one()
    assert (entry.actor, entry.detail["user"], entry.detail["agency"]) == (
        "user:admin",
        "amb-coord",
        "ambulance",
    )
    assert "ambulance-2025" not in str(entry.detail)
    tocsin.db.remove()
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))})
    assert login(client, "amb-coord", "ambulance-2025").status_code == 302
    assert client.get("/rosters/ambulance").status_code == 200
    assert client.get("/rosters/fire").status_code == 404
    page = client.get("/rosters").get_data(as_text=True)
    assert 'data-agency="ambulance"' in page and 'data-agency="fire"' not in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password": "short-one"}, "password", "at least 10 characters"),
        ({"password": "new-person"}, "password", "must not be the user name"),
        ({"username": "No Spaces"}, "username", "User name: 3-80 lowercase"),
        ({"username": "commander"}, "username", "User 'commander' exists"),
        ({"role": "coordinator"}, "agency", "must belong to an agency"),
        ({"role": "dispatcher", "agency": "fire"}, "agency", "Only agency coordinators"),
        ({"role": "coordinator", "agency": "coastguard"}, "agency", "Unknown agency"),
        ({"role": "superuser"}, "role", "Role must be one of"),
    ],
)
def test_it_rejects_a_bad_user_and_changes_nothing(client, tocsin, data, field, message):
    login(client, ADMIN)
    before = fingerprint(tocsin)
    form = {"username": "new-person", "password": "a-good-password", "role": "observer", **data}
    response = admin_post(client, "/users/new", form)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert f'id="{field}-error"' in page and message in page
    assert fingerprint(tocsin) == before


def test_it_changes_role_and_agency_consistently(client, tocsin):
    login(client, ADMIN)
    observer = user_row(tocsin, "observer")
    url = f"/users/{observer.id}"
    before = fingerprint(tocsin)
    assert admin_post(client, url, {"role": "coordinator"}).status_code == 400
    assert admin_post(client, url, {"role": "observer", "agency": "fire"}).status_code == 400
    assert fingerprint(tocsin) == before
    assert admin_post(client, url, {"role": "coordinator", "agency": "council"}).status_code == 302
    changed = user_row(tocsin, "observer")
    assert changed.role == "coordinator"
    assert tocsin.db.session.get(Agency, changed.agency_id).slug == "council"
    tocsin.db.remove()
    assert admin_post(client, url, {"role": "observer", "agency": ""}).status_code == 302
    assert (user_row(tocsin, "observer").role, user_row(tocsin, "observer").agency_id) == (
        "observer",
        None,
    )


def test_an_admin_cannot_lock_themselves_out(client, tocsin):
    login(client, ADMIN)
    admin = user_row(tocsin, ADMIN)
    before = fingerprint(tocsin)
    assert admin_post(client, f"/users/{admin.id}", {"role": "observer"}).status_code == 400
    assert admin_post(client, f"/users/{admin.id}/active", {"active": "0"}).status_code == 400
    assert admin_post(client, f"/users/{admin.id}/active", {"active": "maybe"}).status_code == 400
    assert fingerprint(tocsin) == before


def test_a_password_reset_needs_ten_characters_and_works(client, tocsin):
    login(client, ADMIN)
    dispatcher = user_row(tocsin, DISPATCHER)
    before = fingerprint(tocsin)
    response = admin_post(client, f"/users/{dispatcher.id}/password", {"password": "123456789"})
    assert response.status_code == 400 and "at least 10 characters" in response.get_data(
        as_text=True
    )
    assert fingerprint(tocsin) == before
    url = f"/users/{dispatcher.id}/password"
    assert admin_post(client, url, {"password": "a-new-secret"}).status_code == 302
    other = client.application.test_client()
    assert login(other, DISPATCHER, DEMO_PASSWORD).status_code == 401
    assert login(other, DISPATCHER, "a-new-secret").status_code == 302


def test_an_inactive_user_cannot_sign_in_and_is_signed_out(client, tocsin):
    dispatcher = client.application.test_client()
    assert login(dispatcher, DISPATCHER).status_code == 302
    assert dispatcher.get("/").status_code == 200
    login(client, ADMIN)
    user_id = user_row(tocsin, DISPATCHER).id
    assert admin_post(client, f"/users/{user_id}/active", {"active": "0"}).status_code == 302
    assert user_row(tocsin, DISPATCHER).active is False
    # the open session ends at its next request, and signing in again fails
    response = dispatcher.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = login(client.application.test_client(), DISPATCHER)
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert admin_post(client, f"/users/{user_id}/active", {"active": "1"}).status_code == 302
    assert login(client.application.test_client(), DISPATCHER).status_code == 302
    actions = tocsin.db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("user.%activated"))
    ).all()
    assert actions == ["user.deactivated", "user.reactivated"]


def test_navigation_follows_the_role(client, tocsin):
    pages = {}
    for user in (ADMIN, OBSERVER, FIRE_COORD):
        c = client.application.test_client()
        login(c, user)
        pages[user] = c.get("/").get_data(as_text=True)
    links = {u: set(re.findall(r'href="(/rosters|/users)"', p)) for u, p in pages.items()}
    assert links == {ADMIN: {"/rosters", "/users"}, OBSERVER: set(), FIRE_COORD: {"/rosters"}}
