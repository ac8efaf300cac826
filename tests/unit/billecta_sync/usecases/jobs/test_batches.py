"""Starting a monitor batch publishes one task per object, and a start that died part-way resumes."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from billecta_sync import catalogue, monitor
from billecta_sync.db import Database, MonitorBatch, MonitorLog
from billecta_sync.usecases.jobs.batches import PUBLISH_CHUNK, start_batch


class Died(Exception):
    pass


def test_a_start_that_dies_part_way_publishes_every_object_on_retry_and_repeats_at_most_a_chunk(
        db: Database) -> None:
    total = 2 * PUBLISH_CHUNK + 37
    batch_id = monitor.create_batch(db, "Debtors", "upsert_debtors")
    monitor.add_logs(db, batch_id, "upsert_debtors", "debtor", range(1, total + 1))
    published: Counter[int] = Counter()
    die_after = PUBLISH_CHUNK + 50

    class Queue:
        def publish(self, task_name: str, args: list[Any], queue: str, **options: Any) -> str:
            assert task_name == catalogue.UPSERT_DEBTOR.name and queue == catalogue.QUEUE_BULK
            assert options["kwargs"]["monitor_log_id"] > 0
            object_id = args[0]
            if sum(published.values()) == die_after:
                raise Died("the worker went away")
            published[object_id] += 1
            return f"task-{object_id}-{published[object_id]}"

    # logs exist, so Lime is not asked again
    services: Any = SimpleNamespace(db=db, task_queue=Queue)

    with pytest.raises(Died):
        start_batch(services, batch_id)
    die_after = -1
    assert start_batch(services, batch_id) == {"batch_id": batch_id, "total": total}

    assert set(published) == set(range(1, total + 1))  # nothing left out
    repeated = [object_id for object_id, times in published.items() if times > 1]
    assert len(repeated) <= PUBLISH_CHUNK and max(published.values()) == 2
    with db.session() as session:
        task_ids = list(session.scalars(select(MonitorLog.task_id).where(MonitorLog.batch_id == batch_id)))
        started = session.get(MonitorBatch, batch_id)
        assert started is not None and started.total == total
    assert len(task_ids) == total and all(task_ids)

    # A third start (a redelivered task) publishes nothing more.
    before = sum(published.values())
    start_batch(services, batch_id)
    assert sum(published.values()) == before
