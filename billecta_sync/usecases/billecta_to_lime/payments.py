"""Billecta payments as Lime ``payment`` objects: one per Billecta payment, found again by
``paymentbillectaid`` so a repeated or late event never creates a second one.

* Payments booked on an invoice come from Billecta's incoming-payments list filtered to the invoice
  (``payments.incoming``, verified); each carries a stable ``PaymentReferenceId``.
* Overpayments and unmatched payments are Billecta's unhandled payments; their
  ``UnhandledPaymentPublicId`` is the stable id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from billecta_sync import days
from billecta_sync.container import Services
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import as_date, differs, iso_day, money, relation_id, text
from billecta_sync.usecases.shared_reads import read_together


def upsert_payment(repo: LimeRepo, values: dict[str, Any], known: dict[str, dict[str, Any]] | None = None) -> str:
    """Create or update by ``paymentbillectaid``; ``known`` holds payments already read (one query for all
    of an invoice's payments instead of one per payment)."""
    if known is not None:
        existing = known.get(values["paymentbillectaid"])
    else:
        existing = repo.find_one("payment", {"paymentbillectaid": values["paymentbillectaid"]})
    if existing is None:
        repo.create("payment", values)
        return "created"
    changed = {k: v for k, v in values.items() if differs(existing.get(k), v)}
    repo.update("payment", int(existing["_id"]), changed)
    return "updated" if changed else "unchanged"


def incoming_payments(services: Services, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    """Billecta's payments booked on one invoice."""
    created = as_date(invoice.get("Created")) or as_date(invoice.get("InvoiceDate")) or date(2000, 1, 1)
    body = {
        "CreditorPublicId": invoice.get("CreditorPublicId"),
        # A bank may date a payment before the invoice was booked (a prepayment matched later); a year
        # back is generous and the action filter keeps the answer small.
        "From": (created - timedelta(days=366)).isoformat(),
        "To": (days.today() + timedelta(days=1)).isoformat(),
        "ActionPublicIdFilter": [invoice.get("ActionPublicId")],
    }
    answer = services.billecta.call("payments.incoming", body=body)
    return [p for p in answer or [] if isinstance(p, dict)]


KnownPayments = Callable[[], dict[str, dict[str, Any]]]


def lime_payments_of(services: Services, repo: LimeRepo, invoice_id: int) -> KnownPayments:
    """The Lime payments of one invoice by ``paymentbillectaid``, read on the first call only: a refresh that
    syncs both an invoice's write-offs and credits and its payments needs them for both. The query is shared
    with the other invoices' payments being read at the same moment."""
    read: list[dict[str, dict[str, Any]]] = []

    def known() -> dict[str, dict[str, Any]]:
        if not read:
            listed = read_together(services, "payments-by-invoice", str(invoice_id),
                                   lambda ids: _payments_by_invoice(repo, ids)) or []
            read.append({str(p.get("paymentbillectaid")): p for p in listed})
        return read[0]

    return known


def sync_invoice_payments(services: Services, repo: LimeRepo, invoice: dict[str, Any], invoice_id: int,
                          links: dict[str, Any], known_payments: KnownPayments) -> str:
    """Create or update the Lime payments of one invoice (``links``: its Lime creditor and debtor ids, and
    ``had_payments``: whether the Lime invoice showed a paid amount before this sync; ``known_payments``: its
    Lime payments, from ``lime_payments_of``). The caller holds the invoice's lock."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    payments = incoming_payments(services, invoice)
    known: dict[str, dict[str, Any]] = {}
    if payments and links.get("had_payments", True):
        # Lime's payments are written after the invoice's paid amount: an invoice that showed nothing paid
        # before this sync has none yet, so the first payment of an invoice costs no query (like adjustments).
        known = known_payments()
    for payment in payments:
        reference = text(payment.get("PaymentReferenceId"))
        if not reference or text(payment.get("ActionPublicId")) != text(invoice.get("ActionPublicId")):
            continue
        amount = payment.get("Amount") or {}
        values = {
            "paymentbillectaid": reference,
            "paymenttype": "payment",
            "amount": money(amount),
            "currencycode": text(amount.get("CurrencyCode")) or "SEK",
            "paymentdate": iso_day(as_date(payment.get("PaymentDate"))),
            "transactiondate": iso_day(as_date(payment.get("CreatedDate"))),
            "paymentmeancode": text(payment.get("PaymentMeanCode")),
            "handled": True,
            "invoice": invoice_id,
            "creditor": links.get("creditor"),
            "debtor": links.get("debtor"),
        }
        counts[upsert_payment(repo, values, known)] += 1
    return f"payments: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"


def _payments_by_invoice(repo: LimeRepo, invoice_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in invoice_ids}
    query = repo.filter_in("payment", "invoice", [int(i) for i in invoice_ids])
    for payment in repo.find("payment", filter=query):
        found.setdefault(str(relation_id(payment.get("invoice"))), []).append(payment)
    return found


# Kind of adjustment row -> the InvoiceActionView amount it mirrors and the event type that books it.
ADJUSTMENTS: tuple[tuple[str, str, str], ...] = (
    ("writeoff", "WriteOffAmount", "WrittenOff"),
    ("credit", "CreditedAmount", "Credited"),
)


def adjustment_id(action_public_id: str, kind: str) -> str:
    return f"{action_public_id}:{kind}"


def last_event_day(invoice: dict[str, Any], event_type: str) -> date | None:
    """The day of the newest ``event_type`` event in the invoice's Events (None when there is none)."""
    days = [as_date(e.get("EventDate")) for e in invoice.get("Events") or []
            if isinstance(e, dict) and text(e.get("EventType")) == event_type]
    found = [d for d in days if d is not None]
    return max(found) if found else None


def has_adjustments(invoice: dict[str, Any]) -> bool:
    return any(money(invoice.get(amount_key)) != 0 for _kind, amount_key, _event in ADJUSTMENTS)


def adjustment_values(invoice: dict[str, Any], invoice_id: int, links: dict[str, Any]) -> list[dict[str, Any]]:
    """The write-off and credit payment rows of one invoice, as Billecta's totals show them now.

    ``paymentdate`` is None when no matching event is in Events: the caller keeps a date it already has.
    """
    action_id = text(invoice.get("ActionPublicId"))
    currency = text((invoice.get("InvoicedAmount") or {}).get("CurrencyCode")) or "SEK"
    rows = []
    for kind, amount_key, event_type in ADJUSTMENTS:
        amount = invoice.get(amount_key) or {}
        day = last_event_day(invoice, event_type)
        rows.append({
            "paymentbillectaid": adjustment_id(action_id, kind),
            "paymenttype": kind,
            # A credit invoice shows its credit as a negative amount; the Lime row holds its size.
            "amount": abs(money(amount)),
            "currencycode": text(amount.get("CurrencyCode")) or currency,
            "paymentdate": iso_day(day) if day else None,
            "handled": True,
            "invoice": invoice_id,
            "creditor": links.get("creditor"),
            "debtor": links.get("debtor"),
        })
    return rows


def sync_invoice_adjustments(repo: LimeRepo, invoice: dict[str, Any], invoice_id: int, links: dict[str, Any],
                             known_payments: KnownPayments, today: date | None = None) -> str:
    """Write-offs and credits of one invoice as Lime payments, one row per kind (the caller holds the lock).

    Billecta exposes no list of the single write-off or credit operations, only the invoice's running
    totals, so each row is the running total for its invoice: it grows with each write-off or credit and
    is set back to 0 (not deleted) if Billecta's total drops to 0. ``links["had_adjustments"]``: the Lime
    invoice showed a write-off or credit before this sync; without that and without one now, Lime is not
    asked at all (the common case); ``known_payments`` reads its Lime payments (``lime_payments_of``). Returns ""
    when nothing was looked at.
    """
    if not has_adjustments(invoice) and not links.get("had_adjustments"):
        return ""
    known = known_payments()
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for values in adjustment_values(invoice, invoice_id, links):
        existing = known.get(values["paymentbillectaid"])
        if existing is None and not values["amount"]:
            continue  # never had this kind: no row of 0
        day = values["paymentdate"]
        if existing is not None and existing.get("paymentdate") and (
                day is None or as_date(existing["paymentdate"]) == as_date(day)):
            del values["paymentdate"]  # same day, or no event to date it: a re-run must change nothing
        elif day is None:
            values["paymentdate"] = iso_day(today or days.today())
        counts[upsert_payment(repo, values, known)] += 1
    return (f"write-offs and credits: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged")
