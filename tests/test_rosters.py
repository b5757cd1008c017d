"""Roster pages: agencies, teams, responders and contact points, checked and audited."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from coordinator.models import Agency, AuditEvent, ContactPoint, Notification, Responder, Team
from coordinator.services import rosters
from notifier.channels.push import PUSH_SCHEMES
from tests.conftest import csrf_token, login

PERSON = {
    "name": "Rosa Diaz",
    "skills": "Firefighter, Hazmat Tech , first-aid",
    "on_duty": "1",
    "language": "cy",
    "lat": "51.45",
    "lon": "-2.59",
    "channel-0": "sms",
    "address-0": "+44 7700 900123",
    "order-0": "2",
    "channel-1": "push",
    "address-1": "ntfy://ntfy.example.org/rosa",
    "order-1": "1",
    "channel-2": "email",
    "address-2": "rosa@fire.example.org",
    "order-2": "3",
}


def post(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def one(tocsin, query):  # type: ignore[no-untyped-def]
    value = tocsin.db.session.scalar(query)
    tocsin.db.remove()
    return value


def ids(tocsin, slug: str) -> dict[str, int]:
    """The agency's id, its teams by name and one of its responders."""
    s = tocsin.db.session
    agency = s.scalar(select(Agency).where(Agency.slug == slug))
    found = {t.name: t.id for t in agency.teams}
    found["agency"] = agency.id
    found["responder"] = s.scalar(select(Responder.id).where(Responder.agency_id == agency.id))
    tocsin.db.remove()
    return found


def snapshot(tocsin) -> tuple:
    s = tocsin.db.session
    result = (
        tuple(s.scalar(select(func.count()).select_from(m)) for m in (Agency, Team, AuditEvent)),
        tuple(s.execute(select(Team.id, Team.name, Team.backup_team_id).order_by(Team.id))),
        tuple(
            s.execute(
                select(
                    Responder.id, Responder.name, Responder.team_id, Responder.skills,
                    Responder.on_duty, Responder.language, Responder.lat, Responder.lon,
                ).order_by(Responder.id)
            )
        ),
        tuple(
            s.execute(
                select(ContactPoint.responder_id, ContactPoint.channel, ContactPoint.address,
                       ContactPoint.position).order_by(ContactPoint.id)
            )
        ),
    )  # fmt: skip
    tocsin.db.remove()
    return result


def responder_named(tocsin, name: str) -> Responder | None:
    s = tocsin.db.session
    found = s.scalar(select(Responder).where(Responder.name == name))
    if found is not None:
        _ = [(p.channel, p.address) for p in found.contact_points], found.team
    tocsin.db.remove()
    return found


def test_it_shows_a_roster_with_teams_backups_and_contact_points_in_order(client, tocsin):
    login(client, "dispatcher")
    page = client.get("/rosters/fire")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Blue Watch" in text and "Hazmat" in text
    first = one(
        tocsin, select(Responder).where(Responder.agency_id == ids(tocsin, "fire")["agency"])
    )
    points = one(
        tocsin,
        select(func.count()).where(ContactPoint.responder_id == first.id),
    )
    assert points == 4
    row = text.split(f'data-responder="{first.id}"')[1].split("</tr>")[0]
    assert row.index("SMS: +1555") < row.index("Push: ntfy://") < row.index("Email: ")
    assert "Edit" not in row  # a dispatcher reads rosters but does not change them
    # police responders are not on the fire roster
    police = ids(tocsin, "police")["responder"]
    assert f'data-responder="{police}"' not in text


def test_it_creates_a_responder_with_clean_skills_and_ordered_contact_points(client, tocsin):
    login(client, "fire-coordinator")
    fire = ids(tocsin, "fire")
    response = post(client, "/rosters/fire/responders/new", {**PERSON, "team_id": fire["Hazmat"]})
    assert response.status_code == 302
    rosa = responder_named(tocsin, "Rosa Diaz")
    assert (rosa.agency_id, rosa.team_id, rosa.on_duty, rosa.language) == (
        fire["agency"], fire["Hazmat"], True, "cy",
    )  # fmt: skip
    assert rosa.skills == ["firefighter", "first_aid", "hazmat_tech"]
    assert (rosa.lat, rosa.lon) == (51.45, -2.59)
    assert [(p.channel, p.address, p.position) for p in rosa.contact_points] == [
        ("push", "ntfy://ntfy.example.org/rosa", 0),
        ("sms", "+447700900123", 1),
        ("email", "rosa@fire.example.org", 2),
    ]
    entry = one(tocsin, select(AuditEvent).where(AuditEvent.action == "responder.created"))
    assert entry.actor == "user:fire-coordinator"
    assert entry.detail["responder_id"] == rosa.id and entry.detail["agency"] == "fire"


def test_it_edits_a_responder_and_audits_what_changed(client, tocsin):
    login(client, "admin")
    fire = ids(tocsin, "fire")
    post(client, "/rosters/fire/responders/new", {**PERSON, "team_id": fire["Hazmat"]})
    rosa = responder_named(tocsin, "Rosa Diaz")
    form = client.get(f"/rosters/fire/responders/{rosa.id}").get_data(as_text=True)
    assert 'value="ntfy://ntfy.example.org/rosa"' in form
    changed = {
        **PERSON, "team_id": fire["Blue Watch"], "on_duty": "", "channel-1": "voice",
        "address-1": "+447700900124", "order-1": "9",
    }  # fmt: skip
    assert post(client, f"/rosters/fire/responders/{rosa.id}", changed).status_code == 302
    rosa = responder_named(tocsin, "Rosa Diaz")
    assert (rosa.team_id, rosa.on_duty) == (fire["Blue Watch"], False)
    assert [(p.channel, p.address) for p in rosa.contact_points] == [
        ("sms", "+447700900123"),
        ("email", "rosa@fire.example.org"),
        ("voice", "+447700900124"),
    ]
    entry = one(
        tocsin,
        select(AuditEvent).where(AuditEvent.action == "responder.changed"),
    )
    assert entry.actor == "user:admin"
    assert entry.detail["fields"] == ["on_duty", "team_id", "contact_points"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "The name is empty"),
        ({"address-0": "07700 900123"}, "points", "is not a phone number in E.164 form"),
        ({"channel-0": "voice", "address-0": "+44"}, "points", "is not a phone number"),
        ({"address-2": "rosa@example"}, "points", "is not an email address"),
        ({"address-1": "https://evil.example.org/hook"}, "points", "is not a push URL"),
        ({"address-1": "json://example.org"}, "points", "is not a push URL"),
        ({"channel-1": "pigeon"}, "points", "Channel must be one of"),
        ({"channel-1": "sms", "address-1": "+447700900123"}, "points", "is listed twice"),
        ({"order-1": "first"}, "points", "Order must be a number"),
        ({"lat": "91"}, "position", "Latitude must be between -90 and 90"),
        ({"lon": "-180.5"}, "position", "Longitude must be between -180 and 180"),
        ({"lat": "north"}, "position", "must be numbers"),
        ({"lon": ""}, "position", "Give both latitude and longitude"),
        ({"lat": "nan"}, "position", "Latitude must be between"),
        ({"language": "english-uk"}, "language", "Language must be a code"),
        ({"language": "e"}, "language", "Language must be a code"),
        ({"skills": "firefighter, !!!"}, "skills", "has no letters or digits"),
        ({"team_id": "999999"}, "team_id", "Pick a team of Fire and Rescue"),
        ({"team_id": "police"}, "team_id", "Pick a team of Fire and Rescue"),
    ],
)
def test_it_rejects_a_bad_responder_and_changes_nothing(client, tocsin, changes, field, message):
    login(client, "fire-coordinator")
    before = snapshot(tocsin)
    response = post(client, "/rosters/fire/responders/new", {**PERSON, **changes})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "Nothing was saved" in page
    assert f'id="{field}-error"' in page and message in page
    assert snapshot(tocsin) == before


def test_it_moves_nobody_into_another_agencys_team(client, tocsin):
    """A team id of the police in a fire form is refused like an unknown team, for the
    fire coordinator and for an admin alike."""
    fire, police = ids(tocsin, "fire"), ids(tocsin, "police")
    url = f"/rosters/fire/responders/{fire['responder']}"
    for user in ("fire-coordinator", "admin"):
        c = client.application.test_client()
        login(c, user)
        before = snapshot(tocsin)
        data = {**PERSON, "name": "Moved", "team_id": police["Response A"]}
        response = post(c, url, data)
        assert response.status_code == 400
        assert "Pick a team of Fire and Rescue" in response.get_data(as_text=True)
        new = post(c, "/rosters/fire/responders/new", data)
        assert new.status_code == 400
        backup = {"name": "Mixed", "backup_team_id": police["Response A"]}
        assert post(c, "/rosters/fire/teams/new", backup).status_code == 400
        assert snapshot(tocsin) == before


def test_a_coordinator_cannot_reach_another_agencys_roster(client, tocsin):
    fire = ids(tocsin, "fire")
    login(client, "police-coordinator")
    before = snapshot(tocsin)
    responder, team = fire["responder"], fire["Blue Watch"]
    for method, url, data in [
        ("GET", "/rosters/fire", None),
        ("GET", f"/rosters/fire/responders/{responder}", None),
        ("GET", f"/rosters/police/responders/{responder}", None),
        ("POST", f"/rosters/police/responders/{responder}", {**PERSON}),
        ("POST", f"/rosters/fire/responders/{responder}/duty", {"on_duty": "0"}),
        ("POST", f"/rosters/police/responders/{responder}/delete", {}),
        ("POST", f"/rosters/fire/teams/{team}", {"name": "Ours now"}),
        ("POST", f"/rosters/police/teams/{team}/delete", {}),
        ("GET", "/rosters/fire/import/template.csv", None),
    ]:
        response = client.get(url) if method == "GET" else post(client, url, data)
        assert response.status_code == 404, (method, url)
    assert snapshot(tocsin) == before
    page = client.get("/rosters").get_data(as_text=True)
    assert 'data-agency="police"' in page and 'data-agency="fire"' not in page


def test_it_creates_edits_and_deletes_teams(client, tocsin):
    login(client, "fire-coordinator")
    fire = ids(tocsin, "fire")
    response = post(client, "/rosters/fire/teams/new", {"name": "Red Watch", "backup_team_id": ""})
    assert response.status_code == 302
    red = one(tocsin, select(Team).where(Team.name == "Red Watch"))
    # Blue Watch backs up to Red Watch; Red Watch cannot back up itself or share a name
    blue = f"/rosters/fire/teams/{fire['Blue Watch']}"
    assert post(client, blue, {"name": "Blue Watch", "backup_team_id": red.id}).status_code == 302
    before = snapshot(tocsin)
    own = post(client, f"/rosters/fire/teams/{red.id}", {"name": "Red", "backup_team_id": red.id})
    assert own.status_code == 400 and "cannot be its own backup" in own.get_data(as_text=True)
    clash = post(client, f"/rosters/fire/teams/{red.id}", {"name": "hazmat"})
    assert clash.status_code == 400 and "already has a team named" in clash.get_data(as_text=True)
    # a team with responders stays
    full = post(client, f"/rosters/fire/teams/{fire['Hazmat']}/delete", {})
    assert full.status_code == 409 and "still has 3 responder" in full.get_data(as_text=True)
    assert snapshot(tocsin) == before
    # an empty team goes, and whoever it backed up has no backup any more
    assert post(client, f"/rosters/fire/teams/{red.id}/delete", {}).status_code == 302
    assert one(tocsin, select(func.count()).where(Team.id == red.id)) == 0
    assert one(tocsin, select(Team.backup_team_id).where(Team.id == fire["Blue Watch"])) is None
    actions = tocsin.db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("team.%")).order_by(AuditEvent.id)
    ).all()
    assert actions == ["team.created", "team.changed", "team.deleted"]


def test_it_toggles_on_duty(client, tocsin):
    login(client, "fire-coordinator")
    responder = ids(tocsin, "fire")["responder"]
    url = f"/rosters/fire/responders/{responder}/duty"
    assert post(client, url, {"on_duty": "0"}).status_code == 302
    assert one(tocsin, select(Responder.on_duty).where(Responder.id == responder)) is False
    before = snapshot(tocsin)
    assert post(client, url, {"on_duty": "perhaps"}).status_code == 400
    assert post(client, url, {"on_duty": "0"}).status_code == 302  # already off: nothing new
    assert snapshot(tocsin) == before
    assert post(client, url, {"on_duty": "1"}).status_code == 302
    assert one(tocsin, select(Responder.on_duty).where(Responder.id == responder)) is True
    actions = tocsin.db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("responder.%duty"))
    ).all()
    assert actions == ["responder.off_duty", "responder.on_duty"]


def test_it_refuses_to_delete_someone_who_was_alerted(client, tocsin):
    login(client, "admin")
    fire = ids(tocsin, "fire")
    post(client, "/rosters/fire/responders/new", {**PERSON, "team_id": fire["Hazmat"]})
    rosa = responder_named(tocsin, "Rosa Diaz")
    incident = {
        "title": "Warehouse fire", "kind": "fire", "severity": "major", "mode": "drill",
        "lat": "51.45", "lon": "-2.58", "message": "Go.", "agencies": ["fire"],
        "channels": ["sms"],
    }  # fmt: skip
    assert post(client, "/incidents/new", incident).status_code == 302
    alerted = one(
        tocsin, select(Notification.responder_id).where(Notification.responder_id == rosa.id)
    )
    assert alerted == rosa.id
    before = snapshot(tocsin)
    refused = post(client, f"/rosters/fire/responders/{rosa.id}/delete", {})
    assert refused.status_code == 409
    assert "Take them off duty instead" in refused.get_data(as_text=True)
    assert snapshot(tocsin) == before
    # someone never alerted is deleted with their contact points
    post(client, "/rosters/fire/responders/new", {**PERSON, "name": "New Starter"})
    starter = responder_named(tocsin, "New Starter")
    assert post(client, f"/rosters/fire/responders/{starter.id}/delete", {}).status_code == 302
    assert responder_named(tocsin, "New Starter") is None
    assert one(tocsin, select(func.count()).where(ContactPoint.responder_id == starter.id)) == 0
    entry = one(tocsin, select(AuditEvent).where(AuditEvent.action == "responder.deleted"))
    assert (entry.actor, entry.detail["name"]) == ("user:admin", "New Starter")


def test_names_are_unique_within_an_agency(client, tocsin):
    login(client, "admin")
    assert post(client, "/rosters/fire/responders/new", PERSON).status_code == 302
    before = snapshot(tocsin)
    again = post(client, "/rosters/fire/responders/new", PERSON)
    assert again.status_code == 400
    assert "names identify responders in CSV imports" in again.get_data(as_text=True)
    assert snapshot(tocsin) == before
    # another agency may have its own Rosa Diaz
    assert post(client, "/rosters/police/responders/new", PERSON).status_code == 302


def test_admins_create_and_rename_agencies(client, tocsin):
    login(client, "admin")
    made = post(client, "/rosters/new", {"slug": "coastguard", "name": "HM Coastguard"})
    assert made.status_code == 302 and made.headers["Location"].endswith("/rosters/coastguard")
    before = snapshot(tocsin)
    for data, message in [
        ({"slug": "coastguard", "name": "Another"}, "exists"),
        ({"slug": "Coast Guard", "name": "Another"}, "lowercase letters"),
        ({"slug": "new", "name": "Another"}, "lowercase letters"),
        ({"slug": "rnli", "name": "hm coastguard"}, "Another agency is named"),
        ({"slug": "rnli", "name": ""}, "The name is empty"),
    ]:
        response = post(client, "/rosters/new", data)
        assert response.status_code == 400, data
        assert message in html.unescape(response.get_data(as_text=True)), data
    assert snapshot(tocsin) == before
    renamed = post(client, "/rosters/coastguard/edit", {"slug": "ignored", "name": "Coastguard"})
    assert renamed.status_code == 302
    agency = one(tocsin, select(Agency).where(Agency.slug == "coastguard"))
    assert agency.name == "Coastguard"
    actions = tocsin.db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("agency.%")).order_by(AuditEvent.id)
    ).all()
    assert actions == ["agency.created", "agency.renamed"]


def test_it_lists_responders_by_search(client, tocsin):
    login(client, "commander")
    fire = ids(tocsin, "fire")
    name = one(tocsin, select(Responder.name).where(Responder.id == fire["responder"]))
    page = client.get("/rosters/fire", query_string={"q": name.split()[1].upper()})
    assert f'data-responder="{fire["responder"]}"' in page.get_data(as_text=True)
    page = client.get("/rosters/fire", query_string={"q": "%"}).get_data(as_text=True)
    assert "No responders match" in page


def test_push_schemes_are_the_notifiers():
    assert rosters.PUSH_SCHEMES == PUSH_SCHEMES


@pytest.mark.parametrize(
    ("channel", "raw", "stored"),
    [
        ("sms", "+44 (0) 7700-900.123", None),
        ("sms", "+44 7700 900123", "+447700900123"),
        ("voice", "+15550100001", "+15550100001"),
        ("sms", "+0123456789", None),
        ("sms", "+1234567890123456", None),
        ("email", "a.b+tag@example.co.uk", "a.b+tag@example.co.uk"),
        ("email", "a@b", None),
        ("email", "a b@example.org", None),
        ("push", "ntfy://ntfy.example.org/topic", "ntfy://ntfy.example.org/topic"),
        ("push", "gotifys://host/token", "gotifys://host/token"),
        ("push", "ntfy://", None),
        ("push", "mailto://x@example.org", None),
        ("fax", "+15550100001", None),
    ],
)
def test_addresses_are_checked_for_their_channel(channel, raw, stored):
    if stored is None:
        with pytest.raises(ValueError):
            rosters.clean_address(channel, raw)
    else:
        assert rosters.clean_address(channel, raw) == stored
