"""Payments in the Billecta sandbox: booked payments, overpayments and unmatched (unhandled) payments, the
use of an unhandled payment on an invoice, write-offs and crediting an open balance.

Billecta does these itself (a bank file comes in, a clerk writes off); the sandbox does them when an admin
endpoint asks, raising the webhook Billecta would raise. Admin amounts are in major units (``"125.50"``).

Billecta documents an IncomingPaymentView as the data of ``InvoicePaymentReceived``,
``AmountCreditedOnInvoice`` and ``AmountWrittenOffOnInvoice``; each of those is raised with its record as
context, so one payment, credit or write-off keeps one ``PaymentReferenceId``. Only real payments are listed
by ``incomingpayments``; the records of credits and write-offs (PaymentMeanCode ``CREDIT`` / ``WRITEOFF``, the
sandbox's names) are kept on the ledger beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import BillectaError, Store, amount, iso, minor_units, new_guid, now, today
from sandbox.billecta.state.credits import CREDIT_ACTION
from sandbox.billecta.state.invoice import Invoice
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors, Debtors


def _day(value: object, default: date) -> date:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise BillectaError(400, f"not a date: {value!r}") from exc


def _moment(day: date) -> str:
    return iso(datetime.combine(day, datetime.min.time())) or ""


def _positive(value: int) -> int:
    if value <= 0:
        raise BillectaError(400, "amount must be positive")
    return value


@dataclass(eq=False)
class Payments:
    store: Store
    invoices: Invoices
    creditors: Creditors
    debtors: Debtors
    ledger: Ledger
    unhandled: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)

    def clear(self) -> None:
        self.unhandled = {}

    # ---- payments ------------------------------------------------------------------------------------

    def register_payment(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            paid = _positive(minor_units(body.get("amount")))
            day = _day(body.get("date"), today())
            mean = str(body.get("payment_mean_code") or "BG")
            return self.book_payment(invoice, paid, day, mean)

    def book_payment(self, invoice: Invoice, paid: int, day: date, mean: str, surplus: str = "OverPayment",
                     ) -> dict[str, Any]:
        """Book ``paid`` (minor units) on an open invoice: up to its balance as a payment (InvoicePaymentReceived);
        a surplus becomes an unhandled payment of type OverPayment (``surplus="OverPayment"``, Overpayment
        raised) or is absorbed as a currency difference (any other value). Completes a settled invoice."""
        with self.store.lock:
            action_id = invoice.action_public_id
            current = self.ledger.balance(invoice)
            booked = min(paid, current)
            sums = self.invoices.totals(invoice)
            payment = self._record(invoice, booked, day, mean)
            self.ledger.of(action_id).payments.append(payment)
            invoice.paid += booked
            self.invoices.add_event(invoice, "Paid", f"Payment of {booked / 100:.2f} {sums.currency} received")
            self.store.emit("InvoicePaymentReceived", context={"payment": payment},
                            CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id)
            over = None
            if paid > current and surplus == "OverPayment":
                over = self.new_unhandled(invoice.creditor_public_id, paid - current, day, "OverPayment",
                                          debtor_public_id=invoice.debtor_public_id, action=invoice,
                                          reference=invoice.ocr)
                self.invoices.add_event(invoice, "OverPayment", f"Overpayment of {(paid - current) / 100:.2f}")
                self.store.emit("Overpayment", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id,
                                UnhandledPaymentPublicId=over["UnhandledPaymentPublicId"])
            if self.ledger.balance(invoice) <= 0:
                self.ledger.complete(invoice)
            return {"payment": payment, "overpayment": over}

    def _record(self, invoice: Invoice, value: int, day: date, mean: str, action_type: str = "InvoiceAction",
                ) -> dict[str, Any]:
        """An IncomingPaymentView of ``value`` booked on ``invoice`` (a payment, credit or write-off)."""
        debtor = self.debtors.rows.get(invoice.debtor_public_id) or {}
        return {
            "PaymentReferenceId": new_guid(),
            "ActionPublicId": invoice.action_public_id,
            "ActionType": action_type,
            "Amount": amount(value, self.invoices.totals(invoice).currency),
            "CreatedBy": "Billecta sandbox",
            "CreatedDate": iso(now()),
            "CreditorPublicId": invoice.creditor_public_id,
            "DebtorName": debtor.get("Name"),
            "DebtorPublicId": invoice.debtor_public_id,
            "ExternalReference": invoice.entry.get("ExternalReference"),
            "File": None,
            "InvoiceNumber": invoice.invoice_number,
            "IsReminderPayment": self.ledger.of(invoice.action_public_id).reminder_action_id is not None,
            "OCR": invoice.ocr,
            "PaymentDate": _moment(day),
            "PaymentMeanCode": mean,
        }

    def incoming_payments(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The payments booked for a creditor (IncomingPaymentRequestView's filters applied)."""
        with self.store.lock:
            creditor_id = self.creditors.find(body.get("CreditorPublicId"), 400)["CreditorPublicId"]
            start = contract.parse_datetime(str(body.get("From") or "")) or datetime.min
            end = contract.parse_datetime(str(body.get("To") or "")) or datetime.max
            wanted = set(body.get("ActionPublicIdFilter") or [])
            means = set(body.get("PaymentMeanCodeFilter") or [])
            rows = []
            for action_id, money in self.ledger.accounts.items():
                if wanted and action_id not in wanted:
                    continue
                for payment in money.payments:
                    paid_on = contract.parse_datetime(payment["PaymentDate"]) or datetime.min
                    if payment["CreditorPublicId"] != creditor_id:
                        continue
                    if means and payment["PaymentMeanCode"] not in means:
                        continue
                    if start.replace(tzinfo=None) <= paid_on.replace(tzinfo=None) <= end.replace(tzinfo=None):
                        rows.append(dict(payment))
            return rows

    # ---- unhandled payments --------------------------------------------------------------------------

    def new_unhandled(self, creditor_id: str, value: int, day: date, kind: str, *, debtor_public_id: str | None,
                      action: Invoice | None = None, reference: str | None = None,
                      action_type: str = "InvoiceAction") -> dict[str, Any]:
        """A new unhandled payment (state Unhandled) of ``kind``; ``action`` is the invoice it came from."""
        currency = self.invoices.totals(action).currency if action else "SEK"
        payment = {
            "AdditionalInformations": [],
            "Amount": amount(value, currency),
            "CreatedBy": "Billecta sandbox",
            "CreditorName": (self.creditors.rows.get(creditor_id) or {}).get("Name"),
            "CreditorPublicId": creditor_id,
            "DebtorPublicId": debtor_public_id,
            "OverpaymentDetails": None if action is None else {
                "ActionPublicId": action.action_public_id, "ActionType": action_type,
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
        """A payment no invoice can be found for (an unknown reference)."""
        with self.store.lock:
            creditor_id = self.creditors.find(body.get("creditor_public_id"), 400)["CreditorPublicId"]
            debtor_id = body.get("debtor_public_id") or None
            if debtor_id:
                self.debtors.find(debtor_id)
            value = _positive(minor_units(body.get("amount")))
            payment = self.new_unhandled(creditor_id, value, _day(body.get("date"), today()), "UnmatchedPayment",
                                         debtor_public_id=debtor_id, reference=body.get("reference"))
            self.store.emit("UnmatchedPayment", CreditorPublicId=creditor_id,
                            UnhandledPaymentPublicId=payment["UnhandledPaymentPublicId"])
            return payment

    def match_overpayment(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Use an unhandled payment on an open invoice (what matchpayments does)."""
        with self.store.lock:
            payment = self.unhandled.get(payment_id)
            if payment is None or payment["State"] != "Unhandled":
                raise BillectaError(400, f"No unhandled payment {payment_id}")
            invoice = self.invoices.find_open(str(body.get("action_public_id") or ""))
            value = int(payment["Amount"]["Value"])
            self.register_payment(invoice.action_public_id, {
                "amount": str(Decimal(min(value, self.ledger.balance(invoice))) / 100),
                "date": payment["PaymentDate"], "payment_mean_code": "OVERPAYMENT"})
            payment["State"] = "UsedOnInvoice"
            if payment["OverpaymentDetails"] is not None:
                payment["OverpaymentDetails"]["UsedOnActionPublicId"] = invoice.action_public_id
            self.store.emit("OverpaymentMatchedToInvoice", CreditorPublicId=invoice.creditor_public_id,
                            ActionPublicId=invoice.action_public_id, UnhandledPaymentPublicId=payment_id)
            return payment

    def get_unhandled(self, payment_id: str) -> dict[str, Any]:
        with self.store.lock:
            payment = self.unhandled.get(payment_id)
            if payment is None:
                raise BillectaError(404, f"Unhandled payment {payment_id} not found")
            return dict(payment)

    def list_unhandled(self, creditor_id: str) -> list[dict[str, Any]]:
        with self.store.lock:
            self.creditors.find(creditor_id)
            return [dict(p) for p in self.unhandled.values()
                    if p["CreditorPublicId"] == creditor_id and p["State"] == "Unhandled"]

    # ---- settling without a payment ------------------------------------------------------------------

    def _part_of_balance(self, invoice: Invoice, body: dict[str, Any]) -> int:
        """``amount`` of the body (default: the whole balance), which must be within the balance."""
        current = self.ledger.balance(invoice)
        value = minor_units(body["amount"]) if body.get("amount") is not None else current
        if not 0 < value <= current:
            raise BillectaError(400, f"amount must be between 0 and the remaining {current / 100:.2f}")
        return value

    def write_off(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            value = self._part_of_balance(invoice, body)
            return {"written_off": self.book_write_off(invoice, value, today())}

    def book_write_off(self, invoice: Invoice, value: int, day: date, comment: str | None = None) -> int:
        """Write ``value`` (within the balance) off an open invoice (AmountWrittenOffOnInvoice); returns the
        amount written off the invoice so far."""
        with self.store.lock:
            action_id = invoice.action_public_id
            money = self.ledger.of(action_id)
            money.written_off += value
            record = self._record(invoice, value, day, "WRITEOFF")
            money.settlements.append(record)
            self.invoices.add_event(invoice, "WrittenOff", f"Written off {value / 100:.2f}" + (
                f": {comment}" if comment else ""))
            self.store.emit("AmountWrittenOffOnInvoice", context={"payment": record},
                            CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id)
            if self.ledger.balance(invoice) <= 0:
                self.ledger.complete(invoice)
            return money.written_off

    def credit(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A credit invoice for ``amount`` (default: the remaining balance), booked as the credit invoices
        Lime creates are (``credits``); Billecta then raises AmountCreditedOnInvoice for both invoices."""
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            value = self._part_of_balance(invoice, body)
            currency = self.invoices.totals(invoice).currency
            entry = {
                "ActionType": CREDIT_ACTION,
                "CreditingInvoicePublicId": action_id,
                "CreditorPublicId": invoice.creditor_public_id,
                "DebtorPublicId": invoice.debtor_public_id,
                "DeliveryMethod": "Manually",  # a credit note is not sent on its own here
                "Records": [{
                    "RecordType": "Standard", "ArticleDescription": f"Kredit av faktura {invoice.invoice_number}",
                    "Quantity": 1, "VAT": 0, "UnitPrice": amount(-value, currency),
                }],
            }
            credit_id = self.invoices.create(entry)
            self.invoices.attest(credit_id)  # the credit invoice rules lower the original's balance
            credit = self.invoices.rows[credit_id]
            on_invoice = self._record(invoice, value, today(), "CREDIT")
            on_credit = self._record(credit, value, today(), "CREDIT", CREDIT_ACTION)
            self.ledger.of(action_id).settlements.append(on_invoice)
            self.ledger.of(credit_id).settlements.append(on_credit)
            self.store.emit("AmountCreditedOnInvoice", context={"payment": on_invoice},
                            CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id,
                            ActionType="InvoiceAction")
            self.store.emit("AmountCreditedOnInvoice", context={"payment": on_credit},
                            CreditorPublicId=credit.creditor_public_id, ActionPublicId=credit_id,
                            ActionType=CREDIT_ACTION)
            return {"credit_action_public_id": credit_id, "credited": value}
