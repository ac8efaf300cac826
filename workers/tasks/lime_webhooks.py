"""Lime webhook task: process one stored Lime delivery (change-driven Lime → Billecta sync)."""

from __future__ import annotations

from celery import shared_task

from billecta_sync import tasknames
from billecta_sync.inbound.lime_events import process_lime_webhook as process_lime_webhook_use_case
from workers.base import SyncTask


@shared_task(bind=True, base=SyncTask, name=tasknames.PROCESS_LIME_WEBHOOK, queue=tasknames.QUEUE_WEBHOOKS)
def process_lime_webhook(self: SyncTask, inbox_id: int) -> str:
    return self.run_use_case(process_lime_webhook_use_case, inbox_id, inbox_id=inbox_id,
                             final_attempt=self.is_final_attempt())
