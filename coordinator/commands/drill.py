"""`tocsin drill ...`: drills and the simulated city."""

from __future__ import annotations

import click


@click.group()
def drill() -> None:
    """Drills, drill schedules and a simulated city to rehearse on."""
