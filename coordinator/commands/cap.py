"""`tocsin cap ...`: CAP 1.2 documents in and out (docs/cap.md).

    tocsin cap import FILE                  last line: the incident's id
    tocsin cap export INCIDENT_ID           the XML of its latest alert
    tocsin cap area-codes import FILE.csv   value_name,value,name,lat,lon,radius_m

A refused document or file exits 1 with the reason on stderr and changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from coordinator import cap as caplib
from coordinator.commands import cli_actor, database
from coordinator.config import Settings
from coordinator.links import LinkSigner
from coordinator.models import Incident
from coordinator.services import cap_areas, cap_export, cap_import


@click.group()
def cap() -> None:
    """CAP 1.2: import a document as an incident, export an incident's latest alert."""


@cap.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(file: Path) -> None:
    """Import a CAP 1.2 document: an Alert opens an incident (alerting nobody unless a
    routing rule says so), an Update or Cancel applies to the incident it references.
    The last line printed is the incident's id."""
    data = _read(file, caplib.MAX_BYTES)
    try:
        document = caplib.read_document(data)
    except caplib.CapError as exc:
        _fail(file, exc)
    settings = Settings.from_env()
    links = LinkSigner(settings.secret_key, settings.public_url, settings.link_ttl_hours)
    with database() as db:
        try:
            with db.write() as session:
                done = cap_import.import_document(
                    session, document, actor=cli_actor(), links=links,
                    language=settings.cap_language,
                )  # fmt: skip
                incident_id, action, alerted = done.incident.id, done.action, len(done.alerts)
        except caplib.CapError as exc:
            _fail(file, exc)
    doc = document.alert
    click.echo(f"{doc.msg_type} {doc.identifier} from {doc.sender}: incident {incident_id} "
               f"{action.replace('_', ' ')}; {_alerted(alerted)}", err=True)  # fmt: skip
    click.echo(incident_id)


@cap.command("export")
@click.argument("incident_id", type=int)
def export(incident_id: int) -> None:
    """Print the CAP 1.2 XML of the incident's latest alert."""
    settings = Settings.from_env()
    identity = cap_export.Identity.from_settings(settings)
    with database() as db, db.write() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise click.ClickException(f"There is no incident {incident_id}.")
        try:
            alert = cap_export.latest_alert(incident)
        except cap_export.NoAlertYet as exc:
            raise click.ClickException(str(exc)) from None
        text = cap_export.document_for(session, alert, identity, cli_actor())
    click.echo(text, nl=False)


@cap.group("area-codes")
def area_codes() -> None:
    """The CAP <geocode> areas Tocsin knows."""


@area_codes.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def area_codes_import(file: Path) -> None:
    """Add or replace area codes from a CSV with the header
    value_name,value,name,lat,lon,radius_m (every line is checked before any is kept)."""
    try:
        rows = cap_areas.read_csv(_read(file, 16 * 1024 * 1024).decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: nothing was loaded:\n{exc}") from None
    with database() as db, db.write() as session:
        added, replaced = cap_areas.save_codes(session, rows, cli_actor())
    click.echo(f"area codes: {added} added, {replaced} replaced")


def _read(file: Path, limit: int) -> bytes:
    if file.stat().st_size > limit:
        raise click.ClickException(f"{file} is larger than {limit // 1024} KiB; nothing was done.")
    return file.read_bytes()


def _fail(file: Path, exc: caplib.CapError) -> NoReturn:
    click.echo(f"{file}: not imported, nothing was changed:", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


def _alerted(count: int) -> str:
    if not count:
        return "nobody alerted (send from the board)"
    return f"{count} alert(s) sent by CAP routing rules"
