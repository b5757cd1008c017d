"""After-action report figures: a known incident worked out by hand, the board's
counts, drill and live kept apart, and the stored report built once by the hub loop."""

from __future__ import annotations

from datetime import timedelta

import gevent
import pytest
from gevent.event import Event
from sqlalchemy import func, select, update

from coordinator.models import (
    AuditEvent,
    Incident,
    IncidentReport,
    Notification,
    Responder,
    Response,
)
from coordinator.reports import store
from coordinator.reports.compute import build_figures
from coordinator.reports.figures import Figures, Stat, bin_counts, median, p90
from coordinator.services.alerts import IncidentForm, declare_incident
from coordinator.views.console import breakdown
from tests.helpers import wait_until
from tests.helpers.report_scenario import EMAIL_ERROR, T0, close, known_incident


def figures_of(tocsin, incident_id: int) -> Figures:
    found = build_figures(tocsin.db.session, incident_id)
    tocsin.db.remove()
    assert found is not None
    return found


def test_median_and_p90_follow_their_definitions():
    assert median([1.0, 2.0, 3.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert median([]) is None
    assert p90([float(x) for x in range(1, 11)]) == 9.0  # rank ceil(9.0) = 9
    assert p90([float(x) for x in range(1, 12)]) == 10.0  # rank ceil(9.9) = 10
    assert p90([5.0]) == 5.0
    assert Stat.of([12.0, 2.0, 6.0]) == Stat(3, 6.0, 12.0, 12.0)
    assert bin_counts([0.0, 29.9, 30.0, 59.0, 60.0, 3600.0, 9000.0]) == [2, 2, 1, 0, 0, 0, 0, 0, 2]


def test_it_computes_a_known_incidents_figures(tocsin):
    s = known_incident(tocsin)
    f = figures_of(tocsin, s.incident_id)
    fire, ambulance, total = f.agency("fire"), f.agency("ambulance"), f.total

    assert (fire.responders, fire.notifications, fire.sent, fire.delivered, fire.failed) == (
        6, 15, 12, 7, 2,
    )  # fmt: skip
    assert (fire.cancelled, fire.receipt_sent, fire.delivered_rate) == (1, 8, 7 / 8)
    assert (fire.answered, fire.answered_rate) == (4, 4 / 6)
    assert fire.time_to_deliver == Stat(7, 6.0, 12.0, 12.0)  # 2, 4, 5 (voice), 6, 8, 10, 12
    assert fire.time_to_answer == Stat(4, 75.0, 150.0, 150.0)  # 30, 60, 90, 150
    assert fire.answers == {"acknowledged": 2, "en_route": 2}  # latest answer each
    assert fire.escalation_steps == 1
    assert fire.tta_bins == [0, 1, 2, 1, 0, 0, 0, 0, 0]
    assert fire.answered_by == [2, 3, 4, 4, 4, 4, 4]  # within 1, 2, 5 ... 60 min

    assert (ambulance.responders, ambulance.notifications, ambulance.sent) == (3, 8, 6)
    assert (ambulance.delivered, ambulance.failed, ambulance.delivered_rate) == (1, 2, 1 / 3)
    assert (ambulance.answered, ambulance.answers) == (1, {"unavailable": 1})
    assert ambulance.time_to_answer == Stat(1, 45.0, 45.0, 45.0)
    assert ambulance.time_to_deliver == Stat(1, 3.0, 3.0, 3.0)

    assert (total.responders, total.answered, total.notifications) == (9, 5, 23)
    assert total.time_to_answer == Stat(5, 60.0, 150.0, 150.0)
    assert total.escalation_steps == 2

    sms, email, voice = (
        next(c for c in f.channels if c.key == k) for k in ("sms", "email", "voice")
    )
    assert [c.key for c in f.channels] == ["sms", "voice", "email"]  # the console's order
    assert (sms.notifications, sms.sent, sms.delivered, sms.failed) == (9, 8, 7, 2)
    assert (sms.delivered_rate, sms.answered, sms.answered_rate) == (7 / 8, 3, 3 / 8)
    assert sms.time_to_answer == Stat(3, 45.0, 90.0, 90.0)  # F1 30, A1 45, F3 90
    assert (email.sent, email.failed, email.cancelled, email.delivered_rate) == (7, 1, 1, None)
    assert (email.answered, email.time_to_answer) == (1, Stat(1, 60.0, 60.0, 60.0))
    assert (voice.notifications, voice.sent, voice.delivered, voice.delivered_rate) == (
        5, 3, 1, 1 / 3,
    )  # fmt: skip
    assert voice.time_to_answer == Stat(1, 30.0, 30.0, 30.0)  # from the call to the keypress

    assert {(x.reason, x.channel, x.count) for x in f.failures} == {
        ("Twilio 30003: unreachable destination handset <number>", "sms", 1),
        ("gave up after 5 attempts: HTTP 503", "sms", 1),
        ("SMTP 550 no such user <address>", "email", 1),
        ("no-answer", "voice", 1),
    }
    silent = [(x.name, x.agency) for x in f.never_answered]
    expected = [(r.name, "Fire and Rescue") for r in s.fire[4:]]
    expected += [(r.name, "Ambulance") for r in s.ambulance[1:]]
    assert sorted(silent) == sorted(expected)
    assert all(not x.simulated for x in f.never_answered)

    (q,) = f.quorums
    assert (q.needed, q.seconds_to_met) == ({"any": 4}, 150.0)
    assert q.met_at == (T0 + timedelta(seconds=150)).isoformat(timespec="milliseconds")
    assert {(e.agency, e.position, e.target) for e in f.escalations} == {
        ("Fire and Rescue", 2, "the silent responders"),
        ("Ambulance", 2, "the silent responders"),
    }
    assert [(a.label, a.responders, a.notifications) for a in f.alerts] == [("First alert", 9, 23)]
    assert len(f.notifications) == 23 and len(f.answers) == 6
    assert sum(a.first for a in f.answers) == 5


def test_the_timeline_holds_every_kind_of_event_in_time_order(tocsin):
    s = known_incident(tocsin)
    close(tocsin, s.incident_id)
    f = figures_of(tocsin, s.incident_id)
    kinds = {e.kind for e in f.timeline}
    assert {"message", "status", "escalation", "answer"} <= kinds
    assert [e.at for e in f.timeline] == sorted(e.at for e in f.timeline)
    answers = [e for e in f.timeline if e.kind == "answer"]
    assert len(answers) == 6  # every answer, the second of F3 too
    assert any(s.fire[1].name in e.text and "ETA 10 min" in e.text for e in answers)
    steps = [e for e in f.timeline if e.text.startswith("Step 2")]
    assert {e.agency for e in steps} == {"Fire and Rescue", "Ambulance"}
    assert any(e.text == "Status open -> closed" for e in f.timeline)
    assert not any("f6@fire.example.org" in e.text for e in f.timeline)


def test_the_counts_are_the_boards(app, tocsin):
    s = known_incident(tocsin)
    f = figures_of(tocsin, s.incident_id)
    with app.test_request_context():
        board = breakdown(s.incident_id)
    columns = ("notifications", "sent", "delivered", "failed", "answered")
    for tally in f.agencies:
        assert {c: getattr(tally, c) for c in columns} == board["agencies"][tally.name]
    for tally in f.channels:
        assert {c: getattr(tally, c) for c in columns} == board["channels"][tally.key]


def test_the_figures_survive_json(tocsin):
    s = known_incident(tocsin)
    f = figures_of(tocsin, s.incident_id)
    again = Figures.from_json(f.to_json())
    assert again == f
    assert again.notifications[0].created_at == f.notifications[0].created_at
    assert EMAIL_ERROR not in f.to_json()  # contact addresses are taken out of error texts


def test_a_simulated_responder_is_marked_and_left_out_of_real_figures(tocsin):
    with tocsin.db.write() as session:
        first_fire = session.scalar(
            select(Responder).join(Responder.agency).where(Responder.agency.has(slug="fire"))
            .order_by(Responder.id).limit(1)
        )  # fmt: skip
        first_fire.simulated = True
    s = known_incident(tocsin, mode="drill", title="Drill")
    f = figures_of(tocsin, s.incident_id)
    assert f.agency("fire").simulated == 1 and f.total.simulated == 1
    assert any(e.text.startswith(f"{s.fire[0].name} (simulated)") for e in f.timeline)
    assert [r.simulated for r in f.answers if r.responder_id == s.fire[0].id] == [True]
    fire = f.summary["agencies"]["fire"]
    assert (fire["notified"], fire["real_notified"], fire["real_answered"]) == (6, 5, 3)
    assert fire["real_tta_s"] == [60.0, 90.0, 150.0]  # F1 (simulated, 30 s) left out


def test_a_live_incidents_report_holds_only_its_own_rows_and_a_drills_only_its_own(tocsin):
    live = known_incident(tocsin)
    drill = known_incident(tocsin, mode="drill", title="Drill at the same time")
    for mine, other in ((live, drill), (drill, live)):
        f = figures_of(tocsin, mine.incident_id)
        ids = set(
            tocsin.db.session.scalars(
                select(Notification.id).where(Notification.alert_id == mine.alert_id)
            )
        )
        answers = set(
            tocsin.db.session.scalars(select(Response.id).where(Response.alert_id == mine.alert_id))
        )
        tocsin.db.remove()
        assert {r.id for r in f.notifications} == ids
        assert {r.id for r in f.answers} == answers
        assert {r.alert_id for r in f.notifications} == {mine.alert_id} != {other.alert_id}
        assert f.total.notifications == 23 and f.total.answered == 5
        assert f.summary["mode"] == ("drill" if mine is drill else "live")


def report_rows(tocsin) -> list[IncidentReport]:
    rows = list(tocsin.db.session.scalars(select(IncidentReport)))
    tocsin.db.remove()
    return rows


def built_entries(tocsin) -> list[AuditEvent]:
    rows = list(
        tocsin.db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.built"))
    )
    tocsin.db.remove()
    return rows


def test_the_hub_stores_the_report_once_the_incident_closes_and_only_once(tocsin):
    s = known_incident(tocsin)
    assert store.ReportBuilder(tocsin).build_due() == 0  # open: nothing is stored
    loaded = store.load(tocsin.db.session, tocsin.db.session.get(Incident, s.incident_id))
    assert loaded.state == "draft" and loaded.figures.draft
    tocsin.db.remove()

    close(tocsin, s.incident_id)
    assert store.ReportBuilder(tocsin).build_due() == 1
    assert store.ReportBuilder(tocsin).build_due() == 0  # a restart builds nothing again
    (report,) = report_rows(tocsin)
    stored = Figures.from_json(report.figures)
    assert not stored.draft and stored.incident.status == "closed"
    assert stored.total == figures_of(tocsin, s.incident_id).total
    assert report.summary == stored.summary and report.summary["mode"] == "live"
    (entry,) = built_entries(tocsin)
    assert (entry.incident_id, entry.detail["notifications"], entry.detail["rebuilt"]) == (
        s.incident_id, 23, False,
    )  # fmt: skip
    incident = tocsin.db.session.get(Incident, s.incident_id)
    assert store.load(tocsin.db.session, incident).state == "stored"
    tocsin.db.remove()


def test_a_report_older_than_the_close_is_built_again(tocsin):
    s = known_incident(tocsin)
    close(tocsin, s.incident_id)
    store.ReportBuilder(tocsin).build_due()
    with tocsin.db.write() as session:  # as if the hub had stopped between an old build and now
        closed = session.get(Incident, s.incident_id).closed_at
        session.execute(update(IncidentReport).values(built_at=closed - timedelta(days=1)))
    incident = tocsin.db.session.get(Incident, s.incident_id)
    assert store.load(tocsin.db.session, incident).state == "unstored"
    tocsin.db.remove()
    assert store.ReportBuilder(tocsin).build_due() == 1
    assert len(report_rows(tocsin)) == 1
    assert [e.detail["rebuilt"] for e in built_entries(tocsin)] == [False, True]


def test_two_builders_at_once_store_one_report(tocsin):
    s = known_incident(tocsin)
    close(tocsin, s.incident_id)
    builders = [gevent.spawn(store.ReportBuilder(tocsin).build_due) for _ in range(2)]
    gevent.joinall(builders, raise_error=True)
    assert sorted(b.value for b in builders) == [0, 1]
    assert len(report_rows(tocsin)) == 1 and len(built_entries(tocsin)) == 1


def test_the_hub_loop_builds_a_report_after_the_close(tocsin):
    s = known_incident(tocsin)
    stop = Event()
    loop = gevent.spawn(store.ReportBuilder(tocsin, poll=0.05).run, stop)
    try:
        close(tocsin, s.incident_id)
        wait_until(lambda: report_rows(tocsin), what="the report was stored")
    finally:
        stop.set()
        loop.join(timeout=5)
    assert len(built_entries(tocsin)) == 1


@pytest.mark.parametrize("mode", ["live", "drill"])
def test_an_incident_without_answers_has_empty_figures_not_errors(tocsin, mode):
    with tocsin.db.write() as session:
        form = IncidentForm("Quiet", "flood", "minor", "51.45", "-2.58", "Flood.", ["council"],
                            mode=mode, channels=["email"])  # fmt: skip
        incident_id = declare_incident(session, form, None, tocsin.links, actor="test").id
    f = figures_of(tocsin, incident_id)
    assert f.total.answered == 0 and f.total.time_to_answer == Stat()
    assert len(f.never_answered) == f.total.responders == 3
    assert tocsin.db.session.scalar(select(func.count()).select_from(IncidentReport)) == 0
