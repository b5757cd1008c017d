"""Drills in the console: the drill banner and colour, the mode that never changes,
the drills page (schedules, team tests) and who may use it."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from coordinator.models import (
    Alert,
    AuditEvent,
    DrillSchedule,
    Incident,
    ModeChangeError,
    Notification,
    Team,
)
from coordinator.services import tokens
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import csrf_token, login

BANNER = "EXERCISE</strong> — this incident is a drill, not a real emergency"
SCHEDULE = {
    "name": "Monthly fire drill", "agency": "fire", "team_id": "", "frequency": "monthly",
    "ordinal": "1", "weekday": "MO", "time": "10:00", "timezone": "Europe/London", "rule": "",
    "message": "Drill: please answer.", "channels": ["sms", "push"], "duration_minutes": "30",
}  # fmt: skip


def post(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def incident(tocsin, mode: str) -> int:
    form = IncidentForm("Warehouse fire", "fire", "major", "51.45", "-2.58", "Attend.", ["fire"],
                        mode=mode, channels=["sms"])  # fmt: skip
    with tocsin.db.write() as session:
        return declare_incident(session, form, None, tocsin.links).id


def counts(tocsin) -> tuple[int, ...]:
    session = tocsin.db.session
    found = tuple(
        session.scalar(select(func.count()).select_from(m))
        for m in (DrillSchedule, Incident, Notification, AuditEvent)
    )
    tocsin.db.remove()
    return found


def team_id(tocsin, name: str) -> int:
    found = tocsin.db.session.scalar(select(Team.id).where(Team.name == name))
    tocsin.db.remove()
    return found


# --- the banner and the colour ----------------------------------------------------------


def test_every_page_of_a_drill_carries_the_banner_and_a_live_one_does_not(client, tocsin):
    drill, live = incident(tocsin, "drill"), incident(tocsin, "live")
    login(client, "commander")
    for url in (f"/incidents/{drill}", f"/incidents/{drill}/map"):
        page = client.get(url).get_data(as_text=True)
        assert BANNER in page and '<body class="drill">' in page, url
        assert 'role="note"' in page
    for url in (f"/incidents/{live}", f"/incidents/{live}/map", "/", "/incidents/new"):
        page = client.get(url).get_data(as_text=True)
        assert BANNER not in page and 'class="drill"' not in page, url
    listing = client.get("/").get_data(as_text=True)
    assert listing.count('data-mode="drill"') == 1 and "tag-drill" in listing


def test_the_responder_page_of_a_drill_says_it_is_an_exercise(client, tocsin):
    drill = incident(tocsin, "drill")
    first = tocsin.db.session.scalar(
        select(Notification.id)
        .join(Notification.alert)
        .where(Alert.incident_id == drill)
        .order_by(Notification.id)
        .limit(1)
    )
    tocsin.db.remove()
    page = client.get(tocsin.links.url_for(first).replace("http://127.0.0.1:5000", ""))
    assert BANNER in page.get_data(as_text=True)


def test_the_declare_form_makes_the_choice_plain_and_warns_it_is_final(client):
    login(client, "commander")
    page = client.get("/incidents/new").get_data(as_text=True)
    assert 'type="radio" name="mode" value="live" checked' in page
    assert 'type="radio" name="mode" value="drill"' in page
    assert "The mode cannot be changed once the incident is declared." in page


# --- the mode never changes ----------------------------------------------------------------


def test_the_model_refuses_to_change_a_mode_either_way(tocsin):
    ids = incident(tocsin, "drill"), incident(tocsin, "live")
    for incident_id, other in zip(ids, ("live", "drill"), strict=True):
        with pytest.raises(ModeChangeError), tocsin.db.write() as session:
            session.get(Incident, incident_id).mode = other
    modes = [tocsin.db.session.get(Incident, i).mode for i in ids]
    tocsin.db.remove()
    assert modes == ["drill", "live"]


def test_no_console_form_changes_the_mode(client, tocsin):
    drill, live = incident(tocsin, "drill"), incident(tocsin, "live")
    login(client, "commander")
    for incident_id, other in ((drill, "live"), (live, "drill")):
        base = f"/incidents/{incident_id}"
        post(client, f"{base}/follow-up", {"message": "Update.", "mode": other})
        post(client, f"{base}/status", {"status": "stood_down", "message": "", "mode": other})
        post(client, f"{base}/status", {"status": "open", "mode": other})
    modes = {i: tocsin.db.session.get(Incident, i).mode for i in (drill, live)}
    tocsin.db.remove()
    assert modes == {drill: "drill", live: "live"}


def test_the_api_has_no_way_to_change_a_mode(client, tocsin):
    with tocsin.db.write() as session:
        secret = tokens.create(session, "fire", "Fire CAD", "user:admin")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    drill = incident(tocsin, "drill")
    before = counts(tocsin)
    url = f"/api/v1/incidents/{drill}"
    for method in (client.patch, client.put):
        assert method(url, json={"mode": "live"}, headers=headers).status_code == 405
    refused = client.post(f"{url}/alerts", json={"message": "More.", "mode": "live"},
                          headers=headers)  # fmt: skip
    assert refused.status_code == 400
    assert client.get(url, headers=headers).get_json()["mode"] == "drill"
    assert counts(tocsin) == before


# --- schedules on the drills page -----------------------------------------------------------


def test_it_shows_the_next_runs_then_saves_a_schedule(client, tocsin):
    login(client, "fire-coordinator")
    shown = post(client, "/drills/schedules/new", {**SCHEDULE, "action": "check"})
    page = html.unescape(shown.get_data(as_text=True))
    assert shown.status_code == 200 and "The next 5 runs" in page
    assert "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=10;BYMINUTE=0;BYSECOND=0" in page
    assert page.count(" 10:00 G") + page.count(" 10:00 B") >= 5  # 10:00 GMT or BST
    assert counts(tocsin)[0] == 0
    saved = post(client, "/drills/schedules/new", {**SCHEDULE, "action": "save"})
    assert saved.status_code == 302
    listing = html.unescape(client.get("/drills").get_data(as_text=True))
    assert "Monthly fire drill" in listing and "first Monday of the month at 10:00" in listing
    assert listing.count("<li>Mon ") == 5


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"rule": "FREQ=WEEKLY;BYDAY=XX"}, "rule", "Not a valid RRULE"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone 'Mars/Olympus'"),
        ({"rule": "FREQ=DAILY;COUNT=1;UNTIL=20200101T000000"}, "rule", "not both (RFC 5545)"),
        ({"time": "7pm"}, "time", "Time must be HH:MM"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_field_named_and_nothing_saved(
    client, tocsin, change, field, message
):
    login(client, "commander")
    before = counts(tocsin)
    response = post(client, "/drills/schedules/new", {**SCHEDULE, **change, "action": "save"})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert f'id="{field}-error"' in page and message in page
    assert counts(tocsin) == before


def make_schedule(client) -> int:  # type: ignore[no-untyped-def]
    assert post(client, "/drills/schedules/new", {**SCHEDULE, "action": "save"}).status_code == 302
    return int(
        client.get("/drills").get_data(as_text=True).split('data-schedule="')[1].split('"')[0]
    )


def test_a_schedule_is_paused_resumed_and_deleted_with_its_drills_kept(client, tocsin):
    login(client, "commander")
    schedule_id = make_schedule(client)
    assert (
        post(client, f"/drills/schedules/{schedule_id}/active", {"active": "0"}).status_code == 302
    )
    assert 'data-active="no"' in client.get("/drills").get_data(as_text=True)
    assert (
        post(client, f"/drills/schedules/{schedule_id}/active", {"active": "1"}).status_code == 302
    )
    drill = incident(tocsin, "drill")
    with tocsin.db.write() as session:
        session.get(Incident, drill).drill_schedule_id = schedule_id
    assert post(client, f"/drills/schedules/{schedule_id}/delete", {}).status_code == 302
    assert tocsin.db.session.get(DrillSchedule, schedule_id) is None
    assert tocsin.db.session.get(Incident, drill).drill_schedule_id is None
    done = tocsin.db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("drill_schedule.%"))
    ).all()
    tocsin.db.remove()
    assert done == ["drill_schedule.created", "drill_schedule.paused", "drill_schedule.resumed",
                    "drill_schedule.deleted"]  # fmt: skip


def test_a_team_with_a_drill_schedule_is_not_deleted_from_under_it(client, tocsin):
    login(client, "admin")
    spare = post(client, "/rosters/fire/teams/new", {"name": "Spare Watch", "backup_team_id": ""})
    assert spare.status_code == 302
    spare_id = team_id(tocsin, "Spare Watch")
    post(client, "/drills/schedules/new", {**SCHEDULE, "team_id": str(spare_id), "action": "save"})
    refused = post(client, f"/rosters/fire/teams/{spare_id}/delete", {})
    assert refused.status_code == 409
    assert "has 1 drill schedule(s)" in html.unescape(refused.get_data(as_text=True))


# --- team tests -------------------------------------------------------------------------------


def test_a_coordinator_tests_their_own_team_and_it_closes_itself(client, tocsin):
    login(client, "fire-coordinator")
    roster = client.get("/rosters/fire").get_data(as_text=True)
    assert "Test this team" in roster
    blue = team_id(tocsin, "Blue Watch")
    response = post(client, "/drills/team-test", {"team_id": str(blue)})
    assert response.status_code == 302
    board = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Team test started; it closes itself at" in html.unescape(board) and BANNER in board
    [test] = tocsin.db.session.scalars(select(Incident)).all()
    assert (test.mode, test.origin, test.status) == ("drill", "team_test", "open")
    minutes = (test.auto_close_at - test.created_at).total_seconds() / 60
    tocsin.db.remove()
    assert 14.9 < minutes < 15.1
    running = client.get("/drills").get_data(as_text=True)
    assert f'data-incident="{test.id}"' in running


def test_a_coordinator_cannot_test_another_agencys_team_and_an_observer_nobody(client, tocsin):
    police = team_id(tocsin, "Response A")
    login(client, "fire-coordinator")
    observer = client.application.test_client()
    login(observer, "observer")
    before = counts(tocsin)
    assert post(client, "/drills/team-test", {"team_id": str(police)}).status_code == 404
    assert post(observer, "/drills/team-test", {"team_id": str(police)}).status_code == 403
    assert observer.get("/drills").status_code == 403
    assert counts(tocsin) == before


def test_a_bad_team_test_is_refused_on_the_page(client, tocsin):
    login(client, "commander")
    before = counts(tocsin)
    blue = team_id(tocsin, "Blue Watch")
    refused = post(client, "/drills/team-test", {"team_id": str(blue), "minutes": "500"})
    assert refused.status_code == 400
    assert "A team test lasts 1 to 240 minutes" in html.unescape(refused.get_data(as_text=True))
    assert post(client, "/drills/team-test", {"team_id": "nope"}).status_code == 400
    assert counts(tocsin) == before
