"""Billecta → Lime: which use-case applies each Billecta event, declared once per event by ``@handles``.

Every handler re-fetches what the event is about from Billecta, so the event body only has to name it.
Supported events without a handler are recorded as ignored, with the reason, so they can be replayed by
status once their handler exists (billecta_sync.inbound.delivery runs the life cycle)."""

from __future__ import annotations

from collections.abc import Callable

from billecta_sync.container import Services
from billecta_sync.inbound.billecta_events import SUPPORTED_EVENTS, BillectaEvent
from billecta_sync.usecases.billecta_to_lime.debtcollections import sync_debt_collection_from_billecta
from billecta_sync.usecases.billecta_to_lime.debtors import sync_debtor_from_billecta
from billecta_sync.usecases.billecta_to_lime.invoices import refresh_invoice_for_event, sync_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.reminders import sync_reminder_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.unhandled_payments import sync_unhandled_payment

Handler = Callable[[Services, BillectaEvent], str]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of these Billecta events (each event once)."""

    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            if event_type not in SUPPORTED_EVENTS:
                raise ValueError(f"{event_type} is not a supported Billecta event")
            if event_type in HANDLERS:
                raise ValueError(f"{event_type} already has a handler: {HANDLERS[event_type].__name__}")
            HANDLERS[event_type] = handler
        return handler

    return register


def handler_for(event: BillectaEvent) -> Handler | None:
    return HANDLERS.get(event.type)


@handles("InvoiceActionAttested", "InvoiceActionStateChanged",
         # every invoice sync also keeps the invoice's write-off and credit payment rows; the debit and the
         # credit invoice each get an AmountCreditedOnInvoice
         "AmountWrittenOffOnInvoice", "AmountCreditedOnInvoice")
def _invoice_from_billecta(services: Services, event: BillectaEvent) -> str:
    return refresh_invoice_for_event(services, event.action_public_id)


@handles("InvoicePaymentReceived")
def _invoice_and_payments(services: Services, event: BillectaEvent) -> str:
    """Payment events: the invoice's payments, then the invoice itself (amounts, status), both fresh."""
    return refresh_invoice_for_event(services, event.action_public_id, with_payments=True)


@handles("AutogiroWithdrawalFailedOnInvoice", "AutogiroWithdrawalRenewedOnInvoice")
def _autogiro_withdrawal(services: Services, event: BillectaEvent) -> str:
    """The invoice, fresh, and the withdrawal's outcome with the event's time (to ignore older events)."""
    status = "failed" if event.type == "AutogiroWithdrawalFailedOnInvoice" else "renewed"
    return sync_invoice_from_billecta(services, event.action_public_id, autogiro=(status, event.occurred_at))


@handles("ReminderInvoiceActionCreated")
def _reminder_invoice(services: Services, event: BillectaEvent) -> str:
    """The reminded invoice (its stage), then the reminder as a Lime invoice of its own."""
    # Two shapes: a body naming the invoice (and perhaps its reminder), or the reminder's own view as the
    # data object, where ActionPublicId is the reminder and SourceActionPublicId the invoice.
    source_id = event.id("SourceActionPublicId") or event.action_public_id
    named = event.id("ReminderInvoiceActionPublicId") or (
        event.action_public_id if event.id("SourceActionPublicId") else "")
    outcome = sync_invoice_from_billecta(services, source_id)
    # Billecta's body format is not published: when it does not name the reminder, the invoice does.
    reminder_id = named or str(services.billecta.get_invoice(source_id).get("ReminderInvoiceActionPublicId") or "")
    if not reminder_id:
        return f"{outcome}; no reminder invoice named by the event or the invoice"
    return f"{outcome}; {sync_reminder_invoice_from_billecta(services, reminder_id, source_id)}"


def _unhandled_payment_id(event: BillectaEvent) -> str:
    return event.id("UnhandledPaymentPublicId") or event.id("PaymentPublicId")


@handles("Overpayment", "OverpaymentMatchedToInvoice")
def _overpayment(services: Services, event: BillectaEvent) -> str:
    """Overpayment / OverpaymentMatchedToInvoice: the invoice it concerns and the surplus itself."""
    outcomes = []
    if event.id("ActionPublicId"):
        outcomes.append(sync_invoice_from_billecta(services, event.id("ActionPublicId"), with_payments=True))
    if _unhandled_payment_id(event):
        outcomes.append(sync_unhandled_payment(services, _unhandled_payment_id(event)))
    return "; ".join(outcomes)


@handles("UnmatchedPayment")
def _unmatched_payment(services: Services, event: BillectaEvent) -> str:
    return sync_unhandled_payment(services, _unhandled_payment_id(event))


@handles("DebtorUpdated", "AutogiroApprovalFailed", "AutogiroApprovalChanged")
def _debtor_from_billecta(services: Services, event: BillectaEvent) -> str:
    return sync_debtor_from_billecta(services, event.id("DebtorPublicId"))


@handles("DebtCollectionActionStateChanged")
def _debt_collection(services: Services, event: BillectaEvent) -> str:
    action_id = event.id("DebtCollectionActionPublicId") or event.id("ActionPublicId")
    return sync_debt_collection_from_billecta(services, action_id)
