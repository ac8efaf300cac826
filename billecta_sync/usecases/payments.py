"""Billecta payments as Lime ``payment`` objects: one per Billecta payment, found again by
``paymentbillectaid`` so a repeated or late event never creates a second one.

* Payments booked on an invoice come from Billecta's incoming-payments list filtered to the invoice
  (``payments.incoming``, verified); each carries a stable ``PaymentReferenceId``.
* Overpayments and unmatched payments are Billecta's unhandled payments; their
  ``UnhandledPaymentPublicId`` is the stable id.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from billecta_sync.billecta.values import major_units
from billecta_sync.container import Services
from billecta_sync.errors import RelatedObjectMissing
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import as_date, iso_day, option_key, text
from billecta_sync.usecases.invoices import sync_invoice_from_billecta

UNHANDLED_TYPES = {"OverPayment": "overpayment", "Overpayment": "overpayment", "UnmatchedPayment": "unmatched"}


def _money(value: Any) -> float:
    units = major_units(value)
    return float(units) if units is not None else 0.0


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(current, dict):
        current = option_key(current)
    if isinstance(wanted, float):
        try:
            return abs(float(current or 0) - wanted) > 1e-9
        except (TypeError, ValueError):
            return True
    if isinstance(wanted, bool):
        return bool(current) != wanted
    return (current if current is not None else "") != (wanted if wanted is not None else "")


def _upsert(repo: LimeRepo, values: dict[str, Any], known: dict[str, dict[str, Any]] | None = None) -> str:
    """Create or update by ``paymentbillectaid``; ``known`` holds payments already read (one query for all
    of an invoice's payments instead of one per payment)."""
    if known is not None:
        existing = known.get(values["paymentbillectaid"])
    else:
        existing = repo.find_one("payment", {"paymentbillectaid": values["paymentbillectaid"]})
    if existing is None:
        repo.create("payment", values)
        return "created"
    changed = {k: v for k, v in values.items() if _differs(existing.get(k), v)}
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
        "To": (date.today() + timedelta(days=1)).isoformat(),
        "ActionPublicIdFilter": [invoice.get("ActionPublicId")],
    }
    answer = services.billecta.call("payments.incoming", body=body)
    return [p for p in answer or [] if isinstance(p, dict)]


def sync_invoice_payments(services: Services, repo: LimeRepo, invoice: dict[str, Any], invoice_id: int,
                          links: dict[str, Any]) -> str:
    """Create or update the Lime payments of one invoice (``links``: its Lime creditor and debtor ids).
    The caller holds the invoice's lock."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    payments = incoming_payments(services, invoice)
    known: dict[str, dict[str, Any]] = {}
    if payments:
        known = {str(p.get("paymentbillectaid")): p for p in repo.find("payment", {"invoice": invoice_id})}
    for payment in payments:
        reference = text(payment.get("PaymentReferenceId"))
        if not reference or text(payment.get("ActionPublicId")) != text(invoice.get("ActionPublicId")):
            continue
        amount = payment.get("Amount") or {}
        values = {
            "paymentbillectaid": reference,
            "paymenttype": "payment",
            "amount": _money(amount),
            "currencycode": text(amount.get("CurrencyCode")) or "SEK",
            "paymentdate": iso_day(as_date(payment.get("PaymentDate"))),
            "transactiondate": iso_day(as_date(payment.get("CreatedDate"))),
            "paymentmeancode": text(payment.get("PaymentMeanCode")),
            "handled": True,
            "invoice": invoice_id,
            "creditor": links.get("creditor"),
            "debtor": links.get("debtor"),
        }
        counts[_upsert(repo, values, known)] += 1
    return f"payments: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"


def sync_unhandled_payment(services: Services, unhandled_payment_id: str) -> str:
    """An overpayment or unmatched payment as a Lime payment, linked to what Lime has of it."""
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"payment:{unhandled_payment_id}",
                     timeout_s=services.settings.worker.lock_timeout_s):
        payment = services.billecta.call("payments.unhandled.get",
                                         {"unhandled_payment_public_id": unhandled_payment_id})
        creditor_public_id = text(payment.get("CreditorPublicId"))
        creditor = repo.find_one("creditor", {"creditorpublicid": creditor_public_id}) if creditor_public_id else None
        if creditor is None:
            raise RelatedObjectMissing(f"no Lime creditor has creditorpublicid {creditor_public_id!r}")
        amount = payment.get("Amount") or {}
        details = payment.get("OverpaymentDetails") or {}
        kind = UNHANDLED_TYPES.get(text(payment.get("UnhandledPaymentType")), "unmatched")
        values: dict[str, Any] = {
            "paymentbillectaid": unhandled_payment_id,
            "paymenttype": kind,
            "amount": _money(amount),
            "currencycode": text(amount.get("CurrencyCode")) or "SEK",
            "paymentdate": iso_day(as_date(payment.get("PaymentDate"))),
            "handled": text(payment.get("State")) not in ("", "Unhandled"),
            "creditor": int(creditor["_id"]),
        }
        debtor_public_id = text(payment.get("DebtorPublicId"))
        if debtor_public_id:
            link = repo.find_one("creditordebtor", {"debtorpublicid": debtor_public_id})
            if link is not None and link.get("debtor"):
                values["debtor"] = link["debtor"]
        # An overpayment used on another invoice points at that invoice; otherwise at the one overpaid.
        action_id = text(details.get("UsedOnActionPublicId") or details.get("ActionPublicId"))
        if action_id:
            lime_invoice = repo.find_one("invoice", {"actionpublicid": action_id})
            if lime_invoice is None:
                sync_invoice_from_billecta(services, action_id)
                lime_invoice = repo.find_one("invoice", {"actionpublicid": action_id})
            if lime_invoice is not None:
                values["invoice"] = int(lime_invoice["_id"])
                values.setdefault("debtor", lime_invoice.get("debtor"))
        verb = _upsert(repo, values)
        return f"{kind} payment {unhandled_payment_id} {verb}"
