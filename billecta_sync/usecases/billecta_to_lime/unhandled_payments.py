"""Overpayments and unmatched payments (Billecta's unhandled payments) as Lime ``payment`` objects.

Their ``UnhandledPaymentPublicId`` is the stable id; an overpayment used on another invoice points at that
invoice, which is brought over from Billecta first when Lime lacks it.
"""

from __future__ import annotations

from typing import Any

from billecta_sync.container import Services
from billecta_sync.errors import RelatedObjectMissing
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.payments import upsert_payment
from billecta_sync.usecases.common import as_date, iso_day, money, text

# Billecta's UnhandledPaymentState -> Lime payment.paymentstatus
PAYMENT_STATUS = {"Unhandled": "unhandled", "UsedOnInvoice": "usedoninvoice", "UsedOnInvoiceInOtherCreditor":
                  "usedoninvoice", "Deleted": "deleted", "RepaymentPending": "unhandled", "Repaid": "repaid"}
UNHANDLED_TYPES = {"OverPayment": "overpayment", "Overpayment": "overpayment", "UnmatchedPayment": "unmatched"}


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
            "amount": money(amount),
            "currencycode": text(amount.get("CurrencyCode")) or "SEK",
            "paymentdate": iso_day(as_date(payment.get("PaymentDate"))),
            "handled": text(payment.get("State")) not in ("", "Unhandled"),
            "paymentstatus": PAYMENT_STATUS.get(text(payment.get("State")), "unhandled"),
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
        reference = text(payment.get("Reference"))
        if "invoice" not in values and reference:
            # The bank reference of a payment Billecta could not place is often the invoice's OCR (the seed
            # links such payments by OCR before treating them as unmatched).
            by_ocr = repo.find_one("invoice", {"ocr": reference, "creditor": int(creditor["_id"])})
            if by_ocr is not None:
                values["invoice"] = int(by_ocr["_id"])
                values.setdefault("debtor", by_ocr.get("debtor"))
        verb = upsert_payment(repo, values)
        return f"{kind} payment {unhandled_payment_id} {verb}"
