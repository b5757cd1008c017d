"""A CAP 1.2 message as plain data: what parse.py reads and build.py writes.

Only the parts Tocsin reads or writes are modelled; a document keeps the rest
(resources, parameters, signatures) in the text stored beside it. Every element
read from a document remembers its line, so a later check (an unknown geocode,
a reference to nothing we know) can still name where the problem is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
CATEGORIES = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
    "CBRNE", "Other",
)  # fmt: skip
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
# CAP's default when an <info> names no language.
DEFAULT_LANGUAGE = "en-US"
# identifier and sender "MUST NOT include spaces, commas or restricted characters (< and &)".
NAME_CHARS = re.compile(r"^[^\s,<&]+$")
# xs:language, as the schema checks <language>.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Reference:
    """An earlier message, as <references> names it: sender,identifier,sent."""

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True)
class Geocode:
    value_name: str
    value: str
    line: int | None = None


@dataclass
class Area:
    description: str
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)  # (lat, lon)
    circles: list[Circle] = field(default_factory=list)
    geocodes: list[Geocode] = field(default_factory=list)
    line: int | None = None


@dataclass
class Info:
    categories: list[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    language: str = DEFAULT_LANGUAGE
    response_types: list[str] = field(default_factory=list)
    sender_name: str = ""
    headline: str = ""
    description: str = ""
    instruction: str = ""
    areas: list[Area] = field(default_factory=list)
    line: int | None = None

    def text(self) -> str:
        """What responders are told: the description, then the instruction."""
        return "\n".join(part for part in (self.description, self.instruction) if part)


@dataclass
class CapAlert:
    identifier: str
    sender: str
    sent: datetime  # aware
    status: str
    msg_type: str
    scope: str
    restriction: str = ""
    addresses: str = ""
    note: str = ""
    source: str = ""
    references: list[Reference] = field(default_factory=list)
    infos: list[Info] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # element -> line, as read

    def line(self, element: str) -> int | None:
        return self.lines.get(element)

    def info_for(self, language: str) -> Info | None:
        """The <info> in `language`: the same tag, else the same primary language
        ("en-GB" takes "en-US"), else the first; None when there is none."""
        wanted = language.lower()
        for matches in (
            lambda tag: tag == wanted,
            lambda tag: primary(tag) == primary(wanted),
        ):
            for info in self.infos:
                if matches(info.language.lower()):
                    return info
        return self.infos[0] if self.infos else None

    @property
    def reference(self) -> Reference:
        """How a later message names this one."""
        return Reference(self.sender, self.identifier, format_time(self.sent))


def primary(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def format_time(at: datetime) -> str:
    """CAP's dateTime: seconds and a numeric offset, UTC written -00:00 (never "Z")."""
    if at.tzinfo is None:
        raise ValueError("CAP times carry their time zone")
    offset = at.utcoffset()
    text = at.replace(microsecond=0).isoformat()
    return text[:-6] + "-00:00" if offset is not None and not offset else text


def parse_time(text: str) -> datetime:
    """A CAP dateTime as an aware datetime; ValueError when it is none."""
    at = datetime.fromisoformat(text.strip())
    if at.tzinfo is None:
        raise ValueError("no time zone")
    return at


def to_utc(at: datetime) -> datetime:
    return at.astimezone(UTC)
