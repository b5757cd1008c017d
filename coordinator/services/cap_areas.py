"""Where an imported CAP <info> is: its polygons, circles and geocodes as one
centre and radius (coordinator/cap/geo.py), and the geocodes Tocsin knows.

A geocode (valueName + value, e.g. "GSS" "E06000023") means something only in
a table: CapAreaCode holds the city's, seeded for the demo city and loaded by
admins from CSV (`tocsin cap area-codes import FILE.csv`). An area given by a
polygon or circle is placed by them, and its geocodes are only kept with the
document; an area given by geocodes alone needs every one of them known.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.cap import CapError, Info, Problem
from coordinator.cap.geo import Disc, cover, polygon_disc
from coordinator.models import CapAreaCode
from coordinator.services import audit

CSV_COLUMNS = ("value_name", "value", "name", "lat", "lon", "radius_m")
MAX_CSV_ROWS = 50_000
MAX_RADIUS_M = 10_000_000.0
# The demo city's codes (seed-demo): the city's ONS (GSS) code and a few places of it.
DEMO_CODES = [
    ("GSS", "E06000023", "Bristol, City of", 51.4545, -2.5879, 9000.0),
    ("TOCSIN-DEMO", "harbourside", "Harbourside", 51.4484, -2.6006, 800.0),
    ("TOCSIN-DEMO", "temple-meads", "Temple Meads", 51.4493, -2.5813, 600.0),
    ("TOCSIN-DEMO", "avonmouth-docks", "Avonmouth docks", 51.5005, -2.6985, 1500.0),
]


def place(session: Session, info: Info) -> Disc:
    """One disc covering every area of the info; CapError naming each area that
    cannot be placed (no shape, or geocodes Tocsin does not know)."""
    problems: list[Problem] = []
    discs: list[Disc] = []
    if not info.areas:
        problems.append(Problem(info.line, "info", "has no <area>: Tocsin places every incident."))
    for area in info.areas:
        shapes = [polygon_disc(p) for p in area.polygons]
        shapes += [Disc(c.lat, c.lon, c.radius_km * 1000) for c in area.circles]
        if not shapes:
            shapes = _geocoded(session, area, problems)
        discs.extend(shapes)
    if problems:
        raise CapError(problems)
    return cover(discs)


def _geocoded(session: Session, area, problems: list[Problem]) -> list[Disc]:  # type: ignore[no-untyped-def]
    if not area.geocodes:
        problems.append(
            Problem(area.line, "area", f"{area.description!r} has no <polygon>, <circle> or "
                    "<geocode>: Tocsin cannot tell where the incident is.")
        )  # fmt: skip
        return []
    found = []
    for geocode in area.geocodes:
        code = lookup(session, geocode.value_name, geocode.value)
        if code is None:
            problems.append(
                Problem(geocode.line, "geocode", f"{geocode.value_name} {geocode.value!r} is not "
                        "an area code Tocsin knows (an admin loads them: tocsin cap area-codes "
                        "import FILE.csv).")
            )  # fmt: skip
        else:
            found.append(Disc(code.lat, code.lon, code.radius_m))
    return found


def lookup(session: Session, value_name: str, value: str) -> CapAreaCode | None:
    return session.scalar(
        select(CapAreaCode).where(CapAreaCode.value_name == value_name, CapAreaCode.value == value)
    )


# --- loading codes -----------------------------------------------------------


@dataclass(frozen=True)
class CodeRow:
    value_name: str
    value: str
    name: str
    lat: float
    lon: float
    radius_m: float


def read_csv(text: str) -> list[CodeRow]:
    """Rows of a CSV with the header value_name,value,name,lat,lon,radius_m; a
    ValueError listing every bad line (the header is line 1) otherwise."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != list(CSV_COLUMNS):
        raise ValueError(f"line 1: the header must be {','.join(CSV_COLUMNS)}")
    rows: list[CodeRow] = []
    bad: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(reader, start=2):
        if len(rows) + len(bad) >= MAX_CSV_ROWS:
            bad.append(f"line {number}: more than {MAX_CSV_ROWS:,} rows; split the file")
            break
        try:
            row = _row(raw)
        except ValueError as exc:
            bad.append(f"line {number}: {exc}")
            continue
        key = (row.value_name, row.value)
        if key in seen:
            bad.append(f"line {number}: {row.value_name} {row.value} is also on line {seen[key]}")
            continue
        seen[key] = number
        rows.append(row)
    if bad:
        raise ValueError("\n".join(bad))
    if not rows:
        raise ValueError("line 2: the file has no codes")
    return rows


def _row(raw: dict[str, str | None]) -> CodeRow:
    if None in raw or any(raw.get(c) is None for c in CSV_COLUMNS):
        raise ValueError(f"expected the {len(CSV_COLUMNS)} columns {','.join(CSV_COLUMNS)}")
    cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    for column in ("value_name", "value", "name"):
        limit = 200 if column == "name" else 80
        if not cells[column] or len(cells[column]) > limit:
            raise ValueError(f"{column} must be 1 to {limit} characters")
    numbers = {}
    for column, low, high in (("lat", -90, 90), ("lon", -180, 180), ("radius_m", 1, MAX_RADIUS_M)):
        try:
            numbers[column] = float(cells[column])
        except ValueError:
            raise ValueError(f"{column} {cells[column]!r} is not a number") from None
        if not math.isfinite(numbers[column]) or not low <= numbers[column] <= high:
            raise ValueError(f"{column} must be within {low:g}..{high:g}")
    return CodeRow(cells["value_name"], cells["value"], cells["name"], **numbers)


def save_codes(session: Session, rows: list[CodeRow], actor: str) -> tuple[int, int]:
    """Add or replace codes by (value_name, value); returns (added, replaced)."""
    existing = {(c.value_name, c.value): c for c in session.scalars(select(CapAreaCode))}
    added = replaced = 0
    for row in rows:
        code = existing.get((row.value_name, row.value))
        if code is None:
            session.add(CapAreaCode(**row.__dict__))
            added += 1
        else:
            code.name, code.lat, code.lon, code.radius_m = row.name, row.lat, row.lon, row.radius_m
            replaced += 1
    audit.record(session, actor, "cap.area_codes_loaded", added=added, replaced=replaced)
    return added, replaced


def seed_demo_codes(session: Session) -> None:
    """The demo city's area codes (called by coordinator/seed.py)."""
    save_codes(session, [CodeRow(*code) for code in DEMO_CODES], "system:seed")
