"""The report's renderings: the page (draft or stored), the PDF read back and rendered,
the CSVs, the routes' bad input, and the board's link."""

from __future__ import annotations

import csv
import io
import re
import subprocess

import pytest
from lxml import html as lxml_html
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select, update

from coordinator.models import (
    AuditEvent,
    ContactPoint,
    IncidentReport,
    Notification,
    Responder,
    Response,
    Team,
)
from coordinator.reports import store
from coordinator.reports.csv_export import neutralise
from tests.conftest import login
from tests.helpers.report_scenario import close, known_incident

PDF_TABLES = (
    "alerts", "agency-delivery", "agency-answers", "channel-delivery", "channel-answers",
    "tta-bins", "answered-by", "escalations", "quorums", "failures",
)  # fmt: skip


def closed_and_stored(tocsin, **options):  # type: ignore[no-untyped-def]
    s = known_incident(tocsin, **options)
    close(tocsin, s.incident_id)
    assert store.ReportBuilder(tocsin).build_due() == 1
    return s


def page_tables(page: str) -> dict[str, list[list[str]]]:
    """Every report table of the page: its rows (body and foot) as lists of cell texts."""
    doc = lxml_html.fromstring(page)
    tables = {}
    for table in doc.xpath("//table[@id]"):
        # every body row but the "None." of an empty table, and the foot
        rows = table.xpath("./tbody/tr[not(td[@colspan])] | ./tfoot/tr")
        tables[table.get("id")] = [
            [" ".join(c.text_content().split()) for c in row.xpath("./th|./td")] for row in rows
        ]
    return tables


def flat(text: str) -> str:
    return " ".join(text.split())


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?%?")


def test_the_pdf_holds_the_figures_the_page_shows_and_its_pages_render(client, tocsin, tmp_path):
    s = closed_and_stored(tocsin)
    login(client, "observer")
    page = client.get(f"/incidents/{s.incident_id}/report")
    assert page.status_code == 200
    response = client.get(f"/incidents/{s.incident_id}/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(response.data)
    pdf_text = flat("\n".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages))

    tables = page_tables(page.get_data(as_text=True))
    for table_id in PDF_TABLES:
        for row in tables[table_id]:
            cells = [c for c in row if c != "None."]
            # every number of the row, in order, as the PDF writes that row
            assert " ".join(cells) in pdf_text, f"{table_id}: {row} not in the PDF"
    agency_numbers = {row[0]: NUMBER.findall(" ".join(row[1:])) for row in tables["agency-answers"]}
    assert agency_numbers["Fire and Rescue"][:3] == ["6", "4", "66.7%"]
    assert agency_numbers["Ambulance"][:3] == ["3", "1", "33.3%"]
    for name in (r.name for r in s.fire[4:] + s.ambulance[1:]):  # never answered
        assert name in pdf_text

    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)  # fmt: skip
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(PdfReader(tmp_path / "report.pdf").pages) >= 2
    for png in pages:
        image = Image.open(png).convert("L")
        dark = sum(image.histogram()[:200])  # pixels darker than light grey
        assert dark > 0.005 * image.width * image.height, f"{png.name} is blank"


def test_an_open_incidents_report_is_a_draft_and_a_closed_ones_is_stored(client, tocsin):
    s = known_incident(tocsin, mode="drill", title="Drill report")
    login(client, "commander")
    board = client.get(f"/incidents/{s.incident_id}").get_data(as_text=True)
    assert f'href="/incidents/{s.incident_id}/report"' in board
    page = client.get(f"/incidents/{s.incident_id}/report").get_data(as_text=True)
    assert "Draft: the incident is still open, figures will change" in page
    assert 'data-state="draft"' in page and '<span class="tag">drill</span>' in page
    for name in ("time-to-answer", "cumulative", "funnel"):
        chart = client.get(f"/incidents/{s.incident_id}/report/charts/{name}.svg")
        assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
        assert chart.headers["Cache-Control"] == "no-store"
        assert f"/report/charts/{name}.svg" in page
    close(tocsin, s.incident_id)
    page = client.get(f"/incidents/{s.incident_id}/report").get_data(as_text=True)
    assert 'data-state="unstored"' in page  # closed, the hub has not stored it yet
    store.ReportBuilder(tocsin).build_due()
    page = client.get(f"/incidents/{s.incident_id}/report").get_data(as_text=True)
    assert 'data-state="stored"' in page and "Draft:" not in page
    assert 'href="/agencies/fire/drills"' in page  # a drill's agencies: drills compared
    tables = page_tables(page)
    assert tables["agency-answers"][-1][:4] == ["All agencies", "9", "5", "55.6%"]


def test_the_csvs_are_the_rows_of_the_incident(client, tocsin):
    s = closed_and_stored(tocsin)
    login(client, "observer")
    body = client.get(f"/incidents/{s.incident_id}/report/notifications.csv")
    assert body.status_code == 200 and body.mimetype == "text/csv"
    assert "attachment" in body.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body.get_data(as_text=True))))
    db_rows = tocsin.db.session.scalars(
        select(Notification).where(Notification.alert_id == s.alert_id).order_by(Notification.id)
    ).all()
    assert [int(r["notification_id"]) for r in rows] == [n.id for n in db_rows]
    for row, n in zip(rows, db_rows, strict=True):
        assert (row["status"], row["channel"], int(row["responder_id"])) == (
            n.status, n.channel, n.responder_id,
        )  # fmt: skip
        assert row["created_at"].startswith(n.created_at.strftime("%Y-%m-%dT%H:%M:%S"))
        assert bool(row["delivered_at"]) == (n.delivered_at is not None)
        assert row["via"] == ("escalation step 2" if n.step == 2 else "alert")
    answers_csv = client.get(f"/incidents/{s.incident_id}/report/answers.csv")
    answers = list(csv.DictReader(io.StringIO(answers_csv.get_data(as_text=True))))
    db_answers = tocsin.db.session.scalars(
        select(Response).where(Response.alert_id == s.alert_id)
    ).all()
    assert sorted(int(a["answer_id"]) for a in answers) == sorted(r.id for r in db_answers)
    f2 = next(a for a in answers if a["responder"] == s.fire[1].name)
    assert (f2["answer"], f2["channel"], f2["eta_minutes"], f2["time_to_answer_s"]) == (
        "en_route", "link", "10", "60.0",
    )  # fmt: skip
    # no contact address of anyone alerted, for any reader (observers included)
    addresses = tocsin.db.session.scalars(select(ContactPoint.address)).all()
    tocsin.db.remove()
    everything = body.get_data(as_text=True) + str(answers)
    assert not [a for a in addresses if a in everything]
    exported = tocsin.db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "report.exported")
    ).all()
    assert [(e["format"], e["table"]) for e in exported] == [("csv", "notifications"),
                                                            ("csv", "answers")]  # fmt: skip


def test_csv_cells_that_look_like_formulas_are_neutralised(client, tocsin):
    s = known_incident(tocsin)
    with tocsin.db.write() as session:
        session.execute(update(Responder).where(Responder.id == s.fire[0].id)
                        .values(name='=HYPERLINK("http://evil.example","x")'))  # fmt: skip
        session.execute(update(Team).where(Team.id == s.fire[0].team_id).values(name="+Blue"))
        session.execute(update(Notification).where(Notification.status == "failed")
                        .values(error="-1+2"))  # fmt: skip
        session.execute(update(Responder).where(Responder.id == s.fire[1].id)
                        .values(name="@SUM(A1)\tx"))  # fmt: skip
    login(client, "commander")
    text = client.get(f"/incidents/{s.incident_id}/report/notifications.csv").get_data(as_text=True)
    cells = {c for row in csv.reader(io.StringIO(text)) for c in row}
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert {"'+Blue", "'-1+2", "'@SUM(A1)\tx"} <= cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert [neutralise(v) for v in ("\rx", "a=b", 5, None, True)] == ["'\rx", "a=b", "5", "", "yes"]


def counts(tocsin) -> tuple[int, int]:
    n = (
        tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent)),
        tocsin.db.session.scalar(select(func.count()).select_from(IncidentReport)),
    )
    tocsin.db.remove()
    return n


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/999/report",
        "/incidents/999/report.pdf",
        "/incidents/999/report/notifications.csv",
        "/incidents/999/report/charts/funnel.svg",
        "/incidents/{id}/report/charts/pie.svg",
        "/incidents/{id}/report/people.csv",
        "/incidents/{id}/report.docx",
    ],
)
def test_an_unknown_incident_chart_or_format_is_not_found_and_changes_nothing(client, tocsin, path):
    s = known_incident(tocsin)
    login(client, "commander")
    before = counts(tocsin)
    assert client.get(path.format(id=s.incident_id)).status_code == 404
    assert counts(tocsin) == before


def test_a_report_needs_signing_in(client, tocsin):
    s = known_incident(tocsin)
    for path in ("report", "report.pdf", "report/answers.csv", "report/charts/funnel.svg"):
        response = client.get(f"/incidents/{s.incident_id}/{path}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
