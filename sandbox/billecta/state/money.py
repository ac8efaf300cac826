"""The money routes a client calls in the Billecta sandbox: manual payments and write-offs (RegisterPaymentView),
the creditor's payment means, deleting and matching unhandled payments, the balance a free credit invoice
leaves, and Swish payment requests.

The arithmetic is the one the admin endpoints use (``payments``): a payment is booked up to the invoice's
balance, a write-off lowers it, a settled invoice completes. The rules where the notes say nothing are the
sandbox's (docs: billecta-api.md §2.4, §2.6; billecta-api-followup.md §1, §3, §4):

* ``RegisterPaymentView``: ``Amount`` (a payment) and/or ``WriteOff`` (a write-off, after the payment); each
  must be positive (an ``Amount`` of 0 beside a ``WriteOff`` is no payment) and in the invoice's currency,
  the payment mean must be one of the creditor's payment means (default ``BG``), a write-off no larger than
  what is left. An amount over what is left is refused
  unless ``OvershootingAmountHandling`` is ``AsOverPayments`` (the surplus becomes an unhandled payment of
  type OverPayment) or ``AsCurrencyDifference`` (the surplus is absorbed). Every refusal changes nothing.
* Payment means: each creditor starts with BG, PG, SWISH, CASH and AG (autogiro).
* Unhandled payments: deleting one (state ``Deleted``) or using it (``UsedOnInvoice``) needs state
  ``Unhandled``. Matching books its whole amount on the invoice (a surplus is a new OverPayment).
* A credit invoice attested without ``CreditingInvoicePublicId`` is settled at once (nothing left on it) and
  its credit becomes an unhandled payment of type ``BalanceFromInvoice``.
* Swish: one request per call (phone a Swedish mobile number, message up to 50 characters) for what is left
  on the invoice; it ends ``swish_outcome`` after ``swish_delay_s`` or by an admin call. ``Paid`` books its
  amount with PaymentMeanCode ``SWISH`` (on an invoice closed meanwhile: an OverPayment). Only a pending
  (``Created``) request can be cancelled or ended otherwise by the admin call.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from sandbox.billecta.state.core import BillectaError, Store, amount, iso, now, parse_day, today
from sandbox.billecta.state.credits import CREDIT_ACTION
from sandbox.billecta.state.invoice import Invoice
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors
from sandbox.billecta.state.payments import Payments

# Code -> (description, bookkeeping account): the payment means every creditor starts with.
DEFAULT_PAYMENT_MEANS: dict[str, tuple[str, str]] = {
    "BG": ("Bankgiro", "1930"),
    "PG": ("Plusgiro", "1920"),
    "SWISH": ("Swish", "1930"),
    "CASH": ("Kontant", "1910"),
    "AG": ("Autogiro", "1930"),
}
DEFAULT_PAYMENT_MEAN = "BG"
SETTLING_PAYMENT_MEAN = "OVERPAYMENT"  # what a matched unhandled payment is booked with (the sandbox's name)
SWISH_PAYMENT_MEAN = "SWISH"
MAX_SWISH_MESSAGE = 50
MAX_SWISH_PHONE = 20
SWISH_ENDINGS = ("Paid", "Declined", "Error")
# The error a Swish request of the sandbox ends with (codes as Swish names them).
SWISH_ERRORS = {
    "Declined": ("RF07", "The payer declined the payment"),
    "Error": ("TM01", "Swish timed out before the payment was started"),
}
_MOBILE = re.compile(r"^(?:\+46|0046|46|0)(7[02369]\d{7})$")


def swedish_mobile(phone: str) -> str | None:
    """The number as Swish wants it (``467XXXXXXXX``), or None when ``phone`` is not a Swedish mobile number."""
    digits = re.sub(r"[\s\-()]", "", phone)
    match = _MOBILE.match(digits)
    return f"46{match.group(1)}" if match else None


class PaymentMeans:
    """The payment means of each creditor (AccountingPaymentMeanView rows, in the order added)."""

    def __init__(self, store: Store, creditors: Creditors) -> None:
        self.store = store
        self.creditors = creditors
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}

    def clear(self) -> None:
        self.rows = {}

    def _of(self, creditor_id: str, missing: int = 404) -> dict[str, dict[str, Any]]:
        creditor_id = self.creditors.find(creditor_id, missing)["CreditorPublicId"]
        if creditor_id not in self.rows:
            self.rows[creditor_id] = {
                code: {"CreditorPublicId": creditor_id, "PaymentCode": code, "Description": text,
                       "BookkeepingAccount": account}
                for code, (text, account) in DEFAULT_PAYMENT_MEANS.items()
            }
        return self.rows[creditor_id]

    def list(self, creditor_id: str) -> list[dict[str, Any]]:
        with self.store.lock:
            return [dict(row) for row in self._of(creditor_id).values()]

    def has(self, creditor_id: str, code: str) -> bool:
        with self.store.lock:
            return code in self._of(creditor_id)

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add (or replace) a payment mean: ``CreditorPublicId``, ``PaymentCode``, ``Description``,
        ``BookkeepingAccount``."""
        with self.store.lock:
            creditor_id = self.creditors.find(body.get("CreditorPublicId"), 400)["CreditorPublicId"]
            means = self._of(creditor_id)
            code = str(body.get("PaymentCode") or "").strip()
            if not code:
                raise BillectaError(400, "PaymentCode is required")
            account = body.get("BookkeepingAccount")
            if account is not None and not re.fullmatch(r"\d{4}", str(account)):
                raise BillectaError(400, f"BookkeepingAccount must be a four-digit account, not {account!r}")
            row = {"CreditorPublicId": creditor_id, "PaymentCode": code, "Description": body.get("Description"),
                   "BookkeepingAccount": None if account is None else str(account)}
            means[code] = row
            return dict(row)

    def remove(self, creditor_id: str, code: str) -> list[dict[str, Any]]:
        with self.store.lock:
            means = self._of(creditor_id)
            if code not in means:
                raise BillectaError(404, f"The creditor has no payment mean {code!r}")
            del means[code]
            return [dict(row) for row in means.values()]


def _positive_amount(value: Any, name: str, currency: str) -> int | None:
    """Minor units of an AmountView of the request (None when absent), refused unless positive and in
    ``currency``."""
    if value is None:
        return None
    code = value.get("CurrencyCode")
    if code not in (None, "") and code != currency:
        raise BillectaError(400, f"{name}.CurrencyCode {code} is not the invoice's currency {currency}")
    minor = int(value.get("Value") or 0)
    if minor <= 0:
        raise BillectaError(400, f"{name} must be greater than zero")
    return minor


class ManualPayments:
    """What the client does with money: RegisterPaymentView, unhandled payments, the free credit's balance."""

    def __init__(self, store: Store, invoices: Invoices, ledger: Ledger, payments: Payments,
                 means: PaymentMeans) -> None:
        self.store = store
        self.invoices = invoices
        self.ledger = ledger
        self.payments = payments
        self.means = means

    def clear(self) -> None:
        """Nothing of its own: the payments and the means hold the state."""

    def _open_invoice(self, action_id: object) -> Invoice:
        if not action_id:
            raise BillectaError(400, "ActionPublicId is required")
        invoice = self.invoices.find_open(str(action_id))
        if invoice.entry.get("ActionType") == CREDIT_ACTION:
            raise BillectaError(400, f"Invoice {action_id} is a credit invoice; no payment can be registered on it")
        return invoice

    def register(self, body: dict[str, Any]) -> None:
        """``POST /v1/invoice/payment``: every check first, then the payment, then the write-off."""
        with self.store.lock:
            invoice = self._open_invoice(body.get("ActionPublicId"))
            currency = self.invoices.totals(invoice).currency
            written = _positive_amount(body.get("WriteOff"), "WriteOff", currency)
            given = body.get("Amount")
            if written is not None and given is not None and given.get("Value") == 0:
                given = None  # an Amount of 0 beside a WriteOff (the .NET default of a set Amount): no payment
            paid = _positive_amount(given, "Amount", currency)
            if paid is None and written is None:
                raise BillectaError(400, "Amount or WriteOff is required")
            day = parse_day(body.get("Date"), "Date") or today()
            mean = str(body.get("PaymentMeanCode") or DEFAULT_PAYMENT_MEAN)
            handling = body.get("OvershootingAmountHandling") or "None"
            left = self.ledger.balance(invoice)
            if paid is not None:
                if not self.means.has(invoice.creditor_public_id, mean):
                    raise BillectaError(400, f"PaymentMeanCode {mean} is not a payment mean of the creditor")
                if paid > left and handling not in ("AsOverPayments", "AsCurrencyDifference"):
                    raise BillectaError(
                        400, f"Amount {paid / 100:.2f} is more than the {left / 100:.2f} left on the invoice; "
                        "set OvershootingAmountHandling to AsOverPayments or AsCurrencyDifference")
                if written is not None and paid >= left:
                    raise BillectaError(400, "Nothing is left to write off after the payment")
                left -= min(paid, left)
            if written is not None and written > left:
                raise BillectaError(400, f"WriteOff {written / 100:.2f} is more than the {left / 100:.2f} left")
            if paid is not None:
                surplus = "OverPayment" if handling == "AsOverPayments" else "CurrencyDifference"
                self.payments.book_payment(invoice, paid, day, mean, surplus)
            if written is not None:
                self.payments.book_write_off(invoice, written, day, body.get("Comment"))

    def delete_unhandled(self, payment_id: str, account: str | None, day: date | None) -> None:
        with self.store.lock:
            payment = self.payments.unhandled.get(payment_id)
            if payment is None:
                raise BillectaError(404, f"Unhandled payment {payment_id} not found")
            if payment["State"] != "Unhandled":
                raise BillectaError(400, f"Unhandled payment {payment_id} is {payment['State']}; it can't be deleted")
            if account is not None and not re.fullmatch(r"\d{4}", account):
                raise BillectaError(400, f"bookkeepingaccount must be a four-digit account, not {account!r}")
            payment["State"] = "Deleted"
            if account is not None:
                when = (day or today()).isoformat()
                payment["AdditionalInformations"] = [*payment["AdditionalInformations"],
                                                     f"Deleted: booked on account {account} on {when}"]

    def match(self, creditor_id: str, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST /v1/payments/matchpayments/{creditor}``: one PaymentMatchResultView per item, in order."""
        with self.store.lock:
            self.payments.creditors.find(creditor_id)
            return [self._match_one(creditor_id, item) for item in matches]

    def _match_one(self, creditor_id: str, item: dict[str, Any]) -> dict[str, Any]:
        payment_id = str(item.get("UnhandledPaymentPublicId") or "")

        def result(ok: bool, message: str | None) -> dict[str, Any]:
            return {"UnhandledPaymentPublicId": payment_id, "Successfull": ok, "ResponseMessage": message}

        payment = self.payments.unhandled.get(payment_id)
        if payment is None or payment["CreditorPublicId"] != creditor_id:
            return result(False, f"Unhandled payment {payment_id} not found for the creditor")
        if payment["State"] != "Unhandled":
            return result(False, f"Unhandled payment {payment_id} is {payment['State']}")
        try:
            invoice = self._open_invoice(item.get("ActionPublicId"))
        except BillectaError as exc:
            return result(False, exc.message)
        if invoice.creditor_public_id != creditor_id:
            return result(False, f"Invoice {invoice.action_public_id} belongs to another creditor")
        currency = self.invoices.totals(invoice).currency
        if payment["Amount"]["CurrencyCode"] != currency:
            return result(False, f"The payment is in {payment['Amount']['CurrencyCode']}, the invoice in {currency}")
        day = parse_day(item.get("PaymentDate"), "PaymentDate") or parse_day(payment["PaymentDate"], "PaymentDate")
        payment["State"] = "UsedOnInvoice"
        if payment["OverpaymentDetails"] is None:
            payment["OverpaymentDetails"] = {"ActionPublicId": None, "ActionType": "InvoiceAction",
                                             "InvoiceNumber": None, "UsedOnActionPublicId": None}
        payment["OverpaymentDetails"]["UsedOnActionPublicId"] = invoice.action_public_id
        self.store.emit("OverpaymentMatchedToInvoice", CreditorPublicId=creditor_id,
                        ActionPublicId=invoice.action_public_id, UnhandledPaymentPublicId=payment_id)
        self.payments.book_payment(invoice, int(payment["Amount"]["Value"]), day or today(),
                                   SETTLING_PAYMENT_MEAN)
        return result(True, None)

    def balance_from_credit(self, invoice: Invoice) -> None:
        """Attest hook: a credit invoice that credits no invoice leaves its credit as a BalanceFromInvoice."""
        if invoice.entry.get("ActionType") != CREDIT_ACTION or invoice.entry.get("CreditingInvoicePublicId"):
            return
        sums = self.invoices.totals(invoice)
        invoice.credited = sums.invoiced  # negative: nothing is left on the credit invoice itself
        self.payments.new_unhandled(invoice.creditor_public_id, -sums.invoiced, today(), "BalanceFromInvoice",
                                    debtor_public_id=invoice.debtor_public_id, action=invoice,
                                    reference=invoice.ocr, action_type=CREDIT_ACTION)
        self.invoices.add_event(invoice, "BalanceFromInvoice", f"Balance of {-sums.invoiced / 100:.2f} to use")


class SwishRequests:
    """Swish payment requests by token, and their scheduled endings."""

    def __init__(self, store: Store, invoices: Invoices, ledger: Ledger, payments: Payments,
                 delay_s: Callable[[], float], outcome: Callable[[], str]) -> None:
        self.store = store
        self.invoices = invoices
        self.ledger = ledger
        self.payments = payments
        self.delay_s = delay_s  # read at each request, like the auto-send delay
        self.outcome = outcome
        self.rows: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, str] = {}  # invoice -> its latest request's token
        self._timers: dict[str, threading.Timer] = {}
        self._generation = 0

    def clear(self) -> None:
        self._generation += 1
        for timer in self._timers.values():
            timer.cancel()
        self._timers = {}
        self.rows = {}
        self.latest = {}

    def create(self, action_id: str, phone: str | None, message: str | None) -> str:
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            if invoice.entry.get("ActionType") == CREDIT_ACTION:
                raise BillectaError(400, f"Invoice {action_id} is a credit invoice")
            if not phone:
                raise BillectaError(400, "The query parameter phone is required")
            number = swedish_mobile(phone) if len(phone) <= MAX_SWISH_PHONE else None
            if number is None:
                raise BillectaError(400, f"phone {phone!r} is not a Swedish mobile number")
            if message is not None and len(message) > MAX_SWISH_MESSAGE:
                raise BillectaError(400, f"message may be at most {MAX_SWISH_MESSAGE} characters")
            left = self.ledger.balance(invoice)
            if left <= 0:
                raise BillectaError(400, f"Nothing is left to pay on invoice {action_id}")
            token = uuid.uuid4().hex.upper()
            self.rows[token] = {
                "token": token, "action_id": action_id, "phone": number, "message": message,
                "amount": amount(left, self.invoices.totals(invoice).currency), "created": now(),
                "status": "Created", "paid": None, "ending": self.outcome(),
            }
            self.latest[action_id] = token
            self.invoices.add_event(invoice, "PaymentInitiated", "Swish payment requested")
            delay = self.delay_s()
            if delay >= 0:
                timer = threading.Timer(delay, self._scheduled, args=(token, self._generation))
                timer.daemon = True
                self._timers[token] = timer
                timer.start()
            return token

    def _scheduled(self, token: str, generation: int) -> None:
        with self.store.lock:
            if generation != self._generation:
                return
            self._timers.pop(token, None)
            row = self.rows.get(token)
            if row is not None and row["status"] == "Created":
                self._end(row, row["ending"])

    def complete(self, token: str, status: str) -> dict[str, Any]:
        """Admin: end a pending request now as ``status`` (a request that already ended so is left as it is)."""
        with self.store.lock:
            row = self._find(token)
            if status not in SWISH_ENDINGS:
                raise BillectaError(400, f"status must be one of {list(SWISH_ENDINGS)}, not {status!r}")
            if row["status"] == status:
                return self.status(token)  # ended so already (the delay came first): nothing to do
            if row["status"] != "Created":
                raise BillectaError(400, f"Swish request {token} is already {row['status']}")
            timer = self._timers.pop(token, None)
            if timer is not None:
                timer.cancel()
            self._end(row, status)
            return self.status(token)

    def cancel(self, token: str) -> None:
        """``DELETE /v1/payments/swish/{token}``: a pending request is Cancelled; an ended one is refused."""
        with self.store.lock:
            row = self._find(token)
            if row["status"] != "Created":
                raise BillectaError(400, f"Swish request {token} is {row['status']}; it can't be cancelled")
            timer = self._timers.pop(token, None)
            if timer is not None:
                timer.cancel()
            row["status"] = "Cancelled"

    def _end(self, row: dict[str, Any], status: str) -> None:
        row["status"] = status
        if status != "Paid":
            return
        row["paid"] = now()
        invoice = self.invoices.rows.get(row["action_id"])
        value = int(row["amount"]["Value"])
        if invoice is not None and invoice.is_open:
            self.payments.book_payment(invoice, value, row["paid"].date(), SWISH_PAYMENT_MEAN)
        elif invoice is not None:
            # The money came in after the invoice closed: Billecta keeps it as an overpayment.
            over = self.payments.new_unhandled(invoice.creditor_public_id, value, row["paid"].date(), "OverPayment",
                                               debtor_public_id=invoice.debtor_public_id, action=invoice,
                                               reference=invoice.ocr)
            self.store.emit("Overpayment", CreditorPublicId=invoice.creditor_public_id,
                            ActionPublicId=invoice.action_public_id,
                            UnhandledPaymentPublicId=over["UnhandledPaymentPublicId"])

    def _find(self, token: str) -> dict[str, Any]:
        row = self.rows.get(token)
        if row is None:
            raise BillectaError(404, f"Swish payment request {token} not found")
        return row

    def status(self, token: str) -> dict[str, Any]:
        """The SwishPaymentStatusView of a request."""
        with self.store.lock:
            row = self._find(token)
            error = SWISH_ERRORS.get(row["status"])
            return {
                "PaymentRequestToken": token,
                "Status": row["status"],
                "PaidDate": iso(row["paid"]),
                "Created": iso(row["created"]),
                "Amount": dict(row["amount"]),
                "RefundedAmount": None,
                "ErrorMessage": error[1] if error else None,
                "ErrorCode": error[0] if error else None,
            }

    def latest_of(self, invoice: Invoice, view: dict[str, Any]) -> None:
        """View hook: ``State.SwishPaymentPublicId`` names the invoice's latest Swish request."""
        token = self.latest.get(invoice.action_public_id)
        if token is not None and isinstance(view.get("State"), dict):
            view["State"]["SwishPaymentPublicId"] = token
