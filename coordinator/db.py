"""Engine and sessions.

SQLite busy waits do not yield to gevent: a writer that blocks inside a
transaction stalls the whole process. So on SQLite every write transaction
takes one process-wide gevent-aware lock, stays short and does no I/O.
PostgreSQL needs no such lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10)
        # threading is patched by gevent: this lock and the scoped sessions are per greenlet.
        self._write_lock = threading.RLock() if self.is_sqlite else None
        self.sessions = scoped_session(sessionmaker(self.engine, expire_on_commit=False))

    @property
    def session(self) -> Session:
        """The session of the current greenlet (request or background loop)."""
        return self.sessions()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short write transaction: commit on success, roll back on error."""
        with self._write_lock or nullcontext():
            session = self.sessions()
            if self.is_sqlite and session.in_transaction():
                # A read transaction begun before the lock holds an old WAL
                # snapshot that SQLite refuses to upgrade to a write: end it.
                session.commit()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def remove(self) -> None:
        self.sessions.remove()

    def dispose(self) -> None:
        self.sessions.remove()
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
