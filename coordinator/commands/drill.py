"""`tocsin drill ...`: drills and the simulated city."""

from __future__ import annotations

import json
import logging

import click

from coordinator.commands import cli_actor, database
from coordinator.errors import ValidationError
from coordinator.services import sim_city, sim_profiles

log = logging.getLogger("tocsin")


@click.group()
def drill() -> None:
    """Drills, drill schedules and a simulated city to rehearse on."""


@drill.command()
@click.option(
    "--responders",
    type=int,
    help="Simulated responders the city should have in all (tops up, never duplicates).",
)
@click.option(
    "--profile",
    "profile_options",
    multiple=True,
    metavar="AGENCY:SETTING=VALUE,...",
    help="Change an agency's answer profile, e.g. fire:answer_rate=0.9,delay_median_s=40 "
    f"(settings: {', '.join(sim_profiles.NAMES)}). Repeatable.",
)
@click.option("--remove", is_flag=True, help="Delete the simulated responders never alerted.")
@click.option("--seed", type=int, default=None, help="Random seed for names and positions.")
@click.option(
    "--push/--no-push",
    default=True,
    show_default=True,
    help="Send the profiles to a running provider simulator.",
)
def city(
    responders: int | None,
    profile_options: tuple[str, ...],
    remove: bool,
    seed: int | None,
    push: bool,
) -> None:
    """A city of simulated responders in the demo's agencies and teams, each agency with
    an answer profile; they are reached only through the provider simulator, by drills.

    Running it again tops the city up to --responders (nothing is duplicated; a
    smaller number removes nothing: use --remove).
    """
    if remove == (responders is not None):
        raise click.UsageError("give either --responders N or --remove")
    if remove and profile_options:
        raise click.UsageError("--profile goes with --responders, not --remove")
    with database() as db:
        if remove:
            removed, kept = sim_city.remove_city(db, cli_actor())
            click.echo(f"removed {removed:,} simulated responders never alerted; {kept:,} kept")
            return
        assert responders is not None
        try:
            report = sim_city.build_city(
                db, responders, profile_options, cli_actor(), progress=click.echo, seed=seed
            )
        except ValidationError as exc:
            raise click.ClickException(" ".join(exc.errors.values())) from None
        for name in report.created_agencies:
            click.echo(f"created agency {name}")
        for name in report.created_teams:
            click.echo(f"created team {name}")
        click.echo(
            f"simulated city: {report.total:,} responders ({report.created:,} new) in "
            f"{len(report.agencies)} agencies, {report.seconds:.1f} s"
        )
        if push:
            document = sim_profiles.export(db.session)
            _pushed, said = sim_profiles.push(sim_profiles.simulator_url(), document)
            click.echo(said)


@drill.command()
def profiles() -> None:
    """Print the agencies' answer profiles as JSON, for `tocsin simulate --profiles FILE`."""
    with database() as db:
        click.echo(json.dumps(sim_profiles.export(db.session), indent=2))


def push_stored_profiles(simulator_url: str) -> None:
    """Send the stored answer profiles to a simulator `tocsin run` just started; a
    database without them (or not migrated yet) sends nothing."""
    try:
        with database() as db:
            document = sim_profiles.export(db.session)
    except Exception as exc:  # noqa: BLE001 - a fresh install has no tables yet
        log.info("no answer profiles sent to the simulator: %s", type(exc).__name__)
        return
    if document["profiles"]:
        _pushed, said = sim_profiles.push(simulator_url, document)
        log.info("%s", said)
