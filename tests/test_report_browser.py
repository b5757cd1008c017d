"""The report, drills compared and the public responsiveness page in real Chromium:
no WCAG 2.1 A/AA violation (axe-core), charts drawn, nothing asked of the internet.
Screenshots: test-artifacts/reports-*.png."""

from __future__ import annotations

import gevent
import pytest
from sqlalchemy import update

from coordinator.models import Agency
from coordinator.reports import store
from tests.conftest import DEMO_PASSWORD
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import OfflineGuard, chromium, offline_page, screenshot, sign_in
from tests.helpers.console import serve_console
from tests.helpers.report_scenario import close, known_incident

IMAGES_DRAWN = """() => [...document.querySelectorAll('figure img')].map(
    img => img.complete && img.naturalWidth > 0)"""


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    with serve_console(tmp_path) as console:
        yield console.tocsin, console.url


def test_the_report_pages_are_accessible_and_work_offline(served):
    t, base = served
    drill = known_incident(t, mode="drill", title="Harbour drill")
    close(t, drill.incident_id)
    store.ReportBuilder(t).build_due()
    draft = known_incident(t, mode="drill", title="Drill still running")
    with t.db.write() as s:
        s.execute(update(Agency).where(Agency.slug == "fire").values(publish_responsiveness=True))
    guard = OfflineGuard()
    with chromium() as browser:
        page = offline_page(browser, guard, viewport={"width": 1280, "height": 900})
        sign_in(page, base, "commander", DEMO_PASSWORD)
        shown = ((drill.incident_id, "reports-page"), (draft.incident_id, "reports-draft"))
        for incident_id, name in shown:
            page.goto(f"{base}/incidents/{incident_id}/report")
            page.wait_for_load_state("load")
            assert page.evaluate(IMAGES_DRAWN) == [True, True, True]
            assert_accessible(page, name)
            screenshot(page, name)
        assert page.get_by_role("status").first.text_content().startswith("Draft:")
        answers = page.locator("details.timeline-answer table").first
        assert answers.is_visible()  # a short section starts unfolded; a click folds it
        page.locator("details.timeline-answer summary").first.click()
        assert not answers.is_visible()

        page.goto(f"{base}/agencies/fire/drills")
        assert page.evaluate(IMAGES_DRAWN) == [True]
        assert page.locator("#drills tbody tr[data-key]").count() == 1  # the open drill waits
        assert_accessible(page, "drills compared")
        screenshot(page, "reports-compare")

        public = offline_page(browser, guard)  # a new context: nobody signed in
        public.goto(f"{base}/public/responsiveness")
        assert public.url.endswith("/public/responsiveness")
        assert public.locator("section[data-agency=fire] tbody tr[data-month]").count() == 1
        assert_accessible(public, "public responsiveness")
        screenshot(public, "reports-public")
    guard.assert_clean()
    gevent.sleep(0)
