"""The console alone on a real port (SQLite, demo city, no workers), for browser tests
of pages that need no notifier: cheaper than tests/helpers/system.py's whole hub.

    with serve_console(tmp_path) as console:
        page.goto(f"{console.url}/drills")
        console.tocsin.db.session ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from gevent.pywsgi import WSGIServer

from coordinator import migrate
from coordinator.app import create_app
from coordinator.context import Tocsin
from coordinator.seed import seed_demo
from tests.conftest import DEMO_HASH, DEMO_PASSWORD, free_port, make_settings


@dataclass(frozen=True)
class Console:
    url: str
    app: Flask
    tocsin: Tocsin


@contextmanager
def serve_console(folder: Path) -> Iterator[Console]:
    database = f"sqlite:///{folder / 'console.db'}"
    migrate.upgrade(database)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(database, public_url=url), TESTING=False)
    t = app.extensions["tocsin"]
    seed_demo(t.db, DEMO_PASSWORD, DEMO_HASH)
    server = WSGIServer(("127.0.0.1", port), app, log=None)
    server.start()
    try:
        yield Console(url, app, t)
    finally:
        server.stop(timeout=2)
        t.db.dispose()
