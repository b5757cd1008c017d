"""An agency's roster from a CSV file: every row checked first, then all or nothing.

A coordinator imports hundreds of responders from a spreadsheet; one bad phone
number must not leave half a roster behind. So check() reads the whole file
and reports every bad row with its line number (the header is line 1), and
apply() writes nothing unless the file is clean, then writes every row in the
caller's one transaction with bulk statements.

The file (UTF-8, a byte-order mark is fine; at most MAX_ROWS rows):
- Header: any of COLUMNS, in any order, each once; `name` is required.
- name: matches a responder of the agency by exact name: that responder is
  updated, otherwise one is created. Names must be unique in the file.
- team: a team of the agency by name (empty: no team); teams are not created.
- skills: separated by ";" and normalised to lower_snake.
- on_duty: yes/no/true/false/1/0 (empty: yes). language: e.g. en (empty: en).
- lat, lon: both or neither.
- sms, push, email, voice: one address each; empty cells are skipped. The
  contact points are ordered as their columns are in the header, so put
  voice before sms to call first. No separate order column.
- A column left out of the header keeps an updated responder's value (a new
  responder gets the default); the contact columns count together: with any
  of them present, an updated responder's contact points are replaced.
- A row may stop early (its missing cells are empty), not run past the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from coordinator.errors import ValidationError
from coordinator.models import Agency, ContactPoint, Responder, Team
from coordinator.services import audit
from coordinator.services.rosters import (
    CONTACT_CHANNELS,
    clean_address,
    clean_language,
    clean_name,
    clean_position,
    clean_skills,
)

COLUMNS = (
    "name", "team", "skills", "on_duty", "language", "lat", "lon",
    "sms", "push", "email", "voice",
)  # fmt: skip
MAX_ROWS = 20_000
MAX_BYTES = 2 * 1024 * 1024  # the app's upload limit (MAX_CONTENT_LENGTH)
YES = ("yes", "true", "1")
NO = ("no", "false", "0")
CHUNK = 5000  # ids per IN (...) list


@dataclass(frozen=True)
class RowError:
    line: int | None  # None: the file as a whole
    problems: list[str]

    @property
    def message(self) -> str:
        return "; ".join(self.problems)


@dataclass
class Row:
    line: int
    values: dict[str, Any]  # Responder columns given by the file
    points: list[tuple[str, str]]  # (channel, address) in header order
    existing_id: int | None  # the responder updated, None: a new one


@dataclass
class Plan:
    """What an import would do: the rows to write, or every reason it cannot."""

    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    digest: str = ""  # sha256 of the file, for the audit log

    @property
    def clean(self) -> bool:
        return not self.errors and bool(self.rows)

    @property
    def created(self) -> int:
        return sum(1 for r in self.rows if r.existing_id is None)

    @property
    def updated(self) -> int:
        return len(self.rows) - self.created

    @property
    def has_points(self) -> bool:
        return any(c in self.columns for c in CONTACT_CHANNELS)


def check(session: Session, agency: Agency, data: bytes, max_rows: int = MAX_ROWS) -> Plan:
    """Read and check the whole file against the agency's roster; changes nothing."""
    plan = Plan(digest=hashlib.sha256(data).hexdigest())
    text = _decode(data, plan)
    if text is None:
        return plan
    records = _records(text, plan)
    header = next(records, None)
    if header is None:
        plan.errors.append(RowError(None, ["The file is empty."]))
        return plan
    if not _read_header(header[1], plan):
        return plan
    teams = {
        name.lower(): team_id
        for team_id, name in session.execute(
            select(Team.id, Team.name).where(Team.agency_id == agency.id)
        )
    }
    existing: dict[str, list[int]] = {}
    simulated: set[int] = set()
    for responder_id, name, is_simulated in session.execute(
        select(Responder.id, Responder.name, Responder.simulated).where(
            Responder.agency_id == agency.id
        )
    ):
        existing.setdefault(name, []).append(responder_id)
        if is_simulated:
            simulated.add(responder_id)
    first_line: dict[str, int] = {}
    for line, cells in records:
        if len(plan.rows) + len(plan.errors) >= max_rows:
            plan.errors = [RowError(None, [f"The file has more than {max_rows:,} rows."])]
            plan.rows = []
            return plan
        _check_row(line, cells, plan, agency, teams, existing, first_line)
        if plan.rows and plan.rows[-1].line == line and plan.rows[-1].existing_id in simulated:
            # A file makes real responders only: a simulated one (`tocsin drill city`)
            # given a real phone number would be alerted by drills at that number.
            row = plan.rows.pop()
            plan.errors.append(RowError(line, [
                f"{row.values['name']!r} is a simulated responder (tocsin drill city); "
                "an import never changes simulated responders."
            ]))  # fmt: skip
    if not plan.rows and not plan.errors:
        plan.errors.append(RowError(None, ["The file has a header but no rows."]))
    return plan


def apply(session: Session, agency: Agency, plan: Plan, actor: str) -> None:
    """Write a clean plan in the caller's transaction: bulk inserts and updates."""
    if not plan.clean:
        raise ValidationError({"file": "The file has errors; nothing was imported."})
    new = [r for r in plan.rows if r.existing_id is None]
    old = [r for r in plan.rows if r.existing_id is not None]
    ids: list[int] = []
    if new:
        ids = list(
            session.scalars(
                insert(Responder).returning(Responder.id, sort_by_parameter_order=True),
                [{**_DEFAULTS, **r.values, "agency_id": agency.id} for r in new],
            )
        )
    if old:
        session.execute(update(Responder), [{**r.values, "id": r.existing_id} for r in old])
    if plan.has_points:
        for chunk in _chunks([r.existing_id for r in old], CHUNK):
            session.execute(delete(ContactPoint).where(ContactPoint.responder_id.in_(chunk)))
        owners = [*zip(ids, new, strict=True), *((r.existing_id, r) for r in old)]
        points = [
            {"responder_id": owner, "channel": c, "address": a, "position": i}
            for owner, row in owners
            for i, (c, a) in enumerate(row.points)
        ]
        if points:
            session.execute(insert(ContactPoint), points)
    session.expire_all()  # bulk statements bypass the objects the session holds
    audit.record(
        session, actor, "roster.imported", agency=agency.slug, created=len(new),
        updated=len(old), columns=plan.columns, sha256=plan.digest,
    )  # fmt: skip


def template_csv(agency: Agency) -> str:
    """A header and one example row to start a file from."""
    team = agency.teams[0].name if agency.teams else ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(
        ["Jo Example", team, "first_aid;hazmat", "yes", "en", "51.4545", "-2.5879",
         "+447700900123", "ntfy://ntfy.example.org/jo-example", "jo@example.org", "+447700900123"]
    )  # fmt: skip
    return out.getvalue()


_DEFAULTS: dict[str, Any] = {
    "team_id": None,
    "skills": [],
    "on_duty": True,
    "language": "en",
    "lat": None,
    "lon": None,
}


def _decode(data: bytes, plan: Plan) -> str | None:
    if not data.strip():
        plan.errors.append(RowError(None, ["The file is empty."]))
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        plan.errors.append(
            RowError(line, ["The file is not UTF-8 text; save it as CSV UTF-8 and try again."])
        )
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        plan.errors.append(RowError(line, ["NUL characters: is this really a CSV file?"]))
        return None
    return text


def _records(text: str, plan: Plan) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each non-blank record; a broken file ends it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            plan.errors.append(RowError(start, [f"The CSV cannot be read here ({exc})."]))
            plan.rows = []
            return
        if any(c.strip() for c in cells):
            yield start, cells


def _read_header(cells: list[str], plan: Plan) -> bool:
    columns = [c.strip().lower() for c in cells]
    problems = []
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        problems.append(
            f"Unknown column {', '.join(repr(c) if c else '(no name)' for c in unknown)}; "
            f"the columns are {', '.join(COLUMNS)}."
        )
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        problems.append(f"Column {', '.join(twice)} appears more than once.")
    if "name" not in columns:
        problems.append("The header has no name column.")
    if problems:
        plan.errors.append(RowError(1, problems))
        return False
    plan.columns = columns
    return True


def _check_row(
    line: int,
    cells: list[str],
    plan: Plan,
    agency: Agency,
    teams: dict[str, int],
    existing: dict[str, list[int]],
    first_line: dict[str, int],
) -> None:
    problems: list[str] = []
    if len(cells) > len(plan.columns):
        problems.append(f"{len(cells)} cells, but the header has {len(plan.columns)} columns.")
    cell = dict(zip(plan.columns, [c.strip() for c in cells], strict=False))
    values: dict[str, Any] = {}

    def take(fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    name = take(clean_name, cell.get("name", ""))
    if name:
        values["name"] = name
        if name in first_line:
            problems.append(f"{name!r} is also on line {first_line[name]}.")
        else:
            first_line[name] = line
        if len(existing.get(name, [])) > 1:
            problems.append(
                f"{len(existing[name])} responders of {agency.name} are named {name!r}; "
                "rename them on the roster page first."
            )
    if "team" in cell:
        values["team_id"] = _team(cell["team"], teams, agency, problems)
    if "skills" in cell:
        values["skills"] = take(clean_skills, cell["skills"], ";")
    if "on_duty" in cell:
        values["on_duty"] = _on_duty(cell["on_duty"], problems)
    if "language" in cell:
        values["language"] = take(clean_language, cell["language"])
    if "lat" in cell or "lon" in cell:
        position = take(clean_position, cell.get("lat", ""), cell.get("lon", ""))
        values["lat"], values["lon"] = position or (None, None)
    points: list[tuple[str, str]] = []
    for column in plan.columns:
        if column in CONTACT_CHANNELS and cell.get(column):
            address = take(clean_address, column, cell[column])
            if address:
                points.append((column, address))
    if problems:
        plan.errors.append(RowError(line, problems))
        return
    match = existing.get(name or "", [])
    plan.rows.append(Row(line, values, points, match[0] if match else None))


def _team(raw: str, teams: dict[str, int], agency: Agency, problems: list[str]) -> int | None:
    if not raw:
        return None
    team_id = teams.get(raw.lower())
    if team_id is None:
        problems.append(f"Unknown team {raw!r} in {agency.name}.")
    return team_id


def _on_duty(raw: str, problems: list[str]) -> bool:
    word = raw.lower()
    if word in YES or not word:
        return True
    if word in NO:
        return False
    problems.append(f"on_duty must be yes or no (or true/false, 1/0), not {raw!r}.")
    return True


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
