"""The durable webhook inbox: every inbound request is a row before it is acknowledged.

Workers claim a row with one conditional UPDATE, so a redelivered task, a replay and the sweeper can
never process the same row twice at the same time; a claim is a lease, so a worker killed mid-way
does not strand the row.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from billecta_sync.db import INBOX_HANDLED, NO_SYNC, Database, InboxStatus, WebhookInbox, utcnow

# Credentials are checked, never stored.
_SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization", "x-lime-signature"}


#: what a credential's value is stored as
REDACTED = "***"


def secret_header_names(extra_secret: Iterable[str] = ()) -> frozenset[str]:
    """The lowered names of the headers whose values are never stored: credentials, and ``extra_secret``."""
    return frozenset(_SECRET_HEADERS | {h.lower() for h in extra_secret})


def redact_headers(headers: Mapping[str, str], extra_secret: Iterable[str] = ()) -> dict[str, str]:
    secret = secret_header_names(extra_secret)
    return {k: (REDACTED if k.lower() in secret else v) for k, v in headers.items()}


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def record(
    db: Database,
    source: str,
    headers: Mapping[str, str],
    body: bytes,
    remote_addr: str = "",
    *,
    event_type: str = "",
    object_key: str = "",
    status: str = InboxStatus.RECEIVED,
    last_error: str = "",
    correlation_id: str = "",
) -> int:
    """Persist one delivery and return its id (committed when this returns).

    The gateway calls this for every webhook: one INSERT, committed as it completes, on a DBAPI connection
    the calling thread keeps (``_RawInsert``).
    """
    now = utcnow()
    values = {
        "source": source,
        "received_at": now,
        "headers": dict(headers),
        "body": body.decode("utf-8", errors="replace"),
        "body_sha256": body_digest(body),
        "remote_addr": remote_addr[:64],
        "event_type": event_type[:100],
        "object_key": object_key[:200],
        "status": status,
        "attempts": 0,
        "last_error": last_error,
        "correlation_id": correlation_id[:64],
    }
    engine = db.autocommit_engine
    statement = _RawInsert.for_dialect(engine.dialect)
    # SQLite takes one writer at a time, and a writer that finds the file locked sleeps in SQLite's busy
    # handler (1, 2, 5, 10 ms...) rather than being woken: this process's threads queue on a lock instead,
    # so only other processes ever meet a locked file.
    with _WRITE_LOCK if db.is_sqlite else nullcontext():
        return statement.run(db, values)


class _RawInsert:
    """The inbox INSERT as SQLAlchemy compiles it for a dialect, run on a raw DBAPI connection of the pool.

    Core's execution machinery (cache lookup, execution context, result object) cost more CPU per webhook
    than SQLite's own work on the insert. The statement and its type conversions are still SQLAlchemy's
    (``compile``, each column type's ``bind_processor``), and errors are raised as SQLAlchemy's, as
    ``Connection.execute`` would raise them.
    """

    #: per dialect (each engine has its own): what is compiled depends on the driver and the server
    _compiled: weakref.WeakKeyDictionary[Dialect, _RawInsert] = weakref.WeakKeyDictionary()

    def __init__(self, dialect: Dialect) -> None:
        table = WebhookInbox.__table__
        # SQLite hands out the id as lastrowid; RETURNING would take a second step of the statement (each one
        # lets another thread take the interpreter lock) before the insert is finished and committed.
        self.returning = dialect.name != "sqlite"
        statement = insert(table).returning(table.c.id) if self.returning else insert(table)
        compiled = statement.compile(dialect=dialect, column_keys=list(_COLUMNS))
        self.sql = str(compiled)
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.processors = {name: process for name in _COLUMNS
                           if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))}

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _RawInsert:
        statement = cls._compiled.get(dialect)
        if statement is None:
            statement = cls._compiled[dialect] = cls(dialect)
        return statement

    def run(self, db: Database, values: Mapping[str, Any]) -> int:
        bound = {name: self.processors[name](value) if name in self.processors else value
                 for name, value in values.items()}
        bound["updated_at"] = bound["received_at"]  # a new row was last changed when it arrived
        params: Any = tuple(bound[name] for name in self.order) if self.order is not None else bound
        # Not kept on self: a value of ``_compiled`` holding its own key would keep every engine's dialect alive.
        dialect = db.autocommit_engine.dialect
        dbapi_error = dialect.loaded_dbapi.Error
        for attempt in (1, 2):
            connection = db.thread_connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(self.sql, params)
                    inbox_id = cursor.fetchall()[0][0] if self.returning else cursor.lastrowid
                finally:
                    cursor.close()
                connection.commit()  # a no-op under autocommit
                return int(inbox_id)
            except dbapi_error as exc:
                disconnected = dialect.is_disconnect(exc, connection, None)
                db.drop_thread_connection()
                if disconnected and attempt == 1:
                    # The server closed the connection this thread held (a restart, an idle timeout): the
                    # insert is made once more on a new one, as the pool's pre-ping would have found it dead.
                    # Had the lost one committed after all, the second row is a repeat of the same body,
                    # which processing marks duplicate (as it would Billecta's redelivery after a 503).
                    continue
                raise DBAPIError.instance(self.sql, params, exc, dbapi_error, dialect=dialect) from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


_COLUMNS = ("source", "received_at", "updated_at", "headers", "body", "body_sha256", "remote_addr", "event_type",
            "object_key", "status", "attempts", "last_error", "correlation_id")
_WRITE_LOCK = threading.Lock()


def mark_queued(db: Database, inbox_id: int) -> bool:
    with db.session() as session:
        result = session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id, WebhookInbox.status == InboxStatus.RECEIVED)
            .values(status=InboxStatus.QUEUED, updated_at=utcnow()),
            **NO_SYNC,
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def mark_received(db: Database, inbox_id: int) -> bool:
    """Undo an optimistic ``queued`` when publishing failed, so the row shows it still waits."""
    with db.session() as session:
        result = session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id, WebhookInbox.status == InboxStatus.QUEUED)
            .values(status=InboxStatus.RECEIVED, updated_at=utcnow()),
            **NO_SYNC,
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def claim(db: Database, inbox_id: int, lease_s: int = 300, now: datetime | None = None) -> WebhookInbox | None:
    """Take the row for processing; ``None`` when it is finished or someone else holds a live lease."""
    now = now or utcnow()
    with db.session() as session:
        result = session.execute(
            update(WebhookInbox)
            .where(
                WebhookInbox.id == inbox_id,
                or_(
                    WebhookInbox.status.in_(InboxStatus.CLAIMABLE),
                    and_(WebhookInbox.status == InboxStatus.PROCESSING, WebhookInbox.locked_until < now),
                ),
            )
            .values(
                status=InboxStatus.PROCESSING,
                attempts=WebhookInbox.attempts + 1,
                locked_until=now + timedelta(seconds=lease_s),
                updated_at=now,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(WebhookInbox, inbox_id)


def finish(
    db: Database, inbox_id: int, status: str, *, error: str = "", event_type: str | None = None,
    object_key: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "last_error": error[:4000], "locked_until": None,
                              "updated_at": utcnow()}
    if status in (InboxStatus.PROCESSED, InboxStatus.IGNORED, InboxStatus.DUPLICATE):
        values["processed_at"] = utcnow()
        values["next_attempt_at"] = None
    if event_type is not None:
        values["event_type"] = event_type[:100]
    if object_key is not None:
        values["object_key"] = object_key[:200]
    with db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id).values(**values), **NO_SYNC)


def fail(db: Database, inbox_id: int, error: str, *, final: bool, retry_in_s: float = 0) -> None:
    values: dict[str, Any] = {
        "status": InboxStatus.DEAD if final else InboxStatus.FAILED,
        "last_error": error[:4000],
        "locked_until": None,
        "next_attempt_at": None if final else utcnow() + timedelta(seconds=retry_in_s),
        "updated_at": utcnow(),
    }
    with db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id).values(**values), **NO_SYNC)


def earlier_twin(db: Database, row: WebhookInbox) -> int | None:
    """An earlier row with the same source and body that was already handled, if any."""
    with db.session() as session:
        return session.scalar(twin_query(row.source, row.body_sha256, row.id))


def twin_query(source: str, body_sha256: str, other_than: int) -> Select[tuple[int]]:
    """The handled rows of ``source`` with this body digest, bar row ``other_than`` (one is enough)."""
    return (
        select(WebhookInbox.id)
        .where(
            WebhookInbox.source == source,
            WebhookInbox.body_sha256 == body_sha256,
            WebhookInbox.id != other_than,
            INBOX_HANDLED,  # as the partial index states it, so the index is used
        )
        .limit(1)
    )


def claim_unique(db: Database, inbox_id: int, lease_s: int = 300) -> tuple[WebhookInbox | None, str]:
    """Claim a row for processing unless it is taken or finished, or repeats a delivery already handled.

    Returns the claimed row, or ``None`` with the reason it was not processed (a repeat is marked
    duplicate here, so it has no second effect).
    """
    row = claim(db, inbox_id, lease_s)
    if row is None:
        return None, f"inbox row {inbox_id} is finished or being processed elsewhere"
    twin = earlier_twin(db, row)
    if twin is not None:
        finish(db, inbox_id, InboxStatus.DUPLICATE, error=f"same delivery as inbox row {twin}")
        return None, f"duplicate of inbox row {twin}"
    return row, ""


def stuck_ids(db: Database, older_than_s: int = 120, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Rows that should be in the queue but may not be: never published, lost, or due for retry."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    with db.session() as session:
        rows = session.scalars(
            select(WebhookInbox.id)
            .where(
                or_(
                    and_(WebhookInbox.status.in_((InboxStatus.RECEIVED, InboxStatus.QUEUED)),
                         WebhookInbox.updated_at < cutoff),
                    and_(WebhookInbox.status == InboxStatus.PROCESSING, WebhookInbox.locked_until < now),
                    and_(WebhookInbox.status == InboxStatus.FAILED, WebhookInbox.next_attempt_at < cutoff),
                )
            )
            .order_by(WebhookInbox.id)
            .limit(limit)
        )
        return list(rows)


def select_for_replay(
    db: Database, *, ids: Iterable[int] = (), status: str | None = None, since: datetime | None = None,
    until: datetime | None = None, source: str | None = None, limit: int = 10_000,
) -> list[int]:
    conditions = []
    ids = list(ids)
    if ids:
        conditions.append(WebhookInbox.id.in_(ids))
    if status:
        conditions.append(WebhookInbox.status == status)
    if since:
        conditions.append(WebhookInbox.received_at >= since)
    if until:
        conditions.append(WebhookInbox.received_at < until)
    if source:
        conditions.append(WebhookInbox.source == source)
    if not conditions:
        raise ValueError("say which rows to replay: ids, a status or a time range")
    with db.session() as session:
        return list(session.scalars(select(WebhookInbox.id).where(*conditions).order_by(WebhookInbox.id).limit(limit)))


def reset_for_replay(db: Database, ids: Iterable[int]) -> int:
    """Put rows back to ``received`` (keeping their attempt count) so they are processed again."""
    ids = list(ids)
    if not ids:
        return 0
    with db.session() as session:
        result = session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id.in_(ids), WebhookInbox.status != InboxStatus.PROCESSING)
            .values(status=InboxStatus.RECEIVED, locked_until=None, next_attempt_at=None, updated_at=utcnow()),
            **NO_SYNC,
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def counts_by_status(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(WebhookInbox.status, func.count()).group_by(WebhookInbox.status))
        return {status: int(count) for status, count in rows}


def oldest_open(db: Database) -> datetime | None:
    """When the oldest row still received, queued, processing or failed came in (None: nothing open)."""
    with db.session() as session:
        return session.scalar(select(func.min(WebhookInbox.received_at))
                              .where(WebhookInbox.status.in_(InboxStatus.OPEN)))


def parse_json(row: WebhookInbox) -> Any:
    return json.loads(row.body)


def sources_of(db: Database, ids: Iterable[int]) -> dict[int, str]:
    """Each row's source, so a sweeper or replay publishes the task of the right kind."""
    ids = list(ids)
    if not ids:
        return {}
    with db.session() as session:
        return dict(session.execute(select(WebhookInbox.id, WebhookInbox.source)
                                    .where(WebhookInbox.id.in_(ids))).all())
