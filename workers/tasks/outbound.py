"""Lime → Billecta tasks for articles, debtors and credit invoices: an id in, one use-case called."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from billecta_sync import tasknames
from billecta_sync.errors import PermanentError
from billecta_sync.usecases import articles, creditors, credits, debtors, orderrows
from workers.base import SyncTask


@shared_task(bind=True, base=SyncTask, name=tasknames.UPSERT_ARTICLE, queue=tasknames.QUEUE_BULK)
def upsert_article(self: SyncTask, article_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(articles.upsert_article, article_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.DELETE_ARTICLE, queue=tasknames.QUEUE_BULK)
def delete_article(self: SyncTask, article_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(articles.delete_article, article_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.UPSERT_DEBTOR, queue=tasknames.QUEUE_BULK)
def upsert_debtor(self: SyncTask, debtor_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(debtors.upsert_debtor, debtor_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.ANONYMIZE_DEBTOR, queue=tasknames.QUEUE_BULK)
def anonymize_debtor(self: SyncTask, debtor_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(debtors.anonymize_debtor, debtor_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.CREDIT_INVOICE, queue=tasknames.QUEUE_BULK)
def credit_invoice(self: SyncTask, invoice_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(credits.credit_invoice, invoice_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.UPDATE_CREDITOR, queue=tasknames.QUEUE_BULK)
def update_creditor(self: SyncTask, creditor_id: int, monitor_log_id: int | None = None) -> str:
    return self.run_use_case(creditors.update_creditor, creditor_id, monitor_log_id=monitor_log_id)


@shared_task(bind=True, base=SyncTask, name=tasknames.ADD_MESSAGE_TO_ORDERROW, queue=tasknames.QUEUE_INTERACTIVE,
             ignore_result=False)
def add_message_to_orderrow(self: SyncTask, orderrow_id: int, description: str) -> dict[str, Any]:
    """Answers the waiting gateway: the new row, or ``{"error": ...}`` for a request that cannot be done."""
    try:
        return self.run_use_case(orderrows.add_message_to_orderrow, orderrow_id, description)  # type: ignore[no-any-return]
    except PermanentError as exc:
        return {"error": str(exc)}
