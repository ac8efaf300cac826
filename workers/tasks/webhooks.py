"""Webhook tasks: process one stored delivery; sweep rows and batches that never reached a worker."""

from __future__ import annotations

from celery import shared_task

from billecta_sync import inbox, monitor, tasknames
from billecta_sync.usecases.billecta_to_lime.events import process_billecta_webhook as process_billecta_webhook_use_case
from workers.base import SyncTask


@shared_task(bind=True, base=SyncTask, name=tasknames.PROCESS_BILLECTA_WEBHOOK, queue=tasknames.QUEUE_WEBHOOKS)
def process_billecta_webhook(self: SyncTask, inbox_id: int) -> str:
    return self.run_use_case(process_billecta_webhook_use_case, inbox_id, inbox_id=inbox_id,
                             final_attempt=self.is_final_attempt())


@shared_task(bind=True, base=SyncTask, name=tasknames.SWEEP_INBOX, queue=tasknames.QUEUE_SCHEDULED)
def sweep_inbox(self: SyncTask) -> dict[str, int]:
    """Re-publish inbox rows and batches that should be queued but may not be (broker was down...)."""
    db = self.services.db
    rows = inbox.stuck_ids(db, older_than_s=self.services.settings.worker.stuck_after_s)
    sources = inbox.sources_of(db, rows)
    for inbox_id in rows:
        task = tasknames.WEBHOOK_TASKS.get(sources.get(inbox_id, ""), tasknames.PROCESS_BILLECTA_WEBHOOK)
        self.app.send_task(task, args=[inbox_id], queue=tasknames.QUEUE_WEBHOOKS)
        inbox.mark_queued(db, inbox_id)
    batches = monitor.unstarted_batches(db)
    for batch_id in batches:
        self.app.send_task(tasknames.START_BATCH, args=[batch_id], queue=tasknames.QUEUE_INTERACTIVE)
    return {"inbox_rows": len(rows), "batches": len(batches)}
