"""Targeting: agency, team, skill, duty and radius choose who is alerted, and the
preview shows exactly who will be reached on which channel before sending."""

import re

import pytest
from sqlalchemy import select

from coordinator.errors import ValidationError
from coordinator.models import Agency, Alert, Notification, Responder, Team
from coordinator.seed import CITY
from coordinator.services.targeting import Targeting, distance_m, preview, select_recipients
from tests.conftest import login
from tests.test_console import counts, declare


def responders(tocsin, **where) -> list[Responder]:
    query = select(Responder).join(Agency)
    for key, value in where.items():
        query = query.where(
            Agency.slug == value if key == "agency" else getattr(Responder, key) == value
        )
    rows = list(tocsin.db.session.scalars(query.order_by(Responder.id)))
    tocsin.db.remove()
    return rows


def alerted(tocsin) -> set[int]:
    ids = set(tocsin.db.session.scalars(select(Notification.responder_id)))
    tocsin.db.remove()
    return ids


def test_distance_is_great_circle():
    # Bristol to London, about 170 km.
    assert 165_000 < distance_m(51.4545, -2.5879, 51.5072, -0.1276) < 175_000
    assert distance_m(*CITY, *CITY) == 0


def test_it_targets_by_skill_across_agencies(client, tocsin):
    login(client)
    response = declare(client, agencies=["fire", "ambulance"], skills="paramedic, hazmat")
    assert response.status_code == 302
    expected = {
        r.id
        for slug in ("fire", "ambulance")
        for r in responders(tocsin, agency=slug)
        if {"paramedic", "hazmat"} & set(r.skills)
    }
    assert expected and alerted(tocsin) == expected


def test_it_targets_one_team_and_leaves_off_duty_responders_out(client, tocsin):
    login(client)
    team = tocsin.db.session.scalars(select(Team).where(Team.name == "Blue Watch")).one()
    members = [r.id for r in responders(tocsin, team_id=team.id)]
    with tocsin.db.write() as s:
        s.get(Responder, members[0]).on_duty = False
    assert declare(client, agencies=["fire"], teams=[str(team.id)]).status_code == 302
    assert alerted(tocsin) == set(members[1:])


def test_everyone_includes_off_duty_responders(client, tocsin):
    login(client)
    off = responders(tocsin, agency="police")[0]
    with tocsin.db.write() as s:
        s.get(Responder, off.id).on_duty = False
    assert declare(client, agencies=["police"], duty="all").status_code == 302
    assert off.id in alerted(tocsin)


def test_it_targets_within_a_radius_and_skips_unknown_positions(tocsin):
    everyone = responders(tocsin, agency="police")
    lat, lon = CITY
    with tocsin.db.write() as s:
        s.get(Responder, everyone[0].id).lat = None  # position unknown
        s.get(Responder, everyone[1].id).lat, s.get(Responder, everyone[1].id).lon = lat, lon
    near = select_recipients(tocsin.db.session, Targeting(["police"], radius_m=10), lat, lon)
    assert [r.responder_id for r in near.recipients] == [everyone[1].id]
    assert near.skipped_no_position == 1
    wide = select_recipients(tocsin.db.session, Targeting(["police"], radius_m=50_000), lat, lon)
    assert {r.responder_id for r in wide.recipients} == {r.id for r in everyone[1:]}
    tocsin.db.remove()


def test_the_preview_is_what_is_sent(client, tocsin):
    login(client)
    page = declare(
        client, action="preview", agencies=["fire"], skills="hazmat", channels=["sms", "voice"]
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    shown = {int(m) for m in re.findall(r'<tr data-responder="(\d+)">', html)}
    assert counts(tocsin)["Notification"] == 0  # a preview sends nothing
    hazmat = {r.id for r in responders(tocsin) if "hazmat" in r.skills}
    assert shown == hazmat
    numbers = preview(
        tocsin.db.session, Targeting(["fire"], skills=["hazmat"]), *CITY, ["sms", "voice"]
    )
    tocsin.db.remove()
    assert numbers.notifications == 2 * len(hazmat)
    assert f'data-preview="notifications">{numbers.notifications}<' in html
    assert (
        declare(client, agencies=["fire"], skills="hazmat", channels=["sms", "voice"]).status_code
        == 302
    )
    assert alerted(tocsin) == shown
    sent = tocsin.db.session.scalars(select(Notification.channel)).all()
    assert sorted(set(sent)) == ["sms", "voice"] and len(sent) == numbers.notifications


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"radius_m": "far"}, "radius_m"),
        ({"radius_m": "-5"}, "radius_m"),
        ({"radius_m": "nan"}, "radius_m"),
        ({"teams": ["abc"]}, "teams"),
        ({"teams": ["99999"]}, "teams"),
        ({"quorum": "firefighters four"}, "quorum"),
        ({"quorum": "firefighter: 0"}, "quorum"),
        ({"quorum": "firefighter: 2", "quorum_minutes": "0"}, "quorum_minutes"),
        ({"lat": "0", "lon": "0"}, "lat"),
    ],
)
def test_bad_targeting_is_refused_and_changes_nothing(client, tocsin, changes, field):
    login(client)
    before = counts(tocsin)
    for action in ("preview", "send"):
        response = declare(client, action=action, **changes)
        assert response.status_code == 400
        assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert counts(tocsin) == before


def test_a_team_of_another_agency_is_refused(client, tocsin):
    login(client)
    police_team = tocsin.db.session.scalars(
        select(Team).join(Agency).where(Agency.slug == "police")
    ).first()
    tocsin.db.remove()
    before = counts(tocsin)
    response = declare(client, agencies=["fire"], teams=[str(police_team.id)])
    assert response.status_code == 400
    assert "Teams must belong to the agencies alerted" in response.get_data(as_text=True)
    assert counts(tocsin) == before


def test_targeting_parse_names_every_bad_field():
    with pytest.raises(ValidationError) as caught:
        Targeting.parse([], teams=["x"], radius_m="wide")
    assert set(caught.value.errors) == {"agencies", "teams", "radius_m"}


def test_the_quorum_is_stored_on_the_alert(client, tocsin):
    login(client)
    assert (
        declare(client, quorum="firefighter: 4, paramedic x 1", quorum_minutes="5").status_code
        == 302
    )
    alert = tocsin.db.session.scalars(select(Alert)).one()
    assert alert.quorum == {"firefighter": 4, "paramedic": 1}
    assert alert.quorum_deadline_at is not None
    assert alert.targeting["agencies"] == ["ambulance", "fire"]
    tocsin.db.remove()
