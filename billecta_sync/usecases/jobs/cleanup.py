"""Nightly clean-up: finished inbox rows and old monitor history, deleted in small batches.

Open work (received, queued, processing, failed, dead inbox rows; running batches) is never touched:
only what nobody can act on any more is pruned.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from billecta_sync.container import Services
from billecta_sync.db import Database, InboxStatus, MonitorBatch, MonitorLog, MonitorStatus, WebhookInbox, utcnow

log = logging.getLogger(__name__)

FINISHED_INBOX = (InboxStatus.PROCESSED, InboxStatus.IGNORED, InboxStatus.DUPLICATE)
BATCH_SIZE = 1000  # rows per DELETE, so the database never holds a long lock


def _delete_in_batches(db: Database, model: type, condition: object) -> int:
    total = 0
    while True:
        with db.session() as session:
            ids = list(session.scalars(select(model.id).where(condition).limit(BATCH_SIZE)))  # type: ignore[attr-defined]
            if not ids:
                return total
            session.execute(delete(model).where(model.id.in_(ids)))  # type: ignore[attr-defined]
        total += len(ids)


def cleanup_old_records(db: Database, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    counts = {
        "inbox": _delete_in_batches(db, WebhookInbox, (WebhookInbox.status.in_(FINISHED_INBOX))
                                    & (WebhookInbox.received_at < cutoff)),
    }
    finished_batch = (MonitorBatch.status != MonitorStatus.RUNNING) & (MonitorBatch.updated_at < cutoff)
    old_batch_ids = select(MonitorBatch.id).where(finished_batch)
    # Logs of finished old batches, and stand-alone logs (no batch) that are old and finished.
    counts["monitor_logs"] = _delete_in_batches(
        db, MonitorLog,
        (MonitorLog.batch_id.in_(old_batch_ids))
        | (MonitorLog.batch_id.is_(None) & (MonitorLog.status != MonitorStatus.RUNNING)
           & (MonitorLog.updated_at < cutoff)))
    counts["monitor_batches"] = _delete_in_batches(
        db, MonitorBatch, finished_batch & ~exists().where(MonitorLog.batch_id == MonitorBatch.id))
    log.info("clean-up older than %s: %s", cutoff.isoformat(timespec="seconds"), counts)
    return counts


def cleanup_expired_records(services: Services) -> dict[str, int]:
    """The nightly job: everything older than RETENTION_DAYS."""
    return cleanup_old_records(services.db, services.settings.worker.retention_days)
