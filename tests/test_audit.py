"""The audit log's hash chain: every entry carries the hash of the one before,
`tocsin audit verify` finds an edited, deleted or unhashed row, and concurrent
writers never fork the chain."""

import re
import uuid
from datetime import UTC, datetime

import gevent
import pytest
from click.testing import CliRunner
from gevent.event import Event
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from coordinator import migrate
from coordinator.cli import cli
from coordinator.db import Database
from coordinator.models import Agency, AuditEvent
from coordinator.services import audit
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import PG_URL, _pg_admin, login, need_service
from tests.helpers import wait_until


def record_some(tocsin, n: int = 5) -> list[int]:
    with tocsin.db.write() as session:
        for i in range(n):
            audit.record(session, "user:commander", "test.action", None, step=i, note="ok")
    return list(tocsin.db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def verify_cli(db_url: str, *args: str):
    env = {"TOCSIN_DATABASE_URL": db_url, "TOCSIN_SECRET_KEY": "x" * 40}
    return CliRunner().invoke(cli, ["audit", "verify", *args], env=env)


def raw(tocsin, sql: str, **params) -> None:
    with tocsin.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_it_chains_each_entry_onto_the_one_before(tocsin):
    ids = record_some(tocsin)
    rows = tocsin.db.session.execute(
        select(AuditEvent.prev_hash, AuditEvent.hash).order_by(AuditEvent.id)
    ).all()
    assert len(rows) == len(ids) >= 6  # the demo seed's entry and ours
    assert rows[0].prev_hash is None
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in rows}) == len(rows)
    assert audit.verify(tocsin.db.session).intact


def test_it_hashes_what_the_database_gives_back(tocsin):
    """Details are stored as canonical JSON, so odd values (times, tuples, sets) hash
    the same when read back from either database."""
    with tocsin.db.write() as session:
        audit.record(
            session, "system:test", "odd.detail", None,
            when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), pair=(1, 2), tags={"b", "a"},
            nested={"z": 1, "a": [1.5, None, True]},
        )  # fmt: skip
    tocsin.db.remove()
    event = tocsin.db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.detail["when"] == "2026-01-02T03:04:05+00:00"
    assert event.detail["tags"] == ["a", "b"]
    assert audit.verify(tocsin.db.session).intact


def test_it_says_an_intact_chain_is_intact(tocsin, db_url):
    ids = record_some(tocsin)
    result = verify_cli(db_url)
    assert result.exit_code == 0, result.output
    assert f"audit: {len(ids)} entries, chain intact" in result.stdout
    assert f"head is row {ids[-1]}" in result.stdout


def test_it_names_a_row_whose_detail_was_edited(tocsin, db_url):
    ids = record_some(tocsin)
    edited = ids[3]
    raw(tocsin, "UPDATE audit_event SET detail = :d WHERE id = :id", d='{"step": 99}', id=edited)
    result = verify_cli(db_url)
    assert result.exit_code == 1
    assert f"row {edited}: hash does not match its content (the row was edited)" in result.stdout
    assert "chain broken" in result.stdout
    # only that row is wrong: the next one still follows its stored hash
    assert f"row {ids[4]}" not in result.stdout


def test_it_names_the_gap_a_deleted_row_leaves(tocsin, db_url):
    ids = record_some(tocsin)
    raw(tocsin, "DELETE FROM audit_event WHERE id = :id", id=ids[2])
    result = verify_cli(db_url)
    assert result.exit_code == 1
    assert (
        f"row {ids[3]}: prev_hash does not match the hash of row {ids[1]} "
        f"(a row between {ids[1]} and {ids[3]} was deleted" in result.stdout
    )
    assert f"audit: {len(ids) - 1} entries, 1 problem(s): chain broken" in result.stdout


def test_it_notices_the_first_rows_were_deleted(tocsin, db_url):
    ids = record_some(tocsin)
    raw(tocsin, "DELETE FROM audit_event WHERE id <= :id", id=ids[1])
    result = verify_cli(db_url)
    assert result.exit_code == 1
    assert f"row {ids[2]}: prev_hash points at a row that is not there" in result.stdout


def test_it_names_a_row_without_a_hash(tocsin, db_url):
    record_some(tocsin, 2)
    raw(
        tocsin,
        "INSERT INTO audit_event (at, actor, action, detail) VALUES (:at, 'someone', 'x', '{}')",
        at="2026-01-01 00:00:00",
    )
    bad = tocsin.db.session.scalar(select(func.max(AuditEvent.id)))
    result = verify_cli(db_url)
    assert result.exit_code == 1
    assert f"row {bad}: has no hash" in result.stdout


def test_it_reports_progress_on_stderr_during_long_walks(tocsin, db_url):
    ids = record_some(tocsin, 5)
    result = verify_cli(db_url, "--progress-every", "2")
    assert result.exit_code == 0
    assert "audit: 2 entries checked" in result.stderr
    assert "audit: 4 entries checked" in result.stderr
    assert "checked" not in result.stdout
    assert f"audit: {len(ids)} entries, chain intact" in result.stdout


def test_it_keeps_one_chain_while_writers_race(tocsin):
    """Several greenlets, each its own session and transaction, record at once; a
    yield between two records of one transaction lets the others try to chain in.
    On PostgreSQL only the advisory lock keeps them from sharing a predecessor."""
    before = tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent))
    tocsin.db.remove()

    def writer(n: int) -> None:
        database = tocsin.db
        try:
            for i in range(8):
                with database.write() as session:
                    audit.record(session, f"system:w{n}", "race.first", None, i=i)
                    gevent.sleep(0.001)
                    audit.record(session, f"system:w{n}", "race.second", None, i=i)
        finally:
            database.remove()

    gevent.joinall([gevent.spawn(writer, n) for n in range(6)], raise_error=True)
    result = audit.verify(tocsin.db.session)
    assert result.entries == before + 6 * 8 * 2
    assert result.intact, result.reported


def test_it_forgets_entries_of_work_rolled_back(tocsin):
    before = rows_now(tocsin)
    with pytest.raises(RuntimeError), tocsin.db.write() as session:
        audit.record(session, "system:test", "never.happened")
        raise RuntimeError("the action failed")
    with tocsin.db.write() as session:
        audit.record(session, "system:test", "kept.outer")
        savepoint = session.begin_nested()
        audit.record(session, "system:test", "undone.inner")
        savepoint.rollback()
        with session.begin_nested():
            audit.record(session, "system:test", "kept.inner")
    assert rows_now(tocsin)[len(before) :] == ["kept.outer", "kept.inner"]
    assert audit.verify(tocsin.db.session).intact


def test_it_drops_entries_of_a_session_closed_without_commit(tocsin):
    before = rows_now(tocsin)
    session = tocsin.db.session
    audit.record(session, "system:test", "abandoned")
    session.close()
    with tocsin.db.write() as write:
        audit.record(write, "system:test", "committed")
    assert rows_now(tocsin)[len(before) :] == ["committed"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_it_holds_the_chain_only_while_committing(tocsin):
    """A records, then needs a row B has locked; B, holding it, records and commits.
    Were the chain locked from A's record() on, each would wait for the other and
    PostgreSQL would abort one of them as a deadlock."""
    b_holds_row = Event()

    def a() -> None:
        with tocsin.db.write() as session:
            audit.record(session, "system:a", "a.recorded")
            b_holds_row.wait()
            session.execute(update(Agency).where(Agency.slug == "council").values(name="A"))
        tocsin.db.remove()

    def b() -> None:
        with tocsin.db.write() as session:
            session.execute(update(Agency).where(Agency.slug == "council").values(name="B"))
            b_holds_row.set()
            wait_until(lambda: waiting_for_locks(tocsin), what="A to wait for the row")
            audit.record(session, "system:b", "b.recorded")
        tocsin.db.remove()

    gevent.joinall([gevent.spawn(a), gevent.spawn(b)], raise_error=True)
    assert rows_now(tocsin)[-2:] == ["b.recorded", "a.recorded"]
    assert audit.verify(tocsin.db.session).intact


def waiting_for_locks(tocsin) -> bool:
    with tocsin.db.engine.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))


def rows_now(tocsin) -> list[str]:
    tocsin.db.remove()
    return list(tocsin.db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_it_verifies_a_chain_streamed_in_small_batches(tocsin):
    ids = record_some(tocsin, 7)
    seen: list[int] = []
    result = audit.verify(tocsin.db.session, batch=2, progress=seen.append, every=3)
    assert result.intact and result.entries == len(ids)
    assert seen == list(range(3, len(ids) + 1, 3))


@pytest.fixture(params=["sqlite", "postgres"])
def bare_url(request, tmp_path):
    """An empty database (not migrated), for the migration's own data step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bare.db'}"
        return
    need_service("PostgreSQL", PG_URL, 5432)
    name = f"tocsin_m_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(False)
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_it_chains_rows_written_before_the_chain_existed(bare_url):
    migrate.upgrade(bare_url, "0002")
    engine = create_engine(bare_url)
    with engine.begin() as conn:
        for i in range(1, 2502):  # more than one page of the migration's walk
            conn.execute(
                text(
                    "INSERT INTO audit_event (at, actor, action, detail) "
                    "VALUES (:at, 'system:old', 'old.action', :detail)"
                ),
                {"at": f"2026-01-01 00:00:{i % 60:02d}", "detail": f'{{"n": {i}}}'},
            )
    engine.dispose()
    migrate.upgrade(bare_url)
    database = Database(bare_url)
    try:
        session = database.session
        assert session.scalar(select(func.count()).where(AuditEvent.hash.is_(None))) == 0
        result = audit.verify(session)
        assert result.intact and result.entries == 2501
        with database.write() as write:  # new entries chain onto the old ones
            audit.record(write, "system:test", "after.migration")
        assert audit.verify(database.session).intact
    finally:
        database.dispose()


# --- the console page -----------------------------------------------------------


def test_it_lists_the_newest_entries_first_for_admins(client, tocsin):
    record_some(tocsin, 3)
    login(client, "admin")
    page = client.get("/audit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'data-audit="(\d+)"', html)]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 4
    assert "test.action" in html and "user:commander" in html


def test_it_filters_the_audit_page_by_incident(client, tocsin):
    form = IncidentForm(
        title="Filter me", kind="fire", severity="minor", lat="51.45", lon="-2.58",
        message="x", agency_slugs=["council"],
    )  # fmt: skip
    with tocsin.db.write() as session:
        incident = declare_incident(session, form, None, tocsin.links, actor="system:test")
    login(client, "admin")
    html = client.get(f"/audit?incident={incident.id}").get_data(as_text=True)
    assert "incident.declared" in html and "alert.sent" in html
    assert "demo.seeded" not in html and "user.login" not in html


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "99999999999"])
def test_it_refuses_a_bad_incident_filter_clearly(client, bad):
    login(client, "admin")
    page = client.get("/audit", query_string={"incident": bad})
    assert page.status_code == 400
    assert "Incident must be a number" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "username", ["commander", "dispatcher", "observer", "fire-coordinator", "police-coordinator"]
)
def test_it_shows_the_audit_log_to_admins_only(client, username):
    login(client, username)
    assert client.get("/audit").status_code == 403


def test_it_sends_the_signed_out_to_the_login_page(client):
    page = client.get("/audit")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
