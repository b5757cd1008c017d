"""`tocsin cap ...`: CAP 1.2 documents in and out."""

from __future__ import annotations

import click


@click.group()
def cap() -> None:
    """CAP 1.2: import a document as an incident, export an incident's latest alert."""
