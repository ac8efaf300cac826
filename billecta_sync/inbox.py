"""The durable webhook inbox: every inbound request is a row before it is acknowledged.

Workers claim a row with one conditional UPDATE, so a redelivered task, a replay and the sweeper can
never process the same row twice at the same time; a claim is a lease, so a worker killed mid-way
does not strand the row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from billecta_sync.db import Database, InboxStatus, WebhookInbox, utcnow

# Credentials are checked, never stored.
_SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization", "x-lime-signature"}


def redact_headers(headers: Mapping[str, str], extra_secret: Iterable[str] = ()) -> dict[str, str]:
    secret = _SECRET_HEADERS | {h.lower() for h in extra_secret}
    return {k: ("***" if k.lower() in secret else v) for k, v in headers.items()}


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
    """Persist one delivery and return its id (committed when this returns)."""
    with db.session() as session:
        row = WebhookInbox(
            source=source,
            headers=dict(headers),
            body=body.decode("utf-8", errors="replace"),
            body_sha256=body_digest(body),
            remote_addr=remote_addr[:64],
            event_type=event_type[:100],
            object_key=object_key[:200],
            status=status,
            last_error=last_error,
            correlation_id=correlation_id[:64],
        )
        session.add(row)
        session.flush()
        return row.id


def mark_queued(db: Database, inbox_id: int) -> bool:
    with db.session() as session:
        result = session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id, WebhookInbox.status == InboxStatus.RECEIVED)
            .values(status=InboxStatus.QUEUED, updated_at=utcnow())
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def mark_received(db: Database, inbox_id: int) -> bool:
    """Undo an optimistic ``queued`` when publishing failed, so the row shows it still waits."""
    with db.session() as session:
        result = session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.id == inbox_id, WebhookInbox.status == InboxStatus.QUEUED)
            .values(status=InboxStatus.RECEIVED, updated_at=utcnow())
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
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id).values(**values))


def fail(db: Database, inbox_id: int, error: str, *, final: bool, retry_in_s: float = 0) -> None:
    values: dict[str, Any] = {
        "status": InboxStatus.DEAD if final else InboxStatus.FAILED,
        "last_error": error[:4000],
        "locked_until": None,
        "next_attempt_at": None if final else utcnow() + timedelta(seconds=retry_in_s),
        "updated_at": utcnow(),
    }
    with db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id).values(**values))


def earlier_twin(db: Database, row: WebhookInbox) -> int | None:
    """An earlier row with the same source and body that was already handled, if any."""
    with db.session() as session:
        return session.scalar(
            select(WebhookInbox.id)
            .where(
                WebhookInbox.source == row.source,
                WebhookInbox.body_sha256 == row.body_sha256,
                WebhookInbox.id != row.id,
                WebhookInbox.status.in_((InboxStatus.PROCESSED, InboxStatus.IGNORED)),
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
            .values(status=InboxStatus.RECEIVED, locked_until=None, next_attempt_at=None, updated_at=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def counts_by_status(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(WebhookInbox.status, func.count()).group_by(WebhookInbox.status))
        return {status: int(count) for status, count in rows}


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
