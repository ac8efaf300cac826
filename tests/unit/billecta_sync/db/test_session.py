"""``Database.thread_connection``: each thread keeps one connection for the inbox insert, and gives it up."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from billecta_sync import inbox
from billecta_sync.db import Base, Database, WebhookInbox


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'service.db'}")
    Base.metadata.create_all(database.engine)
    return database


def test_a_thread_keeps_its_connection_and_another_thread_gets_its_own(db: Database) -> None:
    mine = db.thread_connection()
    assert db.thread_connection() is mine
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(db.thread_connection()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    # kept out of the pool: the engine's own checkouts are not held up by it
    assert db.autocommit_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    db.dispose()


def test_dispose_closes_the_kept_connections(db: Database) -> None:
    kept = db.thread_connection()
    inbox.record(db, "billecta", {}, b"{}")
    db.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        kept.execute("SELECT 1")


def test_after_a_failed_write_the_next_one_uses_a_new_connection(db: Database) -> None:
    before = db.thread_connection()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE webhook_inbox RENAME TO webhook_inbox_away")
    with pytest.raises(Exception, match="webhook_inbox"):
        inbox.record(db, "billecta", {}, b"{}")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE webhook_inbox_away RENAME TO webhook_inbox")
    inbox_id = inbox.record(db, "billecta", {}, b"{}")
    assert db.thread_connection() is not before
    with db.session() as session:
        assert session.get(WebhookInbox, inbox_id) is not None
    db.dispose()


def test_an_in_memory_database_keeps_working_through_its_one_connection() -> None:
    db = Database("sqlite://")
    Base.metadata.create_all(db.engine)
    ids = [inbox.record(db, "billecta", {}, b"{}") for _ in range(3)]
    with db.session() as session:
        assert [row.id for row in session.query(WebhookInbox).order_by(WebhookInbox.id)] == ids
    db.dispose()
