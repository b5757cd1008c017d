"""The report's tables as cells of text, for the HTML page and the PDF alike.

Both renderings draw these Table objects, so a number reads the same in both (a
test takes the cells of one and finds them in the other).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

from coordinator.models import ANSWERS
from coordinator.reports import formatting as fmt
from coordinator.reports.figures import MARKS_MINUTES, TTA_BINS, Figures, Tally
from coordinator.reports.timeline import KINDS


@dataclass
class Table:
    id: str
    caption: str
    headings: list[str]
    keys: list[str]  # a column's name in data-col attributes
    rows: list[list[str]] = field(default_factory=list)
    row_keys: list[str] = field(default_factory=list)
    foot: list[str] | None = None  # the "all" row
    numeric: frozenset[int] | None = None  # right-aligned columns; None: all but the first
    widths: list[float] | None = None  # relative widths in the PDF

    def is_numeric(self, column: int) -> bool:
        return column > 0 if self.numeric is None else column in self.numeric


Cell = Callable[[Tally], str]


def _stat(attr: str, part: str) -> Cell:
    return lambda t: fmt.duration(getattr(getattr(t, attr), part))


def _answers(answer: str) -> Cell:
    return lambda t: fmt.count(t.answers.get(answer, 0))


DELIVERY: list[tuple[str, str, Cell]] = [
    ("responders", "Notified", lambda t: fmt.count(t.responders)),
    ("simulated", "Simulated", lambda t: fmt.count(t.simulated)),
    ("notifications", "Notifications", lambda t: fmt.count(t.notifications)),
    ("sent", "Sent", lambda t: fmt.count(t.sent)),
    ("delivered", "Delivered", lambda t: fmt.count(t.delivered)),
    ("failed", "Failed", lambda t: fmt.count(t.failed)),
    ("delivered_rate", "Delivered rate", lambda t: fmt.percent(t.delivered_rate)),
    ("ttd_median", "Deliver: median", _stat("time_to_deliver", "median")),
    ("ttd_p90", "p90", _stat("time_to_deliver", "p90")),
    ("ttd_slowest", "slowest", _stat("time_to_deliver", "slowest")),
]
AGENCY_ANSWERS: list[tuple[str, str, Cell]] = [
    ("responders", "Notified", lambda t: fmt.count(t.responders)),
    ("answered", "Answered", lambda t: fmt.count(t.answered)),
    ("answered_rate", "Answered rate", lambda t: fmt.percent(t.answered_rate)),
    *[(a, fmt.answer(a), _answers(a)) for a in ANSWERS],
    ("tta_median", "Answer: median", _stat("time_to_answer", "median")),
    ("tta_p90", "p90", _stat("time_to_answer", "p90")),
    ("tta_slowest", "slowest", _stat("time_to_answer", "slowest")),
    ("escalation_steps", "Escalation steps", lambda t: fmt.count(t.escalation_steps)),
]
CHANNEL_ANSWERS: list[tuple[str, str, Cell]] = [
    ("sent", "Sent", lambda t: fmt.count(t.sent)),
    ("answered", "Answered through", lambda t: fmt.count(t.answered)),
    ("answered_rate", "Answered rate", lambda t: fmt.percent(t.answered_rate)),
    ("tta_median", "Answer: median", _stat("time_to_answer", "median")),
    ("tta_p90", "p90", _stat("time_to_answer", "p90")),
    ("tta_slowest", "slowest", _stat("time_to_answer", "slowest")),
]


def _tally_table(
    id: str, caption: str, first: str, tallies: list[Tally], columns, total: Tally | None
) -> Table:  # type: ignore[no-untyped-def]
    return Table(
        id, caption, [first, *(h for _, h, _ in columns)], ["name", *(k for k, _, _ in columns)],
        [[t.name, *(cell(t) for _, _, cell in columns)] for t in tallies],
        [t.key for t in tallies],
        [total.name, *(cell(total) for _, _, cell in columns)] if total else None,
        widths=[2.2, *([1.0] * len(columns))],
    )  # fmt: skip


def figures_tables(f: Figures) -> dict[str, Table]:
    """Every table of the report but the timeline and the never-answered list."""
    tables = [
        Table("alerts", "Messages sent",
              ["Message", "Time (UTC)", "By", "Responders", "Notifications", "Text"],
              ["label", "at", "actor", "responders", "notifications", "message"],
              [[a.label, fmt.stamp(a.created_at), a.actor, fmt.count(a.responders),
                fmt.count(a.notifications), a.message] for a in f.alerts],
              [str(a.id) for a in f.alerts], numeric=frozenset({3, 4}),
              widths=[1.3, 2, 1.4, 1, 1, 4]),
        _tally_table("agency-delivery", "Delivery per agency", "Agency", f.agencies, DELIVERY,
                     f.total),
        _tally_table("agency-answers", "Answers per agency", "Agency", f.agencies,
                     AGENCY_ANSWERS, f.total),
        _tally_table("channel-delivery", "Delivery per channel", "Channel", f.channels,
                     [c for c in DELIVERY if c[0] != "simulated"], None),
        _tally_table("channel-answers", "Answers per channel", "Channel", f.channels,
                     CHANNEL_ANSWERS, None),
        Table("tta-bins", "Time to answer: responders per band", ["Agency", *TTA_BINS],
              ["name", *[f"bin{i}" for i in range(len(TTA_BINS))]],
              [[a.name, *(fmt.count(n) for n in a.tta_bins)] for a in f.agencies],
              [a.key for a in f.agencies], widths=[2.2, *([1.0] * len(TTA_BINS))]),
        Table("answered-by", "Responders answered, minutes after the first alert",
              ["Agency", "Notified", *(f"{m} min" for m in MARKS_MINUTES)],
              ["name", "responders", *[f"min{m}" for m in MARKS_MINUTES]],
              [[a.name, fmt.count(a.responders), *(fmt.count(n) for n in a.answered_by)]
               for a in f.agencies], [a.key for a in f.agencies],
              widths=[2.2, *([1.0] * (len(MARKS_MINUTES) + 1))]),
        Table("escalations", "Escalation steps run",
              ["Time (UTC)", "Agency", "Step", "To", "Channels", "Responders", "Notifications"],
              ["at", "agency", "position", "target", "channels", "responders", "notifications"],
              [[fmt.stamp(e.at), e.agency, str(e.position), e.target,
                ", ".join(fmt.channel(c) for c in e.channels), fmt.count(e.responders),
                fmt.count(e.notifications)] for e in f.escalations],
              numeric=frozenset({2, 5, 6}), widths=[2.2, 1.6, 0.6, 2, 1.6, 1, 1]),
        Table("quorums", "Quorum", ["Alert", "Needed", "Deadline", "Met at", "Time to quorum"],
              ["alert", "needed", "deadline", "met_at", "time"],
              [[q.label, ", ".join(f"{k} {v}" for k, v in q.needed.items()),
                fmt.when(q.deadline_at), fmt.when(q.met_at) if q.met_at else "not met",
                fmt.duration(q.seconds_to_met)] for q in f.quorums],
              numeric=frozenset({4}), widths=[2, 2, 2, 2, 1.2]),
        Table("failures", "Failures by reason", ["Reason", "Channel", "Notifications"],
              ["reason", "channel", "count"],
              [[x.reason, fmt.channel(x.channel), fmt.count(x.count)] for x in f.failures],
              numeric=frozenset({2}), widths=[5, 1.2, 1.2]),
    ]  # fmt: skip
    return {t.id: t for t in tables}


def never_answered(f: Figures) -> list[Table]:
    """Who never answered, one table per agency."""
    tables = []
    for agency, people in groupby(f.never_answered, key=lambda s: s.agency):
        listed = list(people)
        tables.append(
            Table(
                f"silent-{len(tables)}", f"{agency} ({len(listed)})",
                ["Name", "Team", "Simulated", "Last status per channel"],
                ["name", "team", "simulated", "reached"],
                [[s.name, s.team or fmt.NONE, "yes" if s.simulated else "no", s.reached]
                 for s in listed],
                [str(s.responder_id) for s in listed], numeric=frozenset(),
                widths=[2, 1.6, 0.8, 3.6],
            )
        )  # fmt: skip
    return tables


@dataclass
class TimelineSection:
    kind: str
    title: str
    table: Table
    open: bool  # shown unfolded on the page


# The timeline's sections: the few events that tell the story together, in time order;
# then the many (fallbacks, system events, answers: thousands in a city drill) apart.
SECTIONS = (
    ("key", "Messages, status changes, escalation and people's actions",
     ("message", "status", "escalation", "action")),
    ("delivery", KINDS["delivery"], ("delivery",)),
    ("system", KINDS["system"], ("system",)),
)  # fmt: skip
OPEN_UP_TO = 200  # events; a longer section starts folded


def timeline(f: Figures) -> list[TimelineSection]:
    """Every timeline event exactly once, in time order within its section; answers in
    a section per agency."""
    sections: list[TimelineSection] = []
    for kind, title, kinds in SECTIONS:
        events = [e for e in f.timeline if e.kind in kinds]
        if events:
            sections.append(_section(kind, title, events, len(sections)))
    answers = sorted((e for e in f.timeline if e.kind == "answer"), key=lambda e: e.agency)
    for agency, events in groupby(answers, key=lambda e: e.agency):  # stable: time order kept
        title = f"{KINDS['answer']}: {agency or 'no agency'}"
        sections.append(_section("answer", title, list(events), len(sections)))
    return sections


def _section(kind: str, title: str, events: list, n: int) -> TimelineSection:  # type: ignore[type-arg]
    table = Table(
        f"timeline-{n}", f"{title} ({len(events)})",
        ["Time (UTC)", "Agency", "Event", "By"], ["at", "agency", "text", "actor"],
        [[fmt.stamp(e.at), e.agency or fmt.NONE, e.text, e.actor] for e in events],
        numeric=frozenset(), widths=[2.1, 1.5, 5.6, 1.5],
    )  # fmt: skip
    return TimelineSection(kind, title, table, open=len(events) <= OPEN_UP_TO)


# --- the words around the tables -------------------------------------------------

DEFINITIONS = (
    ("Notified", "Responders who got at least one notification of the incident's alerts."),
    ("Notifications", "Every message of the incident's alerts (call-outs, further alerts, "
     "updates, stand-downs), queued and cancelled ones too, as on the board."),
    ("Sent", "Accepted by the provider: sent, delivered or undelivered (as on the board)."),
    ("Delivered", "Delivery confirmed by the provider (SMS and calls report it)."),
    ("Failed", "Refused by the provider, or undelivered (an undelivered SMS was also sent)."),
    ("Delivered rate", "Delivered / sent, over SMS and voice only: email and push report no "
     "delivery, they stop at sent. A dash: nothing sent on those channels."),
    ("Answered", "Per agency: responders who gave any answer (unavailable too), as on the "
     "board. Per channel: notifications an answer came back through."),
    ("Answered rate", "Per agency: answered / notified. Per channel: answered through / sent."),
    ("Time to deliver", "Delivered at - created at, of each delivered notification (queueing "
     "in the outbox and at the provider included)."),
    ("Time to answer", "Per agency: a responder's first answer to a call-out (the first or a "
     "further alert; not an update or stand-down) - their first notification of that alert. "
     "Per channel: from the notification the first answer came back through to the answer."),
    ("Median, p90, slowest", "The middle value (the mean of the two middle ones for an even "
     "count); nearest rank: the smallest value at least 90% of values are at or below; the "
     "largest."),
    ("Escalation steps", "Steps of the agencies' escalation policies that ran."),
    ("Simulated", "Simulated responders (tocsin drill city): reached through the provider "
     "simulator only, never by a live incident; marked (simulated) by name."),
)  # fmt: skip


def summary_items(f: Figures) -> list[tuple[str, str]]:
    i, t = f.incident, f.total
    closed = fmt.since(i.closed_at, f.started_at)
    return [
        ("Mode", "Drill (exercise)" if i.mode == "drill" else "Live"),
        ("Incident", f"{i.severity} {i.kind.replace('_', ' ')}, declared from {i.origin}"),
        *([("Drill schedule", i.schedule)] if i.schedule else []),
        ("Declared", fmt.when(i.created_at)),
        ("First alert", fmt.when(f.started_at)),
        ("Stood down", fmt.when(i.stood_down_at)),
        ("Closed", fmt.when(i.closed_at)),
        ("First alert to close", fmt.duration(closed)),
        ("Messages sent", fmt.count(len(f.alerts))),
        ("Responders notified", f"{fmt.count(t.responders)} ({fmt.count(t.simulated)} simulated)"),
        ("Answered", f"{fmt.count(t.answered)} ({fmt.percent(t.answered_rate)})"),
        ("Time to answer, median", fmt.duration(t.time_to_answer.median)),
        ("Never answered", fmt.count(len(f.never_answered))),
        ("Figures computed", fmt.when(f.built_at)),
    ]
