"""Integration-monitor jobs: settle finished batches; nightly, force-complete what is stuck."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from billecta_sync import monitor, tasknames
from workers.base import SyncTask

# A log still running after this long has outlived every retry its task could make.
STALE_AFTER = timedelta(hours=6)


@shared_task(bind=True, base=SyncTask, name=tasknames.FINISH_RUNNING_BATCHES, queue=tasknames.QUEUE_SCHEDULED)
def finish_running_batches(self: SyncTask) -> dict[str, int]:
    return monitor.settle_batches(self.services.db)


@shared_task(bind=True, base=SyncTask, name=tasknames.FINISH_RUNNING_BATCHES_NIGHTLY,
             queue=tasknames.QUEUE_SCHEDULED)
def finish_running_batches_nightly(self: SyncTask) -> dict[str, int]:
    return monitor.settle_batches(self.services.db, stale_after=STALE_AFTER, alive_task_ids=_alive_task_ids(self))


def _alive_task_ids(task: SyncTask) -> set[str]:
    """Ids of tasks some worker holds now (running, reserved or waiting for a retry countdown)."""
    inspect = task.app.control.inspect(timeout=5)
    alive: set[str] = set()
    for method in (inspect.active, inspect.reserved, inspect.scheduled):
        for entries in (method() or {}).values():
            for entry in entries:
                request = entry.get("request", entry)
                if request.get("id"):
                    alive.add(request["id"])
    return alive
