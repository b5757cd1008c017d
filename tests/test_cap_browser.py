"""The CAP pages in real Chromium: the upload page (and its refusal), the routing
rules pages, the board of an imported incident nobody was alerted for, and the
first-alert page; each passes axe-core's WCAG 2.1 A/AA checks and asks nothing of
the internet. The board follows the first alert live, without a reload."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from coordinator import live
from coordinator.models import Agency, Incident, Team
from coordinator.services import cap_rules
from coordinator.services.alerts import send_alert
from coordinator.services.targeting import Targeting
from tests.conftest import DEMO_PASSWORD
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import OfflineGuard, chromium, offline_page, screenshot, sign_in
from tests.helpers.cap import FIXTURES, document, import_cap
from tests.helpers.console import serve_console

LIVE = "() => document.getElementById('live-state').textContent === 'live'"


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    with serve_console(tmp_path) as console:
        yield console.url, console.tocsin, console.app


def test_the_cap_pages_are_accessible_and_offline(served):
    base, tocsin, _app = served
    with tocsin.db.write() as session:
        council = session.scalar(select(Agency).where(Agency.slug == "council"))
        planning = session.scalar(select(Team.id).where(Team.name == "Emergency Planning"))
        rule = cap_rules.RuleForm("Flood warning", str(planning), ["sms", "push"])
        cap_rules.create(session, council, rule, "user:admin")
    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1280, "height": 900})
        sign_in(page, base, "admin", DEMO_PASSWORD)

        page.goto(f"{base}/cap/import")
        assert_accessible(page, "the CAP upload page")
        page.fill("textarea[name=xml]", (FIXTURES / "oasis_a1_homeland_security.xml").read_text())
        page.click("#cap-import button[type=submit]")
        page.wait_for_selector("#cap-problems")
        assert "line 29: <area>" in page.text_content("#cap-problems")
        assert_accessible(page, "the CAP upload page with a refusal")
        screenshot(page, "cap-import-refused")

        page.set_input_files(
            "input[name=document]", str(FIXTURES / "oasis_a2_severe_thunderstorm.xml")
        )
        page.fill("textarea[name=xml]", "")
        page.click("#cap-import button[type=submit]")
        page.wait_for_selector("#no-alert-yet")
        assert "CAP Alert imported" in page.text_content("main")
        board_url = page.url
        page.wait_for_function(LIVE)
        assert_accessible(page, "the board of an incident nobody was alerted for")
        screenshot(page, "cap-board-nobody-alerted")

        page.click("#send-first-alert")
        page.wait_for_selector("#alert-form")
        assert "SEVERE THUNDERSTORM OVER SOUTH CENTRAL ALPINE" in page.input_value(
            "textarea[name=message]"
        )
        page.check("input[name=agencies][value=council]")
        page.click("button[value=preview]")
        page.wait_for_selector("#preview")
        assert_accessible(page, "the first-alert page with its preview")
        screenshot(page, "cap-first-alert")
        page.click("button[value=send]")
        page.wait_for_url(board_url)
        page.wait_for_selector("blockquote[data-alert]")

        page.goto(f"{base}/cap/rules")
        assert_accessible(page, "the CAP routing rules")
        page.goto(f"{base}/cap/rules/council")
        assert "Flood warning" in page.text_content("#rules")
        page.fill("input[name=event]", "")
        page.click("#new-rule button[type=submit]")  # the browser's own check stops it
        page.fill("input[name=event]", "Severe Thunderstorm")
        page.uncheck("#new-rule input[value=sms]")
        page.uncheck("#new-rule input[value=push]")
        page.uncheck("#new-rule input[value=email]")
        page.click("#new-rule button[type=submit]")
        page.wait_for_selector("#channels-error")
        assert_accessible(page, "the rules of an agency with an error")
        screenshot(page, "cap-rules")
    guard.assert_clean()


def test_the_board_follows_the_first_alert_live(served):
    base, tocsin, app = served
    incident_id = import_cap(tocsin, document()).incident.id
    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1280, "height": 900})
        sign_in(page, base, "commander", DEMO_PASSWORD)
        page.goto(f"{base}/incidents/{incident_id}")
        page.wait_for_function(LIVE)
        page.evaluate("() => { window.notReloaded = true; }")
        with app.app_context(), tocsin.db.write() as session:
            incident = session.get(Incident, incident_id)
            alert = send_alert(session, incident, "Council duty team to the harbour.",
                               Targeting(["council"]), ["sms"], None, tocsin.links)  # fmt: skip
        with app.app_context():
            live.alert_sent(incident_id, alert)
        page.wait_for_selector(f'blockquote[data-alert="{alert.id}"]')
        page.wait_for_selector("#board tbody tr[data-responder]")
        assert page.locator("#no-alert-yet").count() == 0
        rows = page.locator("#board tbody tr[data-responder]").count()
        assert rows == 3  # the council's people, added from the snapshot
        assert page.evaluate("() => window.notReloaded") is True
    guard.assert_clean()
