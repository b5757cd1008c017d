"""The commander's board in a real Chromium against a running system: counts per
agency and channel, answers, the map and the clocks change live without a reload,
and the page asks nothing of the internet."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from coordinator.models import Agency
from coordinator.services.escalation import StepSpec, save_policy
from maps.incident_map import ANSWER_COLOURS
from tests.conftest import DEMO_PASSWORD
from tests.helpers import wait_until
from tests.helpers.browser import OfflineGuard, chromium, offline_page, screenshot, sign_in
from tests.helpers.system import start_system

# The page's figures as it shows them: breakdown tables and the overall counts.
READ_FIGURES = """() => {
    const cells = (row, selector, key) => Object.fromEntries(
        [...row.querySelectorAll(selector)].map(el => [el.dataset[key], Number(el.textContent)]));
    const table = id => Object.fromEntries(
        [...document.querySelectorAll(`#${id} tbody tr[data-key]`)]
            .map(tr => [tr.dataset.key, cells(tr, "td[data-col]", "col")]));
    return {
        agencies: table("by-agency"),
        channels: table("by-channel"),
        totals: cells(document, "#counts [data-count]", "count"),
    };
}"""
LIVE = "() => document.getElementById('live-state').textContent === 'live'"
SETTLED = ("sent", "delivered", "failed", "undelivered", "cancelled")


@pytest.fixture
def system(tmp_path):
    system = start_system(f"sqlite:///{tmp_path / 'board.db'}", None)
    yield system
    system.shutdown()


def settled(system, expected: int) -> bool:
    """Every notification (at least `expected` of them) went as far as it goes."""
    rows = system.notifications()
    return len(rows) >= expected and all(n.status in SETTLED for n in rows)


def server_figures(session: requests.Session, url: str) -> dict[str, dict]:
    breakdown = session.get(url, timeout=5).json()["breakdown"]
    totals = {
        column: sum(t[column] for t in breakdown["agencies"].values())
        for column in ("sent", "delivered", "failed", "answered")
    }
    return {**breakdown, "totals": totals}


def same_figures(page, commander: requests.Session, url: str) -> bool:
    shown = page.evaluate(READ_FIGURES)
    server = server_figures(commander, url)
    totals = {k: shown["totals"][k] for k in server["totals"]}
    return (shown["agencies"], shown["channels"], totals) == (
        server["agencies"],
        server["channels"],
        server["totals"],
    )


def box(page, selector: str) -> dict[str, float]:
    return page.locator(selector).bounding_box()


def test_the_board_follows_answers_and_deliveries_live(system):
    commander = system.browser()
    incident_id = system.declare(commander, ["fire", "ambulance"])
    first = system.notifications()
    wait_until(lambda: settled(system, len(first)), what="the alert's messages went out")
    email = next(n for n in first if n.channel == "email")
    board_url = f"{system.url}/incidents/{incident_id}"
    state_url = f"{board_url}/state"

    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1400, "height": 900})
        sign_in(page, system.url, "commander", DEMO_PASSWORD)
        page.goto(board_url)
        page.wait_for_function(LIVE)
        page.evaluate("() => { window.notReloaded = true; }")
        before = page.evaluate(READ_FIGURES)
        fire = before["agencies"]["Fire and Rescue"]
        assert (fire["answered"], before["channels"]["email"]["answered"]) == (0, 0)
        assert before["totals"]["answered"] == 0
        assert before["totals"]["sent"] == len(first)

        # The clocks tick: "declared 12 s ago" becomes "declared 13 s ago".
        declared = page.locator("#declared time")
        page.wait_for_function(
            "() => / ago$/.test(document.querySelector('#declared time').textContent)"
        )
        ticked_from = declared.text_content()
        assert re.fullmatch(r"(\d+ min )?\d+ s ago", ticked_from), ticked_from
        page.wait_for_function(
            "(t) => document.querySelector('#declared time').textContent !== t",
            arg=ticked_from,
        )
        sent = page.locator("blockquote[data-alert-kind=alert] time[data-since]")
        assert re.fullmatch(r"(\d+ min )?\d+ s ago", sent.first.text_content())
        countdown = page.locator("#escalations .countdown").first
        assert re.fullmatch(r"in (\d+ min )?\d+ s", countdown.text_content())

        # A responder answers through the link in their email.
        link = system.tocsin.links.url_for(email.id)
        assert requests.post(link, data={"answer": "en_route"}, timeout=5).status_code == 200
        page.wait_for_function(
            """() => {
                const agency = document.querySelector(
                    '#by-agency tr[data-key="Fire and Rescue"] td[data-col=answered]');
                const email = document.querySelector(
                    '#by-channel tr[data-key=email] td[data-col=answered]');
                const overall = document.querySelector('#counts [data-count=answered]');
                return [agency, email, overall].every(el => el.textContent === "1");
            }""",
            timeout=15_000,
        )
        after = page.evaluate(READ_FIGURES)
        assert after["channels"]["sms"]["answered"] == 0
        assert after["agencies"]["Ambulance"]["answered"] == 0
        answer = page.locator(f'tr[data-responder="{email.responder_id}"] td.answer')
        assert answer.text_content() == "En route"
        page.wait_for_function(
            "([id, colour]) => window.tocsinMarkers[id].options.fillColor === colour",
            arg=[str(email.responder_id), ANSWER_COLOURS["en_route"]],
        )

        # An update to everyone alerted: its messages are counted as they go out.
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', commander.get(board_url, timeout=5).text
        ).group(1)
        sent_update = commander.post(
            f"{board_url}/follow-up",
            data={"csrf_token": token, "message": "Road closed at junction 2."},
            timeout=10,
        )
        assert sent_update.ok
        # Its message shows at once, with its own clock, as a reload would show it.
        update = page.locator('blockquote[data-alert-kind="update"]')
        update.wait_for()
        assert update.locator("b").text_content() == "update:"
        assert "Road closed at junction 2." in update.text_content()
        assert re.fullmatch(r"update sent \d+ s ago", update.locator("footer").text_content())
        everyone = len(system.notifications())
        assert everyone > len(first)
        wait_until(lambda: settled(system, everyone), what="the update went out")
        page.wait_for_function(
            "(n) => document.querySelector('#counts [data-count=sent]').textContent === String(n)",
            arg=everyone,
            timeout=15_000,
        )
        wait_until(
            lambda: same_figures(page, commander, state_url),
            what="the live figures equal the server's",
        )
        assert page.evaluate("() => window.notReloaded") is True

        guard.assert_clean()
        screenshot(page, "board")
        # Wide: the map beside the board. Narrow: below it, still tall enough to read.
        board, beside = box(page, ".board-main"), box(page, ".board-map")
        assert beside["x"] >= board["x"] + board["width"]
        page.set_viewport_size({"width": 700, "height": 900})
        board, below = box(page, ".board-main"), box(page, ".board-map")
        assert below["y"] >= board["y"] + board["height"]
        assert below["height"] > 300
        page.context.close()


def test_an_escalation_step_to_another_agency_adds_its_rows_live(system):
    # Fire's policy calls in the council 8 s after the alert; the page is live long before.
    with system.tocsin.db.write() as session:
        fire = session.scalars(select(Agency).where(Agency.slug == "fire")).one()
        steps = [StepSpec(0, ["sms"]), StepSpec(8, ["sms"], "agency:council")]
        save_policy(session, fire, "Council at 8 s", True, steps, "test")
    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1400, "height": 900})
        sign_in(page, system.url, "commander", DEMO_PASSWORD)
        incident_id = system.declare(system.browser(), ["fire"], channels=("sms",))
        page.goto(f"{system.url}/incidents/{incident_id}")
        page.wait_for_function(LIVE)
        page.evaluate("() => { window.notReloaded = true; }")
        before = page.evaluate(READ_FIGURES)
        assert list(before["agencies"]) == ["Fire and Rescue"]
        line = page.locator("#escalations li").first
        assert re.fullmatch(r"in \d+ s", line.locator(".countdown").text_content())

        page.wait_for_function(
            """() => {
                const row = document.querySelector('#by-agency tr[data-key="City Council"]');
                return row && row.querySelector('td[data-col=sent]').textContent === "3";
            }""",
            timeout=30_000,
        )
        after = page.evaluate(READ_FIGURES)
        assert list(after["agencies"]) == ["City Council", "Fire and Rescue"]
        council_rows = page.locator("#board tbody tr[data-agency='City Council']")
        assert council_rows.count() == 3
        # The map takes them in too: a cluster layer of their own, a marker each, no answer.
        council_ids = [int(row.get_attribute("data-responder")) for row in council_rows.all()]
        on_map = page.evaluate(
            """ids => ({
                layer: "City Council" in window.tocsinAgencyLayers,
                control: [...document.querySelectorAll(".leaflet-control-layers-overlays label")]
                    .some(label => label.textContent.trim() === "City Council"),
                colours: ids.map(id => window.tocsinMarkers[id] &&
                                       window.tocsinMarkers[id].options.fillColor),
            })""",
            council_ids,
        )
        assert on_map == {
            "layer": True,
            "control": True,
            "colours": [ANSWER_COLOURS[None]] * 3,
        }
        assert after["channels"]["sms"]["notifications"] == (
            before["channels"]["sms"]["notifications"] + 3
        )
        # Every step has run: the line says so and counts down to nothing.
        page.wait_for_function(
            "() => document.querySelector('#escalations li').dataset.state === 'finished'"
        )
        assert line.locator(".countdown").count() == 0
        assert page.evaluate("() => window.notReloaded") is True
        guard.assert_clean()
        screenshot(page, "board-escalation")
        page.context.close()
