"""`tocsin report INCIDENT_ID --format html|pdf|csv --output FILE`.

html: one standalone file (charts and styles inside, reads offline); pdf: the PDF;
csv: two files, FILE with one row per notification and FILE's stem + "-answers"
(same suffix, .csv if none) with one row per answer; every path written is
printed, one per line. The report of an open incident is a draft (said on
stderr); a closed incident's is the stored one (computed now if the hub has not
stored it yet). Files are written whole or not at all (a temporary file beside
them, then renamed); an unknown incident, format or an unwritable path is an
error naming it (exit 1, or 2 for a bad option) and writes nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from coordinator.app import create_app
from coordinator.commands import cli_actor, database
from coordinator.config import Settings
from coordinator.models import Incident
from coordinator.reports import csv_export, html, pdf, store
from coordinator.services import audit

FORMATS = ("html", "pdf", "csv")


def answers_path(output: Path) -> Path:
    """Where `--format csv` writes the answers beside FILE's notifications."""
    return output.with_name(f"{output.stem}-answers{output.suffix or '.csv'}")


@click.command()
@click.argument("incident_id", type=int)
@click.option("--format", "form", type=click.Choice(FORMATS), required=True, help="what to write")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=False, path_type=Path),
    help="the file (csv: the notifications; the answers go beside it, see --help)",
)
def report(incident_id: int, form: str, output: Path) -> None:
    """Write an incident's after-action report as HTML, PDF or CSV.

    csv writes two files: FILE (one row per notification) and FILE's stem +
    "-answers" (one row per answer), e.g. report.csv and report-answers.csv.
    """
    targets = [output, answers_path(output)] if form == "csv" else [output]
    for target in targets:
        _check_writable(target)
    with database() as db:
        incident = db.session.get(Incident, incident_id)
        if incident is None:
            raise click.ClickException(f"no incident {incident_id}")
        loaded = store.load(db.session, incident)
        if loaded.state == "draft":
            click.echo(
                f"draft: incident {incident_id} is still open; the figures will change", err=True
            )
        elif loaded.state == "unstored":
            click.echo(
                f"incident {incident_id} is closed but its report is not stored yet "
                "(the hub builds it); computed now from the same rows",
                err=True,
            )
        if form == "html":
            app = create_app(Settings.from_env())
            try:
                _write(output, html.standalone(app, loaded.figures, incident, loaded.state))
            finally:
                app.extensions["tocsin"].db.dispose()
        elif form == "pdf":
            _write(output, pdf.render(loaded.figures))
        else:
            for table, target in zip(csv_export.TABLES, targets, strict=True):
                _write(target, "".join(csv_export.stream(loaded.figures, table)))
        with db.write() as session:
            audit.record(
                session, cli_actor(), "report.exported", incident_id,
                format=form, draft=loaded.state == "draft", files=[str(t) for t in targets],
            )  # fmt: skip
    for target in targets:
        click.echo(str(target))


def _check_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise click.ClickException(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        raise click.ClickException(f"cannot write {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.ClickException(f"cannot write {path}: permission denied")


def _write(path: Path, content: str | bytes) -> None:
    """Whole or not at all: a temporary file in the same directory, then renamed."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(temporary, 0o666 & ~_umask())  # as open() would have made it
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
