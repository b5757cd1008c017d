"""CAP routing rules: off by default (an import alerts nobody); an agency's rule for
an event alerts its team at once through the usual alert path, audited as the
rule; the console lets admins set any agency's rules and a coordinator only their
own; the first alert of an imported incident is sent from its own page."""

from __future__ import annotations

import html

from sqlalchemy import func, select

from coordinator.models import (
    Agency,
    Alert,
    AuditEvent,
    CapRoutingRule,
    Incident,
    Notification,
    Responder,
    Team,
)
from coordinator.services import cap_rules
from tests.conftest import csrf_token, login
from tests.helpers.cap import document, fixture, import_cap, reference_to, rows

THUNDERSTORM = fixture("oasis_a2_severe_thunderstorm.xml")


def team(tocsin, name: str) -> Team:
    found = tocsin.db.session.scalar(select(Team).where(Team.name == name))
    tocsin.db.remove()
    return found


def make_rule(tocsin, agency: str, event: str, team_name: str | None, channels=("sms",)) -> int:
    with tocsin.db.write() as session:
        found = session.scalar(select(Agency).where(Agency.slug == agency))
        team_id = str(team(tocsin, team_name).id) if team_name else ""
        form = cap_rules.RuleForm(event, team_id, list(channels))
        return cap_rules.create(session, found, form, "user:admin").id


def notified(tocsin, incident_id: int) -> set[tuple[str, str, str]]:
    """(agency slug, team name, channel) of every notification of the incident."""
    found = tocsin.db.session.execute(
        select(Agency.slug, Team.name, Notification.channel)
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .join(Team, Responder.team_id == Team.id)
        .where(Alert.incident_id == incident_id)
    ).all()
    tocsin.db.remove()
    return set(found)


def post(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


# --- what rules do --------------------------------------------------------------------


def test_without_a_rule_an_import_alerts_nobody(tocsin):
    done = import_cap(tocsin, THUNDERSTORM)
    assert done.alerts == [] and notified(tocsin, done.incident.id) == set()


def test_a_rule_alerts_the_councils_team_on_import(tocsin):
    rule_id = make_rule(tocsin, "council", "severe thunderstorm", "Emergency Planning",
                        ("sms", "push"))  # fmt: skip
    make_rule(tocsin, "fire", "Flood warning", None)  # another event: not this one
    done = import_cap(tocsin, THUNDERSTORM, actor="api:council:Met feed")
    assert [a.kind for a in done.alerts] == ["alert"]
    incident_id = done.incident.id
    assert notified(tocsin, incident_id) == {
        ("council", "Emergency Planning", "sms"), ("council", "Emergency Planning", "push"),
    }  # fmt: skip
    alert = tocsin.db.session.get(Alert, done.alerts[0].id)
    assert alert.message.startswith("AT 254 PM PDT") and "TAKE COVER" in alert.message
    entries = tocsin.db.session.execute(
        select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail)
        .where(AuditEvent.incident_id == incident_id)
        .order_by(AuditEvent.id)
    ).all()
    assert [(a, b) for a, b, _ in entries] == [
        ("api:council:Met feed", "incident.opened"),
        ("api:council:Met feed", "cap.imported"),
        (f"cap-rule:{rule_id}", "alert.sent"),
        ("system:escalation", "escalation.started"),  # as for every alert: the council's policy
        (f"cap-rule:{rule_id}", "cap.rule_applied"),
    ]
    applied = entries[-1][2]
    assert (applied["importer"], applied["alerts"]) == ("api:council:Met feed", [alert.id])


def test_a_rule_switched_off_does_nothing(tocsin):
    rule_id = make_rule(tocsin, "council", "SEVERE THUNDERSTORM", None)
    with tocsin.db.write() as session:
        cap_rules.set_active(session, session.get(CapRoutingRule, rule_id), False, "user:admin")
    assert import_cap(tocsin, THUNDERSTORM).alerts == []


def test_an_update_and_a_cancel_reach_everyone_the_rule_alerted(tocsin):
    make_rule(tocsin, "council", "Severe Thunderstorm", "Emergency Planning")
    warning = document()
    incident_id = import_cap(tocsin, warning).incident.id
    reached = notified(tocsin, incident_id)
    update = document(
        identifier="MET-2026-0002", msg_type="Update", references=reference_to(warning),
        description="Now over the station.",
    )  # fmt: skip
    done = import_cap(tocsin, update)
    assert [a.kind for a in done.alerts] == ["update"]
    assert tocsin.db.session.get(Alert, done.alerts[0].id).message.startswith("Now over")
    cancel = document(identifier="MET-2026-0003", msg_type="Cancel",
                      references=reference_to(update), description="Warning lifted.")  # fmt: skip
    done = import_cap(tocsin, cancel)
    assert [a.kind for a in done.alerts] == ["stand_down"]
    assert tocsin.db.session.get(Incident, incident_id).status == "stood_down"
    assert notified(tocsin, incident_id) == reached


# --- the rules pages ------------------------------------------------------------------


def count_rules(tocsin) -> int:
    n = tocsin.db.session.scalar(select(func.count()).select_from(CapRoutingRule))
    tocsin.db.remove()
    return n


def test_a_coordinator_sets_their_agencys_rules_only(client, tocsin):
    login(client, "fire-coordinator")
    hazmat = team(tocsin, "Hazmat")
    wanted = {"event": "  Chemical  spill ", "team_id": str(hazmat.id), "channels": ["sms"]}
    made = post(client, "/cap/rules/fire", wanted)
    assert made.status_code == 302
    rule = tocsin.db.session.scalar(select(CapRoutingRule))
    assert (rule.event, rule.team_id, rule.channels, rule.active) == (
        "Chemical spill", hazmat.id, ["sms"], True,
    )  # fmt: skip
    page = client.get("/cap/rules/fire").get_data(as_text=True)
    assert "Chemical spill" in page and "team Hazmat" in page
    assert client.get("/cap/rules/police").status_code == 404
    index = client.get("/cap/rules").get_data(as_text=True)
    assert "Fire and Rescue" in index and "Police" not in index
    assert post(client, f"/cap/rules/fire/{rule.id}/active", {"active": "0"}).status_code == 302
    assert tocsin.db.session.get(CapRoutingRule, rule.id).active is False
    tocsin.db.remove()
    assert post(client, f"/cap/rules/fire/{rule.id}/delete", {}).status_code == 302
    assert count_rules(tocsin) == 0


BAD_RULES = [
    ({"event": "", "channels": ["sms"]}, "event", "Name the CAP event"),
    ({"event": "x" * 256, "channels": ["sms"]}, "event", "longer than 255"),
    ({"event": "Flood", "channels": []}, "channels", "at least one channel"),
    ({"event": "Flood", "channels": ["fax"]}, "channels", "Unknown channel: fax"),
    ({"event": "Flood", "team_id": "police", "channels": ["sms"]}, "team_id", "Pick one of"),
]


def test_a_bad_rule_is_refused_naming_the_field(client, tocsin, subtests):
    login(client, "admin")
    for data, field, said in BAD_RULES:
        with subtests.test(msg=f"{field}: {said}"):
            response = post(client, "/cap/rules/fire", data)
            page = html.unescape(response.get_data(as_text=True))
            assert response.status_code == 400 and f'id="{field}-error"' in page and said in page
            assert count_rules(tocsin) == 0


def test_another_agencys_team_is_refused(client, tocsin):
    login(client, "admin")
    police_team = tocsin.db.session.scalar(
        select(Team.id).join(Agency).where(Agency.slug == "police")
    )
    response = post(client, "/cap/rules/fire", {"event": "Riot", "team_id": str(police_team),
                                                 "channels": ["sms"]})  # fmt: skip
    assert response.status_code == 400 and count_rules(tocsin) == 0


def test_another_agencys_rule_is_not_found_under_this_agency(client, tocsin):
    rule_id = make_rule(tocsin, "police", "Riot", None)
    login(client, "admin")
    assert post(client, f"/cap/rules/fire/{rule_id}/delete", {}).status_code == 404
    assert count_rules(tocsin) == 1


# --- the first alert of an imported incident ------------------------------------------


def test_a_sender_sends_the_first_alert_prefilled_with_the_cap_text(client, tocsin):
    incident_id = import_cap(tocsin, document()).incident.id
    login(client, "dispatcher")
    form = client.get(f"/incidents/{incident_id}/alert").get_data(as_text=True)
    assert "Hail and damaging winds expected within the hour.\nKeep away from" in form
    team_id = team(tocsin, "Emergency Planning").id
    fields = {"agencies": ["council"], "teams": [str(team_id)], "channels": ["sms", "email"],
              "message": "Sandbags to the harbour, please."}  # fmt: skip
    shown = post(client, f"/incidents/{incident_id}/alert", {**fields, "action": "preview"})
    assert shown.status_code == 200 and 'data-preview="responders">3<' in shown.get_data(
        as_text=True
    )
    assert rows(tocsin)["Alert"] == 0
    sent = post(client, f"/incidents/{incident_id}/alert", {**fields, "action": "send"})
    assert sent.status_code == 302
    assert notified(tocsin, incident_id) == {
        ("council", "Emergency Planning", "sms"), ("council", "Emergency Planning", "email"),
    }  # fmt: skip
    board = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "Nobody has been alerted yet" not in board and "Sandbags to the harbour" in board


def test_the_first_alert_form_refuses_bad_targeting_and_sends_nothing(client, tocsin):
    incident_id = import_cap(tocsin, document()).incident.id
    login(client)
    before = rows(tocsin)
    empty = {"agencies": [], "channels": ["sms"], "message": "", "action": "send"}
    response = post(client, f"/incidents/{incident_id}/alert", empty)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert 'id="agencies-error"' in page and 'id="message-error"' in page
    assert rows(tocsin) == before


def test_a_stood_down_incident_can_tell_everyone_alerted(client, tocsin):
    make_rule(tocsin, "council", "Severe Thunderstorm", None)
    warning = document()
    incident_id = import_cap(tocsin, warning).incident.id
    cancel = document(
        identifier="MET-2026-0009", msg_type="Cancel", references=reference_to(warning),
        description="All clear.", instruction="",
    )  # fmt: skip
    rule_id = tocsin.db.session.scalar(select(CapRoutingRule.id))
    with tocsin.db.write() as session:  # the Cancel is for a commander to send this time
        cap_rules.set_active(session, session.get(CapRoutingRule, rule_id), False, "user:admin")
    import_cap(tocsin, cancel)
    login(client, "commander")
    board = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert 'id="stand-down-message"' in board and "(from the CAP Cancel received)" in board
    assert ">All clear.</textarea>" in board
    sent = post(client, f"/incidents/{incident_id}/stand-down-message", {"message": "All clear."})
    assert sent.status_code == 302
    kinds = tocsin.db.session.scalars(
        select(Alert.kind).where(Alert.incident_id == incident_id).order_by(Alert.id)
    ).all()
    assert kinds == ["alert", "stand_down"]


def test_a_team_a_rule_alerts_cannot_be_deleted_until_the_rule_is(client, tocsin):
    with tocsin.db.write() as session:
        council = session.scalar(select(Agency).where(Agency.slug == "council"))
        empty = Team(agency_id=council.id, name="Night duty")
        session.add(empty)
        session.flush()
        team_id = empty.id
        rule = cap_rules.create(
            session, council, cap_rules.RuleForm("Flood", str(team_id), ["sms"]), "user:admin"
        )
        rule_id = rule.id
    login(client, "admin")
    refused = post(client, f"/rosters/council/teams/{team_id}/delete", {})
    assert "1 CAP routing rule(s)" in html.unescape(refused.get_data(as_text=True))
    assert tocsin.db.session.get(Team, team_id) is not None
    tocsin.db.remove()
    post(client, f"/cap/rules/council/{rule_id}/delete", {})
    assert post(client, f"/rosters/council/teams/{team_id}/delete", {}).status_code == 302
    assert tocsin.db.session.get(Team, team_id) is None
