"""Test fixtures. The test process runs under gevent, as every Tocsin process does."""

from gevent import monkey

monkey.patch_all()

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from broker.rabbit import RabbitTransport
from broker.topology import Topology

AMQP_URL = os.environ.get("TOCSIN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_URL = os.environ.get(
    "TOCSIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def need_service(name: str, url: str, port: int) -> None:
    """Skip (outside CI) or fail (in CI) when a server the test needs is not running."""
    if reachable(url, port):
        return
    message = f"{name} is not reachable at {urlparse(url).hostname}:{urlparse(url).port or port}"
    if IN_CI:
        pytest.fail(f"{message}; CI must start it", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")


_TOPOLOGIES: list[Topology] = []


def fresh_topology(**options: object) -> Topology:
    """A topology with a unique name prefix; whatever it declared on RabbitMQ is
    deleted at the end of the session, even after a failed or interrupted test
    (hundreds of leftover quorum queues slow the broker to a halt)."""
    topology = Topology(prefix=f"t{uuid.uuid4().hex[:8]}.", **options)  # type: ignore[arg-type]
    _TOPOLOGIES.append(topology)
    return topology


@pytest.fixture(autouse=True)
def _fresh_live_events() -> None:
    """Answers gathered for a room of an earlier test's app (incident ids repeat
    across test databases) must not hold back or join this test's."""
    from coordinator import live

    live.RESPONSES.clear()


@pytest.fixture(autouse=True)
def _delete_test_topologies(request: pytest.FixtureRequest) -> Iterator[None]:
    """Delete the RabbitMQ queues a test declared as soon as it ends: quorum
    queues kept until the end of the run add up to hundreds, each holding file
    handles, and a broker out of handles answers every declare with 541
    INTERNAL_ERROR."""
    first = len(_TOPOLOGIES)
    yield
    if "amqp_url" not in request.fixturenames:
        return
    for topology in _TOPOLOGIES[first:]:
        try:
            RabbitTransport(AMQP_URL, topology).delete_all()
        except Exception as exc:  # noqa: BLE001 - cleanup: report and go on
            print(f"could not delete test topology {topology.prefix}: {exc}")
    del _TOPOLOGIES[first:]


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    need_service("RabbitMQ", AMQP_URL, 5672)
    yield AMQP_URL
    for topology in _TOPOLOGIES:
        try:
            RabbitTransport(AMQP_URL, topology).delete_all()
        except Exception as exc:  # noqa: BLE001 - cleanup: report and go on
            print(f"could not delete test topology {topology.prefix}: {exc}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- databases: every database test runs on SQLite and on PostgreSQL --------

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from coordinator import migrate
from coordinator.app import create_app
from coordinator.config import Settings
from coordinator.context import Tocsin
from coordinator.seed import seed_demo

DEMO_PASSWORD = "test-password"
# The demo users' stored hash in tests: the same password, hashed cheaply. The
# default (scrypt, ~0.12 s) would cost that at every seed and every sign-in.
DEMO_HASH = generate_password_hash(DEMO_PASSWORD, method="pbkdf2:sha256:1000")
TWILIO_TOKEN = "test-auth-token"


def _pg_admin() -> psycopg.Connection:
    url = make_url(PG_URL)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
        autocommit=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test copies (fast, isolated)."""
    need_service("PostgreSQL", PG_URL, 5432)
    name = f"tocsin_tpl_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(str(make_url(PG_URL).set(database=name).render_as_string(False)))
    yield name
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database that each test copies (as pg_template)."""
    path = tmp_path_factory.mktemp("template") / "tocsin.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a whole, consistent copy whatever its WAL holds."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "tocsin.db"
        copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"tocsin_t_{uuid.uuid4().hex[:10]}"
    assert re.fullmatch(r"[a-z0-9_]+", name)
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(PG_URL).set(database=name).render_as_string(False)
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(db_url: str, public_url: str = "http://127.0.0.1:5000", **overrides) -> Settings:
    values = dict(
        database_url=db_url,
        amqp_url="",
        amqp_prefix="",
        secret_key="test-secret-key-" + "x" * 32,
        public_url=public_url,
        link_ttl_hours=24,
        tile_url="",
        tile_attribution="",
        twilio_auth_token=TWILIO_TOKEN,
        cookie_secure=False,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def app(settings: Settings):
    app = create_app(settings, TESTING=True)
    seed_demo(app.extensions["tocsin"].db, DEMO_PASSWORD, DEMO_HASH)
    yield app
    app.extensions["tocsin"].db.dispose()


@pytest.fixture
def tocsin(app) -> Tocsin:
    return app.extensions["tocsin"]


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, username: str = "commander", password: str = DEMO_PASSWORD):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
