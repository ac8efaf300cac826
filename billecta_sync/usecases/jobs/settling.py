"""Settling monitor batches: during the day those whose logs have all finished; at night, also those whose
tasks were lost, so no batch stays ``running`` for ever."""

from __future__ import annotations

from datetime import timedelta

from billecta_sync import monitor
from billecta_sync.container import Services

# A log still running after this long has outlived every retry its task could make.
STALE_AFTER = timedelta(hours=6)


def settle_finished_batches(services: Services) -> dict[str, int]:
    return monitor.settle_batches(services.db)


def settle_stale_batches(services: Services) -> dict[str, int]:
    """Force-complete batches with logs running for longer than ``STALE_AFTER`` that no worker holds."""
    alive = services.task_queue().alive_task_ids()
    return monitor.settle_batches(services.db, stale_after=STALE_AFTER, alive_task_ids=alive)
