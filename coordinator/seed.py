"""Demo data: a small city with police, fire, ambulance and council teams."""

from __future__ import annotations

import random

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from broker.env import env_int
from coordinator.db import Database
from coordinator.models import Agency, ContactPoint, Responder, Team, User
from coordinator.services import audit
from coordinator.services.cap_areas import seed_demo_codes
from coordinator.services.escalation import StepSpec, save_policy
from coordinator.services.message_templates import seed_demo_templates

CITY = (51.4545, -2.5879)  # the demo city's centre
AGENCIES = {
    "police": ("Police", ["Response A", "Response B"]),
    "fire": ("Fire and Rescue", ["Blue Watch", "Hazmat"]),
    "ambulance": ("Ambulance", ["Paramedics"]),
    "council": ("City Council", ["Emergency Planning"]),
}
FIRST = [
    "Alex",
    "Sam",
    "Jo",
    "Priya",
    "Tomasz",
    "Aisha",
    "Rhys",
    "Mei",
    "Ola",
    "Dev",
    "Kim",
    "Noor",
]
LAST = ["Hart", "Okafor", "Nowak", "Evans", "Patel", "Lindqvist", "Moreau", "Byrne", "Sato"]
# Skills by agency, plus the team's own speciality.
SKILLS = {"police": ["first_aid"], "fire": ["firefighter"], "ambulance": ["paramedic"]}
TEAM_SKILLS = {"Hazmat": ["hazmat"]}
# Who an escalation step "backup" alerts when a team stays silent.
BACKUPS = {"Response A": "Response B", "Response B": "Response A", "Blue Watch": "Hazmat"}
USERS = [
    ("admin", "admin", None),
    ("commander", "commander", None),
    ("dispatcher", "dispatcher", None),
    ("observer", "observer", None),
    ("fire-coordinator", "coordinator", "fire"),
    ("police-coordinator", "coordinator", "police"),
]
PER_TEAM = 3
# The agency a demo escalation calls in last when its own people stay silent.
NEIGHBOURS = {"police": "council", "fire": "ambulance", "ambulance": "fire", "council": "police"}


def _contact_points(number: int, email: str) -> list[ContactPoint]:
    """SMS first, then push (ntfy topics on the simulator), email, and a call last."""
    phone = f"+1555010{number:04d}"
    push = f"ntfy://127.0.0.1:{env_int('TOCSIN_SIM_PORT', 5050)}/tocsin-{number}"
    return [
        ContactPoint(channel=channel, address=address, position=position)
        for position, (channel, address) in enumerate(
            [("sms", phone), ("push", push), ("email", email), ("voice", phone)]
        )
    ]


def _demo_steps(slug: str) -> list[StepSpec]:
    """SMS+push with the alert, voice to the silent after 2 min, the silent teams'
    backup after 5 min (where the agency has one), a neighbouring agency after 8 min."""
    has_backup = any(team in BACKUPS for team in AGENCIES[slug][1])
    return [
        StepSpec(0, ["sms", "push"]),
        StepSpec(120, ["voice"]),
        *([StepSpec(300, ["sms", "push"], "backup")] if has_backup else []),
        StepSpec(480, ["sms", "push"], f"agency:{NEIGHBOURS[slug]}"),
    ]


def seed_demo(db: Database, password: str, password_hash: str | None = None) -> bool:
    """Create the demo city once. Returns False when it was already there.

    `password_hash`, when given, is stored instead of hashing `password` (tests
    pass a cheap hash of the same password; every login checks it for real).
    """
    rng = random.Random(7)
    with db.write() as session:
        if session.scalar(select(Agency.id).where(Agency.slug == "police")) is not None:
            return False
        number = 0
        agencies: dict[str, Agency] = {}
        teams_by_name: dict[str, Team] = {}
        for slug, (name, teams) in AGENCIES.items():
            agency = agencies[slug] = Agency(slug=slug, name=name)
            session.add(agency)
            for team_name in teams:
                team = teams_by_name[team_name] = Team(agency=agency, name=team_name)
                for _ in range(PER_TEAM):
                    number += 1
                    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                    login = person.lower().replace(" ", ".")
                    session.add(
                        Responder(
                            agency=agency,
                            team=team,
                            name=person,
                            skills=SKILLS.get(slug, []) + TEAM_SKILLS.get(team_name, []),
                            lat=CITY[0] + rng.uniform(-0.03, 0.03),
                            lon=CITY[1] + rng.uniform(-0.05, 0.05),
                            contact_points=_contact_points(
                                number, f"{login}.{number}@{slug}.example.org"
                            ),
                        )
                    )
        for team_name, backup in BACKUPS.items():
            teams_by_name[team_name].backup_team = teams_by_name[backup]
        # One slow hash for all demo users.
        password_hash = password_hash or generate_password_hash(password)
        for username, role, agency_slug in USERS:
            session.add(
                User(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    agency=agencies[agency_slug] if agency_slug else None,
                )
            )
        seed_demo_templates(session)
        seed_demo_codes(session)  # CAP <geocode> areas of the demo city
        session.flush()
        for slug, agency in agencies.items():
            save_policy(session, agency, "Demo escalation", True, _demo_steps(slug), "system:seed")
        audit.record(session, "system:seed", "demo.seeded", responders=number)
    return True
