"""Task names and queues, shared by the publisher (gateway, CLI, beat) and the workers.

The gateway publishes by name so it never imports worker code (nor holds Billecta credentials).
"""

from __future__ import annotations

QUEUE_WEBHOOKS = "webhooks"  # inbound Billecta and Lime events
QUEUE_INTERACTIVE = "interactive"  # commands a user is waiting for
QUEUE_BULK = "bulk"  # one task per object of a batch
QUEUE_SCHEDULED = "scheduled"  # beat jobs
QUEUES = (QUEUE_WEBHOOKS, QUEUE_INTERACTIVE, QUEUE_BULK, QUEUE_SCHEDULED)

PROCESS_BILLECTA_WEBHOOK = "billecta_sync.webhooks.process_billecta_webhook"
START_BATCH = "billecta_sync.batches.start_batch"
UPSERT_ATTEST_ORDER = "billecta_sync.orders.upsert_attest_order"
FINISH_RUNNING_BATCHES = "billecta_sync.monitor.finish_running_batches"
FINISH_RUNNING_BATCHES_NIGHTLY = "billecta_sync.monitor.finish_running_batches_nightly"
SWEEP_INBOX = "billecta_sync.webhooks.sweep_inbox"

ROUTES = {
    PROCESS_BILLECTA_WEBHOOK: QUEUE_WEBHOOKS,
    START_BATCH: QUEUE_INTERACTIVE,
    UPSERT_ATTEST_ORDER: QUEUE_BULK,
    FINISH_RUNNING_BATCHES: QUEUE_SCHEDULED,
    FINISH_RUNNING_BATCHES_NIGHTLY: QUEUE_SCHEDULED,
    SWEEP_INBOX: QUEUE_SCHEDULED,
}
