"""`tocsin` subcommands of one area each (drill, cap, report), registered by
coordinator/cli.py, which patches gevent before importing them.

Helpers shared by every command module live here.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

from coordinator.config import Settings
from coordinator.db import Database


def cli_actor() -> str:
    """The audit log's name for whoever ran the command: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return "cli:unknown"


@contextmanager
def database() -> Iterator[Database]:
    """The configured database (TOCSIN_DATABASE_URL), disposed of afterwards."""
    db = Database(Settings.from_env().database_url)
    try:
        yield db
    finally:
        db.dispose()
