"""Drill pages in real Chromium: the board and map page of a drill carry the exercise
banner and the drill colours (a live board does not), the drills page and the schedule
form work; every page passes axe-core's WCAG 2.1 A/AA checks and stays offline."""

from __future__ import annotations

import pytest

from coordinator.services import sim_city
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import DEMO_PASSWORD
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import OfflineGuard, chromium, offline_page, screenshot, sign_in
from tests.helpers.console import serve_console

DRILL_VIOLET = "rgb(91, 33, 182)"
LIVE = "() => document.getElementById('live-state').textContent === 'live'"
HEADER_COLOUR = "() => getComputedStyle(document.querySelector('header.top')).backgroundColor"


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    with serve_console(tmp_path) as console:
        yield console.url, console.tocsin


def declare(tocsin, mode: str) -> int:
    form = IncidentForm(
        "Chemical spill at the docks", "chemical", "major", "51.45", "-2.6", "Attend.",
        ["fire", "ambulance"], mode=mode, channels=["sms", "push"],
    )  # fmt: skip
    with tocsin.db.write() as session:
        return declare_incident(session, form, None, tocsin.links).id


def test_a_drills_pages_carry_the_banner_and_pass_axe_offline(served):
    base, tocsin = served
    sim_city.build_city(tocsin.db, 12, [], "test", seed=5)
    drill, live = declare(tocsin, "drill"), declare(tocsin, "live")
    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1400, "height": 900})
        sign_in(page, base, "commander", DEMO_PASSWORD)

        page.goto(f"{base}/incidents/{drill}")
        page.wait_for_function(LIVE)
        banner = page.get_by_role("note")
        assert "EXERCISE — this incident is a drill, not a real emergency" in banner.inner_text()
        assert page.evaluate(HEADER_COLOUR) == DRILL_VIOLET
        assert page.locator("#board tr[data-simulated=yes] .tag-sim").count() == 6
        assert_accessible(page, "the board of a drill")
        screenshot(page, "drills-board")

        page.goto(f"{base}/incidents/{drill}/map")
        assert page.get_by_role("note").is_visible()
        assert page.evaluate(HEADER_COLOUR) == DRILL_VIOLET
        assert_accessible(page, "the map page of a drill")
        screenshot(page, "drills-map")

        page.goto(f"{base}/incidents/{live}")
        page.wait_for_function(LIVE)
        assert page.get_by_role("note").count() == 0
        assert page.evaluate(HEADER_COLOUR) != DRILL_VIOLET

        page.goto(f"{base}/")
        assert page.locator("tr[data-mode=drill] .tag-drill").count() == 1
        assert_accessible(page, "the incident list with a drill")

        page.goto(f"{base}/incidents/new")
        assert page.get_by_text(
            "The mode cannot be changed once the incident is declared."
        ).is_visible()
        assert_accessible(page, "the declare form with its mode choice")
    guard.assert_clean()


def test_the_drills_page_and_schedule_form_work_and_pass_axe_offline(served):
    base, _tocsin = served
    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1280, "height": 900})
        sign_in(page, base, "fire-coordinator", DEMO_PASSWORD)

        page.goto(f"{base}/drills/schedules/new")
        assert_accessible(page, "the new drill schedule form")
        page.fill("input[name=name]", "Monthly Blue Watch drill")
        page.select_option("select[name=team_id]", label="Fire and Rescue: Blue Watch")
        page.select_option("select[name=ordinal]", "1")
        page.select_option("select[name=weekday]", "MO")
        page.click("button[value=check]")
        page.wait_for_selector("#next-runs")
        assert page.locator("#next-runs li").count() == 5
        assert_accessible(page, "the schedule form with its next runs")
        page.fill("input[name=timezone]", "Europe/Londn")
        page.click("button[value=save]")
        page.wait_for_selector("#timezone-error")
        assert_accessible(page, "the schedule form with an error")
        page.fill("input[name=timezone]", "Europe/London")
        page.click("button[value=save]")
        page.wait_for_selector("#schedule-list tr[data-schedule]")
        assert page.locator("#schedule-list tr[data-schedule] ol.runs li").count() == 5
        assert_accessible(page, "the drills page")
        screenshot(page, "drills-page")

        page.click("#team-test button[type=submit]")
        page.wait_for_selector("#drill-banner")
        assert "Team test started" in page.inner_text("main")
        assert_accessible(page, "the board of a team test")
    guard.assert_clean()
