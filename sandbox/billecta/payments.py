"""Money after attest in the Billecta sandbox: payments, overpayments, unmatched payments, credits,
write-offs, reminders, debt collection, autogiro and the retrigger of failed webhooks.

Kept apart from ``state.py``: it adds read routes under ``/v1/`` (answers validated like the rest) and
admin endpoints under ``/_sandbox/`` that make Billecta's own processes happen, each raising the webhook
Billecta would raise. ``install`` is called once by the sandbox app.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from sandbox.billecta import contract
from sandbox.billecta.state import (
    CLOSED_STAGES,
    BillectaError,
    Invoice,
    amount,
    invoice_address,
    iso,
    iso_date,
    luhn_check_digit,
    new_guid,
    now,
)

if TYPE_CHECKING:
    from sandbox.billecta.app import BillectaSandbox

# Webhook triggers this module raises (the sandbox sends them when ticked, as Billecta's portal does).
MONEY_TRIGGERS: tuple[str, ...] = (
    "InvoicePaymentReceived",
    "Overpayment",
    "OverpaymentMatchedToInvoice",
    "UnmatchedPayment",
    "AmountWrittenOffOnInvoice",
    "AmountCreditedOnInvoice",
    "ReminderInvoiceActionCreated",
    "DebtCollectionActionStateChanged",
    "AutogiroApprovalFailed",
    "AutogiroApprovalChanged",
    "AutogiroWithdrawalFailedOnInvoice",
    "AutogiroWithdrawalRenewedOnInvoice",
)

# (name, method, rule, handler, request view, response view, notes' status)
API_ROUTES: tuple[tuple[str, str, str, str, str | None, str | None, str], ...] = (
    ("incoming_payments", "PUT", "/v1/payments/incomingpayments", "incoming_payments",
     "IncomingPaymentRequestView", "IncomingPaymentsView", "V"),
    ("get_unhandled_payment", "GET", "/v1/payments/unhandledpayment/<payment_id>", "get_unhandled_payment",
     None, "UnhandledPaymentView", "P"),
    ("list_unhandled_payments", "GET", "/v1/payments/unhandledpayments/<creditor_id>", "list_unhandled_payments",
     None, "UnhandledPaymentsView", "P"),
    ("get_debt_collection", "GET", "/v1/debtcollection/action/<action_id>", "get_debt_collection",
     None, "DebtCollectionActionView", "V"),
    ("debt_collection_events", "GET", "/v1/debtcollection/events/<action_id>", "debt_collection_events",
     None, "CommonActionEventsView", "P"),
    ("invoice_events", "GET", "/v1/invoice/events/<action_id>", "invoice_events",
     None, "CommonActionEventsView", "P"),
    # The client's invoice.reminder.get; no source shows this path, it is the client's guess.
    ("get_reminder_invoice", "GET", "/v1/invoice/reminderinvoice/<action_id>", "get_reminder_invoice",
     None, "ReminderInvoiceActionView", "U"),
    ("retrigger_failed_webhooks", "POST", "/v1/notifications/retriggerfailedwebhooks/<creditor_id>",
     "retrigger_failed_webhooks", None, None, "U"),
)


def _ore(value: object, name: str = "amount") -> int:
    """Major units from an admin request (``125.50``) to minor units."""
    try:
        return int((Decimal(str(value)) * 100).to_integral_value())
    except (InvalidOperation, ValueError) as exc:
        raise BillectaError(400, f"{name} must be a number, not {value!r}") from exc


def _day(value: object, default: date) -> date:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise BillectaError(400, f"not a date: {value!r}") from exc


def _moment(day: date) -> str:
    return iso(datetime.combine(day, datetime.min.time())) or ""


@dataclass
class Extra:
    """What ``state.Invoice`` does not hold."""

    payments: list[dict[str, Any]] = field(default_factory=list)
    written_off: int = 0
    reminder_action_id: str | None = None
    debt_collection_id: str | None = None


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
    stage: str = "ReminderInvoiceSent"
    closed: datetime | None = None


REMINDER_FEE_ORE = 6000
REMINDER_DAYS = 10


class MoneyDesk:
    def __init__(self, sandbox: BillectaSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state
        self.lock = self.state.lock
        self._ids = itertools.count(random.randint(8_000_000_000, 8_900_000_000))
        self._clear()

    def _clear(self) -> None:
        self.extras: dict[str, Extra] = {}
        self.unhandled: dict[str, dict[str, Any]] = {}
        self.debt_collections: dict[str, dict[str, Any]] = {}
        self.reminders: dict[str, Reminder] = {}
        self.retriggered: set[int] = set()

    def _extra(self, action_id: str) -> Extra:
        return self.extras.setdefault(action_id, Extra())

    def _emit(self, trigger: str, **ids: str) -> None:
        self.state.emit(trigger, ids)

    def _open_invoice(self, action_id: str) -> Invoice:
        invoice = self.state._invoice(action_id)
        if not invoice.is_attested:
            raise BillectaError(400, f"Invoice {action_id} is not attested")
        if invoice.stage in CLOSED_STAGES:
            raise BillectaError(400, f"Invoice {action_id} is closed (Stage {invoice.stage})")
        return invoice

    def _current(self, invoice: Invoice) -> int:
        totals = self.state._totals(invoice)
        return totals.invoiced - invoice.paid - invoice.credited - self._extra(invoice.action_public_id).written_off

    def _complete(self, invoice: Invoice) -> None:
        # state's Completed books the remainder as paid; keep the amounts this module booked instead.
        paid, credited = invoice.paid, invoice.credited
        self.state._apply_stage(invoice, "Completed")
        invoice.paid, invoice.credited = paid, credited

    # ---- wrapped read model --------------------------------------------------------------------

    def decorate(self, view: dict[str, Any]) -> dict[str, Any]:
        action_id = str(view.get("ActionPublicId"))
        invoice = self.state.invoices.get(action_id)
        source_id = invoice.entry.get("CreditingInvoicePublicId") if invoice else None
        if source_id:
            # Billecta shows what a credit invoice credits in CreditingInvoice.
            source = self.state.invoices.get(str(source_id))
            view["CreditingInvoice"] = {"SourcePublicId": str(source_id),
                                        "SourceInvoiceId": source.invoice_number if source else None}
            if invoice is not None and invoice.is_attested:
                # An attested credit invoice is settled against the invoice it credits: its CreditedAmount
                # is its own (negative) total and nothing is left on it.
                invoiced = dict(view.get("InvoicedAmount") or {})
                view["CreditedAmount"] = invoiced
                view["CurrentAmount"] = amount(0, invoiced.get("CurrencyCode") or "SEK")
        extra = self.extras.get(action_id)
        if extra is None:
            return view
        currency = (view.get("InvoicedAmount") or {}).get("CurrencyCode") or "SEK"
        current = int((view.get("CurrentAmount") or {}).get("Value") or 0) - extra.written_off
        view["WriteOffAmount"] = amount(extra.written_off, currency)
        view["CurrentAmount"] = amount(current, currency)
        view["ReminderInvoiceActionPublicId"] = extra.reminder_action_id
        view["DebtCollectionActionPublicId"] = extra.debt_collection_id
        return view

    # ---- payments ------------------------------------------------------------------------------

    def register_payment(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            invoice = self._open_invoice(action_id)
            paid = _ore(body.get("amount"))
            if paid <= 0:
                raise BillectaError(400, "amount must be positive")
            day = _day(body.get("date"), date.today())
            mean = str(body.get("payment_mean_code") or "BG")
            current = self._current(invoice)
            booked = min(paid, current)
            debtor = self.state.debtors.get(invoice.debtor_public_id) or {}
            totals = self.state._totals(invoice)
            payment = {
                "PaymentReferenceId": new_guid(),
                "ActionPublicId": action_id,
                "ActionType": "InvoiceAction",
                "Amount": amount(booked, totals.currency),
                "CreatedBy": "Billecta sandbox",
                "CreatedDate": iso(now()),
                "CreditorPublicId": invoice.creditor_public_id,
                "DebtorName": debtor.get("Name"),
                "DebtorPublicId": invoice.debtor_public_id,
                "ExternalReference": invoice.entry.get("ExternalReference"),
                "File": None,
                "InvoiceNumber": invoice.invoice_number,
                "IsReminderPayment": self._extra(action_id).reminder_action_id is not None,
                "OCR": invoice.ocr,
                "PaymentDate": _moment(day),
                "PaymentMeanCode": mean,
            }
            self._extra(action_id).payments.append(payment)
            invoice.paid += booked
            self.state._event(invoice, "Paid", f"Payment of {booked / 100:.2f} {totals.currency} received")
            self._emit("InvoicePaymentReceived", CreditorPublicId=invoice.creditor_public_id,
                       ActionPublicId=action_id)
            over = None
            if paid > current:
                over = self._unhandled(invoice.creditor_public_id, paid - current, day, "OverPayment",
                                       debtor_public_id=invoice.debtor_public_id, action=invoice,
                                       reference=invoice.ocr)
                self.state._event(invoice, "OverPayment", f"Overpayment of {(paid - current) / 100:.2f}")
                self._emit("Overpayment", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id,
                           UnhandledPaymentPublicId=over["UnhandledPaymentPublicId"])
            if self._current(invoice) <= 0:
                self._complete(invoice)
            return {"payment": payment, "overpayment": over}

    def _unhandled(self, creditor_id: str, value: int, day: date, kind: str, *, debtor_public_id: str | None,
                   action: Invoice | None = None, reference: str | None = None) -> dict[str, Any]:
        currency = self.state._totals(action).currency if action else "SEK"
        payment = {
            "AdditionalInformations": [],
            "Amount": amount(value, currency),
            "CreatedBy": "Billecta sandbox",
            "CreditorName": (self.state.creditors.get(creditor_id) or {}).get("Name"),
            "CreditorPublicId": creditor_id,
            "DebtorPublicId": debtor_public_id,
            "OverpaymentDetails": None if action is None else {
                "ActionPublicId": action.action_public_id, "ActionType": "InvoiceAction",
                "InvoiceNumber": action.invoice_number, "UsedOnActionPublicId": None,
            },
            "PaymentDate": _moment(day),
            "Reference": reference,
            "SenderAddress": None, "SenderBankgiroNo": None, "SenderCity": None, "SenderCountryCode": None,
            "SenderName": None, "SenderOrgNo": None, "SenderZipCode": None,
            "State": "Unhandled",
            "UnhandledPaymentPublicId": new_guid(),
            "UnhandledPaymentType": kind,
        }
        self.unhandled[payment["UnhandledPaymentPublicId"]] = payment
        return payment

    def unmatched_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            creditor_id = self.state._creditor(body.get("creditor_public_id"), 400)["CreditorPublicId"]
            debtor_id = body.get("debtor_public_id") or None
            if debtor_id:
                self.state._debtor(debtor_id)
            value = _ore(body.get("amount"))
            if value <= 0:
                raise BillectaError(400, "amount must be positive")
            payment = self._unhandled(creditor_id, value, _day(body.get("date"), date.today()), "UnmatchedPayment",
                                      debtor_public_id=debtor_id, reference=body.get("reference"))
            self._emit("UnmatchedPayment", CreditorPublicId=creditor_id,
                       UnhandledPaymentPublicId=payment["UnhandledPaymentPublicId"])
            return payment

    def match_overpayment(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Use an unhandled payment on an open invoice (what matchpayments does)."""
        with self.lock:
            payment = self.unhandled.get(payment_id)
            if payment is None or payment["State"] != "Unhandled":
                raise BillectaError(400, f"No unhandled payment {payment_id}")
            invoice = self._open_invoice(str(body.get("action_public_id") or ""))
            value = int(payment["Amount"]["Value"])
            self.register_payment(invoice.action_public_id, {
                "amount": str(Decimal(min(value, self._current(invoice))) / 100), "date": payment["PaymentDate"],
                "payment_mean_code": "OVERPAYMENT"})
            payment["State"] = "UsedOnInvoice"
            if payment["OverpaymentDetails"] is not None:
                payment["OverpaymentDetails"]["UsedOnActionPublicId"] = invoice.action_public_id
            self._emit("OverpaymentMatchedToInvoice", CreditorPublicId=invoice.creditor_public_id,
                       ActionPublicId=invoice.action_public_id, UnhandledPaymentPublicId=payment_id)
            return payment

    # ---- credit, write-off, reminder -----------------------------------------------------------

    def credit(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A credit invoice for ``amount`` (default: the remaining balance), booked as outbound.py books
        credit invoices Lime creates; Billecta then raises AmountCreditedOnInvoice for both invoices."""
        with self.lock:
            invoice = self._open_invoice(action_id)
            current = self._current(invoice)
            value = _ore(body["amount"]) if body.get("amount") is not None else current
            if not 0 < value <= current:
                raise BillectaError(400, f"amount must be between 0 and the remaining {current / 100:.2f}")
            currency = self.state._totals(invoice).currency
            entry = {
                "ActionType": "CreditInvoiceAction",
                "CreditingInvoicePublicId": action_id,
                "CreditorPublicId": invoice.creditor_public_id,
                "DebtorPublicId": invoice.debtor_public_id,
                "DeliveryMethod": "Manually",  # a credit note is not sent on its own here
                "Records": [{
                    "RecordType": "Standard", "ArticleDescription": f"Kredit av faktura {invoice.invoice_number}",
                    "Quantity": 1, "VAT": 0, "UnitPrice": amount(-value, currency),
                }],
            }
            credit_id = self.state.create_invoice(entry)
            self.state.attest_invoice(credit_id)  # outbound.apply_credit lowers the original's balance
            credit = self.state.invoices[credit_id]
            self._emit("AmountCreditedOnInvoice", CreditorPublicId=invoice.creditor_public_id,
                       ActionPublicId=action_id, ActionType="InvoiceAction")
            self._emit("AmountCreditedOnInvoice", CreditorPublicId=credit.creditor_public_id,
                       ActionPublicId=credit_id, ActionType="CreditInvoiceAction")
            return {"credit_action_public_id": credit_id, "credited": value}

    def write_off(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            invoice = self._open_invoice(action_id)
            current = self._current(invoice)
            value = _ore(body["amount"]) if body.get("amount") is not None else current
            if not 0 < value <= current:
                raise BillectaError(400, f"amount must be between 0 and the remaining {current / 100:.2f}")
            self._extra(action_id).written_off += value
            self.state._event(invoice, "WrittenOff", f"Written off {value / 100:.2f}")
            self._emit("AmountWrittenOffOnInvoice", CreditorPublicId=invoice.creditor_public_id,
                       ActionPublicId=action_id)
            if self._current(invoice) <= 0:
                self._complete(invoice)
            return {"written_off": self._extra(action_id).written_off}

    def reminder(self, action_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A reminder invoice for the open balance plus ``fee`` (default 60.00), due in ``days`` days."""
        body = body or {}
        with self.lock:
            invoice = self._open_invoice(action_id)
            if invoice.sent is None:
                raise BillectaError(400, f"Invoice {action_id} has not been sent")
            fee = _ore(body["fee"], "fee") if body.get("fee") is not None else REMINDER_FEE_ORE
            try:
                days = int(body.get("days", REMINDER_DAYS))
            except (TypeError, ValueError) as exc:
                raise BillectaError(400, f"days must be a whole number, not {body.get('days')!r}") from exc
            if fee < 0 or days < 0:
                raise BillectaError(400, "fee and days must not be negative")
            reminder_id = str(next(self._ids))
            # The reminder is a document of its own: it takes the creditor's next invoice number and OCR.
            number = self.state._next_invoice_number(self.state._creditor(invoice.creditor_public_id))
            digits = "".join(ch for ch in number if ch.isdigit())
            today = date.today()
            self.reminders[reminder_id] = Reminder(
                action_public_id=reminder_id, source_id=action_id, created=now(), invoice_number=number,
                ocr=digits + luhn_check_digit(digits), invoice_date=today, due_date=today + timedelta(days=days),
                fee=fee, reminded=max(self._current(invoice), 0), currency=self.state._totals(invoice).currency)
            self._extra(action_id).reminder_action_id = reminder_id
            self._emit("ReminderInvoiceActionCreated", CreditorPublicId=invoice.creditor_public_id,
                       ActionPublicId=action_id, ReminderInvoiceActionPublicId=reminder_id)
            if invoice.stage != "ReminderInvoiceSent":
                self.state._apply_stage(invoice, "ReminderInvoiceSent")
            return {"reminder_action_public_id": reminder_id}

    def _follow_source(self, reminder: Reminder) -> None:
        """A reminder closes with the invoice it reminds of (paid, credited or written off: Completed)."""
        source = self.state.invoices.get(reminder.source_id)
        if source is not None and source.stage in CLOSED_STAGES and reminder.stage not in CLOSED_STAGES:
            reminder.stage = source.stage
            reminder.closed = source.closed or now()

    def reminder_view(self, reminder_id: str) -> dict[str, Any]:
        with self.lock:
            reminder = self.reminders.get(reminder_id)
            if reminder is None:
                raise BillectaError(404, f"Reminder invoice action {reminder_id} not found")
            self._follow_source(reminder)
            source = self.state.invoices.get(reminder.source_id)
            debtor = (self.state.debtors.get(source.debtor_public_id) if source else None) or {}
            cur = reminder.currency
            closed = reminder.stage in CLOSED_STAGES
            current = 0 if closed or source is None else max(self._current(source), 0) + reminder.fee
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

    def autogiro_withdrawal(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            invoice = self._open_invoice(action_id)
            outcome = body.get("outcome")
            trigger = {"failed": "AutogiroWithdrawalFailedOnInvoice",
                       "renewed": "AutogiroWithdrawalRenewedOnInvoice"}.get(str(outcome))
            if trigger is None:
                raise BillectaError(400, 'outcome must be "failed" or "renewed"')
            self.state._event(invoice, "AutogiroWithdrawal", f"Autogiro withdrawal {outcome}")
            self._emit(trigger, CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id)
            return {"event": trigger}

    def debtor_autogiro(self, debtor_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            debtor = self.state._debtor(debtor_id)
            status = body.get("status")
            if status not in ("approved", "failed", "removed"):
                raise BillectaError(400, 'status must be "approved", "failed" or "removed"')
            debtor["Autogiro"] = {
                "AccountNo": body.get("account_no"), "Active": status == "approved",
                "AutogiroFirstWithdrawalDate": None, "ClearingNo": body.get("clearing_no"),
                "PayerNumber": debtor.get("DebtorNo"), "PaymentServiceSupplier": None,
                "Stage": {"approved": "Approved", "failed": "Failed", "removed": "Removed"}[status],
            }
            trigger = "AutogiroApprovalFailed" if status == "failed" else "AutogiroApprovalChanged"
            self._emit(trigger, CreditorPublicId=debtor["CreditorPublicId"], DebtorPublicId=debtor_id)
            return dict(debtor)

    # ---- debt collection -----------------------------------------------------------------------

    def send_to_debt_collection(self, action_id: str) -> dict[str, Any]:
        with self.lock:
            invoice = self._open_invoice(action_id)
            if invoice.sent is None:
                raise BillectaError(400, f"Invoice {action_id} has not been sent")
            extra = self._extra(action_id)
            if extra.debt_collection_id:
                raise BillectaError(400, f"Invoice {action_id} is already in debt collection")
            dc_id = str(next(self._ids))
            current = self._current(invoice)
            self.debt_collections[dc_id] = {
                "id": dc_id, "source": action_id, "stage": "ReminderInvoiceSent", "debt": current,
                "interest": 0, "fee": 18000, "paid": 0, "created": now(), "events": [],
            }
            extra.debt_collection_id = dc_id
            self.state._apply_stage(invoice, "SentToDebtCollection")
            self._dc_event(dc_id, "Created", "Debt collection case created")
            self._emit("DebtCollectionActionStateChanged", CreditorPublicId=invoice.creditor_public_id,
                       ActionPublicId=dc_id)
            return self.debt_collection_view(dc_id)

    def advance_debt_collection(self, dc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            case = self._case(dc_id)
            stage = body.get("stage")
            stages = contract.enum_members("DebtCollectionActionView", "DebtCollectionActionStageTypeView")
            if not isinstance(stage, str) or stage not in stages:
                raise BillectaError(400, f"stage must be one of {sorted(stages)}")
            case["stage"] = stage
            if body.get("interest") is not None:
                case["interest"] = _ore(body["interest"], "interest")
            self._dc_event(dc_id, "Updated", f"Stage {stage}")
            source = self.state.invoices[case["source"]]
            self._emit("DebtCollectionActionStateChanged", CreditorPublicId=source.creditor_public_id,
                       ActionPublicId=dc_id)
            return self.debt_collection_view(dc_id)

    def _case(self, dc_id: str) -> dict[str, Any]:
        case = self.debt_collections.get(dc_id)
        if case is None:
            raise BillectaError(404, f"Debt collection action {dc_id} not found")
        return case

    def _dc_event(self, dc_id: str, event_type: str, title: str) -> None:
        self.debt_collections[dc_id]["events"].append({
            "EventPublicId": new_guid(), "EventType": event_type, "EventDate": iso(now()), "Title": title,
            "Content": None, "EventBy": "Billecta sandbox", "Reference": None, "HasOccured": True,
            "IsPublic": True,
        })

    def debt_collection_view(self, dc_id: str) -> dict[str, Any]:
        with self.lock:
            case = self._case(dc_id)
            source = self.state.invoices[case["source"]]
            currency = self.state._totals(source).currency
            closed = case["stage"] in ("Completed", "Cancelled")
            next_day = (case["created"] + timedelta(days=10)).date()
            view = contract.defaults("DebtCollectionActionView")
            view.update({
                "ActionPublicId": dc_id,
                "CreditorPublicId": source.creditor_public_id,
                "Created": iso(case["created"]),
                "Debtor": dict(self.state.debtors.get(source.debtor_public_id) or {}) or None,
                "DeliveryMethod": source.entry.get("DeliveryMethod") or "Email",
                "InvoiceSourcePublicId": source.action_public_id,
                "DebtAmount": amount(case["debt"], currency),
                "OriginalAmount": amount(case["debt"], currency),
                "InterestAmount": amount(case["interest"], currency),
                "FeeAmount": amount(case["fee"], currency),
                "CurrentAmount": amount(0 if closed else case["debt"] + case["interest"] + case["fee"] - case["paid"],
                                        currency),
                "InterestPercentage": float(source.entry.get("InterestPercentage") or 8.0),
                "OriginalInvoiceNumber": source.invoice_number,
                "OriginalDueDate": iso_date(source.due_date),
                "OriginalInvoiceDate": iso_date(source.invoice_date),
                "Events": [dict(e) for e in case["events"]],
                "State": {
                    **contract.defaults("DebtCollectionActionView", "DebtCollectionActionStateView"),
                    "Stage": case["stage"],
                    "NextEvent": None if closed else "DebtCollectionInvoiceDue",
                    "NextEventDate": None if closed else iso_date(next_day),
                    "ClosedDate": iso(now()) if closed else None,
                },
            })
            return view

    # ---- /v1 handlers (same signature as the app's: body first, path params as keywords) -----------

    def incoming_payments(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            creditor_id = self.state._creditor(body.get("CreditorPublicId"), 400)["CreditorPublicId"]
            start = contract.parse_datetime(str(body.get("From") or "")) or datetime.min
            end = contract.parse_datetime(str(body.get("To") or "")) or datetime.max
            wanted = set(body.get("ActionPublicIdFilter") or [])
            means = set(body.get("PaymentMeanCodeFilter") or [])
            rows = []
            for action_id, extra in self.extras.items():
                if wanted and action_id not in wanted:
                    continue
                for payment in extra.payments:
                    paid_on = contract.parse_datetime(payment["PaymentDate"]) or datetime.min
                    if payment["CreditorPublicId"] != creditor_id:
                        continue
                    if means and payment["PaymentMeanCode"] not in means:
                        continue
                    if start.replace(tzinfo=None) <= paid_on.replace(tzinfo=None) <= end.replace(tzinfo=None):
                        rows.append(dict(payment))
            return 200, rows

    def get_unhandled_payment(self, _body: None, payment_id: str) -> tuple[int, Any]:
        with self.lock:
            payment = self.unhandled.get(payment_id)
            if payment is None:
                raise BillectaError(404, f"Unhandled payment {payment_id} not found")
            return 200, dict(payment)

    def list_unhandled_payments(self, _body: None, creditor_id: str) -> tuple[int, Any]:
        with self.lock:
            self.state._creditor(creditor_id)
            return 200, [dict(p) for p in self.unhandled.values()
                         if p["CreditorPublicId"] == creditor_id and p["State"] == "Unhandled"]

    def get_debt_collection(self, _body: None, action_id: str) -> tuple[int, Any]:
        return 200, self.debt_collection_view(action_id)

    def debt_collection_events(self, _body: None, action_id: str) -> tuple[int, Any]:
        return 200, self.debt_collection_view(action_id)["Events"]

    def invoice_events(self, _body: None, action_id: str) -> tuple[int, Any]:
        return 200, self.state.invoice_view(action_id)["Events"]

    def get_reminder_invoice(self, _body: None, action_id: str) -> tuple[int, Any]:
        return 200, self.reminder_view(action_id)

    def retrigger_failed_webhooks(self, _body: None, creditor_id: str) -> tuple[int, Any]:
        """Send again every failed delivery of the last 48 hours that concerns this creditor."""
        import json
        import time

        with self.lock:
            self.state._creditor(creditor_id)
        since = time.time() - 48 * 3600
        sender = self.sandbox.sender
        count = 0
        for delivery in sender.deliveries(status="failed", since=since):
            try:
                payload = json.loads(delivery.body)
            except ValueError:
                continue
            ids = payload.get("Data") if isinstance(payload.get("Data"), dict) else payload
            if ids.get("CreditorPublicId") != creditor_id or delivery.id in self.retriggered:
                continue
            # A new delivery to the URL configured now (it may have been fixed since), sent once.
            self.retriggered.add(delivery.id)
            sender.send(self.sandbox.config.webhook_url or delivery.url, delivery.body, delivery.headers,
                        delivery.event)
            count += 1
        return 200, {"Resent": count}


def install(sandbox: BillectaSandbox, app: Flask) -> MoneyDesk:
    """Add the money routes to a sandbox app and hook its read model, reset and route table."""
    from sandbox.billecta import app as app_module

    desk = MoneyDesk(sandbox)
    state = sandbox.state
    original_view = state.invoice_view
    original_reset = state.reset

    def invoice_view(action_public_id: str) -> dict[str, Any]:
        with state.lock:
            return desk.decorate(original_view(action_public_id))

    def reset() -> None:
        with state.lock:
            original_reset()
            desk._clear()

    state.invoice_view = invoice_view  # type: ignore[method-assign]
    state.reset = reset  # type: ignore[method-assign]

    for name, method, rule, handler, request_view, response_view, status in API_ROUTES:
        route = app_module.Route(name, method, rule, handler, request_view, response_view, status, "payments.py")
        app_module.ROUTES_BY_NAME.setdefault(name, route)
        setattr(sandbox, handler, getattr(desk, handler))
        app.add_url_rule(rule, endpoint=name, view_func=sandbox._view(route), methods=[method])

    def admin(rule: str, name: str, func: Callable[..., dict[str, Any]], with_body: bool = True) -> None:
        def view(**params: str) -> Response:
            body = request.get_json(force=True, silent=True) if with_body else None
            if with_body and body is None:
                body = {}
            if with_body and not isinstance(body, dict):
                return app_module.error_response(400, "Send a JSON object")
            try:
                result = func(**params, body=body) if with_body else func(**params)
            except BillectaError as exc:
                return app_module.error_response(exc.status, exc.message)
            except KeyError as exc:
                return app_module.error_response(400, f"missing {exc}")
            return jsonify(result)

        app.add_url_rule(rule, endpoint=f"sandbox_{name}", view_func=view, methods=["POST"])

    admin("/_sandbox/invoices/<action_id>/payments", "payments",
          lambda action_id, body: desk.register_payment(action_id, body))
    admin("/_sandbox/invoices/<action_id>/credit", "credit", lambda action_id, body: desk.credit(action_id, body))
    admin("/_sandbox/invoices/<action_id>/writeoff", "writeoff",
          lambda action_id, body: desk.write_off(action_id, body))
    admin("/_sandbox/invoices/<action_id>/reminder", "reminder",
          lambda action_id, body: desk.reminder(action_id, body))
    admin("/_sandbox/invoices/<action_id>/debtcollection", "debtcollection",
          lambda action_id: desk.send_to_debt_collection(action_id), False)
    admin("/_sandbox/invoices/<action_id>/autogiro-withdrawal", "autogiro_withdrawal",
          lambda action_id, body: desk.autogiro_withdrawal(action_id, body))
    admin("/_sandbox/debtcollection/<dc_id>/advance", "debtcollection_advance",
          lambda dc_id, body: desk.advance_debt_collection(dc_id, body))
    admin("/_sandbox/unmatched-payments", "unmatched_payments", lambda body: desk.unmatched_payment(body))
    admin("/_sandbox/unhandled-payments/<payment_id>/match", "match_overpayment",
          lambda payment_id, body: desk.match_overpayment(payment_id, body))
    admin("/_sandbox/debtors/<debtor_id>/autogiro", "debtor_autogiro",
          lambda debtor_id, body: desk.debtor_autogiro(debtor_id, body))
    app.extensions["billecta_money"] = desk
    return desk

