"""The timeline's events: the incident's audit entries and answers, each one line.

Messages (every alert, update and stand-down) come from the Alert rows and answers
from the Response rows; their audit entries (alert.sent, incident.update,
incident.stand_down, response.recorded) say the same and are not listed twice.
Everything else the audit log holds for the incident is an event, an unknown
action included: nothing is dropped. Contact addresses in error texts are taken
out (`scrub`): the report is shared more widely than the roster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coordinator.reports import formatting as fmt
from coordinator.reports.figures import AnswerRow, Event
from coordinator.services.escalation import target_label

# kind -> heading, in the order the page shows them
KINDS = {
    "message": "Messages",
    "status": "Status changes",
    "escalation": "Escalation and quorum",
    "delivery": "Fallbacks and failed deliveries",
    "action": "People's actions",
    "system": "Other system events",
    "answer": "Answers",
}
# Audit actions told by other rows (see the module docstring).
TOLD_ELSEWHERE = frozenset({"alert.sent", "incident.update", "incident.stand_down"})
NOT_READ = ("response.recorded",)  # left out in SQL: one per answer, the Response rows tell it
PERSON_ACTORS = ("user:", "api:", "cli:")
MAX_REASON = 200

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{5,}\d")


def scrub(text: str | None) -> str:
    """An error text without contact addresses (URLs, emails, phone numbers)."""
    if not text:
        return ""
    text = _URL.sub("<address>", text)
    text = _EMAIL.sub("<address>", text)
    text = _PHONE.sub("<number>", text)
    return text[:MAX_REASON]


@dataclass
class Names:
    """What the events need to name people and agencies."""

    agency_by_slug: dict[str, str]
    agency_by_id: dict[int, str]
    # notification id -> (responder's name with "(simulated)" if so, agency name)
    notification: Callable[[int | None], tuple[str, str]]


def audit_event(at: str, actor: str, action: str, detail: dict[str, Any], names: Names) -> Event:
    build = _TELLERS.get(action)
    if build is not None:
        kind, agency, text = build(detail, names)
    else:
        kind = "action" if actor.startswith(PERSON_ACTORS) else "system"
        agency, text = "", f"{action}: {_details(detail)}" if detail else action
    return Event(at, kind, agency, text, actor)


def answer_event(row: AnswerRow, who: str) -> Event:
    """ "Alex Hart (Blue Watch): En route by SMS, ETA 6 min, 1 min 23 s after their first
    notification" """
    text = f"{fmt.answer(row.answer)} by {fmt.channel(row.channel)}"
    if row.eta_minutes is not None:
        text += f", ETA {row.eta_minutes} min"
    if row.seconds_since_notified is not None:
        text += f", {fmt.duration(row.seconds_since_notified)} after their first notification"
    if row.alert_kind and row.alert_kind != "alert":
        text += f" (to the {fmt.ALERT_KIND_LABELS.get(row.alert_kind, row.alert_kind).lower()})"
    where = f" ({row.team})" if row.team else ""
    return Event(row.received_at, "answer", row.agency, f"{who}{where}: {text}",
                 f"responder:{row.responder_id}")  # fmt: skip


def _details(detail: dict[str, Any]) -> str:
    return "; ".join(f"{k} {scrub(str(v))}" for k, v in sorted(detail.items()))


def _declared(d: dict[str, Any], _n: Names) -> tuple[str, str, str]:
    return "status", "", f"Declared ({d.get('mode', 'live')}, from {d.get('origin', 'console')})"


def _status(d: dict[str, Any], _n: Names) -> tuple[str, str, str]:
    before, after = (str(d.get(k, "?")).replace("_", " ") for k in ("before", "after"))
    return "status", "", f"Status {before} -> {after}"


def _escalation_started(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    started = d.get("escalations") or []
    agencies = ", ".join(n.agency_by_id.get(e.get("agency_id"), "?") for e in started)
    return "escalation", "", f"Escalation started for alert {d.get('alert_id')}: {agencies}"


def _escalation_step(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    agency = n.agency_by_slug.get(d.get("agency", ""), d.get("agency", ""))
    channels = ", ".join(fmt.channel(c) for c in d.get("channels", []))
    target = target_label(d.get("target", "same"), n.agency_by_slug)
    text = (
        f"Step {d.get('position')}: {channels} to {target}: {d.get('responders', 0)} responders, "
        f"{d.get('notifications', 0)} notifications"
    )
    if d.get("error"):
        text += f" ({scrub(str(d['error']))})"
    return "escalation", agency, text


def _escalation_stopped(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    agency = n.agency_by_slug.get(d.get("agency", ""), d.get("agency", ""))
    reason = d.get("reason") or "finished"
    return "escalation", agency, f"Escalation of alert {d.get('alert_id')} stopped: {reason}"


def _quorum_met(d: dict[str, Any], _n: Names) -> tuple[str, str, str]:
    return "escalation", "", f"Quorum met for alert {d.get('alert_id')}: {d.get('quorum', '')}"


def _quorum_missed(d: dict[str, Any], _n: Names) -> tuple[str, str, str]:
    return (
        "escalation",
        "",
        (
            f"Quorum deadline missed for alert {d.get('alert_id')}: {d.get('quorum', '')}; "
            "next escalation steps brought forward"
        ),
    )


def _fallback(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    who, agency = n.notification(d.get("failed_id"))
    text = (
        f"Fallback for {who}: {fmt.channel(d.get('failed_channel', '?'))} failed "
        f"(notification {d.get('failed_id')}), {fmt.channel(d.get('next_channel', '?'))} "
        f"sent instead (notification {d.get('next_id')})"
    )
    return "delivery", agency, text


def _dead_lettered(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    who, agency = n.notification(d.get("notification_id"))
    text = (
        f"Notification {d.get('notification_id')} to {who} given up after "
        f"{d.get('attempts')} attempts: {scrub(str(d.get('error', '')))}"
    )
    return "delivery", agency, text


def _cancelled(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    ids = d.get("notification_ids") or []
    who, agency = n.notification(ids[0] if ids else None)
    return "delivery", agency, f"{len(ids)} queued notification(s) to {who} withheld: answered"


def _replayed(d: dict[str, Any], n: Names) -> tuple[str, str, str]:
    who, agency = n.notification(d.get("notification_id"))
    text = f"Dead letter {d.get('dead_letter_id')} sent again as notification "
    return "action", agency, text + f"{d.get('notification_id')} to {who}"


_TELLERS: dict[str, Callable[[dict[str, Any], Names], tuple[str, str, str]]] = {
    "incident.declared": _declared,
    "incident.status": _status,
    "escalation.started": _escalation_started,
    "escalation.step": _escalation_step,
    "escalation.stopped": _escalation_stopped,
    "alert.quorum_met": _quorum_met,
    "alert.quorum_missed": _quorum_missed,
    "notification.fallback": _fallback,
    "notification.dead_lettered": _dead_lettered,
    "notification.cancelled": _cancelled,
    "dead_letter.replayed": _replayed,
}
