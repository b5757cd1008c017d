"""The simulated city's addresses and each agency's answer profile.

Every simulated responder (`tocsin drill city`) is reached only through the
provider simulator, at addresses that can never reach a real person:

- SMS and voice: +1555099 AA NNNNNN, 15 digits: AA is the agency's id, NNNNNN
  the responder's number in the agency. A +1 number has 11 digits, so no real
  number has this form (Twilio refuses it), and the demo's +1555010xxxx are
  11 digits too.
- email: sim-NNNNNN@<agency>.sim.invalid (.invalid never resolves, RFC 6761),
  taken by the simulator's SMTP sink.
- push: ntfy://127.0.0.1:<TOCSIN_SIM_PORT>/sim-<agency>-NNNNNN.

A profile (SimulationProfile, one per agency) says how the agency's simulated
people behave; `export()` gives the simulator's JSON (notifier/simulator/
profiles.py), keyed by those address prefixes. The coordinator never imports
the notifier: the limits below mirror the simulator's, and a test checks that
the simulator accepts what export() makes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields, replace
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.env import env_int, env_str
from coordinator.errors import ValidationError
from coordinator.models import Agency, SimulationProfile
from coordinator.services import audit

NUMBER_BASE = "+1555099"
MAX_AGENCY_ID = 99  # two digits of the number
MAX_INDEX = 999_999  # six digits of the number
SHARES = ("answer_rate", "unavailable_share", "silent_share", "fail_share")
MAX_DELAY_S = 6 * 3600.0
MAX_SIGMA = 3.0
PUSH_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class ProfileValues:
    answer_rate: float  # of those not silent (and whose number works), share who answer
    delay_median_s: float  # lognormal time to answer: median ...
    delay_sigma: float  # ... and sigma
    unavailable_share: float  # of answers, "unavailable"
    silent_share: float  # never answer anything
    fail_share: float  # numbers whose SMS and calls fail


NAMES = tuple(f.name for f in fields(ProfileValues))
# Agencies answer differently: fire stations are staffed and answer within a minute,
# the council's emergency planners are at desks or at home and answer late or not.
DEFAULTS = {
    "police": ProfileValues(0.85, 90.0, 0.8, 0.10, 0.05, 0.02),
    "fire": ProfileValues(0.92, 45.0, 0.6, 0.05, 0.03, 0.01),
    "ambulance": ProfileValues(0.88, 60.0, 0.7, 0.12, 0.04, 0.02),
    "council": ProfileValues(0.65, 300.0, 1.0, 0.15, 0.12, 0.03),
}
OTHER = ProfileValues(0.80, 120.0, 0.8, 0.10, 0.05, 0.02)


# --- addresses -------------------------------------------------------------------


def number_prefix(agency: Agency) -> str:
    return f"{NUMBER_BASE}{agency.id:02d}"


def number(agency: Agency, index: int) -> str:
    return f"{number_prefix(agency)}{index:06d}"


def email_domain(agency: Agency) -> str:
    return f"{agency.slug}.sim.invalid"


def email(agency: Agency, index: int) -> str:
    return f"sim-{index:06d}@{email_domain(agency)}"


def topic_prefix(agency: Agency) -> str:
    return f"sim-{agency.slug}-"


def push_url(agency: Agency, index: int, port: int | None = None) -> str:
    port = port or env_int("TOCSIN_SIM_PORT", 5050)
    return f"ntfy://127.0.0.1:{port}/{topic_prefix(agency)}{index:06d}"


def check_agency_id(agency: Agency) -> None:
    if agency.id > MAX_AGENCY_ID:
        raise ValidationError(
            {"agency": f"Agency {agency.slug!r} has id {agency.id}: simulated numbers hold the "
                       f"agency id in two digits, so only agencies 1 to {MAX_AGENCY_ID} can "
                       "have simulated responders."}
        )  # fmt: skip


# --- profiles --------------------------------------------------------------------


def default_for(slug: str) -> ProfileValues:
    return DEFAULTS.get(slug, OTHER)


def parse_options(options: Iterable[str], slugs: Iterable[str]) -> dict[str, dict[str, float]]:
    """`--profile fire:answer_rate=0.9,delay_median_s=40` (repeatable) -> {"fire": {...}}.

    Raises ValidationError({"profile": ...}) quoting the option and naming what is wrong.
    """
    known = set(slugs)
    wanted: dict[str, dict[str, float]] = {}
    for option in options:
        slug, colon, settings = option.partition(":")
        slug = slug.strip()
        if not colon or not settings.strip():
            _bad(option, "write it as AGENCY:SETTING=VALUE,..., e.g. fire:answer_rate=0.9")
        if slug not in known:
            _bad(option, f"no agency {slug!r} in the simulated city ({', '.join(sorted(known))})")
        for part in settings.split(","):
            name, equals, raw = (x.strip() for x in part.partition("="))
            if name not in NAMES:
                _bad(option, f"unknown setting {name!r}; use {', '.join(NAMES)}")
            if not equals:
                _bad(option, f"{name} needs a value, e.g. {name}=0.5")
            wanted.setdefault(slug, {})[name] = _value(option, name, raw)
    return wanted


def _value(option: str, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        _bad(option, f"{name} must be a number, not {raw!r}")
    if math.isnan(value) or math.isinf(value):
        _bad(option, f"{name} must be a number, not {raw!r}")
    if name in SHARES and not 0.0 <= value <= 1.0:
        _bad(option, f"{name} is a share from 0 to 1, not {raw}")
    if name == "delay_median_s" and not 0.0 < value <= MAX_DELAY_S:
        _bad(option, f"delay_median_s must be more than 0 and at most {MAX_DELAY_S:g} seconds")
    if name == "delay_sigma" and not 0.0 <= value <= MAX_SIGMA:
        _bad(option, f"delay_sigma must be from 0 to {MAX_SIGMA:g}, not {raw}")
    return value


def _bad(option: str, problem: str) -> None:
    raise ValidationError({"profile": f"--profile {option}: {problem}."})


def values_of(profile: SimulationProfile) -> ProfileValues:
    return ProfileValues(*(getattr(profile, name) for name in NAMES))


def ensure_profiles(
    session: Session,
    agencies: Sequence[Agency],
    overrides: dict[str, dict[str, float]],
    actor: str,
) -> list[SimulationProfile]:
    """Each agency's profile: kept if it has one, else its agency's defaults; then the
    overrides applied. Audited when created or changed."""
    profiles: list[SimulationProfile] = []
    for agency in agencies:
        profile = session.scalar(
            select(SimulationProfile).where(SimulationProfile.agency_id == agency.id)
        )
        before = values_of(profile) if profile is not None else None
        values = replace(before or default_for(agency.slug), **overrides.get(agency.slug, {}))
        if profile is None:
            profile = SimulationProfile(agency_id=agency.id)
            session.add(profile)
        for name, value in zip(NAMES, astuple(values), strict=True):
            setattr(profile, name, value)
        if values != before:
            audit.record(
                session, actor, "sim_profile.created" if before is None else "sim_profile.changed",
                agency=agency.slug, **dict(zip(NAMES, astuple(values), strict=True)),
            )  # fmt: skip
        profiles.append(profile)
    session.flush()
    return profiles


def export(session: Session) -> dict[str, Any]:
    """Every agency's profile as the provider simulator reads it (`--profiles FILE`,
    `PUT /sim/profiles`), keyed by the agency's address prefixes."""
    rows = session.execute(
        select(SimulationProfile, Agency)
        .join(Agency, SimulationProfile.agency_id == Agency.id)
        .order_by(Agency.slug)
    ).all()
    return {
        "profiles": [
            {
                "name": agency.slug,
                "number_prefixes": [number_prefix(agency)],
                "email_domains": [email_domain(agency)],
                "topic_prefixes": [topic_prefix(agency)],
                **{name: getattr(profile, name) for name in NAMES},
            }
            for profile, agency in rows
        ]
    }


# --- the running simulator ---------------------------------------------------------


def simulator_url() -> str:
    """Where a simulator runs: TOCSIN_TWILIO_API_URL when set (it is the simulator's
    Twilio API), else 127.0.0.1:TOCSIN_SIM_PORT, as `tocsin run` starts it."""
    return (
        env_str("TOCSIN_TWILIO_API_URL") or f"http://127.0.0.1:{env_int('TOCSIN_SIM_PORT', 5050)}"
    )


def push(url: str, document: dict[str, Any]) -> tuple[bool, str]:
    """PUT the profiles to the simulator at `url`; (pushed, what happened)."""
    target = url.rstrip("/") + "/sim/profiles"
    try:
        response = requests.put(target, json=document, timeout=PUSH_TIMEOUT_SECONDS)
    except requests.RequestException:
        return False, f"no provider simulator answered at {url}"
    if response.status_code == 404:
        return False, f"{url} is not a provider simulator with profiles (404)"
    if not response.ok:
        try:
            error = str(response.json().get("error", ""))
        except ValueError:
            error = response.text[:200]
        return False, f"the simulator at {url} refused the profiles: {error}"
    return True, f"{len(document['profiles'])} answer profile(s) sent to the simulator at {url}"
