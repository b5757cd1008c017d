"""How the report writes a duration, a rate, a time: one way for the page and the PDF,
so the numbers a reader (or a test) takes from either are the same strings."""

from __future__ import annotations

from datetime import UTC, datetime

from coordinator.models import ANSWER_LABELS, CHANNEL_LABELS

NONE = "—"
ALERT_KIND_LABELS = {"alert": "Alert", "update": "Update", "stand_down": "Stand-down"}
ANSWER_CHANNEL_LABELS = {**CHANNEL_LABELS, "link": "answer link"}


def duration(seconds: float | None) -> str:
    """45.2 -> "45.2 s", 83 -> "1 min 23 s", 7500 -> "2 h 5 min"."""
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def percent(value: float | None) -> str:
    return NONE if value is None else f"{100 * value:.1f}%"


def parse(iso: str | None) -> datetime | None:
    if not iso:
        return None
    at = datetime.fromisoformat(iso)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def when(iso: str | None) -> str:
    """ "2026-12-04 10:00:05 UTC" """
    at = parse(iso)
    return NONE if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def stamp(iso: str | None) -> str:
    """ "2026-12-04 10:00:05" (under a heading that says UTC)"""
    at = parse(iso)
    return NONE if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def clock(iso: str | None) -> str:
    """ "10:00:05" (the timeline's column; its date is in the heading)"""
    at = parse(iso)
    return NONE if at is None else at.strftime("%H:%M:%S")


def day(iso: str | None) -> str:
    at = parse(iso)
    return NONE if at is None else at.strftime("%Y-%m-%d")


def since(iso: str | None, start: str | None) -> float | None:
    at, origin = parse(iso), parse(start)
    if at is None or origin is None:
        return None
    return (at - origin).total_seconds()


def channel(name: str) -> str:
    return ANSWER_CHANNEL_LABELS.get(name, name)


def answer(name: str) -> str:
    return ANSWER_LABELS.get(name, name)


def count(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"
