"""Reminder invoices in the Billecta sandbox: made from a sent, open invoice for its balance plus a fee.

A reminder is a document of its own (the creditor's next invoice number and an OCR of its own) and closes
with the invoice it reminds of: paid, credited or written off (Completed) or Cancelled.

Two ways in: ``send`` answers ``POST /v1/invoice/sendreminderinvoice`` (a SendReminderInvoiceView; refused
unless the invoice's ``CanSendManualReminderInvoice`` is true), and ``remind`` is the admin stand-in for
Billecta's own reminder process (its fee in major units). Either links the reminder on the
invoice (``ReminderInvoiceActionPublicId``), restarts the invoice's schedule at the reminder's due date, adds
the event ``ReminderInvoiceSent`` and raises ``ReminderInvoiceActionCreated``. Assumptions where Billecta is
silent: an omitted fee is 60.00 in the invoice's currency, omitted terms are 10 days, an omitted delivery
method is the invoice's; ``Stream`` and ``Url`` (a reminder document of the caller's own) are accepted and
not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.controls import refusal
from sandbox.billecta.state.core import BillectaError, Store, amount, iso, iso_date, minor_units, now, with_ocr
from sandbox.billecta.state.invoice import CLOSED_STAGES, Invoice, invoice_address
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors, Debtors

REMINDER_FEE_ORE = 6000
REMINDER_DAYS = 10


@dataclass
class Reminder:
    """A reminder invoice action: what Billecta keeps of a reminder besides its source invoice."""

    action_public_id: str
    source_id: str
    created: datetime
    invoice_number: str
    ocr: str
    invoice_date: date
    due_date: date
    fee: int
    reminded: int  # the source's balance when the reminder was made
    currency: str
    delivery_method: str = "Email"
    stage: str = "ReminderInvoiceSent"
    closed: datetime | None = None


@dataclass(eq=False)
class Reminders:
    store: Store
    invoices: Invoices
    creditors: Creditors
    debtors: Debtors
    ledger: Ledger
    rows: dict[str, Reminder] = field(default_factory=dict, init=False)

    def clear(self) -> None:
        self.rows = {}

    def send(self, body: dict[str, Any]) -> str:
        """A reminder from a SendReminderInvoiceView; returns the new reminder's ActionPublicId."""
        action_id = body.get("InvoiceActionPublicId")
        if not action_id:
            raise BillectaError(400, "InvoiceActionPublicId is required")
        with self.store.lock:
            invoice = self.invoices.find(str(action_id))
            flag = "CanSendManualReminderInvoice"
            if not self.invoices.get(invoice.action_public_id)[flag]:
                raise refusal(invoice, flag, "sending a reminder invoice")
            currency = self.invoices.totals(invoice).currency
            fee_amount = body.get("ReminderFee")
            fee = REMINDER_FEE_ORE
            if fee_amount is not None:
                code = fee_amount.get("CurrencyCode")
                if code not in (None, currency):
                    raise BillectaError(400, f"ReminderFee is in {code}, the invoice in {currency}")
                fee = int(fee_amount.get("Value") or 0)
            terms = body.get("PaymentTermsInDays")
            days = REMINDER_DAYS if terms is None else int(terms)
            if fee < 0 or days < 0:
                raise BillectaError(400, "ReminderFee and PaymentTermsInDays must not be negative")
            method = body.get("DeliveryMethod") or invoice.entry.get("DeliveryMethod") or "Email"
            if method == "Unknown":
                raise BillectaError(400, "DeliveryMethod Unknown can't deliver a reminder")
            return self._create(invoice, fee, days, str(method))

    def remind(self, action_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A reminder invoice for the open balance plus ``fee`` (default 60.00), due in ``days`` days."""
        body = body or {}
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            if invoice.sent is None:
                raise BillectaError(400, f"Invoice {action_id} has not been sent")
            fee = minor_units(body["fee"], "fee") if body.get("fee") is not None else REMINDER_FEE_ORE
            try:
                days = int(body.get("days", REMINDER_DAYS))
            except (TypeError, ValueError) as exc:
                raise BillectaError(400, f"days must be a whole number, not {body.get('days')!r}") from exc
            if fee < 0 or days < 0:
                raise BillectaError(400, "fee and days must not be negative")
            method = str(invoice.entry.get("DeliveryMethod") or "Email")
            return {"reminder_action_public_id": self._create(invoice, fee, days, method)}

    def _create(self, invoice: Invoice, fee: int, days: int, delivery_method: str) -> str:
        """Make, link and announce a reminder of ``invoice`` (checked by the caller); called under the lock."""
        action_id = invoice.action_public_id
        reminder_id = self.ledger.next_action_id()
        number = self.invoices.next_invoice_number(self.creditors.find(invoice.creditor_public_id))
        today = now().date()
        due = today + timedelta(days=days)
        self.rows[reminder_id] = Reminder(
            action_public_id=reminder_id, source_id=action_id, created=now(), invoice_number=number,
            ocr=with_ocr(number), invoice_date=today, due_date=due, fee=fee,
            reminded=max(self.ledger.balance(invoice), 0), currency=self.invoices.totals(invoice).currency,
            delivery_method=delivery_method)
        self.ledger.of(action_id).reminder_action_id = reminder_id
        # The reminder starts the invoice's schedule afresh: its due date is the next event.
        invoice.reminder_due = due
        invoice.postponed_days = 0
        self.store.emit("ReminderInvoiceActionCreated", CreditorPublicId=invoice.creditor_public_id,
                        ActionPublicId=action_id, ReminderInvoiceActionPublicId=reminder_id)
        if invoice.stage not in ("ReminderInvoiceSent", "SentToDebtCollection"):
            self.invoices.apply_stage(invoice, "ReminderInvoiceSent")
        else:
            # Stage stays (a second reminder, or debt collection owns the claim); the event still tells of it.
            self.invoices.add_event(invoice, "ReminderInvoiceSent", "Reminder invoice sent")
            self.invoices.state_changed(invoice)
        return reminder_id

    def _follow_source(self, reminder: Reminder) -> None:
        source = self.invoices.rows.get(reminder.source_id)
        if source is not None and source.stage in CLOSED_STAGES and reminder.stage not in CLOSED_STAGES:
            reminder.stage = source.stage
            reminder.closed = source.closed or now()

    def view(self, reminder_id: str) -> dict[str, Any]:
        """The ReminderInvoiceActionView of a reminder."""
        with self.store.lock:
            reminder = self.rows.get(reminder_id)
            if reminder is None:
                raise BillectaError(404, f"Reminder invoice action {reminder_id} not found")
            self._follow_source(reminder)
            source = self.invoices.rows.get(reminder.source_id)
            debtor = (self.debtors.rows.get(source.debtor_public_id) if source else None) or {}
            cur = reminder.currency
            closed = reminder.stage in CLOSED_STAGES
            current = 0 if closed or source is None else max(self.ledger.balance(source), 0) + reminder.fee
            view = contract.defaults("ReminderInvoiceActionView")
            view.update({
                "ActionPublicId": reminder.action_public_id,
                "SourceActionPublicId": reminder.source_id,
                "Created": iso(reminder.created),
                "ClosedDate": iso(reminder.closed),
                "Stage": reminder.stage,
                "CurrentValue": amount(current, cur),
                "ReminderFee": amount(reminder.fee, cur),
                "ReminderInvoices": [{
                    "InvoiceNumber": reminder.invoice_number,
                    "OCR": reminder.ocr,
                    "InvoiceDate": iso_date(reminder.invoice_date),
                    "DueDate": iso_date(reminder.due_date),
                    "PaymentTermsInDays": (reminder.due_date - reminder.invoice_date).days,
                    "InvoicedAmount": amount(reminder.reminded + reminder.fee, cur),
                    "InvoiceDecription": f"Påminnelse för faktura {source.invoice_number if source else ''}".strip(),
                    "InvoiceFile": None,
                    **invoice_address(debtor),
                    "OurReference": source.entry.get("OurReference") if source else None,
                    "YourReference": source.entry.get("YourReference") if source else None,
                }],
            })
            return view
