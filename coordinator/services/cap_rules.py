"""CAP routing rules: an agency's standing order that an imported CAP event alerts
some of its people at once ("Severe Thunderstorm Warning" -> the council's
Emergency Planning team by SMS and push).

None exist until someone makes one, so by default an import alerts nobody. A rule
matches the <event> of any <info> of the document, ignoring case. What it does:

- an Alert (or an Update of an incident nobody was alerted for yet): one alert to
  the rule's team (or its whole agency) on the rule's channels, through send_alert;
- an Update of an incident someone was alerted for: the update to everyone alerted;
- a Cancel: the stand-down message to everyone alerted.

Each is audited like every alert, as actor "cap-rule:<id>", and "cap.rule_applied"
names the rule, the document and who imported it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.messages import CHANNELS
from coordinator.cap import CapAlert, Info
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import Agency, Alert, CapRoutingRule, Incident, Team
from coordinator.services import audit, incidents
from coordinator.services.alerts import DEFAULT_CHANNELS, MAX_MESSAGE, send_alert
from coordinator.services.targeting import Targeting

MAX_EVENT = 255


@dataclass(frozen=True)
class RuleForm:
    event: str
    team_id: str = ""  # "" = the whole agency
    channels: list[str] = field(default_factory=lambda: list(DEFAULT_CHANNELS))


def create(session: Session, agency: Agency, form: RuleForm, actor: str) -> CapRoutingRule:
    """Validate, then add the rule (active); ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    event = " ".join(form.event.split())
    if not event:
        errors["event"] = "Name the CAP event, as its <event> says (e.g. Severe Thunderstorm)."
    elif len(event) > MAX_EVENT:
        errors["event"] = f"The event is longer than {MAX_EVENT} characters."
    team_id: int | None = None
    if form.team_id.strip():
        team = session.get(Team, int(form.team_id)) if form.team_id.strip().isdigit() else None
        if team is None or team.agency_id != agency.id:
            errors["team_id"] = f"Pick one of {agency.name}'s teams, or the whole agency."
        else:
            team_id = team.id
    if not form.channels:
        errors["channels"] = "Pick at least one channel."
    elif unknown := sorted(set(form.channels) - set(CHANNELS)):
        errors["channels"] = f"Unknown channel: {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
    rule = CapRoutingRule(
        agency_id=agency.id, event=event, team_id=team_id,
        channels=[c for c in CHANNELS if c in form.channels], active=True, created_by=actor,
    )  # fmt: skip
    session.add(rule)
    session.flush()
    audit.record(session, actor, "cap.rule_created", rule_id=rule.id, agency=agency.slug,
                 event=event, team_id=team_id, channels=rule.channels)  # fmt: skip
    return rule


def set_active(session: Session, rule: CapRoutingRule, active: bool, actor: str) -> None:
    rule.active = active
    audit.record(session, actor, "cap.rule_switched", rule_id=rule.id, active=active)


def delete(session: Session, rule: CapRoutingRule, actor: str) -> None:
    audit.record(session, actor, "cap.rule_deleted", rule_id=rule.id, event=rule.event)
    session.delete(rule)


def rules_of(session: Session, agency_id: int | None = None) -> list[CapRoutingRule]:
    """Every rule (of one agency), by agency and event."""
    query = select(CapRoutingRule).order_by(CapRoutingRule.agency_id, CapRoutingRule.event)
    if agency_id is not None:
        query = query.where(CapRoutingRule.agency_id == agency_id)
    return list(session.scalars(query))


def matching(session: Session, doc: CapAlert) -> list[CapRoutingRule]:
    """The active rules whose event is the event of any <info>, ignoring case. Compared
    here, not in SQL: SQLite's lower() knows only ASCII ("Abducción de Niño")."""
    events = {info.event.casefold() for info in doc.infos}
    active = session.scalars(
        select(CapRoutingRule).where(CapRoutingRule.active).order_by(CapRoutingRule.id)
    )
    return [rule for rule in active if rule.event.casefold() in events]


def apply(
    session: Session,
    incident: Incident,
    doc: CapAlert,
    info: Info | None,
    links: LinkSigner,
    importer: str,
    message_id: int,
) -> list[Alert]:
    """What the matching rules do for this document (see the module's docstring)."""
    rules = matching(session, doc)
    if not rules or incident.status == "closed":
        return []
    text = message_text(doc, info)
    reached = bool(incidents.reached(session, incident)) if doc.msg_type != "Alert" else False
    sent: list[Alert] = []
    if doc.msg_type == "Cancel" or (doc.msg_type == "Update" and reached):
        if reached:
            kind = "stand_down" if doc.msg_type == "Cancel" else "update"
            sent.append(incidents.follow_up(session, incident, text, kind, None, links,
                                            actor=_actor(rules[0])))  # fmt: skip
    elif incident.status == "open":
        for rule in rules:
            teams = [rule.team_id] if rule.team_id is not None else []
            targeting = Targeting(agencies=[rule.agency.slug], teams=teams)
            sent.append(send_alert(session, incident, text, targeting, rule.channels, None, links,
                                   actor=_actor(rule)))  # fmt: skip
    for rule in rules:
        audit.record(
            session, _actor(rule), "cap.rule_applied", incident.id, rule_id=rule.id,
            event=rule.event, cap_message_id=message_id, importer=importer,
            alerts=[a.id for a in sent],
        )  # fmt: skip
    return sent


def message_text(doc: CapAlert, info: Info | None) -> str:
    """What responders are told of the document: its description and instruction,
    else its headline or event; cut to what a message may hold."""
    text = (info.text() or info.headline or info.event) if info else ""
    text = text or f"CAP {doc.msg_type} from {doc.sender}"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _actor(rule: CapRoutingRule) -> str:
    return f"cap-rule:{rule.id}"


def describe(rule: CapRoutingRule) -> str:
    """ "SEVERE THUNDERSTORM alerts team Emergency Planning by sms, push"."""
    who = f"team {rule.team.name}" if rule.team else f"all of {rule.agency.name}"
    return f"{rule.event} alerts {who} by {', '.join(rule.channels)}"
