"""Engine and session handling for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


DEFAULT_TIMEOUT_S = 30.0

#: ``Session.execute`` options for an UPDATE run in a session that has loaded nothing (a one-statement
#: ``Database.session()`` block): there are no objects to keep in step with it, and the ORM's default
#: ("evaluate") cost a per-object task more interpreter time than the statement itself.
NO_SYNC: dict[str, Any] = {"execution_options": {"synchronize_session": False}}


def _sqlite_pragmas(timeout_s: float) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the gateway write while workers read; busy_timeout makes writers queue up instead of
        # failing at once when several processes share the file.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        # NORMAL in WAL mode: a commit is appended to the WAL but not fsynced; the WAL is fsynced when it is
        # checkpointed (every 1000 pages). A crash of the process loses nothing committed; a power loss or
        # OS crash can lose the commits since the last checkpoint, never the file's consistency
        # (docs/operations.md, "Ingest").
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return apply


#: connections a pool keeps, and how many more it opens in a burst, for a process running one task at a time
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10


def make_engine(url: str, timeout_s: float = DEFAULT_TIMEOUT_S, *, pool_size: int = DEFAULT_POOL_SIZE,
                max_overflow: int = DEFAULT_MAX_OVERFLOW, autocommit: bool = False) -> Engine:
    """``timeout_s`` bounds how long one statement waits (a lock, a slow server): the gateway uses a short
    one so a webhook answers 503 (and is delivered again) instead of holding its sender. A thread-pool worker
    sizes the pool to its threads (``pool_size``, ``max_overflow``), or they would queue for connections.
    ``autocommit``: every statement is committed as it completes (see ``Database.autocommit_engine``)."""
    parsed = make_url(url)
    isolation: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        pool: dict[str, Any] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": timeout_s}
        engine = create_engine(url, connect_args={"timeout": timeout_s, "check_same_thread": False}, **pool,
                               **isolation)
        event.listen(engine, "connect", _sqlite_pragmas(timeout_s))
        return engine
    ms = int(timeout_s * 1000)
    connect_args = {"connect_timeout": max(1, int(timeout_s)),
                    "options": f"-c statement_timeout={ms} -c lock_timeout={ms}"}
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow,
                         pool_timeout=timeout_s, connect_args=connect_args, **isolation)


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S, *, pool_size: int = DEFAULT_POOL_SIZE,
                 max_overflow: int = DEFAULT_MAX_OVERFLOW) -> None:
        self.url = url
        self.engine = make_engine(url, timeout_s, pool_size=pool_size, max_overflow=max_overflow)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._engine_args: dict[str, Any] = {"timeout_s": timeout_s, "pool_size": pool_size,
                                             "max_overflow": max_overflow}
        self._autocommit: Engine | None = None
        self._autocommit_lock = threading.Lock()
        self._held = threading.local()  # each thread's (fork count, DBAPI connection, ...): thread_connection
        self._all_held: list[Any] = []

    @property
    def autocommit_engine(self) -> Engine:
        """The same database with each statement committed as it completes, for a write that is a single
        statement (the gateway's inbox insert): no BEGIN and COMMIT around it — two round trips fewer on
        PostgreSQL, and SQLite's write lock held only while the statement runs. Made on first use; an
        in-memory SQLite database (a second engine would open another one) gets ``engine`` itself."""
        if self._autocommit is None:
            with self._autocommit_lock:
                if self._autocommit is None:
                    in_memory = self.is_sqlite and self.engine.url.database in (None, "", ":memory:")
                    self._autocommit = self.engine if in_memory else make_engine(
                        self.url, autocommit=True, **self._engine_args)
        return self._autocommit

    def thread_connection(self) -> Any:
        """The calling thread's own DBAPI connection of ``autocommit_engine``, kept between calls, for a write
        made on every request (the gateway's inbox insert): a pool checkout and check-in cost as much as
        SQLite's whole insert. Opened through the pool, so the engine's connect hooks (pragmas) ran, then
        taken out of it; ``dispose`` closes it. A connection opened before a fork is never used after it."""
        held = getattr(self._held, "connection", None)
        if held is None or held[0] != _forks:
            fairy = self.autocommit_engine.raw_connection()
            connection = fairy.dbapi_connection
            if self.autocommit_engine is self.engine:
                # An in-memory database lives in its one connection: it stays checked out of the pool (which
                # hands this thread that same connection on every checkout) and is never closed here.
                held = self._held.connection = (_forks, connection, fairy)
            else:
                fairy.detach()  # the pool opens another for everyone else
                held = self._held.connection = (_forks, connection, None)
                with self._autocommit_lock:
                    self._all_held.append(connection)
        return held[1]

    def drop_thread_connection(self) -> None:
        """Close the calling thread's connection (after an error); the next ``thread_connection`` opens one."""
        held = getattr(self._held, "connection", None)
        self._held.connection = None
        if held is not None and held[0] == _forks and held[2] is None:
            with self._autocommit_lock:
                if held[1] in self._all_held:
                    self._all_held.remove(held[1])
            _close_quietly(held[1])

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        with self._autocommit_lock:
            held, self._all_held = self._all_held, []
        for connection in held:
            _close_quietly(connection)
        self.engine.dispose()
        if self._autocommit is not None and self._autocommit is not self.engine:
            self._autocommit.dispose()


#: bumped in a forked child, so no thread there uses a connection its parent opened
_forks = 0


def _after_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_after_fork)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # already broken: dropping it was the point
        pass


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (creating the SQLite file if needed)."""
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite parent directory
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
