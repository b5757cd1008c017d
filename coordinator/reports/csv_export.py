"""The report's raw rows as CSV: one row per notification, one per answer.

The rows are the Figures object's own (the stored snapshot of a closed incident),
so the CSV holds exactly what the page and the PDF count. They carry no contact
addresses and no positions, for any reader: the report is after-action material
shared with observers and other agencies; the roster keeps the addresses.

A cell a spreadsheet would read as a formula (starting with = + - @, a tab or a
carriage return) gets a leading apostrophe, so a responder named "=HYPERLINK(...)"
or an error text cannot run anything where the file is opened (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import TextIO

from coordinator.reports.figures import AnswerRow, Figures, NotificationRow

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

NOTIFICATION_COLUMNS = (
    ("notification_id", "id"), ("alert_id", "alert_id"), ("alert_kind", "alert_kind"),
    ("responder_id", "responder_id"), ("responder", "responder"), ("simulated", "simulated"),
    ("agency", "agency"), ("team", "team"), ("channel", "channel"), ("status", "status"),
    ("via", "via"), ("escalation_step", "step"), ("fallback_of", "previous_id"),
    ("attempts", "attempts"), ("created_at", "created_at"), ("sent_at", "sent_at"),
    ("delivered_at", "delivered_at"), ("failed_at", "failed_at"), ("error", "error"),
)  # fmt: skip
ANSWER_COLUMNS = (
    ("answer_id", "id"), ("alert_id", "alert_id"), ("alert_kind", "alert_kind"),
    ("responder_id", "responder_id"), ("responder", "responder"), ("simulated", "simulated"),
    ("agency", "agency"), ("team", "team"), ("answer", "answer"), ("channel", "channel"),
    ("notification_id", "notification_id"), ("notification_channel", "notification_channel"),
    ("received_at", "received_at"), ("eta_minutes", "eta_minutes"),
    ("time_to_answer_s", "seconds_since_notified"), ("first_answer", "first"),
)  # fmt: skip
TABLES = {"notifications": NOTIFICATION_COLUMNS, "answers": ANSWER_COLUMNS}


def neutralise(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _rows(figures: Figures, table: str) -> tuple[tuple[tuple[str, str], ...], Iterable]:
    rows: Iterable[NotificationRow | AnswerRow] = (
        figures.notifications if table == "notifications" else figures.answers
    )
    return TABLES[table], rows


def write(figures: Figures, table: str, out: TextIO) -> int:
    """Write one table to `out`; returns the number of data rows."""
    columns, rows = _rows(figures, table)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in columns])
    fields = [attr for _, attr in columns]
    n = 0
    for row in rows:
        writer.writerow([neutralise(getattr(row, f)) for f in fields])
        n += 1
    return n


def stream(figures: Figures, table: str, batch: int = 500) -> Iterator[str]:
    """The table as chunks of CSV text (a web response streams them)."""
    columns, rows = _rows(figures, table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([name for name, _ in columns])
    fields = [attr for _, attr in columns]
    for i, row in enumerate(rows, start=1):
        writer.writerow([neutralise(getattr(row, f)) for f in fields])
        if i % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
