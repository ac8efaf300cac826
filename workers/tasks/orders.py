"""Order tasks: start a batch (interactive) and send one order to Billecta (bulk)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billecta_sync import monitor, tasknames
from billecta_sync.container import Services
from billecta_sync.usecases.jobs.batches import start_batch as start_batch_use_case
from billecta_sync.usecases.lime_to_billecta.orders import attest_order as attest_order_use_case
from billecta_sync.usecases.lime_to_billecta.orders import upsert_attest_order as upsert_attest_order_use_case
from workers.base import SyncTask

# Operation of a batch -> (task name, queue, keyword arguments taken from the batch params)
OPERATION_TASKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "upsert_attest_orders": (tasknames.UPSERT_ATTEST_ORDER, tasknames.QUEUE_BULK, ("attest",)),
    "upsert_orders": (tasknames.UPSERT_ATTEST_ORDER, tasknames.QUEUE_BULK, ("attest",)),
    "attest_orders": (tasknames.ATTEST_ORDER, tasknames.QUEUE_BULK, ()),
    "upsert_debtors": (tasknames.UPSERT_DEBTOR, tasknames.QUEUE_BULK, ()),
    "anonymize_debtors": (tasknames.ANONYMIZE_DEBTOR, tasknames.QUEUE_BULK, ()),
    "upsert_articles": (tasknames.UPSERT_ARTICLE, tasknames.QUEUE_BULK, ()),
    "delete_articles": (tasknames.DELETE_ARTICLE, tasknames.QUEUE_BULK, ()),
    "credit_invoices": (tasknames.CREDIT_INVOICE, tasknames.QUEUE_BULK, ()),
    "update_creditor": (tasknames.UPDATE_CREDITOR, tasknames.QUEUE_BULK, ()),
    "retrigger_failed_webhooks": (tasknames.RETRIGGER_FAILED_WEBHOOKS, tasknames.QUEUE_BULK, ()),
}


@shared_task(bind=True, base=SyncTask, name=tasknames.START_BATCH, queue=tasknames.QUEUE_INTERACTIVE,
             ignore_result=False)
def start_batch(self: SyncTask, batch_id: int) -> dict[str, int]:
    def publish(operation: str, object_id: int, log_id: int, params: dict[str, Any]) -> str:
        name, queue, keys = OPERATION_TASKS[operation]
        kwargs = {k: params[k] for k in keys if k in params}
        return self.app.send_task(name, args=[object_id], kwargs={**kwargs, "monitor_log_id": log_id},
                                  queue=queue).id

    def give_up(exc: BaseException) -> None:
        monitor.fail_batch(self.services.db, batch_id, f"Could not start: {exc}")

    return self.run_use_case(start_batch_use_case, batch_id, publish, on_final_failure=give_up)


@shared_task(bind=True, base=SyncTask, name=tasknames.UPSERT_ATTEST_ORDER, queue=tasknames.QUEUE_BULK)
def upsert_attest_order(self: SyncTask, order_id: int, attest: bool = True,
                        monitor_log_id: int | None = None) -> str:
    def use_case(services: Services, order_id: int) -> str:
        return upsert_attest_order_use_case(services, order_id, attest=attest,
                                            final_attempt=self.is_final_attempt())

    return self.run_use_case(use_case, order_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.ATTEST_ORDER, queue=tasknames.QUEUE_BULK)
def attest_order(self: SyncTask, order_id: int, monitor_log_id: int | None = None) -> str:
    def use_case(services: Services, order_id: int) -> str:
        return attest_order_use_case(services, order_id, final_attempt=self.is_final_attempt())

    return self.run_use_case(use_case, order_id, monitor_log_id=monitor_log_id)
