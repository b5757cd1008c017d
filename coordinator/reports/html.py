"""The report's HTML page (templates/reports/report.html), from the Figures object.

In the console its charts are images the page links to; `standalone` (what
`tocsin report --format html` writes) carries them inside as data: URLs and its
style sheets inline, so the one file reads anywhere, offline.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from flask import Flask, render_template

from coordinator.models import Incident
from coordinator.reports import charts as report_charts
from coordinator.reports import formatting as fmt
from coordinator.reports.figures import Figures
from coordinator.reports.store import State
from coordinator.reports.tables import (
    DEFINITIONS,
    figures_tables,
    never_answered,
    summary_items,
    timeline,
)

STATIC = Path(__file__).resolve().parent.parent / "static"
TEMPLATE = "reports/report.html"
STATE_NOTES = {
    "draft": "Draft: the incident is still open, figures will change.",
    "unstored": "The incident is closed but its report is not stored yet (a running hub "
    "stores it within seconds of the close); these figures were computed just now.",
    "stored": "",
}


def context(
    figures: Figures,
    incident: Incident,
    state: State,
    chart_src: Callable[[report_charts.Chart], str],
    links: dict[str, object] | None,
) -> dict[str, object]:
    charts = report_charts.charts(figures)
    return {
        "incident": incident,  # base.html's drill banner reads it
        "figures": figures,
        "state": state,
        "state_note": STATE_NOTES[state],
        "summary": summary_items(figures),
        "definitions": DEFINITIONS,
        "tables": figures_tables(figures),
        "silent": never_answered(figures),
        "sections": timeline(figures),
        "charts": [(c, chart_src(c)) for c in charts],
        "fmt": fmt,
        "links": links,
    }


def page(
    figures: Figures,
    incident: Incident,
    state: State,
    chart_src: Callable[[report_charts.Chart], str],
    links: dict[str, object],
) -> str:
    """The page in the console (inside a request)."""
    return render_template(
        TEMPLATE, standalone=False, **context(figures, incident, state, chart_src, links)
    )


def standalone(app: Flask, figures: Figures, incident: Incident, state: State) -> str:
    """One self-contained file: charts inline, no links back into a console."""
    css = "\n".join(
        (STATIC / name).read_text(encoding="utf-8") for name in ("console.css", "reports.css")
    )
    with app.test_request_context("/"):  # base.html needs a request; nobody is signed in
        return render_template(
            TEMPLATE,
            standalone=True,
            inline_css=css,
            **context(figures, incident, state, _data_url, None),
        )


def _data_url(chart: report_charts.Chart) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(chart.svg()).decode("ascii")
