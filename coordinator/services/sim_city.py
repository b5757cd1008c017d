"""A whole city of simulated responders on one machine (`tocsin drill city`).

The city has the demo's agencies and teams (coordinator/seed.py AGENCIES):
missing ones are created, existing ones reused. N simulated responders are
spread over the agencies in SHARES (police the most, the council the fewest)
and over each agency's teams in turn, with the demo's skills, positions around
the city centre, names that end "(sim 17)" and contact points that reach only
the provider simulator (services/sim_profiles.py: SMS, push, email, voice).

N is the city's total of simulated responders: running the command again with
the same N adds nothing; with a larger N each agency is topped up to its share
(new responders are numbered after the highest number the agency has); with a
smaller N nothing is removed. remove_city() deletes every simulated responder
who was never alerted and never answered (those who were stay, as real
responders with history do), keeping agencies, teams and profiles.

Rows go in with bulk inserts in one transaction: 5,000 responders and 20,000
contact points take a few seconds; a failure leaves nothing behind.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.orm import Session

from coordinator.db import Database
from coordinator.errors import ValidationError
from coordinator.models import Agency, ContactPoint, Notification, Responder, Response, Team
from coordinator.seed import AGENCIES, CITY, FIRST, LAST, SKILLS, TEAM_SKILLS
from coordinator.services import audit, sim_profiles

SHARES = {"police": 0.35, "fire": 0.25, "ambulance": 0.25, "council": 0.15}
MAX_RESPONDERS = 100_000
CHUNK = 1000  # responders per insert statement, and per progress line
SPREAD = (0.04, 0.07)  # degrees of latitude and longitude around the centre
Progress = Callable[[str], None]


@dataclass
class AgencyCount:
    slug: str
    wanted: int
    existing: int
    created: int = 0


@dataclass
class CityReport:
    agencies: list[AgencyCount] = field(default_factory=list)
    created_agencies: list[str] = field(default_factory=list)
    created_teams: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(a.existing + a.created for a in self.agencies)

    @property
    def created(self) -> int:
        return sum(a.created for a in self.agencies)


def targets(total: int) -> dict[str, int]:
    """N spread over SHARES by largest remainder, so the parts add up to N."""
    exact = {slug: total * share for slug, share in SHARES.items()}
    parts = {slug: int(value) for slug, value in exact.items()}
    by_remainder = sorted(exact, key=lambda s: (parts[s] - exact[s], s))
    for slug in by_remainder[: total - sum(parts.values())]:
        parts[slug] += 1
    return parts


def build_city(
    db: Database,
    responders: int,
    profile_options: Sequence[str],
    actor: str,
    *,
    progress: Progress = lambda line: None,
    seed: int | None = None,
    sim_port: int | None = None,
) -> CityReport:
    """Create or top up the simulated city; raises ValidationError and changes nothing
    for bad input."""
    if not 0 <= responders <= MAX_RESPONDERS:
        raise ValidationError(
            {"responders": f"--responders must be 0 to {MAX_RESPONDERS:,}, not {responders}."}
        )
    overrides = sim_profiles.parse_options(profile_options, AGENCIES)
    started = time.monotonic()
    rng = random.Random(seed)
    report = CityReport()
    with db.write() as session:
        agencies = _agencies(session, report)
        sim_profiles.ensure_profiles(session, list(agencies.values()), overrides, actor)
        existing = _simulated_counts(session)
        for slug, wanted in targets(responders).items():
            agency = agencies[slug]
            count = AgencyCount(slug, wanted, existing.get(agency.id, 0))
            report.agencies.append(count)
            missing = max(0, wanted - count.existing)
            progress(f"{slug}: {wanted:,} wanted, {count.existing:,} there, creating {missing:,}")
            if missing:
                count.created = _create(session, agency, missing, rng, progress, sim_port)
        report.seconds = time.monotonic() - started
        audit.record(
            session, actor, "drill_city.built", responders=responders,
            created=report.created, total=report.total,
            agencies={a.slug: {"wanted": a.wanted, "existing": a.existing,
                               "created": a.created} for a in report.agencies},
            created_agencies=report.created_agencies, created_teams=report.created_teams,
        )  # fmt: skip
    return report


def _agencies(session: Session, report: CityReport) -> dict[str, Agency]:
    """The demo city's agencies and teams, created where missing."""
    found: dict[str, Agency] = {}
    for slug, (name, team_names) in AGENCIES.items():
        agency = session.scalar(select(Agency).where(Agency.slug == slug))
        if agency is None:
            agency = Agency(slug=slug, name=name)
            session.add(agency)
            report.created_agencies.append(slug)
        have = {t.name for t in agency.teams}
        for team_name in team_names:
            if team_name not in have:
                session.add(Team(agency=agency, name=team_name))
                report.created_teams.append(f"{slug}: {team_name}")
        found[slug] = agency
    session.flush()
    for agency in found.values():
        sim_profiles.check_agency_id(agency)
    return found


def _simulated_counts(session: Session) -> dict[int, int]:
    return dict(
        session.execute(
            select(Responder.agency_id, func.count())
            .where(Responder.simulated.is_(True))
            .group_by(Responder.agency_id)
        ).all()
    )


def _next_index(session: Session, agency: Agency) -> int:
    """After the highest number the agency's simulated responders have (fixed width,
    so the last address in order is the highest)."""
    prefix = sim_profiles.number_prefix(agency)
    last = session.scalar(
        select(ContactPoint.address)
        .join(Responder, ContactPoint.responder_id == Responder.id)
        .where(
            Responder.agency_id == agency.id,
            Responder.simulated.is_(True),
            ContactPoint.channel == "sms",
            ContactPoint.address.startswith(prefix, autoescape=True),
        )
        .order_by(ContactPoint.address.desc())
        .limit(1)
    )
    return int(last[len(prefix) :]) + 1 if last else 1


def _create(
    session: Session,
    agency: Agency,
    count: int,
    rng: random.Random,
    progress: Progress,
    sim_port: int | None,
) -> int:
    first = _next_index(session, agency)
    if first + count - 1 > sim_profiles.MAX_INDEX:
        raise ValidationError(
            {"responders": f"{agency.slug} would pass {sim_profiles.MAX_INDEX:,} simulated "
                           "numbers; remove the unused ones first (--remove)."}
        )  # fmt: skip
    teams = sorted((t for t in agency.teams), key=lambda t: t.name)
    made = 0
    for start in range(first, first + count, CHUNK):
        indexes = range(start, min(start + CHUNK, first + count))
        rows = [_responder(agency, teams, i, rng) for i in indexes]
        ids = session.scalars(
            insert(Responder).returning(Responder.id, sort_by_parameter_order=True), rows
        ).all()
        session.execute(
            insert(ContactPoint),
            [point for rid, i in zip(ids, indexes, strict=True)
             for point in _points(agency, rid, i, sim_port)],
        )  # fmt: skip
        made += len(ids)
        progress(f"  {agency.slug}: {made:,}/{count:,}")
    return made


def _responder(agency: Agency, teams: list[Team], index: int, rng: random.Random) -> dict:
    team = teams[index % len(teams)] if teams else None
    team_skills = TEAM_SKILLS.get(team.name, []) if team else []
    return {
        "agency_id": agency.id,
        "team_id": team.id if team else None,
        "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} (sim {index})",
        "on_duty": True,
        "language": "en",
        "skills": sorted(set(SKILLS.get(agency.slug, []) + team_skills)),
        "lat": round(CITY[0] + rng.uniform(-SPREAD[0], SPREAD[0]), 6),
        "lon": round(CITY[1] + rng.uniform(-SPREAD[1], SPREAD[1]), 6),
        "simulated": True,
    }


def _points(agency: Agency, responder_id: int, index: int, sim_port: int | None) -> list[dict]:
    """SMS first, then push, email and a call last, as the demo's responders."""
    phone = sim_profiles.number(agency, index)
    addresses = [
        ("sms", phone),
        ("push", sim_profiles.push_url(agency, index, sim_port)),
        ("email", sim_profiles.email(agency, index)),
        ("voice", phone),
    ]
    return [
        {"responder_id": responder_id, "channel": c, "address": a, "position": p}
        for p, (c, a) in enumerate(addresses)
    ]


def remove_city(db: Database, actor: str) -> tuple[int, int]:
    """Delete the simulated responders never alerted and never answering; (removed, kept)."""
    with db.write() as session:
        unused = (
            select(Responder.id)
            .where(Responder.simulated.is_(True))
            .where(~exists().where(Notification.responder_id == Responder.id))
            .where(~exists().where(Response.responder_id == Responder.id))
        )
        ids = list(session.scalars(unused))
        for start in range(0, len(ids), CHUNK * 5):
            chunk = ids[start : start + CHUNK * 5]
            session.execute(delete(ContactPoint).where(ContactPoint.responder_id.in_(chunk)))
            session.execute(delete(Responder).where(Responder.id.in_(chunk)))
        kept = session.scalar(
            select(func.count()).select_from(Responder).where(Responder.simulated.is_(True))
        )
        audit.record(session, actor, "drill_city.removed", removed=len(ids), kept=kept)
    return len(ids), kept or 0
