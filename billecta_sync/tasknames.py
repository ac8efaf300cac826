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
PROCESS_LIME_WEBHOOK = "billecta_sync.webhooks.process_lime_webhook"
START_BATCH = "billecta_sync.batches.start_batch"
UPSERT_ATTEST_ORDER = "billecta_sync.orders.upsert_attest_order"
FINISH_RUNNING_BATCHES = "billecta_sync.monitor.finish_running_batches"
FINISH_RUNNING_BATCHES_NIGHTLY = "billecta_sync.monitor.finish_running_batches_nightly"
SWEEP_INBOX = "billecta_sync.webhooks.sweep_inbox"
# Lime → Billecta, one object per task (billecta_sync/usecases/{orders,articles,debtors,credits}.py)
ATTEST_ORDER = "billecta_sync.orders.attest_order"
UPSERT_ARTICLE = "billecta_sync.articles.upsert_article"
DELETE_ARTICLE = "billecta_sync.articles.delete_article"
UPSERT_DEBTOR = "billecta_sync.debtors.upsert_debtor"
ANONYMIZE_DEBTOR = "billecta_sync.debtors.anonymize_debtor"
CREDIT_INVOICE = "billecta_sync.invoices.credit_invoice"
UPDATE_CREDITOR = "billecta_sync.creditors.update_creditor"
ADD_MESSAGE_TO_ORDERROW = "billecta_sync.orders.add_message_to_orderrow"

ROUTES = {
    PROCESS_BILLECTA_WEBHOOK: QUEUE_WEBHOOKS,
    PROCESS_LIME_WEBHOOK: QUEUE_WEBHOOKS,
    START_BATCH: QUEUE_INTERACTIVE,
    UPSERT_ATTEST_ORDER: QUEUE_BULK,
    FINISH_RUNNING_BATCHES: QUEUE_SCHEDULED,
    FINISH_RUNNING_BATCHES_NIGHTLY: QUEUE_SCHEDULED,
    SWEEP_INBOX: QUEUE_SCHEDULED,
    ATTEST_ORDER: QUEUE_BULK,
    UPSERT_ARTICLE: QUEUE_BULK,
    DELETE_ARTICLE: QUEUE_BULK,
    UPSERT_DEBTOR: QUEUE_BULK,
    ANONYMIZE_DEBTOR: QUEUE_BULK,
    CREDIT_INVOICE: QUEUE_BULK,
    UPDATE_CREDITOR: QUEUE_BULK,
    ADD_MESSAGE_TO_ORDERROW: QUEUE_INTERACTIVE,
}

# Billecta → Lime jobs (billecta_sync/usecases/{webhook_jobs,expiry,cleanup}.py, workers/tasks/billecta_jobs.py)
RETRIGGER_FAILED_WEBHOOKS = "billecta_sync.webhooks.retrigger_failed_webhooks"
RETRIGGER_FAILED_WEBHOOKS_NIGHTLY = "billecta_sync.webhooks.retrigger_failed_webhooks_nightly"
SET_INVOICES_AS_EXPIRED = "billecta_sync.invoices.set_invoices_as_expired"
CLEANUP_OLD_RECORDS = "billecta_sync.maintenance.cleanup_old_records"
EVENT_LOG = "billecta_sync.events.event_log"
ROUTES.update({
    RETRIGGER_FAILED_WEBHOOKS: QUEUE_BULK,
    RETRIGGER_FAILED_WEBHOOKS_NIGHTLY: QUEUE_SCHEDULED,
    SET_INVOICES_AS_EXPIRED: QUEUE_SCHEDULED,
    CLEANUP_OLD_RECORDS: QUEUE_SCHEDULED,
    EVENT_LOG: QUEUE_INTERACTIVE,
})

# The task that processes a stored webhook, per inbox source (gateway, sweeper and replay use it).
WEBHOOK_TASKS = {"billecta": PROCESS_BILLECTA_WEBHOOK, "lime": PROCESS_LIME_WEBHOOK}
