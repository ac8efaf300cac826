"""The integration monitor: one batch per user command, one log per object, settled when all are done.

Statuses follow the CRM package the service replaces: a log is running, ok or error; a batch is
running until every log has finished, then ok, or donewitherror when any log failed.

Every change the Lime copy must show (a log finishing, a batch starting, settling or failing) clears
``lime_synced_at`` in the same statement, which is how ``usecases/jobs/lime_monitor.py`` finds what to send.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from billecta_sync.db import NO_SYNC, Database, MonitorBatch, MonitorLog, MonitorStatus, utcnow


def create_batch(db: Database, title: str, operation: str, query_filter: Any = None,
                 params: dict[str, Any] | None = None) -> int:
    with db.session() as session:
        batch = MonitorBatch(title=title[:200], operation=operation, query_filter=query_filter,
                             params=params or {}, status=MonitorStatus.RUNNING)
        session.add(batch)
        session.flush()
        return batch.id


def add_logs(db: Database, batch_id: int | None, operation: str, limetype: str,
             object_ids: Iterable[object]) -> list[tuple[int, str]]:
    """Create one running log per object; returns ``(log_id, object_id)`` pairs in input order."""
    with db.session() as session:
        logs = [MonitorLog(batch_id=batch_id, operation=operation, limetype=limetype, object_id=str(oid))
                for oid in object_ids]
        session.add_all(logs)
        session.flush()
        return [(log.id, log.object_id) for log in logs]


def existing_logs(db: Database, batch_id: int) -> list[tuple[int, str]]:
    with db.session() as session:
        rows = session.execute(select(MonitorLog.id, MonitorLog.object_id)
                               .where(MonitorLog.batch_id == batch_id).order_by(MonitorLog.id))
        return [(int(i), str(o)) for i, o in rows]


def mark_batch_started(db: Database, batch_id: int, total: int, message: str = "") -> None:
    with db.session() as session:
        session.execute(update(MonitorBatch).where(MonitorBatch.id == batch_id)
                        .values(started=True, total=total, message=message[:4000], updated_at=utcnow(),
                                lime_synced_at=None))


def fail_batch(db: Database, batch_id: int, message: str) -> None:
    with db.session() as session:
        session.execute(update(MonitorBatch).where(MonitorBatch.id == batch_id)
                        .values(status=MonitorStatus.ERROR, message=message[:4000], ended_at=utcnow(),
                                updated_at=utcnow(), lime_synced_at=None))


def log_started(db: Database, log_id: int, task_id: str, correlation_id: str = "") -> None:
    """Mark a log running; ``correlation_id`` (of the command that started the batch) ties it to the logs."""
    values: dict[str, object] = {"status": MonitorStatus.RUNNING, "task_id": task_id[:64],
                                 "attempts": MonitorLog.attempts + 1, "updated_at": utcnow()}
    if correlation_id:
        values["correlation_id"] = correlation_id[:64]
    with db.session() as session:
        session.execute(update(MonitorLog).where(MonitorLog.id == log_id).values(**values), **NO_SYNC)


def log_note(db: Database, log_id: int, message: str) -> None:
    with db.session() as session:
        session.execute(update(MonitorLog).where(MonitorLog.id == log_id)
                        .values(message=message[:4000], updated_at=utcnow()))


def log_finished(db: Database, log_id: int, status: str, message: str = "") -> None:
    if status not in (MonitorStatus.OK, MonitorStatus.ERROR):
        raise ValueError(f"a log finishes ok or error, not {status!r}")
    with db.session() as session:
        session.execute(update(MonitorLog).where(MonitorLog.id == log_id)
                        .values(status=status, message=message[:4000], updated_at=utcnow(), lime_synced_at=None),
                        **NO_SYNC)


def settle_batches(
    db: Database, *, stale_after: timedelta | None = None, alive_task_ids: set[str] | None = None,
    now: datetime | None = None, only_batch: int | None = None,
) -> dict[str, int]:
    """Finish every running batch whose logs are all done.

    With ``stale_after``, logs still running after that long whose task no worker holds
    (``alive_task_ids``) are first marked error — the nightly force-complete — so no batch stays
    running forever.
    """
    now = now or utcnow()
    counts = {"settled": 0, "stale_logs": 0}
    with db.session() as session:
        if stale_after is not None:
            conditions = [MonitorLog.status == MonitorStatus.RUNNING, MonitorLog.updated_at < now - stale_after]
            if alive_task_ids:
                conditions.append(MonitorLog.task_id.not_in(sorted(alive_task_ids)))
            result = session.execute(
                update(MonitorLog)
                .where(*conditions)
                .values(status=MonitorStatus.ERROR, updated_at=now, lime_synced_at=None,
                        message="The task did not finish (lost or stuck); replay it from the dead letters.")
            )
            counts["stale_logs"] = int(result.rowcount)  # type: ignore[attr-defined]
        query = select(MonitorBatch).where(MonitorBatch.status == MonitorStatus.RUNNING,
                                           MonitorBatch.started.is_(True))
        if only_batch is not None:
            query = query.where(MonitorBatch.id == only_batch)
        running = session.scalars(query).all()
        for batch in running:
            # One index probe per question, not a count of the batch: this runs after every finished object.
            if _any_log(session, batch.id, MonitorStatus.RUNNING):
                continue
            last = session.scalar(select(func.max(MonitorLog.updated_at)).where(MonitorLog.batch_id == batch.id))
            batch.status = (MonitorStatus.DONE_WITH_ERROR if _any_log(session, batch.id, MonitorStatus.ERROR)
                            else MonitorStatus.OK)
            batch.ended_at = last or now
            batch.lime_synced_at = None
            counts["settled"] += 1
    return counts


def settle_batch(db: Database, batch_id: int) -> str:
    """Settle one batch if it can be; returns its status afterwards."""
    settle_batches(db, only_batch=batch_id)
    with db.session() as session:
        batch = session.get(MonitorBatch, batch_id)
        return batch.status if batch else ""


def _any_log(session: Session, batch_id: int, status: str) -> bool:
    return session.scalar(select(MonitorLog.id).where(MonitorLog.batch_id == batch_id, MonitorLog.status == status)
                          .limit(1)) is not None


def settle_batch_of_log(db: Database, log_id: int) -> None:
    """Settle the batch of a log that just finished, so a batch ends as soon as its last object does."""
    with db.session() as session:
        batch_id = session.scalar(select(MonitorLog.batch_id).where(MonitorLog.id == log_id))
    if batch_id is not None:
        settle_batches(db, only_batch=batch_id)


def batch_summary(db: Database, batch_id: int) -> dict[str, Any] | None:
    with db.session() as session:
        batch = session.get(MonitorBatch, batch_id)
        if batch is None:
            return None
        stats = dict(session.execute(
            select(MonitorLog.status, func.count()).where(MonitorLog.batch_id == batch_id)
            .group_by(MonitorLog.status)).all())
        logs = session.execute(
            select(MonitorLog.id, MonitorLog.limetype, MonitorLog.object_id, MonitorLog.status,
                   MonitorLog.message, MonitorLog.attempts)
            .where(MonitorLog.batch_id == batch_id).order_by(MonitorLog.id).limit(1000)).all()
        return {
            "id": batch.id,
            "title": batch.title,
            "operation": batch.operation,
            "status": batch.status,
            "total": batch.total,
            "started": bool(batch.started),
            "message": batch.message,
            "created_at": batch.created_at.isoformat() + "Z",
            "ended_at": batch.ended_at.isoformat() + "Z" if batch.ended_at else None,
            # Its integration_monitor_batch in Lime once the mirror has created it (LIME_MONITOR_MIRROR).
            "lime_id": batch.lime_id if batch.lime_id else None,
            "counts": {s: int(stats.get(s, 0)) for s in (MonitorStatus.RUNNING, MonitorStatus.OK,
                                                          MonitorStatus.ERROR)},
            "logs": [{"id": i, "limetype": lt, "object_id": oid, "status": st, "message": msg, "attempts": at}
                     for i, lt, oid, st, msg, at in logs],
        }


def unstarted_batches(db: Database, older_than_s: int = 60, now: datetime | None = None) -> list[int]:
    """Batches whose start task never ran (published while the broker was down, say)."""
    now = now or utcnow()
    with db.session() as session:
        return list(session.scalars(select(MonitorBatch.id).where(
            MonitorBatch.status == MonitorStatus.RUNNING, MonitorBatch.started.is_(False),
            MonitorBatch.created_at < now - timedelta(seconds=older_than_s))))


def running_batches(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(MonitorBatch)
                                  .where(MonitorBatch.status == MonitorStatus.RUNNING)) or 0)
