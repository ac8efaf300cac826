"""``inbox.record`` (the gateway's one write per webhook) on SQLite and on PostgreSQL: committed when it
returns, every column as the ORM reads it back, concurrent writers all stored, and errors as SQLAlchemy's."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, select, text
from sqlalchemy.exc import SQLAlchemyError

from billecta_sync import inbox
from billecta_sync.db import Database, InboxStatus, WebhookInbox, upgrade, utcnow

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BODY = '{"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a-1", "Note": "Räkning ÅÄÖ"}'


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    psycopg = pytest.importorskip("psycopg")
    admin = POSTGRES_ADMIN_URL.replace("+psycopg", "")
    name = f"billecta_sync_inbox_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_ADMIN_URL} ({type(exc).__name__})")
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    upgrade(database_url)
    database = Database(database_url, timeout_s=5)
    yield database
    database.dispose()


def read_elsewhere(url: str, inbox_id: int) -> WebhookInbox | None:
    """The row as a connection of its own sees it: only what is committed."""
    other = Database(url)
    try:
        with other.session() as session:
            return session.get(WebhookInbox, inbox_id)
    finally:
        other.dispose()


def test_a_recorded_delivery_is_committed_with_every_column(db: Database) -> None:
    before = utcnow()
    inbox_id = inbox.record(db, "billecta", {"Content-Type": "application/json", "X-Api-Key": "***"},
                            BODY.encode("utf-8"), "10.0.0.5", event_type="InvoiceActionAttested",
                            object_key="action:a-1", status=InboxStatus.QUEUED, correlation_id="cid-1")

    row = read_elsewhere(db.url, inbox_id)
    assert row is not None
    assert row.body == BODY
    assert row.body_sha256 == inbox.body_digest(BODY.encode("utf-8"))
    assert row.headers == {"Content-Type": "application/json", "X-Api-Key": "***"}
    assert (row.source, row.remote_addr, row.event_type, row.object_key) == (
        "billecta", "10.0.0.5", "InvoiceActionAttested", "action:a-1")
    assert (row.status, row.attempts, row.last_error, row.correlation_id) == (InboxStatus.QUEUED, 0, "", "cid-1")
    assert before - timedelta(seconds=1) <= row.received_at <= utcnow()
    assert row.updated_at == row.received_at
    assert (row.locked_until, row.next_attempt_at, row.processed_at) == (None, None, None)


def test_long_values_are_cut_to_their_columns(db: Database) -> None:
    inbox_id = inbox.record(db, "billecta", {}, b"{}", "x" * 100, event_type="E" * 150, object_key="k" * 300,
                            correlation_id="c" * 80)
    row = read_elsewhere(db.url, inbox_id)
    assert row is not None
    assert (len(row.remote_addr), len(row.event_type), len(row.object_key), len(row.correlation_id)) == (
        64, 100, 200, 64)


def test_concurrent_deliveries_are_all_stored_once(db: Database) -> None:
    ids: list[int] = []
    errors: list[BaseException] = []

    def deliver(n: int) -> None:
        try:
            for i in range(15):
                ids.append(inbox.record(db, "billecta", {}, f'{{"n": {n}, "i": {i}}}'.encode(),
                                        status=InboxStatus.QUEUED))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(ids)) == 90
    with db.session() as session:
        assert sorted(session.scalars(select(WebhookInbox.id))) == sorted(ids)


def test_a_failed_write_raises_sqlalchemys_error_and_stores_nothing(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE dead_letter"))  # it references the inbox
        conn.execute(text("DROP TABLE webhook_inbox"))
    with pytest.raises(SQLAlchemyError):
        inbox.record(db, "billecta", {}, b"{}")


def _plan(db: Database, statement: Select[Any]) -> str:
    """How the database runs ``statement`` with its parameters bound, as the service sends it."""
    compiled = statement.compile(db.engine, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    with db.engine.connect() as conn:
        if db.is_sqlite:
            positional = tuple(params[name] for name in compiled.positiontup or ())
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
            return " ".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")  # a handful of rows: make the planner show its index
        return " ".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", params))


def test_a_repeat_finds_the_handled_delivery_through_the_digest_index(db: Database) -> None:
    # The digest index holds handled rows only (the gateway's queued insert writes none of it), so the twin
    # lookup must state the index's condition for the database to use it rather than read every row.
    body = b'{"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a-9"}'
    first = inbox.record(db, "billecta", {}, body, status=InboxStatus.QUEUED)
    repeat = inbox.record(db, "billecta", {}, body, status=InboxStatus.QUEUED)
    with db.session() as session:
        row = session.get(WebhookInbox, repeat)
    assert row is not None
    assert inbox.earlier_twin(db, row) is None  # the first is not handled yet: no duplicate
    inbox.finish(db, first, InboxStatus.PROCESSED)
    assert inbox.earlier_twin(db, row) == first

    assert "ix_inbox_handled_sha256" in _plan(db, inbox.twin_query("billecta", row.body_sha256, repeat))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has no server to end one
def test_a_delivery_after_the_server_ended_the_kept_connection_is_stored(db: Database, database_url: str) -> None:
    # Each gateway thread keeps its own connection for the insert; a database restart ends it, and the next
    # webhook must still be stored (not answered 503) — as the pool's pre-ping would have it.
    psycopg = pytest.importorskip("psycopg")
    first = inbox.record(db, "billecta", {}, b'{"n": 1}', status=InboxStatus.QUEUED)
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        ended = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()
    assert ended is not None and ended[0] >= 1

    second = inbox.record(db, "billecta", {}, b'{"n": 2}', status=InboxStatus.QUEUED)
    with db.session() as session:
        assert sorted(session.scalars(select(WebhookInbox.id))) == [first, second]
