"""The responder page: big answer buttons, optional ETA and position, on a phone.

The form alone records an answer (no JavaScript needed); respond.js adds
"Share my position" where the browser can locate the phone. The Chromium tests
open the signed link in a 360 px wide page, as a responder's phone does.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from coordinator.extensions import socketio
from coordinator.models import ANSWER_LABELS, ANSWERS, Notification, Response, User
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import login
from tests.helpers.browser import OfflineGuard, chromium, offline_context, screenshot
from tests.helpers.system import start_system

FORM = IncidentForm(
    title="Chemical leak at Avonmouth docks, Gate 3 (Kings Weston Lane)",
    kind="chemical",
    severity="critical",
    lat="51.50",
    lon="-2.69",
    message=(
        "Chlorine cloud drifting east. Muster at Gate 3. Decontamination-unit-and-breathing-"
        "apparatus-crews-first; plan at https://intranet.example/plans/avonmouth/gate-3/chlorine"
    ),
    agency_slugs=["fire", "police"],
    channels=["sms", "email"],
)
PHONE = {"width": 360, "height": 640}
LABELS = [ANSWER_LABELS[a] for a in ANSWERS]
BRISTOL = {"latitude": 51.4545, "longitude": -2.5879, "accuracy": 25}


@pytest.fixture
def incident(tocsin):
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        incident = declare_incident(session, FORM, user, tocsin.links)
    return incident


def notifications(tocsin) -> list[Notification]:
    rows = tocsin.db.session.scalars(select(Notification).order_by(Notification.id)).all()
    tocsin.db.remove()
    return list(rows)


def responses(tocsin) -> list[Response]:
    rows = tocsin.db.session.scalars(select(Response).order_by(Response.id)).all()
    tocsin.db.remove()
    return list(rows)


def link_path(tocsin, n: Notification) -> str:
    return tocsin.links.url_for(n.id).removeprefix(tocsin.settings.public_url)


# --- the form, without JavaScript -------------------------------------------


def test_the_page_offers_four_answers_and_hides_position_sharing(client, tocsin, incident):
    page = client.get(link_path(tocsin, notifications(tocsin)[0])).get_data(as_text=True)
    assert re.findall(r'name="answer" value="(\w+)"', page) == list(ANSWERS)
    assert '<div class="position" id="position" hidden>' in page  # respond.js shows it
    assert 'name="lat" value=""' in page and 'name="lon" value=""' in page
    assert 'href="/static/respond.css"' in page and 'src="/static/respond.js"' in page
    for asset in ("respond.js", "respond.css"):
        with client.get(f"/static/{asset}") as served:
            assert served.status_code == 200


def test_an_answer_with_eta_and_position_is_recorded_and_shown_live(app, client, tocsin, incident):
    board_client = app.test_client()
    login(board_client)
    board = socketio.test_client(app, flask_test_client=board_client)
    assert board.emit("join", {"incident_id": incident.id}, callback=True) == {"ok": True}
    board.get_received()
    n = notifications(tocsin)[0]

    page = client.post(
        link_path(tocsin, n),
        data={"answer": "en_route", "eta_minutes": " 7 ", "lat": "51.4545", "lon": "-2.5879"},
    )
    assert page.status_code == 200
    assert "Recorded: <b>En route</b>, ETA 7 min, with your position." in page.get_data(
        as_text=True
    )
    [r] = responses(tocsin)
    assert (r.responder_id, r.answer, r.channel, r.eta_minutes, r.lat, r.lon) == (
        n.responder_id, "en_route", "link", 7, 51.4545, -2.5879,
    )  # fmt: skip
    live = [r for e in board.get_received() if e["name"] == "responses" for r in e["args"][0]]
    assert [(e["responder_id"], e["eta_minutes"], e["lat"], e["lon"]) for e in live] == [
        (n.responder_id, 7, 51.4545, -2.5879)
    ]
    board.disconnect()


def test_an_answer_without_eta_or_position_is_recorded(client, tocsin, incident):
    n = notifications(tocsin)[0]
    page = client.post(link_path(tocsin, n), data={"answer": "acknowledged", "lat": "", "lon": ""})
    assert "Recorded: <b>Acknowledged</b>. Thank you." in page.get_data(as_text=True)
    [r] = responses(tocsin)
    assert (r.answer, r.eta_minutes, r.lat, r.lon) == ("acknowledged", None, None, None)


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"lat": "91", "lon": "-2.5"}, "Position is outside the world."),
        ({"lat": "51.4", "lon": "-180.5"}, "Position is outside the world."),
        ({"lat": "nan", "lon": "-2.5"}, "Position is outside the world."),
        ({"lat": "51.4"}, "Share both latitude and longitude, or neither."),
        ({"lat": "", "lon": "-2.5"}, "Share both latitude and longitude, or neither."),
        ({"lat": "north", "lon": "-2.5"}, "Latitude must be a number, not 'north'."),
        ({"eta_minutes": "-5"}, "ETA must be between 0 and 1440 minutes."),
        ({"eta_minutes": "1441"}, "ETA must be between 0 and 1440 minutes."),
        ({"eta_minutes": "7.5"}, "ETA must be a whole number, not '7.5'."),
    ],
)
def test_a_bad_position_or_eta_is_refused_and_nothing_recorded(
    client, tocsin, incident, form, says
):
    page = client.post(
        link_path(tocsin, notifications(tocsin)[0]), data={"answer": "en_route", **form}
    )
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 400
    assert f"{says} Nothing was recorded." in html
    if "eta_minutes" in form:  # what the responder typed is still in the field
        assert f'value="{form["eta_minutes"]}"' in html
    count = tocsin.db.session.scalar(select(func.count()).select_from(Response))
    assert count == 0


# --- a real phone-sized browser ---------------------------------------------


@pytest.fixture
def system(tmp_path):
    system = start_system(f"sqlite:///{tmp_path / 'respond.db'}", None)
    yield system
    system.shutdown()


@pytest.fixture
def links(system) -> list[str]:
    """Answer links of the incident's notifications, one per test browser."""
    with system.tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        declare_incident(session, FORM, user, system.tocsin.links)
    return [system.tocsin.links.url_for(n.id) for n in system.notifications()]


def stored(system, link: str) -> list[tuple]:
    token = link.rsplit("/", 1)[1]
    notification_id = system.tocsin.links.notification_id(token)
    rows = system.tocsin.db.session.scalars(
        select(Response).where(Response.notification_id == notification_id)
    ).all()
    system.tocsin.db.remove()
    return [(r.answer, r.eta_minutes, r.lat, r.lon) for r in rows]


def layout(page) -> dict:  # type: ignore[no-untyped-def]
    """What a small screen shows: page width, answer buttons, smallest text."""
    return page.evaluate(
        """() => {
          const buttons = [...document.querySelectorAll('button.big')].map(b => {
            const r = b.getBoundingClientRect();
            return {width: r.width, height: r.height};
          });
          const texts = [...document.querySelectorAll('body *')].filter(el =>
            el.offsetParent !== null &&
            [...el.childNodes].some(c => c.nodeType === 3 && c.textContent.trim()));
          const sizes = texts.map(el => parseFloat(getComputedStyle(el).fontSize));
          const visible = [...document.querySelectorAll('button')]
            .filter(b => b.offsetParent !== null).map(b => b.innerText.trim());
          return {scrollWidth: document.documentElement.scrollWidth, buttons, visible,
                  smallestText: Math.min(...sizes)};
        }"""
    )


def test_a_responder_shares_position_and_answers_on_a_phone(system, links):
    guard = OfflineGuard()
    with chromium() as browser:
        context = offline_context(
            browser, guard, viewport=PHONE, permissions=["geolocation"], geolocation=BRISTOL
        )
        page = context.new_page()
        page.goto(links[0])
        share = page.get_by_role("button", name="Share my position")
        assert share.is_visible()

        seen = layout(page)
        assert seen["visible"] == ["Share my position", *LABELS]
        assert seen["scrollWidth"] <= PHONE["width"]
        assert len(seen["buttons"]) == 4
        for button in seen["buttons"]:
            assert button["height"] >= 48
            assert button["width"] >= PHONE["width"] - 2 * 16 - 1  # the page's width
        assert seen["smallestText"] >= 16

        eta = page.get_by_label("ETA in minutes (optional)")
        eta.fill("7")
        eta.press("Enter")  # must not send the first answer, "Acknowledged"
        share.click()
        page.get_by_text("Position shared (±25 m)").wait_for()
        screenshot(page, "responder")
        page.get_by_role("button", name="En route").click()
        page.get_by_text("Recorded: En route, ETA 7 min, with your position.").wait_for()
        assert layout(page)["scrollWidth"] <= PHONE["width"]
        context.close()
    assert stored(system, links[0]) == [("en_route", 7, 51.4545, -2.5879)]
    guard.assert_clean()


def test_an_answer_needs_no_javascript(system, links):
    guard = OfflineGuard()
    with chromium() as browser:
        context = offline_context(browser, guard, viewport=PHONE, java_script_enabled=False)
        page = context.new_page()
        page.goto(links[1])
        seen = layout(page)
        assert seen["visible"] == LABELS  # no position sharing without JavaScript
        assert seen["scrollWidth"] <= PHONE["width"]
        page.get_by_label("ETA in minutes (optional)").fill("15")
        page.get_by_role("button", name="On scene").click()
        page.get_by_text("Recorded: On scene, ETA 15 min.").wait_for()
        context.close()
    assert stored(system, links[1]) == [("on_scene", 15, None, None)]
    guard.assert_clean()


def test_a_refused_position_is_explained_and_the_answer_still_goes(system, links):
    guard = OfflineGuard()
    with chromium() as browser:
        context = offline_context(browser, guard, viewport=PHONE, geolocation=BRISTOL)
        page = context.new_page()
        page.goto(links[2])
        page.get_by_role("button", name="Share my position").click()
        refused = page.locator("#position-status.problem")
        refused.wait_for()
        assert refused.inner_text() == (
            "Position not shared: this browser is not allowed to use it. "
            "Your answer still goes through without it."
        )
        screenshot(page, "responder-position-refused")
        page.get_by_role("button", name="Unavailable").click()
        page.get_by_text("Recorded: Unavailable.").wait_for()
        context.close()
    assert stored(system, links[2]) == [("unavailable", None, None, None)]
    guard.assert_clean()
