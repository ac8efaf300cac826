"""Billecta → Lime jobs: retrigger failed webhooks (per creditor, nightly batch), expire overdue invoices,
prune old rows, and the event-log lookup the gateway waits for."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billecta_sync import tasknames
from billecta_sync.container import Services
from billecta_sync.usecases.billecta_to_lime.event_log import event_log as event_log_use_case
from billecta_sync.usecases.jobs.cleanup import cleanup_old_records as cleanup_use_case
from billecta_sync.usecases.jobs.expiry import set_invoices_as_expired as expiry_use_case
from billecta_sync.usecases.jobs.retrigger import create_nightly_batch
from billecta_sync.usecases.jobs.retrigger import retrigger_failed_webhooks as retrigger_use_case
from workers.base import SyncTask

# The nightly jobs may run far longer than one webhook; still well inside the visibility timeout.
LONG_SOFT_LIMIT_S = 1500
LONG_LIMIT_S = 1800


@shared_task(bind=True, base=SyncTask, name=tasknames.RETRIGGER_FAILED_WEBHOOKS, queue=tasknames.QUEUE_BULK)
def retrigger_failed_webhooks(self: SyncTask, creditor_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(retrigger_use_case, creditor_id, monitor_log_id=monitor_log_id)  # type: ignore[no-any-return]


@shared_task(bind=True, base=SyncTask, name=tasknames.RETRIGGER_FAILED_WEBHOOKS_NIGHTLY,
             queue=tasknames.QUEUE_SCHEDULED)
def retrigger_failed_webhooks_nightly(self: SyncTask) -> int:
    def start(services: Services) -> int:
        batch_id = create_nightly_batch(services)
        self.app.send_task(tasknames.START_BATCH, args=[batch_id], queue=tasknames.QUEUE_INTERACTIVE)
        return batch_id

    return self.run_use_case(start)  # type: ignore[no-any-return]


@shared_task(bind=True, base=SyncTask, name=tasknames.SET_INVOICES_AS_EXPIRED, queue=tasknames.QUEUE_SCHEDULED,
             soft_time_limit=LONG_SOFT_LIMIT_S, time_limit=LONG_LIMIT_S)
def set_invoices_as_expired(self: SyncTask) -> dict[str, Any]:
    return self.run_use_case(expiry_use_case)  # type: ignore[no-any-return]


@shared_task(bind=True, base=SyncTask, name=tasknames.CLEANUP_OLD_RECORDS, queue=tasknames.QUEUE_SCHEDULED,
             soft_time_limit=LONG_SOFT_LIMIT_S, time_limit=LONG_LIMIT_S)
def cleanup_old_records(self: SyncTask) -> dict[str, int]:
    def use_case(services: Services) -> dict[str, int]:
        return cleanup_use_case(services.db, services.settings.worker.retention_days)

    return self.run_use_case(use_case)  # type: ignore[no-any-return]


@shared_task(bind=True, base=SyncTask, name=tasknames.EVENT_LOG, queue=tasknames.QUEUE_INTERACTIVE,
             ignore_result=False)
def event_log(self: SyncTask, limetype: str, object_id: int) -> dict[str, Any]:
    return self.run_use_case(event_log_use_case, limetype, object_id)  # type: ignore[no-any-return]
