"""Answer profiles: how the simulated people at some addresses behave.

A profile names the addresses it covers (phone number prefixes, email
domains, ntfy topic prefixes) and how its people answer: a share of numbers
that fail, a share of people who never answer, the probability the others
answer, a lognormal delay (median, sigma) and the share of answers that say
"unavailable". Addresses no profile covers keep the simulator's global
settings (--answer-rate, --silence-rate, --sms-fail-rate).

Profiles come as JSON, from `--profiles FILE` or `PUT /sim/profiles`:

    {"profiles": [{"name": "fire",
                   "number_prefixes": ["+155509902"],
                   "email_domains": ["fire.sim.invalid"],
                   "topic_prefixes": ["sim-fire-"],
                   "answer_rate": 0.92, "delay_median_s": 45, "delay_sigma": 0.6,
                   "unavailable_share": 0.05, "silent_share": 0.03, "fail_share": 0.01}]}

`tocsin drill profiles` prints exactly this for the simulated city. The
longest matching prefix wins when profiles overlap.

One person may be reached on several addresses (an SMS number, an email, a
push topic). They are recognised as one person by the digits their addresses
end with (before the @ of an email), within one profile: +155509902000017,
sim-000017@fire.sim.invalid and sim-fire-000017 are the same person, so they
answer once, not once per channel (see people.py).
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SHARES = ("answer_rate", "unavailable_share", "silent_share", "fail_share")
FIELDS = ("answer_rate", "delay_median_s", "delay_sigma", *SHARES[1:])
MATCHERS = ("number_prefixes", "email_domains", "topic_prefixes")
MAX_DELAY_S = 6 * 3600.0
MAX_SIGMA = 3.0
MAX_PROFILES = 200
NAME = re.compile(r"^[A-Za-z0-9][-_.A-Za-z0-9]{0,63}$")
NUMBER_PREFIX = re.compile(r"^\+\d{1,14}$")
TRAILING_DIGITS = re.compile(r"(\d+)$")


class ProfileError(ValueError):
    """A profile document that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Profile:
    name: str
    answer_rate: float
    delay_median_s: float
    delay_sigma: float
    unavailable_share: float
    silent_share: float
    fail_share: float
    number_prefixes: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()
    topic_prefixes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in data.items()
        }


@dataclass(frozen=True)
class Match:
    """A profile that covers an address, and the person the address belongs to."""

    profile: Profile
    person: str


def parse(data: Any) -> list[Profile]:
    """Profiles from a decoded JSON document; raises ProfileError naming the bad field."""
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), list):
        raise ProfileError('expected a JSON object {"profiles": [...]}')
    items = data["profiles"]
    if len(items) > MAX_PROFILES:
        raise ProfileError(f"at most {MAX_PROFILES} profiles, not {len(items)}")
    profiles = [_profile(item, f"profiles[{i}]") for i, item in enumerate(items)]
    names = [p.name for p in profiles]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise ProfileError(f"profile names must be unique: {', '.join(duplicated)}")
    return profiles


def load_file(path: str) -> list[Profile]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"{path} is not JSON: {exc}") from None
    return parse(data)


def _profile(item: Any, where: str) -> Profile:
    if not isinstance(item, dict):
        raise ProfileError(f"{where}: each profile is a JSON object")
    known = {"name", *FIELDS, *MATCHERS}
    if unknown := sorted(set(item) - known):
        raise ProfileError(f"{where}: unknown field {', '.join(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ProfileError(f"{where}.name: 1-64 letters, digits, '-', '_' or '.'")
    values = {key: _number(item, key, f"{where}.{key}") for key in FIELDS}
    for key in SHARES:
        if not 0.0 <= values[key] <= 1.0:
            raise ProfileError(f"{where}.{key}: a share from 0 to 1, not {values[key]}")
    if not 0.0 < values["delay_median_s"] <= MAX_DELAY_S:
        raise ProfileError(f"{where}.delay_median_s: more than 0 and at most {MAX_DELAY_S:g} s")
    if not 0.0 <= values["delay_sigma"] <= MAX_SIGMA:
        raise ProfileError(f"{where}.delay_sigma: from 0 to {MAX_SIGMA:g}")
    matchers = {key: _strings(item, key, f"{where}.{key}") for key in MATCHERS}
    for prefix in matchers["number_prefixes"]:
        if not NUMBER_PREFIX.match(prefix):
            raise ProfileError(f"{where}.number_prefixes: {prefix!r} is not '+' and digits")
    if not any(matchers.values()):
        raise ProfileError(f"{where}: give at least one of {', '.join(MATCHERS)}")
    domains = tuple(d.lower() for d in matchers["email_domains"])
    return Profile(name=name, **values, number_prefixes=matchers["number_prefixes"],
                   email_domains=domains, topic_prefixes=matchers["topic_prefixes"])  # fmt: skip


def _number(item: dict[str, Any], key: str, where: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ProfileError(f"{where}: a number is required")
    return float(value)


def _strings(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProfileError(f"{where}: a list of non-empty strings")
    return tuple(v.strip() for v in value)


class Profiles:
    """The profiles in force; HTTP, SMTP and scheduler threads read them."""

    def __init__(self, profiles: list[Profile] | None = None) -> None:
        self._lock = threading.Lock()
        self._profiles: list[Profile] = list(profiles or [])

    def replace(self, profiles: list[Profile]) -> None:
        with self._lock:
            self._profiles = list(profiles)

    def all(self) -> list[Profile]:
        with self._lock:
            return list(self._profiles)

    def for_number(self, number: str) -> Match | None:
        return self._longest(number, "number_prefixes")

    def for_topic(self, topic: str) -> Match | None:
        return self._longest(topic, "topic_prefixes")

    def for_email(self, address: str) -> Match | None:
        local, _, domain = address.strip().rpartition("@")
        domain = domain.lower()
        for profile in self.all():
            if domain in profile.email_domains:
                return Match(profile, _person(profile, local))
        return None

    def _longest(self, address: str, matcher: str) -> Match | None:
        best: tuple[int, Profile, str] | None = None
        for profile in self.all():
            for prefix in getattr(profile, matcher):
                if address.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), profile, address[len(prefix) :])
        return Match(best[1], _person(best[1], best[2])) if best else None


def _person(profile: Profile, rest: str) -> str:
    """One person's key within a profile: the digits the address ends with."""
    digits = TRAILING_DIGITS.search(rest)
    return f"{profile.name}:{digits.group(1) if digits else rest}"
