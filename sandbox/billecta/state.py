"""In-memory state of the Billecta sandbox: creditors, debtors, products and invoice actions.

Everything sits behind one re-entrant lock. Stored entities are kept in wire form (PascalCase, enum
names), so reads only add computed fields. The rules imitated here come from the research notes:

* An invoice action is created unattested (Stage ``Created``) and can be changed or deleted until it
  is attested. Attesting books it: Stage ``Attested``, an InvoiceNumber (sequential per creditor), an
  OCR reference (Luhn check digit), AttestedDate, and it is locked for editing.
* After attest an invoice with a distribution method is sent by Billecta; here that happens after
  ``auto_send_delay_s`` (negative = never). ``Manually`` means the creditor sends it, so no auto-send.
* Debtors, products and invoices belong to one creditor; references must exist (404 when they do
  not) and belong to the same creditor (400 when they do not). A product used on any invoice cannot
  be deleted; nor can a creditor with anything on it.

Assumptions where Billecta is silent (kept simple, and consistent so tests can rely on them):

* PUT replaces the whole view model (unset fields become null/default), as .NET model binding does.
* Amounts are minor units. A row's DiscountAmount is for the whole row. Invoice and freight fees are
  added to the invoiced amount without VAT.
* An omitted DeliveryMethod is ``Email`` (code 0, the .NET default of the enum).
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.billecta import contract

try:
    TZ: Any = ZoneInfo("Europe/Stockholm")  # Billecta works in Swedish local time (notes §1.5)
except Exception:  # pragma: no cover - no tz database on this machine
    from datetime import UTC as TZ

EmitFn = Callable[[str, dict[str, str]], None]

CLOSED_STAGES = frozenset({"Completed", "Cancelled"})
# Distribution methods Billecta carries out itself after attest.
AUTO_SEND_METHODS = frozenset({"Email", "Mail", "SMS", "EInvoice", "Kivra", "Avy"})
STAGES: dict[str, int] = contract.enum_members("InvoiceActionView", "InvoiceActionStageTypeView")
DEFAULT_PAYMENT_TERMS_DAYS = 30
DEFAULT_FIRST_INVOICE_NUMBER = "1001"


class BillectaError(Exception):
    """A refusal in Billecta's style; the app turns it into ``{"Message", "ExternalErrorCode"}``."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def now() -> datetime:
    return datetime.now(TZ).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def iso_date(day: date | None) -> str | None:
    # Dates without a time of day come back the way .NET prints a DateTime at midnight.
    return None if day is None else f"{day.isoformat()}T00:00:00"


def new_guid() -> str:
    return str(uuid.uuid4())


def luhn_check_digit(digits: str) -> str:
    """The mod-10 check digit to append to ``digits`` (Swedish OCR references use it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]



def invoice_address(debtor: dict[str, Any]) -> dict[str, Any]:
    """The debtor's name and address as printed on an invoice document (invoice and reminder views)."""
    return {key: debtor.get(key) for key in ("Name", "Address", "Address2", "ZipCode", "City", "CountryCode")}

def amount(value: int, currency: str = "SEK") -> dict[str, Any]:
    return {"CurrencyCode": currency, "Value": int(value), "ValueForView": int(value) / 100}


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _dec(value: object) -> Decimal:
    return Decimal(str(value if value is not None else 0))


@dataclass
class Totals:
    currency: str
    records: list[dict[str, Any]]
    net_incl_vat: int  # sum of rows incl. VAT
    vat: int
    fees: int
    cent_rounding: int

    @property
    def invoiced(self) -> int:
        return self.net_incl_vat + self.fees + self.cent_rounding


def price_records(entry: dict[str, Any], use_cent_rounding: bool = False) -> Totals:
    """Rows with their totals, and the invoice totals, all in minor units."""
    currency = _currency_of(entry)
    vat_included_default = bool(entry.get("VatIsIncluded"))
    records: list[dict[str, Any]] = []
    incl_sum = vat_sum = 0
    record_defaults = contract.defaults("InvoiceActionView", "InvoiceActionRecordView")
    for written in entry.get("Records") or []:
        # Answer with every field of the row, as Billecta does, not just the ones written.
        rec = {**record_defaults, **{k: v for k, v in written.items() if v is not None}}
        if rec["RecordType"] == "Message":
            rec.update(TotalExclVATNoDiscount=None, TotalExclVAT=None, TotalIncVAT=None)
            records.append(rec)
            continue
        gross = _dec((rec.get("UnitPrice") or {}).get("Value")) * _dec(rec.get("Quantity"))
        percentage = _dec(rec.get("DiscountPercentage"))
        discount_type = written.get("DiscountType")
        if discount_type == "Percentage" or (discount_type is None and percentage):
            discount = gross * percentage / 100
            rec["DiscountType"] = "Percentage"
        elif rec.get("DiscountAmount"):
            discount = _dec(rec["DiscountAmount"].get("Value"))
        else:
            discount = Decimal(0)
        net = gross - discount
        factor = 1 + _dec(rec.get("VAT")) / 100
        if rec.get("VatIsIncluded") or vat_included_default:
            incl = _round(net)
            excl = _round(net / factor)
            excl_no_discount = _round(gross / factor)
        else:
            excl = _round(net)
            incl = excl + _round(Decimal(excl) * (factor - 1))
            excl_no_discount = _round(gross)
        rec.update(
            TotalExclVATNoDiscount=amount(excl_no_discount, currency),
            TotalExclVAT=amount(excl, currency),
            TotalIncVAT=amount(incl, currency),
        )
        records.append(rec)
        incl_sum += incl
        vat_sum += incl - excl
    fees = sum(int((entry.get(k) or {}).get("Value") or 0) for k in ("InvoiceFee", "FreightFee"))
    cent_rounding = 0
    if use_cent_rounding:
        total = incl_sum + fees
        cent_rounding = _round(Decimal(total) / 100) * 100 - total
    return Totals(currency, records, incl_sum, vat_sum, fees, cent_rounding)


def _currency_of(entry: dict[str, Any]) -> str:
    codes = {
        code
        for rec in entry.get("Records") or []
        for key in ("UnitPrice", "DiscountAmount")
        if (code := (rec.get(key) or {}).get("CurrencyCode"))
    }
    codes |= {code for key in ("InvoiceFee", "FreightFee") if (code := (entry.get(key) or {}).get("CurrencyCode"))}
    if len(codes) > 1:
        raise BillectaError(400, f"All amounts on an invoice must have the same currency; got {sorted(codes)}")
    return codes.pop() if codes else "SEK"


def _parse_day(value: object, field_name: str) -> date | None:
    if value is None:
        return None
    parsed = contract.parse_datetime(str(value))
    if parsed is None:
        raise BillectaError(400, f"{field_name} is not a valid date: {value!r}")
    return parsed.date()


@dataclass
class Invoice:
    """One invoice action; ``entry`` is the InvoiceActionEntryView as last written (enum names)."""

    action_public_id: str
    creditor_public_id: str
    debtor_public_id: str
    entry: dict[str, Any]
    invoice_date: date
    due_date: date
    created: datetime
    stage: str = "Created"
    invoice_number: str | None = None
    ocr: str | None = None
    attested: datetime | None = None
    sent: datetime | None = None
    closed: datetime | None = None
    sent_to_debt_collection: datetime | None = None
    sales_requested: datetime | None = None
    paid: int = 0
    credited: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_attested(self) -> bool:
        return self.stage != "Created"

    def raw(self) -> dict[str, Any]:
        return {
            "action_public_id": self.action_public_id,
            "creditor_public_id": self.creditor_public_id,
            "debtor_public_id": self.debtor_public_id,
            "stage": self.stage,
            "invoice_number": self.invoice_number,
            "ocr": self.ocr,
            "invoice_date": self.invoice_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "created": iso(self.created),
            "attested": iso(self.attested),
            "sent": iso(self.sent),
            "closed": iso(self.closed),
            "sent_to_debt_collection": iso(self.sent_to_debt_collection),
            "paid": self.paid,
            "credited": self.credited,
            "entry": self.entry,
            "events": self.events,
        }


class BillectaState:
    def __init__(self, emit: EmitFn | None = None, auto_send_delay_s: float = 0.2) -> None:
        self.lock = threading.RLock()
        self.emit: EmitFn = emit or (lambda trigger, ids: None)
        self.auto_send_delay_s = auto_send_delay_s
        # Action ids look like Billecta's (numeric strings) and never repeat within a process, even
        # across resets, so a stale id held by a client is a clean 404.
        self._action_ids = itertools.count(random.randint(7_000_000_000, 7_900_000_000))
        self._generation = 0
        self._timers: dict[str, threading.Timer] = {}
        self._clear()

    def _clear(self) -> None:
        self.creditors: dict[str, dict[str, Any]] = {}
        self.debtors: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, Invoice] = {}
        self._debtor_numbers: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self._generation += 1  # scheduled sends of the old generation become no-ops
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            self._clear()

    def scheduled_count(self) -> int:
        """Scheduled automatic state changes that have not happened yet."""
        with self.lock:
            return len(self._timers)

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                "creditors": len(self.creditors),
                "debtors": len(self.debtors),
                "products": len(self.products),
                "invoices": len(self.invoices),
            }

    # ---- lookups -------------------------------------------------------------------------------

    def _creditor(self, public_id: object, status: int = 404) -> dict[str, Any]:
        if not public_id:
            raise BillectaError(400, "CreditorPublicId is required")
        creditor = self.creditors.get(str(public_id))
        if creditor is None:
            raise BillectaError(status, f"Creditor {public_id} not found")
        return creditor

    def _debtor(self, public_id: object) -> dict[str, Any]:
        if not public_id:
            raise BillectaError(400, "DebtorPublicId is required")
        debtor = self.debtors.get(str(public_id))
        if debtor is None:
            raise BillectaError(404, f"Debtor {public_id} not found")
        return debtor

    def _product(self, public_id: object) -> dict[str, Any]:
        if not public_id:
            raise BillectaError(400, "ProductPublicId is required")
        product = self.products.get(str(public_id))
        if product is None:
            raise BillectaError(404, f"Product {public_id} not found")
        return product

    def _invoice(self, action_public_id: str) -> Invoice:
        invoice = self.invoices.get(action_public_id)
        if invoice is None:
            raise BillectaError(404, f"Invoice action {action_public_id} not found")
        return invoice

    @staticmethod
    def _same_creditor(kind: str, entity: dict[str, Any], creditor_public_id: str) -> None:
        if entity.get("CreditorPublicId") != creditor_public_id:
            raise BillectaError(400, f"{kind} belongs to another creditor than {creditor_public_id}")

    def _emit(self, trigger: str, **ids: str) -> None:
        self.emit(trigger, ids)

    # ---- creditors -----------------------------------------------------------------------------

    def create_creditor(self, body: dict[str, Any]) -> str:
        if not body.get("Name"):
            raise BillectaError(400, "Name is required")
        with self.lock:
            public_id = new_guid()
            creditor = {**contract.defaults("CreditorView"), **body, "CreditorPublicId": public_id}
            creditor["IsEnabled"] = body.get("IsEnabled", True)
            creditor["NextInvoiceNumber"] = body.get("NextInvoiceNumber") or DEFAULT_FIRST_INVOICE_NUMBER
            self.creditors[public_id] = creditor
            self._emit("CreditorCreated", CreditorPublicId=public_id)
            return public_id

    def update_creditor(self, body: dict[str, Any]) -> None:
        with self.lock:
            current = self._creditor(body.get("CreditorPublicId"))
            if not body.get("Name"):
                raise BillectaError(400, "Name is required")
            updated = {**contract.defaults("CreditorView"), **body}
            updated["NextInvoiceNumber"] = body.get("NextInvoiceNumber") or current["NextInvoiceNumber"]
            self.creditors[current["CreditorPublicId"]] = updated
            self._emit("CreditorUpdated", CreditorPublicId=current["CreditorPublicId"])

    def get_creditor(self, public_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._creditor(public_id))

    def list_creditors(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.creditors.values()]

    def delete_creditor(self, public_id: str) -> None:
        with self.lock:
            self._creditor(public_id)
            in_use = (
                any(d["CreditorPublicId"] == public_id for d in self.debtors.values())
                or any(p["CreditorPublicId"] == public_id for p in self.products.values())
                or any(i.creditor_public_id == public_id for i in self.invoices.values())
            )
            if in_use:
                raise BillectaError(
                    400, f"Creditor {public_id} can't be deleted: debtors, products or invoices exist on it"
                )
            del self.creditors[public_id]
            self._emit("CreditorDeleted", CreditorPublicId=public_id)

    # ---- debtors -------------------------------------------------------------------------------

    def create_debtor(self, body: dict[str, Any]) -> str:
        with self.lock:
            creditor_id = self._creditor(body.get("CreditorPublicId"))["CreditorPublicId"]
            if not body.get("Name"):
                raise BillectaError(400, "Name is required")
            public_id = new_guid()
            debtor = {**contract.defaults("DebtorView"), **body}
            debtor.update(DebtorPublicId=public_id, CreditorPublicId=creditor_id, Created=iso(now()))
            if debtor.get("IsActive") is None:
                debtor["IsActive"] = True
            if not debtor.get("DebtorNo"):
                # Billecta numbers debtors per creditor when the caller does not.
                self._debtor_numbers[creditor_id] = self._debtor_numbers.get(creditor_id, 0) + 1
                debtor["DebtorNo"] = str(self._debtor_numbers[creditor_id])
            self.debtors[public_id] = debtor
            self._emit("DebtorCreated", CreditorPublicId=creditor_id, DebtorPublicId=public_id)
            return public_id

    def update_debtor(self, body: dict[str, Any]) -> None:
        with self.lock:
            current = self._debtor(body.get("DebtorPublicId"))
            creditor_id = current["CreditorPublicId"]
            if body.get("CreditorPublicId") not in (None, creditor_id):
                raise BillectaError(400, "A debtor can't be moved to another creditor (CreditorPublicId differs)")
            if not body.get("Name"):
                raise BillectaError(400, "Name is required")
            updated = {**contract.defaults("DebtorView"), **body}
            updated.update(
                DebtorPublicId=current["DebtorPublicId"], CreditorPublicId=creditor_id, Created=current["Created"]
            )
            if not updated.get("DebtorNo"):
                updated["DebtorNo"] = current.get("DebtorNo")
            self.debtors[current["DebtorPublicId"]] = updated
            self._emit("DebtorUpdated", CreditorPublicId=creditor_id, DebtorPublicId=current["DebtorPublicId"])

    def get_debtor(self, public_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._debtor(public_id))

    def debtor_by_external_id(self, creditor_public_id: str, external_id: str) -> dict[str, Any]:
        with self.lock:
            self._creditor(creditor_public_id)
            matches = [
                d
                for d in self.debtors.values()
                if d["CreditorPublicId"] == creditor_public_id and d.get("DebtorExternalId") == external_id
            ]
            if not matches:
                raise BillectaError(404, f"No debtor with DebtorExternalId {external_id!r}")
            if len(matches) > 1:
                raise BillectaError(400, f"Multiple debtors ({len(matches)}) have DebtorExternalId {external_id!r}")
            return dict(matches[0])

    def list_debtors(self, creditor_public_id: str) -> list[dict[str, Any]]:
        with self.lock:
            self._creditor(creditor_public_id)
            return [dict(d) for d in self.debtors.values() if d["CreditorPublicId"] == creditor_public_id]

    def delete_debtor(self, public_id: str) -> None:
        with self.lock:
            debtor = self._debtor(public_id)
            if any(i.debtor_public_id == public_id for i in self.invoices.values()):
                raise BillectaError(400, f"Debtor {public_id} can't be deleted: it has invoices")
            del self.debtors[public_id]
            self._emit("DebtorDeleted", CreditorPublicId=debtor["CreditorPublicId"], DebtorPublicId=public_id)

    # ---- products ------------------------------------------------------------------------------

    def create_product(self, body: dict[str, Any]) -> str:
        with self.lock:
            creditor_id = self._creditor(body.get("CreditorPublicId"))["CreditorPublicId"]
            public_id = new_guid()
            product = {**contract.defaults("ProductView"), **body}
            product.update(ProductPublicId=public_id, CreditorPublicId=creditor_id)
            product["IsActive"] = body.get("IsActive", True)
            self.products[public_id] = product
            self._emit("ProductCreated", CreditorPublicId=creditor_id, ProductPublicId=public_id)
            return public_id

    def update_product(self, body: dict[str, Any]) -> None:
        with self.lock:
            current = self._product(body.get("ProductPublicId"))
            creditor_id = current["CreditorPublicId"]
            if body.get("CreditorPublicId") not in (None, creditor_id):
                raise BillectaError(400, "A product can't be moved to another creditor (CreditorPublicId differs)")
            updated = {**contract.defaults("ProductView"), **body}
            updated.update(ProductPublicId=current["ProductPublicId"], CreditorPublicId=creditor_id)
            self.products[current["ProductPublicId"]] = updated
            self._emit("ProductUpdated", CreditorPublicId=creditor_id, ProductPublicId=current["ProductPublicId"])

    def get_product(self, public_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._product(public_id))

    def product_by_external_id(self, creditor_public_id: str, external_id: str) -> dict[str, Any]:
        with self.lock:
            self._creditor(creditor_public_id)
            matches = [
                p
                for p in self.products.values()
                if p["CreditorPublicId"] == creditor_public_id and p.get("ProductExternalId") == external_id
            ]
            if not matches:
                raise BillectaError(404, f"No product with ProductExternalId {external_id!r}")
            if len(matches) > 1:
                raise BillectaError(400, f"Multiple products ({len(matches)}) have ProductExternalId {external_id!r}")
            return dict(matches[0])

    def list_products(self, creditor_public_id: str) -> list[dict[str, Any]]:
        with self.lock:
            self._creditor(creditor_public_id)
            return [dict(p) for p in self.products.values() if p["CreditorPublicId"] == creditor_public_id]

    def delete_product(self, public_id: str) -> None:
        with self.lock:
            self._product(public_id)
            used = any(
                (rec.get("ProductPublicId") or "") == public_id
                for inv in self.invoices.values()
                for rec in inv.entry.get("Records") or []
            )
            if used:
                raise BillectaError(
                    400, f"Product {public_id} can't be deleted because it is used on an invoice; deactivate it"
                )
            del self.products[public_id]

    # ---- invoices ------------------------------------------------------------------------------

    def _check_entry(self, entry: dict[str, Any], action_public_id: str | None = None) -> tuple[date, date]:
        """All business checks of an InvoiceActionEntryView; raises before anything is changed."""
        creditor = self._creditor(entry.get("CreditorPublicId"))
        creditor_id = creditor["CreditorPublicId"]
        self._same_creditor("Debtor", self._debtor(entry.get("DebtorPublicId")), creditor_id)
        if entry.get("ActionType") == "CreditInvoiceAction":
            from sandbox.billecta import outbound  # late: outbound builds on this module

            outbound.check_credit_entry(self, entry, creditor_id)
        elif entry.get("ActionType") not in (None, "InvoiceAction"):
            raise BillectaError(400, f"ActionType {entry['ActionType']} is not supported by the sandbox")
        records = entry.get("Records") or []
        if not records:
            raise BillectaError(400, "Records: an invoice needs at least one record")
        for i, rec in enumerate(records):
            if rec.get("ProductPublicId"):
                self._same_creditor(f"Records[{i}].ProductPublicId", self._product(rec["ProductPublicId"]), creditor_id)
            kind = rec.get("RecordType") or "Standard"
            if kind in ("Standard", "Package"):
                if not isinstance(rec.get("UnitPrice"), dict):
                    raise BillectaError(400, f"Records[{i}].UnitPrice is required on a {kind} record")
                if rec.get("Quantity") is None:
                    raise BillectaError(400, f"Records[{i}].Quantity is required on a {kind} record")
        _currency_of(entry)
        invoice_date = _parse_day(entry.get("InvoiceDate"), "InvoiceDate") or now().date()
        due_date = _parse_day(entry.get("DueDate"), "DueDate") or invoice_date + timedelta(
            days=DEFAULT_PAYMENT_TERMS_DAYS
        )
        if due_date < invoice_date:
            raise BillectaError(400, "DueDate can't be before InvoiceDate")
        number = entry.get("InvoiceNumber")
        if number and any(
            inv.invoice_number == number or inv.entry.get("InvoiceNumber") == number
            for inv in self.invoices.values()
            if inv.creditor_public_id == creditor_id and inv.action_public_id != action_public_id
        ):
            raise BillectaError(400, f"InvoiceNumber {number} is already used by this creditor")
        return invoice_date, due_date

    def _event(self, invoice: Invoice, event_type: str, title: str, when: datetime | None = None) -> None:
        invoice.events.append(
            {
                "EventPublicId": new_guid(),
                "EventType": event_type,
                "EventDate": iso(when or now()),
                "Title": title,
                "Content": None,
                "EventBy": "Billecta sandbox",
                "Reference": None,
                "HasOccured": True,
                "IsPublic": True,
            }
        )

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

    def create_invoice(self, entry: dict[str, Any]) -> str:
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
            self._event(invoice, "Created", "Invoice created")
            self.invoices[action_id] = invoice
            self._emit("InvoiceActionCreated", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id)
            return action_id

    def update_invoice(self, action_public_id: str, entry: dict[str, Any]) -> None:
        with self.lock:
            invoice = self._invoice(action_public_id)
            if invoice.is_attested:
                raise BillectaError(
                    400, f"Invoice {action_public_id} is attested and locked for editing; it can't be updated"
                )
            if entry.get("CreditorPublicId") != invoice.creditor_public_id:
                raise BillectaError(400, "CreditorPublicId can't be changed on an invoice")
            invoice.invoice_date, invoice.due_date = self._check_entry(entry, action_public_id)
            invoice.debtor_public_id = str(entry["DebtorPublicId"])
            invoice.entry = self._stored_entry(entry)
            self._event(invoice, "Updated", "Invoice updated")

    def delete_invoice(self, action_public_id: str) -> None:
        with self.lock:
            invoice = self._invoice(action_public_id)
            if invoice.is_attested:
                raise BillectaError(400, f"Invoice {action_public_id} is attested and can't be deleted")
            del self.invoices[action_public_id]
            self._emit(
                "InvoiceActionDeleted", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_public_id
            )

    def _next_invoice_number(self, creditor: dict[str, Any]) -> str:
        current = str(creditor.get("NextInvoiceNumber") or DEFAULT_FIRST_INVOICE_NUMBER)
        creditor_id = creditor["CreditorPublicId"]
        taken = {i.invoice_number for i in self.invoices.values() if i.creditor_public_id == creditor_id}
        number = int(current) if current.isdigit() else int(DEFAULT_FIRST_INVOICE_NUMBER)
        while str(number) in taken:
            number += 1
        creditor["NextInvoiceNumber"] = str(number + 1)
        return str(number)

    def attest_invoice(self, action_public_id: str) -> None:
        with self.lock:
            invoice = self._invoice(action_public_id)
            if invoice.is_attested:
                raise BillectaError(400, f"Invoice {action_public_id} is already attested (Stage {invoice.stage})")
            creditor = self._creditor(invoice.creditor_public_id)
            number = invoice.entry.get("InvoiceNumber") or self._next_invoice_number(creditor)
            digits = "".join(ch for ch in number if ch.isdigit()) or self._next_invoice_number(creditor)
            invoice.invoice_number = number
            invoice.ocr = digits + luhn_check_digit(digits)
            invoice.attested = now()
            self._event(invoice, "Attested", "Invoice attested", invoice.attested)
            self._set_stage(invoice, "Attested")
            self._emit(
                "InvoiceActionAttested", CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_public_id
            )
            self._emit_state_changed(invoice)
            if invoice.entry.get("ActionType") == "CreditInvoiceAction":
                from sandbox.billecta import outbound

                outbound.apply_credit(self, invoice)
            delay = self.auto_send_delay_s
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
            invoice = self.invoices.get(action_public_id)
            if invoice is None or invoice.stage != "Attested":
                return
            self._apply_stage(invoice, "InvoiceSent")

    def _set_stage(self, invoice: Invoice, stage: str) -> None:
        invoice.stage = stage

    def _emit_state_changed(self, invoice: Invoice) -> None:
        self._emit(
            "InvoiceActionStateChanged",
            CreditorPublicId=invoice.creditor_public_id,
            ActionPublicId=invoice.action_public_id,
        )

    def _apply_stage(self, invoice: Invoice, stage: str) -> None:
        moment = now()
        totals = self._totals(invoice)
        if stage == "InvoiceSent":
            invoice.sent = moment
            self._event(invoice, "InvoiceSent", f"Invoice sent by {invoice.entry.get('DeliveryMethod')}", moment)
        elif stage == "ReminderInvoiceSent":
            self._event(invoice, "ReminderInvoiceSent", "Reminder invoice sent", moment)
        elif stage == "Completed":
            invoice.paid = totals.invoiced - invoice.credited
            invoice.closed = moment
            self._event(invoice, "Paid", "Invoice paid in full", moment)
            self._event(invoice, "Completed", "Invoice completed", moment)
            self._emit(
                "InvoiceActionPaid",
                CreditorPublicId=invoice.creditor_public_id,
                ActionPublicId=invoice.action_public_id,
            )
        elif stage == "Cancelled":
            invoice.credited = totals.invoiced - invoice.paid
            invoice.closed = moment
            self._event(invoice, "Cancelled", "Invoice cancelled", moment)
        elif stage == "SentToDebtCollection":
            invoice.sent_to_debt_collection = moment
            self._event(invoice, "SentToDebtCollection", "Sent to debt collection", moment)
        elif stage == "Manual":
            self._event(invoice, "MadeManual", "Invoice made manual", moment)
        elif stage == "SalesRequested":
            invoice.sales_requested = moment
            self._event(invoice, "InvoiceSaleRequested", "Invoice sale requested", moment)
        self._set_stage(invoice, stage)
        self._emit_state_changed(invoice)

    def advance_invoice(self, action_public_id: str, stage: str) -> None:
        """Test hook: move an invoice to ``stage`` as if Billecta's own processes had done it."""
        with self.lock:
            invoice = self._invoice(action_public_id)
            if stage not in STAGES or stage in ("None", "Unknown", "Created"):
                allowed = [s for s in STAGES if s not in ("None", "Unknown", "Created")]
                raise BillectaError(400, f"stage must be one of {allowed}, not {stage!r}")
            if stage == "Attested":
                self.attest_invoice(action_public_id)
                return
            if not invoice.is_attested:
                raise BillectaError(400, f"Invoice {action_public_id} is not attested; attest it first")
            if invoice.stage in CLOSED_STAGES:
                raise BillectaError(400, f"Invoice {action_public_id} is closed (Stage {invoice.stage})")
            if invoice.stage == stage:
                raise BillectaError(400, f"Invoice {action_public_id} is already in Stage {stage}")
            timer = self._timers.pop(action_public_id, None)
            if timer is not None:
                timer.cancel()
            self._apply_stage(invoice, stage)

    def _totals(self, invoice: Invoice) -> Totals:
        creditor = self.creditors.get(invoice.creditor_public_id) or {}
        return price_records(invoice.entry, bool(creditor.get("UseCentRounding")))

    def raw_invoice(self, action_public_id: str) -> dict[str, Any]:
        with self.lock:
            invoice = self._invoice(action_public_id)
            totals = self._totals(invoice)
            return {
                **invoice.raw(),
                "invoiced": totals.invoiced,
                "vat": totals.vat,
                "current": totals.invoiced - invoice.paid - invoice.credited,
                "currency": totals.currency,
                "auto_send_scheduled": action_public_id in self._timers,
            }

    # ---- invoice read models -------------------------------------------------------------------

    def _flags(self, invoice: Invoice) -> dict[str, bool]:
        open_attested = invoice.is_attested and invoice.stage not in CLOSED_STAGES
        sent = invoice.sent is not None
        return {
            "CanCancelSalesRequest": invoice.stage == "SalesRequested",
            "CanCreateAutogiroWithdrawal": False,
            "CanCreateCreditInvoice": open_attested,
            "CanCreateInterestInvoice": False,
            "CanDispute": open_attested,
            "CanUnDispute": False,
            "CanMakeManual": open_attested and invoice.stage != "Manual",
            "CanPause": open_attested,
            "CanResume": False,
            "CanPostpone": open_attested,
            "CanRegisterPayment": open_attested,
            "CanResendManualInvoice": False,
            "CanSell": False,
            "CanSendManualInvoice": open_attested and invoice.entry.get("DeliveryMethod") == "Manually",
            "CanSendManualReminderInvoice": open_attested and sent,
            "CanSendToDebtCollection": open_attested and sent and invoice.stage != "SentToDebtCollection",
        }

    def _state_view(self, invoice: Invoice) -> dict[str, Any]:
        open_sent = invoice.sent is not None and invoice.stage not in CLOSED_STAGES
        return {
            "Stage": invoice.stage,
            "AttestedDate": iso(invoice.attested),
            "InvoiceSentDate": iso(invoice.sent),
            "ClosedDate": iso(invoice.closed),
            "NextEvent": "InvoiceDue" if open_sent else None,
            "NextEventDate": iso_date(invoice.due_date) if open_sent else None,
            "IsLocked": invoice.is_attested,
            "IsPaused": False,
            "DisputedDate": None,
            "SentToDebtCollectionDate": iso(invoice.sent_to_debt_collection),
            "SalesRequestedDate": iso(invoice.sales_requested),
            "SmsSentDate": None,
            "CreditCardPaymentPublicId": None,
            "SwishPaymentPublicId": None,
            "UseDebtorBalance": bool(invoice.entry.get("UseDebtorBalance")),
        }

    def invoice_view(self, action_public_id: str) -> dict[str, Any]:
        """The InvoiceActionView of an invoice, as ``GET /v1/invoice/action/{id}`` answers."""
        with self.lock:
            invoice = self._invoice(action_public_id)
            totals = self._totals(invoice)
            cur = totals.currency
            debtor = self.debtors.get(invoice.debtor_public_id)
            view = contract.defaults("InvoiceActionView")
            view_fields = set(contract.schema("InvoiceActionView")["properties"])
            # Echo what the caller wrote; nulls keep the view's own default so the view stays valid.
            view.update({k: v for k, v in invoice.entry.items() if k in view_fields and v is not None})
            current = totals.invoiced - invoice.paid - invoice.credited
            view.update(
                {
                    "ActionPublicId": invoice.action_public_id,
                    "ActionType": invoice.entry.get("ActionType") or "InvoiceAction",
                    "CreditorPublicId": invoice.creditor_public_id,
                    "Debtor": dict(debtor) if debtor else None,
                    "Created": iso(invoice.created),
                    "InvoiceDate": iso_date(invoice.invoice_date),
                    "DueDate": iso_date(invoice.due_date),
                    "PaymentTermsInDays": (invoice.due_date - invoice.invoice_date).days,
                    "InvoiceNumber": invoice.invoice_number,
                    "Records": totals.records,
                    "InvoicedAmount": amount(totals.invoiced, cur),
                    "CurrentAmount": amount(current, cur),
                    "PaidAmount": amount(invoice.paid, cur),
                    "CreditedAmount": amount(invoice.credited, cur),
                    "WriteOffAmount": amount(0, cur),
                    "InterestAmount": amount(0, cur),
                    "TotalVATAmount": amount(totals.vat, cur),
                    "CentRoundingAmount": amount(totals.cent_rounding, cur),
                    "AwaitingPaymentTransferAmount": amount(0, cur),
                    "State": self._state_view(invoice),
                    "Events": [dict(e) for e in invoice.events],
                    "Invoices": self._invoice_documents(invoice, debtor, totals),
                    **self._flags(invoice),
                }
            )
            if view.get("DeliveryDate") is not None:
                view["DeliveryDate"] = iso_date(_parse_day(view["DeliveryDate"], "DeliveryDate"))
            return view

    def _invoice_documents(
        self, invoice: Invoice, debtor: dict[str, Any] | None, totals: Totals
    ) -> list[dict[str, Any]]:
        if not invoice.is_attested:
            return []  # the invoice document only exists once the invoice is booked
        debtor = debtor or {}
        return [
            {
                "InvoiceNumber": invoice.invoice_number,
                "OCR": invoice.ocr,
                "InvoiceDate": iso_date(invoice.invoice_date),
                "DueDate": iso_date(invoice.due_date),
                "PaymentTermsInDays": (invoice.due_date - invoice.invoice_date).days,
                "InvoicedAmount": amount(totals.invoiced, totals.currency),
                "InvoiceDecription": invoice.entry.get("Message"),
                "InvoiceFile": None,
                **invoice_address(debtor),
                "Email": debtor.get("Email"),
                "OurReference": invoice.entry.get("OurReference"),
                "YourReference": invoice.entry.get("YourReference"),
            }
        ]

    def _sub_view(self, invoice: Invoice) -> dict[str, Any]:
        totals = self._totals(invoice)
        cur = totals.currency
        creditor = self.creditors.get(invoice.creditor_public_id) or {}
        debtor = self.debtors.get(invoice.debtor_public_id) or {}
        open_sent = invoice.sent is not None and invoice.stage not in CLOSED_STAGES
        return {
            "ActionPublicId": invoice.action_public_id,
            "ActionType": "InvoiceAction",
            "AttestedDate": iso(invoice.attested),
            "AutogiroWithdrawalEnabled": False,
            "AwaitingPaymentTransferAmount": amount(0, cur),
            "ClosedDate": iso(invoice.closed),
            "ContractInvoiceActionPublicId": None,
            "Created": iso(invoice.created),
            "CreditorName": creditor.get("Name"),
            "CreditorOrgNo": creditor.get("OrgNo"),
            "CreditorPublicId": invoice.creditor_public_id,
            "CurrentAmount": amount(totals.invoiced - invoice.paid - invoice.credited, cur),
            "DebtCollectionActionPublicId": None,
            "DebtorName": debtor.get("Name"),
            "DebtorOrgNo": debtor.get("OrgNo"),
            "DebtorPublicId": invoice.debtor_public_id,
            "DeliveryMethod": invoice.entry.get("DeliveryMethod") or "Email",
            "DeliveryStatus": "Unknown",
            "DueDate": iso_date(invoice.due_date),
            "File": None,
            "InvoiceDate": iso_date(invoice.invoice_date),
            "InvoiceNumber": invoice.invoice_number,
            "InvoiceSentDate": iso(invoice.sent),
            "InvoicedAmount": amount(totals.invoiced, cur),
            "IsCommented": False,
            "IsDisputed": False,
            "IsLocked": invoice.is_attested,
            "IsPaused": False,
            "NextEvent": "InvoiceDue" if open_sent else None,
            "NextEventDate": iso_date(invoice.due_date) if open_sent else None,
            "OCR": invoice.ocr,
            "ReminderInvoiceActionPublicId": None,
            "ReminderInvoiceSentDate": None,
            "Stage": invoice.stage,
            "TotalVATAmount": amount(totals.vat, cur),
            "YourReference": invoice.entry.get("YourReference"),
        }

    def open_invoices(self, creditor_public_id: str) -> list[dict[str, Any]]:
        """Drafts, attested and unpaid invoices of a creditor (closed ones are left out)."""
        with self.lock:
            self._creditor(creditor_public_id)
            return [
                self._sub_view(i)
                for i in self.invoices.values()
                if i.creditor_public_id == creditor_public_id and i.stage not in CLOSED_STAGES
            ]

    def open_invoices_by_debtor(self, debtor_public_id: str) -> list[dict[str, Any]]:
        with self.lock:
            self._debtor(debtor_public_id)
            return [
                self._sub_view(i)
                for i in self.invoices.values()
                if i.debtor_public_id == debtor_public_id and i.stage not in CLOSED_STAGES
            ]

    def closed_invoices(
        self,
        *,
        creditor_public_id: str | None = None,
        debtor_public_id: str | None = None,
        start: date | None = None,
        end: date | None = None,
    ) -> list[dict[str, Any]]:
        """Closed invoices whose ClosedDate falls between ``start`` and ``end`` (inclusive)."""
        with self.lock:
            if creditor_public_id is not None:
                self._creditor(creditor_public_id)
            if debtor_public_id is not None:
                self._debtor(debtor_public_id)
            return [
                self._sub_view(i)
                for i in self.invoices.values()
                if i.closed is not None
                and (creditor_public_id is None or i.creditor_public_id == creditor_public_id)
                and (debtor_public_id is None or i.debtor_public_id == debtor_public_id)
                and (start is None or i.closed.date() >= start)
                and (end is None or i.closed.date() <= end)
            ]
