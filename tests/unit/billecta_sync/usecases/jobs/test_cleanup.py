"""The nightly clean-up deletes only finished, old rows: open work and recent history stay."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from billecta_sync.db import Database, InboxStatus, MonitorBatch, MonitorLog, MonitorStatus, WebhookInbox
from billecta_sync.usecases.jobs import cleanup
from billecta_sync.usecases.jobs.cleanup import cleanup_old_records

NOW = datetime(2026, 11, 21, 2, 15)
OLD = NOW - timedelta(days=91)
RECENT = NOW - timedelta(days=89)


def inbox_row(status: str, at: datetime) -> WebhookInbox:
    return WebhookInbox(source="billecta", body="{}", body_sha256=f"{status}{at}", status=status, received_at=at)


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_old_finished_rows_go_and_everything_else_stays(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cleanup, "BATCH_SIZE", 2)  # several DELETE rounds
    with db.session() as session:
        for status in (InboxStatus.PROCESSED, InboxStatus.IGNORED, InboxStatus.DUPLICATE):
            session.add_all([inbox_row(status, OLD), inbox_row(status, OLD + timedelta(seconds=1))])
        keep_inbox = [inbox_row(InboxStatus.PROCESSED, RECENT), inbox_row(InboxStatus.DEAD, OLD),
                      inbox_row(InboxStatus.FAILED, OLD), inbox_row(InboxStatus.QUEUED, OLD)]
        session.add_all(keep_inbox)
        old_done = MonitorBatch(title="old", operation="x", status=MonitorStatus.OK, updated_at=OLD, created_at=OLD)
        old_running = MonitorBatch(title="stuck", operation="x", status=MonitorStatus.RUNNING, updated_at=OLD)
        recent_done = MonitorBatch(title="new", operation="x", status=MonitorStatus.OK, updated_at=RECENT)
        session.add_all([old_done, old_running, recent_done])
        session.flush()
        for batch in (old_done, old_running, recent_done):
            session.add_all([MonitorLog(batch_id=batch.id, operation="x", status=MonitorStatus.OK, updated_at=OLD)
                             for _ in range(3)])
        session.add(MonitorLog(batch_id=None, operation="webhook", status=MonitorStatus.OK, updated_at=OLD))
        session.add(MonitorLog(batch_id=None, operation="webhook", status=MonitorStatus.OK, updated_at=RECENT))

    counts = cleanup_old_records(db, retention_days=90, now=NOW)

    assert counts == {"inbox": 6, "monitor_logs": 4, "monitor_batches": 1}
    with db.session() as session:
        assert sorted(session.scalars(select(WebhookInbox.status))) == sorted(
            [InboxStatus.PROCESSED, InboxStatus.DEAD, InboxStatus.FAILED, InboxStatus.QUEUED])
        assert sorted(session.scalars(select(MonitorBatch.title))) == ["new", "stuck"]
    assert count(db, MonitorLog) == 7
    assert cleanup_old_records(db, retention_days=90, now=NOW) == {"inbox": 0, "monitor_logs": 0,
                                                                   "monitor_batches": 0}
