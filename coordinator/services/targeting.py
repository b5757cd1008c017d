"""Who an alert reaches: by agency, team, skill, on-duty flag and distance.

The same selection feeds the preview a commander reads before sending and the
alert itself, so what the preview shows is what is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.errors import ValidationError
from coordinator.models import Agency, ContactPoint, Responder, Team

EARTH_RADIUS_M = 6_371_000.0
MAX_RADIUS_M = 500_000.0


@dataclass(frozen=True)
class Targeting:
    """What the commander asked for; stored on the alert as JSON."""

    agencies: list[str]
    teams: list[int] = field(default_factory=list)  # team ids; empty: every team
    skills: list[str] = field(default_factory=list)  # any of these; empty: anyone
    on_duty_only: bool = True
    radius_m: float | None = None  # around the incident; None: anywhere

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Targeting:
        return cls(
            agencies=list(data.get("agencies", [])),
            teams=[int(t) for t in data.get("teams", [])],
            skills=list(data.get("skills", [])),
            on_duty_only=bool(data.get("on_duty_only", True)),
            radius_m=data.get("radius_m"),
        )

    @classmethod
    def parse(
        cls,
        agencies: Iterable[str],
        teams: Iterable[str | int] = (),
        skills: Iterable[str] = (),
        on_duty_only: bool = True,
        radius_m: str | float | None = None,
    ) -> Targeting:
        """From form or API values; raises ValidationError naming each bad field."""
        errors: dict[str, str] = {}
        team_ids: list[int] = []
        for raw in teams:
            try:
                team_ids.append(int(raw))
            except (TypeError, ValueError):
                errors["teams"] = f"Team must be a team id, got {raw!r}."
        wanted_skills = sorted({s.strip().lower() for s in skills if s and s.strip()})
        radius: float | None = None
        if radius_m not in (None, ""):
            try:
                radius = float(radius_m)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                errors["radius_m"] = "Radius must be a number of metres."
            else:
                if not (0 < radius <= MAX_RADIUS_M) or math.isnan(radius):
                    errors["radius_m"] = f"Radius must be between 1 and {MAX_RADIUS_M:,.0f} m."
        slugs = sorted({a for a in agencies if a})
        if not slugs:
            errors["agencies"] = "Pick at least one agency to alert."
        if errors:
            raise ValidationError(errors)
        return cls(slugs, sorted(set(team_ids)), wanted_skills, bool(on_duty_only), radius)

    def check(self, session: Session) -> list[Agency]:
        """The agencies named, once they and the teams are known to exist."""
        agencies = list(session.scalars(select(Agency).where(Agency.slug.in_(self.agencies))))
        unknown = sorted(set(self.agencies) - {a.slug for a in agencies})
        if unknown:
            raise ValidationError({"agencies": f"Unknown agency: {', '.join(unknown)}."})
        if self.teams:
            found = session.execute(select(Team.id, Team.agency_id).where(Team.id.in_(self.teams)))
            teams = dict(found.all())
            missing = sorted(set(self.teams) - set(teams))
            if missing:
                raise ValidationError({"teams": f"Unknown team: {', '.join(map(str, missing))}."})
            outside = sorted(t for t, a in teams.items() if a not in {x.id for x in agencies})
            if outside:
                raise ValidationError(
                    {"teams": "Teams must belong to the agencies alerted (team "
                     f"{', '.join(map(str, outside))} does not)."}
                )  # fmt: skip
        return agencies


@dataclass(frozen=True)
class Recipient:
    responder_id: int
    name: str
    agency: str
    team: str | None
    points: list[tuple[str, str]]  # (channel, address) in the responder's order
    distance_m: float | None


@dataclass
class Selection:
    recipients: list[Recipient]
    skipped_no_position: int = 0  # a radius was asked and nobody knows where they are
    skipped_no_contact: int = 0  # nothing to reach them on


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def select_recipients(
    session: Session,
    targeting: Targeting,
    lat: float,
    lon: float,
    *,
    responder_ids: Sequence[int] | None = None,
    drill: bool = False,
) -> Selection:
    """The responders the targeting reaches, with their contact points in order.

    `responder_ids` narrows the choice further (escalation to the silent ones).
    Simulated responders (`tocsin drill city`) are reached by drills only.
    """
    agencies = targeting.check(session)
    query = (
        select(Responder, Agency.slug, Team.name)
        .join(Agency, Responder.agency_id == Agency.id)
        .outerjoin(Team, Responder.team_id == Team.id)
        .where(Responder.agency_id.in_([a.id for a in agencies]))
        .order_by(Responder.id)
    )
    if targeting.on_duty_only:
        query = query.where(Responder.on_duty.is_(True))
    if not drill:
        query = query.where(Responder.simulated.is_(False))
    if targeting.teams:
        query = query.where(Responder.team_id.in_(targeting.teams))
    if responder_ids is not None:
        query = query.where(Responder.id.in_(list(responder_ids)))
    wanted = set(targeting.skills)
    chosen: list[tuple[Responder, str, str | None, float | None]] = []
    skipped_no_position = 0
    for responder, slug, team in session.execute(query):
        if wanted and not wanted & {s.lower() for s in responder.skills or []}:
            continue
        far: float | None = None
        if responder.lat is not None and responder.lon is not None:
            far = distance_m(lat, lon, responder.lat, responder.lon)
        if targeting.radius_m is not None:
            if far is None:
                skipped_no_position += 1
                continue
            if far > targeting.radius_m:
                continue
        chosen.append((responder, slug, team, far))
    points = _points(session, [r.id for r, *_ in chosen])
    selection = Selection([], skipped_no_position=skipped_no_position)
    for responder, slug, team, far in chosen:
        if not points.get(responder.id):
            selection.skipped_no_contact += 1
            continue
        selection.recipients.append(
            Recipient(responder.id, responder.name, slug, team, points[responder.id], far)
        )
    return selection


def simulated_ids(session: Session, responder_ids: Sequence[int]) -> set[int]:
    """Which of these responders are simulated (`tocsin drill city`)."""
    found: set[int] = set()
    for chunk in _chunks(list(responder_ids), 5000):
        found.update(
            session.scalars(
                select(Responder.id).where(Responder.id.in_(chunk), Responder.simulated.is_(True))
            )
        )
    return found


def channels_for(points: list[tuple[str, str]], channels: Sequence[str]) -> list[tuple[str, str]]:
    """The contact points on the chosen channels; nobody targeted is skipped:
    without any of them, the responder's first contact point."""
    return [p for p in points if p[0] in channels] or points[:1]


def _points(session: Session, responder_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    grouped: dict[int, list[tuple[str, str]]] = {}
    for chunk in _chunks(responder_ids, 5000):
        rows = session.execute(
            select(ContactPoint.responder_id, ContactPoint.channel, ContactPoint.address)
            .where(ContactPoint.responder_id.in_(chunk))
            .order_by(ContactPoint.responder_id, ContactPoint.position, ContactPoint.id)
        )
        for responder_id, channel, address in rows:
            grouped.setdefault(responder_id, []).append((channel, address))
    return grouped


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Preview:
    """Who will be reached on which channel, before anything is sent."""

    rows: list[tuple[Recipient, list[str]]]  # each recipient and the channels used
    counts: dict[str, dict[str, int]]  # agency -> channel -> notifications
    responders: int
    notifications: int
    skipped_no_position: int
    skipped_no_contact: int
    fallback_only: int  # reached on their first contact point: none on the chosen channels


def preview(
    session: Session,
    targeting: Targeting,
    lat: float,
    lon: float,
    channels: Sequence[str],
    *,
    drill: bool = False,
) -> Preview:
    selection = select_recipients(session, targeting, lat, lon, drill=drill)
    rows: list[tuple[Recipient, list[str]]] = []
    counts: dict[str, dict[str, int]] = {}
    fallback_only = 0
    for r in selection.recipients:
        used = channels_for(r.points, channels)
        if not any(c in channels for c, _ in r.points):
            fallback_only += 1
        names = [c for c, _ in used]
        rows.append((r, names))
        per = counts.setdefault(r.agency, {})
        for c in names:
            per[c] = per.get(c, 0) + 1
    return Preview(
        rows=rows,
        counts=counts,
        responders=len(rows),
        notifications=sum(len(n) for _, n in rows),
        skipped_no_position=selection.skipped_no_position,
        skipped_no_contact=selection.skipped_no_contact,
        fallback_only=fallback_only,
    )
