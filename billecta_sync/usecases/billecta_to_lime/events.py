"""Processing one stored Billecta webhook: claim the inbox row, route the event, record the outcome."""

from __future__ import annotations

import json
from collections.abc import Callable

from billecta_sync import inbox
from billecta_sync.container import Services
from billecta_sync.db import InboxStatus
from billecta_sync.inbound.billecta_events import BillectaEvent, InvalidWebhook, parse_billecta_event
from billecta_sync.retry import is_retryable
from billecta_sync.usecases.billecta_to_lime.debtcollections import sync_debt_collection_from_billecta
from billecta_sync.usecases.billecta_to_lime.debtors import sync_debtor_from_billecta
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.reminders import sync_reminder_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.unhandled_payments import sync_unhandled_payment

Handler = Callable[[Services, BillectaEvent], str]


def _invoice_from_billecta(services: Services, event: BillectaEvent) -> str:
    return sync_invoice_from_billecta(services, event.action_public_id)


def _invoice_and_payments(services: Services, event: BillectaEvent) -> str:
    """Payment events: the invoice's payments, then the invoice itself (amounts, status), both fresh."""
    return sync_invoice_from_billecta(services, event.action_public_id, with_payments=True)


def _autogiro_withdrawal(services: Services, event: BillectaEvent) -> str:
    """The invoice, fresh, and the withdrawal's outcome with the event's time (to ignore older events)."""
    status = "failed" if event.type == "AutogiroWithdrawalFailedOnInvoice" else "renewed"
    return sync_invoice_from_billecta(services, event.action_public_id, autogiro=(status, event.occurred_at))


def _reminder_invoice(services: Services, event: BillectaEvent) -> str:
    """The reminded invoice (its stage), then the reminder as a Lime invoice of its own."""
    source_id = event.action_public_id
    outcome = sync_invoice_from_billecta(services, source_id)
    # Billecta's body format is not published: when it does not name the reminder, the invoice does.
    reminder_id = event.id("ReminderInvoiceActionPublicId") or str(
        services.billecta.get_invoice(source_id).get("ReminderInvoiceActionPublicId") or "")
    if not reminder_id:
        return f"{outcome}; no reminder invoice named by the event or the invoice"
    return f"{outcome}; {sync_reminder_invoice_from_billecta(services, reminder_id, source_id)}"


def _unhandled_payment_id(event: BillectaEvent) -> str:
    return event.id("UnhandledPaymentPublicId") or event.id("PaymentPublicId")


def _overpayment(services: Services, event: BillectaEvent) -> str:
    """Overpayment / OverpaymentMatchedToInvoice: the invoice it concerns and the surplus itself."""
    outcomes = []
    if event.id("ActionPublicId"):
        outcomes.append(sync_invoice_from_billecta(services, event.id("ActionPublicId"), with_payments=True))
    if _unhandled_payment_id(event):
        outcomes.append(sync_unhandled_payment(services, _unhandled_payment_id(event)))
    return "; ".join(outcomes)


def _unmatched_payment(services: Services, event: BillectaEvent) -> str:
    return sync_unhandled_payment(services, _unhandled_payment_id(event))


def _debtor_from_billecta(services: Services, event: BillectaEvent) -> str:
    return sync_debtor_from_billecta(services, event.id("DebtorPublicId"))


def _debt_collection(services: Services, event: BillectaEvent) -> str:
    action_id = event.id("DebtCollectionActionPublicId") or event.id("ActionPublicId")
    return sync_debt_collection_from_billecta(services, action_id)


# Event type -> handler. Every handler re-fetches what the event is about from Billecta, so the event
# body only has to name it. Supported events without an entry here are recorded as ignored, with the
# reason, so they can be replayed by status once their handler exists.
HANDLERS: dict[str, Handler] = {
    "InvoiceActionAttested": _invoice_from_billecta,
    "InvoiceActionStateChanged": _invoice_from_billecta,
    "ReminderInvoiceActionCreated": _reminder_invoice,
    # Every invoice sync also keeps the invoice's write-off and credit payment rows.
    "AmountWrittenOffOnInvoice": _invoice_from_billecta,
    "AmountCreditedOnInvoice": _invoice_from_billecta,  # the debit and the credit invoice each get one
    "AutogiroWithdrawalFailedOnInvoice": _autogiro_withdrawal,
    "AutogiroWithdrawalRenewedOnInvoice": _autogiro_withdrawal,
    "InvoicePaymentReceived": _invoice_and_payments,
    "Overpayment": _overpayment,
    "OverpaymentMatchedToInvoice": _overpayment,
    "UnmatchedPayment": _unmatched_payment,
    "DebtorUpdated": _debtor_from_billecta,
    "AutogiroApprovalFailed": _debtor_from_billecta,
    "AutogiroApprovalChanged": _debtor_from_billecta,
    "DebtCollectionActionStateChanged": _debt_collection,
}


def process_billecta_webhook(services: Services, inbox_id: int, *, final_attempt: bool = True) -> str:
    row, skipped = inbox.claim_unique(services.db, inbox_id, services.settings.worker.inbox_lease_s)
    if row is None:
        return skipped
    try:
        event = parse_billecta_event(json.loads(row.body))
    except (InvalidWebhook, ValueError) as exc:
        inbox.finish(services.db, inbox_id, InboxStatus.IGNORED, error=f"unreadable: {exc}")
        return f"ignored: {exc}"
    handler = HANDLERS.get(event.type)
    if handler is None:
        inbox.finish(services.db, inbox_id, InboxStatus.IGNORED, event_type=event.type,
                     error=f"no handler for {event.type}")
        return f"ignored {event.type}"
    try:
        outcome = handler(services, event)
    except Exception as exc:
        final = final_attempt or not is_retryable(exc)
        inbox.fail(services.db, inbox_id, f"{type(exc).__name__}: {exc}", final=final,
                   retry_in_s=services.settings.worker.retry_backoff_max_s)
        raise
    inbox.finish(services.db, inbox_id, InboxStatus.PROCESSED, event_type=event.type, object_key=event.object_key)
    return outcome
