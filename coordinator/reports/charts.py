"""The report's charts, drawn by matplotlib (Agg, no display) from the Figures object.

Figures are made with matplotlib's object API (no pyplot, no global figure state),
so pages drawing at once never share one. Each chart carries a text alternative
with its numbers (`description`); the page also tables them. SVG keeps its text
as text (svg.fonttype none) and is deterministic (fixed hash salt, no date).
Colours are the Okabe-Ito palette, distinguishable with colour-blindness, and each
series also has its own marker or hatch, so nothing depends on colour alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before anything draws: never look for a display

from matplotlib import rc_context  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from coordinator.reports import formatting as fmt  # noqa: E402
from coordinator.reports.figures import MARKS_MINUTES, TTA_BINS, Figures, Tally  # noqa: E402

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo")
NAMES = ("time-to-answer", "cumulative", "funnel")
SIZE = (8.0, 3.8)  # inches
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "tocsin-report", "font.size": 9}


@dataclass
class Chart:
    """A chart's words at once; its drawing only when rendered (a page that shows the
    chart as an image needs the words, not matplotlib's time)."""

    name: str
    title: str
    alt: str  # short, for the image
    description: str  # the text alternative: what it shows, with its numbers
    draw: Callable[[Figure], None]
    size: tuple[float, float] = SIZE  # inches

    def svg(self) -> bytes:
        return self._render("svg")

    def png(self, dpi: int = 110) -> bytes:
        return self._render("png", dpi=dpi)

    def _render(self, form: str, **options: object) -> bytes:
        out = io.BytesIO()
        with rc_context(SVG_RC):
            figure = Figure(figsize=self.size)
            self.draw(figure)
            figure.savefig(
                out, format=form, bbox_inches="tight", metadata=_metadata(form), **options
            )
        return out.getvalue()


def _metadata(form: str) -> dict[str, object]:
    # no creation date: the same figures give the same file
    return {"Date": None} if form == "svg" else {"Software": "Tocsin"}


def _style(i: int) -> dict[str, object]:
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}


def _empty(fig: Figure, text: str) -> None:
    """A chart with nothing to draw says so in its image too."""
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def charts(figures: Figures) -> list[Chart]:
    return [time_to_answer(figures), cumulative(figures), funnel(figures)]


def chart(figures: Figures, name: str) -> Chart | None:
    return {"time-to-answer": time_to_answer, "cumulative": cumulative, "funnel": funnel}.get(
        name, lambda _f: None
    )(figures)


def time_to_answer(figures: Figures) -> Chart:
    """Responders per time-to-answer band, one bar series per agency."""
    agencies = [a for a in figures.agencies if a.time_to_answer.count]

    def draw(fig: Figure) -> None:
        if not agencies:
            return _empty(fig, "No answers to a call-out yet")
        ax = fig.add_subplot()
        width = 0.8 / len(agencies)
        for i, a in enumerate(agencies):
            xs = [b + (i - (len(agencies) - 1) / 2) * width for b in range(len(TTA_BINS))]
            ax.bar(xs, a.tta_bins, width, label=a.name, color=PALETTE[i % len(PALETTE)],
                   hatch=HATCHES[i % len(HATCHES)], edgecolor="#333333", linewidth=0.4)  # fmt: skip
        ax.set_xticks(range(len(TTA_BINS)), TTA_BINS, rotation=30, ha="right")
        ax.set_ylabel("responders")
        ax.set_xlabel("time to answer")
        _finish(ax)

    parts = [
        f"{a.name}: {a.time_to_answer.count} answered, "
        f"median {fmt.duration(a.time_to_answer.median)} ("
        + ", ".join(f"{label} {n}" for label, n in zip(TTA_BINS, a.tta_bins, strict=True))
        + ")"
        for a in agencies
    ]
    return Chart(
        "time-to-answer",
        "Time to answer, per agency",
        "Bar chart: responders per time-to-answer band, one series per agency.",
        "Responders per time-to-answer band. " + ("; ".join(parts) or "No answers yet") + ".",
        draw,
    )


def cumulative(figures: Figures) -> Chart:
    """Responders who have answered, over minutes since the first alert, per agency."""
    agencies = [a for a in figures.agencies if a.answered]

    def draw(fig: Figure) -> None:
        if not agencies:
            return _empty(fig, "No answers yet")
        first: dict[int, tuple[float, str]] = {}
        for row in figures.answers:  # in time order: a responder's first row is their first
            if row.responder_id not in first:
                waited = fmt.since(row.received_at, figures.started_at) or 0.0
                first[row.responder_id] = (waited / 60, row.agency)
        ax = fig.add_subplot()
        for i, a in enumerate(agencies):
            minutes = sorted(m for m, agency in first.values() if agency == a.name)
            ax.step([0, *minutes], range(len(minutes) + 1), where="post", label=a.name,
                    markevery=max(1, len(minutes) // 8), markersize=4, **_style(i))  # fmt: skip
        ax.set_xlabel("minutes since the first alert")
        ax.set_ylabel("responders who answered")
        _finish(ax)

    marks = ", ".join(f"{m} min" for m in MARKS_MINUTES)
    parts = [
        f"{a.name}: {', '.join(str(n) for n in a.answered_by)} of {a.responders} notified "
        f"({a.answered} answered in all)"
        for a in agencies
    ]
    return Chart(
        "cumulative",
        "Answers over time, per agency",
        "Line chart: responders who have answered over minutes since the first alert, per agency.",
        f"Responders who had answered within {marks} of the first alert. "
        + ("; ".join(parts) or "No answers yet")
        + ".",
        draw,
    )


STAGES = ("sent", "delivered", "answered")


def funnel(figures: Figures) -> Chart:
    """Per channel: notifications sent, delivered (where reported) and answered through."""
    channels = figures.channels

    def draw(fig: Figure) -> None:
        if not channels:
            return _empty(fig, "Nothing sent yet")
        ax = fig.add_subplot()
        height = 0.8 / len(STAGES)
        for i, stage in enumerate(STAGES):
            ys = [c + (i - 1) * height for c in range(len(channels))]
            values = [_stage(t, stage) or 0 for t in channels]
            bars = ax.barh(ys, values, height, label=stage, color=PALETTE[i],
                           hatch=HATCHES[i], edgecolor="#333333", linewidth=0.4)  # fmt: skip
            ax.bar_label(bars, [_bar_label(t, stage) for t in channels], padding=2, fontsize=8)
        ax.set_yticks(range(len(channels)), [t.name for t in channels])
        ax.invert_yaxis()
        ax.set_xlabel("notifications")
        _finish(ax, loc="lower right")

    parts = [
        f"{t.name}: {t.sent:,} sent, "
        + (f"{t.delivered:,} delivered" if t.receipt_sent else "delivery not reported")
        + f", {t.answered:,} answered through"
        for t in channels
    ]
    return Chart(
        "funnel",
        "Delivery funnel, per channel",
        "Bar chart: notifications sent, delivered and answered through, per channel.",
        "Notifications sent, then delivered, then answered through. "
        + ("; ".join(parts) or "Nothing sent yet")
        + ". Email and push report no delivery.",
        draw,
    )


def _finish(ax, loc: str = "best") -> None:  # type: ignore[no-untyped-def]
    ax.legend(frameon=False, loc=loc)
    ax.spines[["top", "right"]].set_visible(False)


def _stage(t: Tally, stage: str) -> int | None:
    if stage == "delivered" and not t.receipt_sent:
        return None
    return getattr(t, stage)


def _bar_label(t: Tally, stage: str) -> str:
    value = _stage(t, stage)
    return "not reported" if value is None else f"{value:,}"


@dataclass
class TrendPoint:
    label: str  # the drill's date
    answered_rate: float | None
    median_tta_s: float | None


def trend(agency: str, points: Sequence[TrendPoint]) -> Chart:
    """An agency's drills, oldest first: answered rate and median time to answer."""
    nan = float("nan")

    def draw(fig: Figure) -> None:
        if not points:
            return _empty(fig, "No drills with a report yet")
        top, bottom = fig.subplots(2, 1, sharex=True)
        xs = list(range(len(points)))
        rates = [nan if p.answered_rate is None else 100 * p.answered_rate for p in points]
        top.plot(xs, rates, **_style(0))
        top.set_ylabel("answered (%)")
        top.set_ylim(0, 105)
        medians = [nan if p.median_tta_s is None else p.median_tta_s / 60 for p in points]
        bottom.plot(xs, medians, linestyle="--", **_style(1))
        bottom.set_ylabel("median time\nto answer (min)")
        bottom.set_ylim(bottom=0)
        bottom.set_xticks(xs, [p.label for p in points], rotation=30, ha="right")
        for ax in (top, bottom):
            ax.spines[["top", "right"]].set_visible(False)

    parts = [
        f"{p.label}: {fmt.percent(p.answered_rate)} answered, median {fmt.duration(p.median_tta_s)}"
        for p in points
    ]
    return Chart(
        "trend",
        f"{agency}: drills compared",
        f"Line charts: {agency}'s answered rate and median time to answer per drill, oldest first.",
        "Per drill, oldest first: " + ("; ".join(parts) or "no drills yet") + ".",
        draw,
        size=(8.0, 4.6),
    )
