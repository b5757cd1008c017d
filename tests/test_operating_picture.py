"""The live operating picture end to end in real Chromium: a commander's board
(with its map) and a responder's phone page open at once; the responder shares a
position and answers; the board's count and the map's marker change without a
reload, and no page asks anything of the internet. Screenshots of the board, the
map and the phone are kept in test-artifacts/."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from coordinator.models import Responder, Response
from maps.incident_map import ANSWER_COLOURS
from tests.conftest import DEMO_PASSWORD
from tests.helpers import wait_until
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import (
    OfflineGuard,
    chromium,
    element_screenshot,
    offline_context,
    screenshot,
    sign_in,
)
from tests.helpers.system import start_system

LIVE = "() => document.getElementById('live-state').textContent === 'live'"
ANSWERED = "() => Number(document.querySelector('#counts [data-count=answered]').textContent)"
MARKER = """id => {
    const m = window.tocsinMarkers[id];
    if (!m) return null;
    const at = m.getLatLng();
    return {colour: m.options.fillColor, lat: at.lat, lon: at.lng};
}"""
# Where the responder's phone says they are: about 1 km from their roster position.
PHONE_AT = {"latitude": 51.4601, "longitude": -2.5702, "accuracy": 12}


@pytest.fixture
def system(tmp_path):
    system = start_system(f"sqlite:///{tmp_path / 'picture.db'}", None)
    yield system
    system.shutdown()


def responder_of(system, notification) -> Responder:
    responder = system.tocsin.db.session.get(Responder, notification.responder_id)
    system.tocsin.db.session.expunge(responder)
    system.tocsin.db.remove()
    return responder


def stored_answer(system, responder_id: int) -> Response | None:
    session = system.tocsin.db.session
    row = session.scalars(select(Response).where(Response.responder_id == responder_id)).first()
    system.tocsin.db.remove()
    return row


def test_a_responder_answers_and_the_commander_sees_it_live(system):
    commander = system.browser()
    incident_id = system.declare(commander, ["fire"], channels=("sms", "email"))
    notifications = system.notifications()
    email = next(n for n in notifications if n.channel == "email")
    responder = responder_of(system, email)
    assert responder.lat is not None, "demo responders have a roster position"
    link = system.tocsin.links.url_for(email.id)

    guard = OfflineGuard()
    with chromium() as browser:
        desk = offline_context(browser, guard, viewport={"width": 1400, "height": 900})
        board = desk.new_page()
        sign_in(board, system.url, "commander", DEMO_PASSWORD)
        board.goto(f"{system.url}/incidents/{incident_id}")
        board.wait_for_function(LIVE)
        board.evaluate("() => { window.notReloaded = true; }")
        before = board.evaluate(ANSWERED)
        marker_before = board.evaluate(MARKER, responder.id)
        assert marker_before["colour"] == ANSWER_COLOURS[None]
        assert (marker_before["lat"], marker_before["lon"]) == pytest.approx(
            (responder.lat, responder.lon)
        )

        phone = offline_context(
            browser,
            guard,
            viewport={"width": 360, "height": 640},
            is_mobile=True,
            has_touch=True,
            permissions=["geolocation"],
            geolocation=PHONE_AT,
        ).new_page()
        phone.goto(link)
        phone.click("text=Share my position")
        phone.wait_for_selector("text=Position shared")
        phone.fill("input[name=eta_minutes]", "6")
        answered_at = time.monotonic()
        phone.click("button[value=en_route]")
        phone.wait_for_selector("text=Recorded")

        board.wait_for_function(f"() => ({ANSWERED})() === {before + 1}")
        board.wait_for_function(
            "([id, colour]) => window.tocsinMarkers[id].options.fillColor === colour",
            arg=[responder.id, ANSWER_COLOURS["en_route"]],
        )
        seen_after = time.monotonic() - answered_at
        marker_after = board.evaluate(MARKER, responder.id)
        assert (marker_after["lat"], marker_after["lon"]) == pytest.approx(
            (PHONE_AT["latitude"], PHONE_AT["longitude"])
        )
        row = board.locator(f'tr[data-responder="{responder.id}"] td.answer')
        assert row.text_content().startswith("En route")
        assert "6 min" in row.text_content()
        assert board.evaluate("() => window.notReloaded") is True

        assert_accessible(board, "the board with its map")
        assert_accessible(phone, "the responder page")
        board.locator("#counts").scroll_into_view_if_needed()
        screenshot(board, "operating-picture-board")
        element_screenshot(board.locator(".leaflet-container").first, "operating-picture-map")
        screenshot(phone, "operating-picture-phone")

    print(f"answer to board and map: {seen_after * 1000:.0f} ms (includes Playwright's polling)")
    stored = stored_answer(system, responder.id)
    assert (stored.answer, stored.eta_minutes) == ("en_route", 6)
    assert (stored.lat, stored.lon) == pytest.approx((PHONE_AT["latitude"], PHONE_AT["longitude"]))
    guard.assert_clean()
    assert any("/static/maps/vendor/leaflet/leaflet.js" in url for url in guard.local_requests)
    assert any("markercluster" in url for url in guard.local_requests)
    assert any("socket.io" in url for url in guard.local_requests)


def test_the_map_page_keeps_following_after_the_answer(system):
    """A second console on the separate map page sees the same answer."""
    commander = system.browser()
    incident_id = system.declare(commander, ["fire"], channels=("email",))
    email = system.notifications()[0]
    responder = responder_of(system, email)

    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_context(browser, guard).new_page()
        sign_in(page, system.url, "commander", DEMO_PASSWORD)
        page.goto(f"{system.url}/incidents/{incident_id}/map")
        page.wait_for_function("id => !!(window.tocsinMarkers || {})[id]", arg=responder.id)
        response = commander.post(
            system.tocsin.links.url_for(email.id), data={"answer": "on_scene"}, timeout=5
        )
        assert response.ok
        page.wait_for_function(
            "([id, colour]) => window.tocsinMarkers[id].options.fillColor === colour",
            arg=[responder.id, ANSWER_COLOURS["on_scene"]],
        )
        screenshot(page, "operating-picture-map-page")
    guard.assert_clean()
    wait_until(lambda: stored_answer(system, responder.id) is not None, what="the stored answer")
