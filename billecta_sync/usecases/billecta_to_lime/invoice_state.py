"""The state of one Billecta invoice as Lime shows it: status from Billecta's stage, the invoice's and its
rows' Lime values, when a handler last wrote it, and the autogiro fields of a withdrawal event.

Pure functions and Redis marks only, so every Billecta → Lime use-case can build on it without import cycles.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import redis

from billecta_sync import days
from billecta_sync.billecta.values import major_units
from billecta_sync.usecases.common import as_date, differs, iso_day, money, text

STAGE_STATUS = {
    "Created": "created",
    "None": "created",
    "Attested": "attested",
    "InvoiceSent": "sent",
    "ReminderInvoiceSent": "sent",
    "Manual": "sent",
    "Completed": "paid",
    "Cancelled": "cancelled",
    "SentToDebtCollection": "debtcollection",
    "SalesRequested": "sent",
    "SaleRequestAccepted": "sent",
    "SalesRequestedCancelled": "sent",
    "SalesRequestedDenied": "sent",
}
ROW_TYPES = {"Standard": "standard", "Package": "package", "Message": "message"}
CREDIT_ACTION = "CreditInvoiceAction"


def credited_invoice_id(invoice: dict[str, Any]) -> str:
    """The ActionPublicId a credit invoice credits ("" for an ordinary invoice)."""
    crediting = invoice.get("CreditingInvoice") or {}
    source = text(crediting.get("SourcePublicId") or invoice.get("CreditingInvoicePublicId"))
    return source


def invoice_status(invoice: dict[str, Any], previous: str = "", today: date | None = None) -> str:
    state = invoice.get("State") or {}
    status = STAGE_STATUS.get(str(state.get("Stage") or ""), "sent")
    if invoice.get("ActionType") == CREDIT_ACTION and status not in ("created", "cancelled"):
        return "credited"  # a credit note is never "paid" or "expired": it is the credit itself
    invoiced = major_units(invoice.get("InvoicedAmount")) or Decimal(0)
    paid = major_units(invoice.get("PaidAmount")) or Decimal(0)
    credited = major_units(invoice.get("CreditedAmount")) or Decimal(0)
    current = major_units(invoice.get("CurrentAmount"))
    if status == "paid" and credited > 0 and credited >= invoiced and paid == 0:
        status = "credited"
    elif status == "sent" and paid > 0 and (current is None or current > 0):
        status = "subpaid"
    if status in ("sent", "subpaid") and previous == "expired":
        due = as_date(invoice.get("DueDate"))
        if due and due < (today or days.today()):
            status = "expired"  # set by the nightly job; Billecta has no such stage to contradict it
    return status


def invoice_values(invoice: dict[str, Any], previous_status: str = "") -> dict[str, Any]:
    state = invoice.get("State") or {}
    status = invoice_status(invoice, previous_status)
    documents = invoice.get("Invoices") or []
    first = documents[0] if documents else {}
    invoiced = invoice.get("InvoicedAmount") or {}
    return {
        "actionpublicid": text(invoice.get("ActionPublicId")),
        "invoicenumber": text(first.get("InvoiceNumber") or invoice.get("InvoiceNumber")),
        "ocr": text(first.get("OCR")),
        "invoicestatus": status,
        "invoicedate": iso_day(as_date(invoice.get("InvoiceDate"))),
        "invoice_expires": iso_day(as_date(invoice.get("DueDate"))),
        "invoicedamount": money(invoice.get("InvoicedAmount")),
        "currentamount": money(invoice.get("CurrentAmount")),
        "paidamount": money(invoice.get("PaidAmount")),
        "creditedamount": money(invoice.get("CreditedAmount")),
        "writtenoffamount": money(invoice.get("WriteOffAmount")),
        "currencycode": text(invoiced.get("CurrencyCode")) or "SEK",
        "isdisputed": bool(state.get("DisputedDate")),
        "ispaused": bool(state.get("IsPaused")),
        "nexteventdate": iso_day(as_date(state.get("NextEventDate"))),
        "invoice_sent_date": iso_day(as_date(state.get("InvoiceSentDate"))),
        # The seed records when a paid invoice closed and what was left on it then.
        "paid_date": iso_day(as_date(state.get("ClosedDate"))) if status == "paid" else None,
        "invoice_balance": money(invoice.get("CurrentAmount")),
        "billecta_error_message": "",
    }


def row_values(record: dict[str, Any], position: int) -> dict[str, Any]:
    unit_price = major_units(record.get("UnitPrice"))
    return {
        "rowtype": ROW_TYPES.get(str(record.get("RecordType") or "Standard"), "standard"),
        "description": text(record.get("ArticleDescription")),
        "quantity": float(record.get("Quantity") or 0),
        "unitprice": float(unit_price) if unit_price is not None else 0.0,
        "vat": float(record.get("VAT") or 0),
        "position": position,
    }


# When an event handler last wrote each Lime invoice, so the nightly expiry job can tell that an invoice it
# read as overdue has been written (paid, perhaps) since. Kept two days: longer than any run of that job.
WRITTEN_KEY = "invoice-written:{}"
WRITTEN_TTL_S = 2 * 86400


def mark_written(client: redis.Redis, invoice_id: int) -> None:
    client.set(WRITTEN_KEY.format(invoice_id), f"{time.time():.6f}", ex=WRITTEN_TTL_S)


def written_since(client: redis.Redis, invoice_id: int, since: float) -> bool:
    stamp = client.get(WRITTEN_KEY.format(invoice_id))
    try:
        return stamp is not None and float(stamp) >= since
    except ValueError:
        return True  # unreadable: assume the worst, the caller reads the invoice again


def event_time(value: Any) -> datetime | None:
    """A webhook's or Lime's ISO time ("Z", an offset, or none, read as UTC); None if empty or unreadable."""
    raw = text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def autogiro_values(stored: dict[str, Any], status: str, occurred_at: str) -> dict[str, Any]:
    """The autogiro fields to write on a Lime invoice for a withdrawal event: {} when Lime already shows
    this event or a newer one (events arrive late, twice and out of order), else only what changes."""
    new_at = event_time(occurred_at)
    old_at = event_time(stored.get("autogirostatusat"))
    if new_at is not None and old_at is not None and new_at <= old_at:
        return {}
    wanted = {"autogirostatus": status}
    if new_at is not None:  # an event without a time is written, but cannot vouch for a time
        wanted["autogirostatusat"] = new_at.isoformat()
    return {k: v for k, v in wanted.items() if differs(stored.get(k), v)}
