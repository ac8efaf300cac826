"""Invoice actions in the Billecta sandbox: the rules of writing, attesting and advancing them.

The rules imitated come from the research notes:

* An invoice action is created unattested (Stage ``Created``) and can be changed or deleted until it is
  attested. Attesting books it: Stage ``Attested``, an InvoiceNumber (sequential per creditor), an OCR
  reference (Luhn check digit), AttestedDate, and it is locked for editing.
* After attest an invoice with a distribution method is sent by Billecta; here that happens after the
  configured auto-send delay (negative = never). ``Manually`` means the creditor sends it, so no auto-send.
* The debtor, and the products on the rows, must exist (404) and belong to the invoice's creditor (400).

Assumptions where Billecta is silent: PUT replaces the whole entry; an omitted DeliveryMethod is ``Email``
(code 0, the .NET default of the enum).

Other domains plug in through three explicit points: ``add_action_type`` (rules for an ActionType other than
a plain InvoiceAction, e.g. credit invoices), ``add_view_hook`` (fields they add to InvoiceActionView) and
``add_attest_hook`` (what attesting makes besides the booking, e.g. the invoice PDF).
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sandbox.billecta import contract
from sandbox.billecta.state.core import BillectaError, Store, action_event, now, parse_day, with_ocr
from sandbox.billecta.state.invoice import CLOSED_STAGES, Invoice, action_view, sub_view, totals
from sandbox.billecta.state.masterdata import DEFAULT_FIRST_INVOICE_NUMBER, Creditors, Debtors, Products
from sandbox.billecta.state.pricing import Totals, currency_of

# Distribution methods Billecta carries out itself after attest.
AUTO_SEND_METHODS = frozenset({"Email", "Mail", "SMS", "EInvoice", "Kivra", "Avy"})
STAGES: dict[str, int] = contract.enum_members("InvoiceActionView", "InvoiceActionStageTypeView")
DEFAULT_PAYMENT_TERMS_DAYS = 30
PLAIN_ACTION_TYPES = (None, "InvoiceAction")
ViewHook = Callable[[Invoice, dict[str, Any]], None]
AttestHook = Callable[[Invoice], None]


class ActionType(Protocol):
    """The rules of one ActionType beyond a plain invoice."""

    def check(self, entry: dict[str, Any], creditor_public_id: str) -> None:
        """Refuse an entry of this type (raise BillectaError) before anything is stored."""

    def attested(self, invoice: Invoice) -> None:
        """What attesting an invoice of this type does besides booking it (called under the lock)."""


class Invoices:
    def __init__(
        self,
        store: Store,
        creditors: Creditors,
        debtors: Debtors,
        products: Products,
        auto_send_delay_s: Callable[[], float] = lambda: 0.2,
    ) -> None:
        self.store = store
        self.lock = store.lock
        self.creditors = creditors
        self.debtors = debtors
        self.products = products
        self.auto_send_delay_s = auto_send_delay_s  # read at each attest: the delay can be changed at run time
        # Action ids look like Billecta's (numeric strings) and never repeat within a process, even across
        # resets, so a stale id held by a client is a clean 404.
        self._action_ids = itertools.count(random.randint(7_000_000_000, 7_900_000_000))
        self._generation = 0
        self._timers: dict[str, threading.Timer] = {}
        self._action_types: dict[str, ActionType] = {}
        self._view_hooks: list[ViewHook] = []
        self._attest_hooks: list[AttestHook] = []
        self.rows: dict[str, Invoice] = {}
        creditors.add_referrer(lambda public_id: any(i.creditor_public_id == public_id for i in self.rows.values()))
        debtors.add_referrer(lambda public_id: any(i.debtor_public_id == public_id for i in self.rows.values()))
        products.add_referrer(lambda public_id: any(
            (rec.get("ProductPublicId") or "") == public_id
            for inv in self.rows.values()
            for rec in inv.entry.get("Records") or []
        ))

    def __len__(self) -> int:
        return len(self.rows)

    def clear(self) -> None:
        self._generation += 1  # scheduled sends of the old generation become no-ops
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.rows = {}

    def add_action_type(self, name: str, rules: ActionType) -> None:
        self._action_types[name] = rules

    def add_view_hook(self, hook: ViewHook) -> None:
        """``hook(invoice, view)`` adds to an InvoiceActionView; hooks run in the order they were added."""
        self._view_hooks.append(hook)

    def add_attest_hook(self, hook: AttestHook) -> None:
        """``hook(invoice)`` runs under the lock once an invoice is booked, before its webhooks are raised (so
        their data objects already show what the hook made)."""
        self._attest_hooks.append(hook)

    def scheduled_count(self) -> int:
        """Scheduled automatic state changes that have not happened yet."""
        with self.lock:
            return len(self._timers)

    # ---- lookups and helpers for the domains that build on invoices -------------------------------

    def find(self, action_public_id: str) -> Invoice:
        invoice = self.rows.get(action_public_id)
        if invoice is None:
            raise BillectaError(404, f"Invoice action {action_public_id} not found")
        return invoice

    def find_open(self, action_public_id: str) -> Invoice:
        """An attested invoice that is not closed: the only kind Billecta's money processes touch."""
        invoice = self.find(action_public_id)
        if not invoice.is_attested:
            raise BillectaError(400, f"Invoice {action_public_id} is not attested")
        if invoice.stage in CLOSED_STAGES:
            raise BillectaError(400, f"Invoice {action_public_id} is closed (Stage {invoice.stage})")
        return invoice

    def totals(self, invoice: Invoice) -> Totals:
        return totals(invoice, self.creditors.rows.get(invoice.creditor_public_id))

    def add_event(self, invoice: Invoice, event_type: str, title: str, when: datetime | None = None) -> None:
        invoice.events.append(action_event(event_type, title, when))

    def state_changed(self, invoice: Invoice) -> None:
        self.store.emit(
            "InvoiceActionStateChanged",
            CreditorPublicId=invoice.creditor_public_id,
            ActionPublicId=invoice.action_public_id,
        )

    def cancel_auto_send(self, action_public_id: str) -> None:
        timer = self._timers.pop(action_public_id, None)
        if timer is not None:
            timer.cancel()

    def next_invoice_number(self, creditor: dict[str, Any]) -> str:
        """Take the creditor's next free invoice number (reminders take theirs from the same series)."""
        current = str(creditor.get("NextInvoiceNumber") or DEFAULT_FIRST_INVOICE_NUMBER)
        creditor_id = creditor["CreditorPublicId"]
        taken = {i.invoice_number for i in self.rows.values() if i.creditor_public_id == creditor_id}
        number = int(current) if current.isdigit() else int(DEFAULT_FIRST_INVOICE_NUMBER)
        while str(number) in taken:
            number += 1
        creditor["NextInvoiceNumber"] = str(number + 1)
        return str(number)

    # ---- writes --------------------------------------------------------------------------------------

    def _check_entry(self, entry: dict[str, Any], action_public_id: str | None = None) -> tuple[date, date]:
        """All business checks of an InvoiceActionEntryView; raises before anything is changed."""
        creditor_id = self.creditors.find(entry.get("CreditorPublicId"))["CreditorPublicId"]
        self._same_creditor("Debtor", self.debtors.find(entry.get("DebtorPublicId")), creditor_id)
        action_type = entry.get("ActionType")
        if action_type not in PLAIN_ACTION_TYPES:
            rules = self._action_types.get(action_type)
            if rules is None:
                raise BillectaError(400, f"ActionType {action_type} is not supported by the sandbox")
            rules.check(entry, creditor_id)
        records = entry.get("Records") or []
        if not records:
            raise BillectaError(400, "Records: an invoice needs at least one record")
        for i, rec in enumerate(records):
            if rec.get("ProductPublicId"):
                product = self.products.find(rec["ProductPublicId"])
                self._same_creditor(f"Records[{i}].ProductPublicId", product, creditor_id)
            kind = rec.get("RecordType") or "Standard"
            if kind in ("Standard", "Package"):
                if not isinstance(rec.get("UnitPrice"), dict):
                    raise BillectaError(400, f"Records[{i}].UnitPrice is required on a {kind} record")
                if rec.get("Quantity") is None:
                    raise BillectaError(400, f"Records[{i}].Quantity is required on a {kind} record")
        currency_of(entry)
        invoice_date = parse_day(entry.get("InvoiceDate"), "InvoiceDate") or now().date()
        due_date = parse_day(entry.get("DueDate"), "DueDate") or invoice_date + timedelta(
            days=DEFAULT_PAYMENT_TERMS_DAYS
        )
        if due_date < invoice_date:
            raise BillectaError(400, "DueDate can't be before InvoiceDate")
        number = entry.get("InvoiceNumber")
        if number and any(
            inv.invoice_number == number or inv.entry.get("InvoiceNumber") == number
            for inv in self.rows.values()
            if inv.creditor_public_id == creditor_id and inv.action_public_id != action_public_id
        ):
            raise BillectaError(400, f"InvoiceNumber {number} is already used by this creditor")
        return invoice_date, due_date

    @staticmethod
    def _same_creditor(kind: str, entity: dict[str, Any], creditor_public_id: str) -> None:
        if entity.get("CreditorPublicId") != creditor_public_id:
            raise BillectaError(400, f"{kind} belongs to another creditor than {creditor_public_id}")

    @staticmethod
    def _stored_entry(entry: dict[str, Any]) -> dict[str, Any]:
        stored = {k: v for k, v in entry.items() if k != "IsLocked"}
        if stored.get("DeliveryMethod") is None:
            stored["DeliveryMethod"] = "Email"
        # Row totals are output fields; they are computed on every read.
        stored["Records"] = [
            {k: v for k, v in rec.items() if k not in ("TotalExclVATNoDiscount", "TotalExclVAT", "TotalIncVAT")}
            for rec in entry.get("Records") or []
        ]
        return stored

    def create(self, entry: dict[str, Any]) -> str:
        with self.lock:
            invoice_date, due_date = self._check_entry(entry)
            action_id = str(next(self._action_ids))
            invoice = Invoice(
                action_public_id=action_id,
                creditor_public_id=str(entry["CreditorPublicId"]),
                debtor_public_id=str(entry["DebtorPublicId"]),
                entry=self._stored_entry(entry),
                invoice_date=invoice_date,
                due_date=due_date,
                created=now(),
            )
            self.add_event(invoice, "Created", "Invoice created")
            self.rows[action_id] = invoice
            self.store.emit(
                "InvoiceActionCreated", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id
            )
            return action_id

    def update(self, entry: dict[str, Any], action_public_id: str) -> None:
        with self.lock:
            invoice = self.find(action_public_id)
            if invoice.is_attested:
                raise BillectaError(
                    400, f"Invoice {action_public_id} is attested and locked for editing; it can't be updated"
                )
            if entry.get("CreditorPublicId") != invoice.creditor_public_id:
                raise BillectaError(400, "CreditorPublicId can't be changed on an invoice")
            invoice.invoice_date, invoice.due_date = self._check_entry(entry, action_public_id)
            invoice.debtor_public_id = str(entry["DebtorPublicId"])
            invoice.entry = self._stored_entry(entry)
            self.add_event(invoice, "Updated", "Invoice updated")

    def delete(self, action_public_id: str) -> None:
        with self.lock:
            invoice = self.find(action_public_id)
            if invoice.is_attested:
                raise BillectaError(400, f"Invoice {action_public_id} is attested and can't be deleted")
            del self.rows[action_public_id]
            self.store.emit(
                "InvoiceActionDeleted",
                # Billecta's documented data for a delete: the ActionPublicId, then the DebtorPublicId.
                context={"DebtorPublicId": invoice.debtor_public_id},
                CreditorPublicId=invoice.creditor_public_id,
                ActionPublicId=action_public_id,
            )

    def attest(self, action_public_id: str) -> None:
        with self.lock:
            invoice = self.find(action_public_id)
            if invoice.is_attested:
                raise BillectaError(400, f"Invoice {action_public_id} is already attested (Stage {invoice.stage})")
            creditor = self.creditors.find(invoice.creditor_public_id)
            number = invoice.entry.get("InvoiceNumber") or self.next_invoice_number(creditor)
            # An invoice number without digits can't carry an OCR; the series' next number lends its digits.
            ocr_digits = number if any(ch.isdigit() for ch in number) else self.next_invoice_number(creditor)
            invoice.invoice_number = number
            invoice.ocr = with_ocr(ocr_digits)
            invoice.attested = now()
            self.add_event(invoice, "Attested", "Invoice attested", invoice.attested)
            invoice.stage = "Attested"
            for hook in self._attest_hooks:
                hook(invoice)
            self.store.emit(
                "InvoiceActionAttested", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_public_id
            )
            self.state_changed(invoice)
            rules = self._action_types.get(invoice.entry.get("ActionType"))
            if rules is not None:
                rules.attested(invoice)
            delay = self.auto_send_delay_s()
            if invoice.entry.get("DeliveryMethod") in AUTO_SEND_METHODS and delay >= 0:
                timer = threading.Timer(delay, self._auto_send, args=(action_public_id, self._generation))
                timer.daemon = True
                self._timers[action_public_id] = timer
                timer.start()

    def _auto_send(self, action_public_id: str, generation: int) -> None:
        with self.lock:
            if generation != self._generation:
                return
            self._timers.pop(action_public_id, None)
            invoice = self.rows.get(action_public_id)
            if invoice is None or invoice.stage != "Attested":
                return
            self.apply_stage(invoice, "InvoiceSent")

    def apply_stage(self, invoice: Invoice, stage: str) -> None:
        """Move an invoice to ``stage`` as Billecta's own processes would, with the event and webhooks."""
        moment = now()
        sums = self.totals(invoice)
        if stage == "InvoiceSent":
            invoice.sent = moment
            self.add_event(invoice, "InvoiceSent", f"Invoice sent by {invoice.entry.get('DeliveryMethod')}", moment)
        elif stage == "ReminderInvoiceSent":
            self.add_event(invoice, "ReminderInvoiceSent", "Reminder invoice sent", moment)
        elif stage == "Completed":
            invoice.paid = sums.invoiced - invoice.credited
            invoice.closed = moment
            self.add_event(invoice, "Paid", "Invoice paid in full", moment)
            self.add_event(invoice, "Completed", "Invoice completed", moment)
            self.store.emit(
                "InvoiceActionPaid",
                CreditorPublicId=invoice.creditor_public_id,
                ActionPublicId=invoice.action_public_id,
            )
        elif stage == "Cancelled":
            invoice.credited = sums.invoiced - invoice.paid
            invoice.closed = moment
            self.add_event(invoice, "Cancelled", "Invoice cancelled", moment)
        elif stage == "SentToDebtCollection":
            invoice.sent_to_debt_collection = moment
            self.add_event(invoice, "SentToDebtCollection", "Sent to debt collection", moment)
        elif stage == "Manual":
            self.add_event(invoice, "MadeManual", "Invoice made manual", moment)
        elif stage == "SalesRequested":
            invoice.sales_requested = moment
            self.add_event(invoice, "InvoiceSaleRequested", "Invoice sale requested", moment)
        invoice.stage = stage
        self.state_changed(invoice)

    def advance(self, action_public_id: str, stage: str) -> None:
        """Test hook: move an invoice to ``stage`` as if Billecta's own processes had done it."""
        with self.lock:
            invoice = self.find(action_public_id)
            if stage not in STAGES or stage in ("None", "Unknown", "Created"):
                allowed = [s for s in STAGES if s not in ("None", "Unknown", "Created")]
                raise BillectaError(400, f"stage must be one of {allowed}, not {stage!r}")
            if stage == "Attested":
                self.attest(action_public_id)
                return
            if not invoice.is_attested:
                raise BillectaError(400, f"Invoice {action_public_id} is not attested; attest it first")
            if invoice.stage in CLOSED_STAGES:
                raise BillectaError(400, f"Invoice {action_public_id} is closed (Stage {invoice.stage})")
            if invoice.stage == stage:
                raise BillectaError(400, f"Invoice {action_public_id} is already in Stage {stage}")
            self.cancel_auto_send(action_public_id)
            self.apply_stage(invoice, stage)

    # ---- reads ---------------------------------------------------------------------------------------

    def raw(self, action_public_id: str) -> dict[str, Any]:
        """The stored invoice with its sums (``GET /_sandbox/state/invoices/{id}``)."""
        with self.lock:
            invoice = self.find(action_public_id)
            sums = self.totals(invoice)
            return {
                **invoice.raw(),
                "invoiced": sums.invoiced,
                "vat": sums.vat,
                "current": sums.invoiced - invoice.paid - invoice.credited,
                "currency": sums.currency,
                "auto_send_scheduled": action_public_id in self._timers,
            }

    def get(self, action_public_id: str) -> dict[str, Any]:
        """The InvoiceActionView of an invoice, as ``GET /v1/invoice/action/{id}`` answers."""
        with self.lock:
            invoice = self.find(action_public_id)
            view = action_view(invoice, self.debtors.rows.get(invoice.debtor_public_id), self.totals(invoice))
            for hook in self._view_hooks:
                hook(invoice, view)
            return view

    def _sub_view(self, invoice: Invoice) -> dict[str, Any]:
        return sub_view(
            invoice,
            self.creditors.rows.get(invoice.creditor_public_id),
            self.debtors.rows.get(invoice.debtor_public_id),
            self.totals(invoice),
        )

    def open_invoices(
        self, *, creditor_public_id: str | None = None, debtor_public_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Drafts, attested and unpaid invoices of a creditor or a debtor (closed ones are left out)."""
        return self._listed(lambda i: i.stage not in CLOSED_STAGES, creditor_public_id, debtor_public_id)

    def closed_invoices(
        self,
        *,
        creditor_public_id: str | None = None,
        debtor_public_id: str | None = None,
        start: date | None = None,
        end: date | None = None,
    ) -> list[dict[str, Any]]:
        """Closed invoices whose ClosedDate falls between ``start`` and ``end`` (inclusive)."""
        return self._listed(
            lambda i: i.closed is not None
            and (start is None or i.closed.date() >= start)
            and (end is None or i.closed.date() <= end),
            creditor_public_id,
            debtor_public_id,
        )

    def _listed(
        self, keep: Callable[[Invoice], bool], creditor_public_id: str | None, debtor_public_id: str | None
    ) -> list[dict[str, Any]]:
        """InvoiceActionSubsView rows of the invoices ``keep`` keeps, of the creditor and/or debtor named."""
        with self.lock:
            if creditor_public_id is not None:
                self.creditors.find(creditor_public_id)
            if debtor_public_id is not None:
                self.debtors.find(debtor_public_id)
            return [
                self._sub_view(i)
                for i in self.rows.values()
                if (creditor_public_id is None or i.creditor_public_id == creditor_public_id)
                and (debtor_public_id is None or i.debtor_public_id == debtor_public_id)
                and keep(i)
            ]
