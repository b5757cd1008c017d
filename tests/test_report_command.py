"""`tocsin report ID --format html|pdf|csv --output FILE` and `tocsin bench report`."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import func, select

from coordinator.cli import cli
from coordinator.models import AuditEvent
from coordinator.reports import store
from tests.helpers.report_scenario import close, known_incident

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(
    r"^report: (\d+) responders, figures [\d.]+ s, html [\d.]+ s, pdf [\d.]+ s, "
    r"csv [\d.]+ s, peak \d+ MiB$"
)


@pytest.fixture
def out(tmp_path) -> Path:
    """Where the command runs and writes (the test database lives beside it)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def run(tocsin, db_url, monkeypatch, out):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOCSIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TOCSIN_SECRET_KEY", "test-secret-key-" + "y" * 32)
    monkeypatch.chdir(out)

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)

    return invoke


def exports(tocsin) -> int:
    n = tocsin.db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "report.exported")
    )
    tocsin.db.remove()
    return n


def test_it_writes_a_closed_incidents_report_in_each_format(run, tocsin, out):
    s = known_incident(tocsin)
    close(tocsin, s.incident_id)
    store.ReportBuilder(tocsin).build_due()
    page = out / "report.html"
    result = run(str(s.incident_id), "--format", "html", "--output", str(page))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(page) and result.stderr == ""
    html = page.read_text(encoding="utf-8")
    assert "After-action report: Warehouse fire" in html and "Draft:" not in html
    assert html.count("data:image/svg+xml;base64,") == 3  # the charts travel inside
    assert "<style>" in html and 'href="/static' not in html.split("</head>")[0].split("<style>")[1]

    document = out / "report.pdf"
    assert run(str(s.incident_id), "--format", "pdf", "-o", str(document)).exit_code == 0
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(document).pages).split())
    assert "All agencies 9 5 55.6%" in text

    table = out / "tables" / "rows.csv"
    table.parent.mkdir()
    result = run(str(s.incident_id), "--format", "csv", "--output", str(table))
    answers = out / "tables" / "rows-answers.csv"
    assert result.exit_code == 0 and result.stdout.split() == [str(table), str(answers)]
    assert len(list(csv.DictReader(io.StringIO(table.read_text())))) == 23
    assert len(list(csv.DictReader(io.StringIO(answers.read_text())))) == 6
    assert exports(tocsin) == 3


def test_an_open_incidents_report_is_a_draft_and_says_so(run, tocsin, out):
    s = known_incident(tocsin)
    result = run(str(s.incident_id), "--format", "html", "--output", str(out / "d.html"))
    assert result.exit_code == 0
    assert "draft: incident" in result.stderr and "still open" in result.stderr
    page = (out / "d.html").read_text(encoding="utf-8")
    assert "Draft: the incident is still open, figures will change" in page


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["999", "--format", "pdf", "--output", "x.pdf"], 1, "no incident 999"),
        (["{id}", "--format", "docx", "--output", "x.docx"], 2, "Invalid value for '--format'"),
        (["{id}", "--format", "pdf", "--output", "missing/x.pdf"], 1, "no directory missing"),
        (["{id}", "--format", "pdf"], 2, "Missing option '--output'"),
        (["abc", "--format", "pdf", "--output", "x.pdf"], 2, "'abc' is not a valid integer"),
        (["{id}", "--format", "csv", "--output", "."], 2, "is a directory"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(run, tocsin, out, args, code, message):
    s = known_incident(tocsin)
    before = exports(tocsin)
    result = run(*(a.format(id=s.incident_id) for a in args))
    assert result.exit_code == code, result.output
    assert message in result.output
    assert list(out.iterdir()) == []
    assert exports(tocsin) == before


def test_an_unwritable_path_is_an_error(run, tocsin, out, tmp_path):
    s = known_incident(tocsin)
    # a file where a directory should be: no user, root included, can write below it
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    result = run(str(s.incident_id), "--format", "pdf", "--output", str(blocker / "x.pdf"))
    assert result.exit_code == 1, result.output
    assert "x.pdf" in result.output and list(out.iterdir()) == []


def test_the_benchmark_prints_its_figures_and_last_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path), MPLCONFIGDIR=str(tmp_path / "mpl"))
    run = subprocess.run(
        [sys.executable, "-m", "coordinator", "bench", "report", "--responders", "40",
         "--runs", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    last = LAST_LINE.match(lines[-1])
    assert last and last[1] == "40", lines[-1]
    assert any(line.startswith("reference: SELECT") for line in lines)
    assert any("x the reference" in line for line in lines)
