"""Invoices in Lime mirror Billecta's invoice actions: number, OCR, amounts, dates, status and rows.

Always written from a fresh GET of the invoice action, never from a webhook body, so events that
arrive late or twice cannot roll the invoice back to an older state.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import redis

from billecta_sync.billecta.values import major_units
from billecta_sync.container import Services
from billecta_sync.errors import RelatedObjectMissing
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import as_date, differs, iso_day, money, option_key, text
from billecta_sync.usecases.debtors_inbound import ensure_lime_debtor

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
        if due and due < (today or date.today()):
            status = "expired"  # set by the nightly job; Billecta has no such stage to contradict it
    return status


def invoice_values(invoice: dict[str, Any], previous_status: str = "") -> dict[str, Any]:
    state = invoice.get("State") or {}
    documents = invoice.get("Invoices") or []
    first = documents[0] if documents else {}
    invoiced = invoice.get("InvoicedAmount") or {}
    return {
        "actionpublicid": text(invoice.get("ActionPublicId")),
        "invoicenumber": text(first.get("InvoiceNumber") or invoice.get("InvoiceNumber")),
        "ocr": text(first.get("OCR")),
        "invoicestatus": invoice_status(invoice, previous_status),
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


def _relations(services: Services, repo: LimeRepo, invoice: dict[str, Any]) -> dict[str, Any]:
    creditor_public_id = text(invoice.get("CreditorPublicId"))
    creditor = repo.find_one("creditor", {"creditorpublicid": creditor_public_id}) if creditor_public_id else None
    if creditor is None:
        raise RelatedObjectMissing(f"no Lime creditor has creditorpublicid {creditor_public_id!r}")
    relations: dict[str, Any] = {"creditor": creditor["_id"]}
    debtor_public_id = text((invoice.get("Debtor") or {}).get("DebtorPublicId") or invoice.get("DebtorPublicId"))
    if debtor_public_id:
        # An invoice made outside the order flow may name a debtor Lime has never seen: create it.
        relations["debtor"] = ensure_lime_debtor(services, repo, int(creditor["_id"]), debtor_public_id)
    order = repo.find_one("order", {"actionpublicid": text(invoice.get("ActionPublicId"))})
    if order is not None:
        relations["order"] = order["_id"]
    return relations


def _sync_rows(repo: LimeRepo, invoice_id: int, records: list[dict[str, Any]]) -> None:
    existing = {int(r.get("position") or 0): r for r in repo.find("invoicerow", {"invoice": invoice_id})}
    for position, record in enumerate(records, start=1):
        values = row_values(record, position)
        current = existing.pop(position, None)
        if current is None:
            repo.create("invoicerow", {**values, "invoice": invoice_id})
        elif any(differs(current.get(k), v) for k, v in values.items()):
            repo.update("invoicerow", current["_id"], values)
    for leftover in existing.values():
        repo.delete("invoicerow", leftover["_id"])


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


def sync_invoice_from_billecta(services: Services, action_public_id: str, *, with_payments: bool = False,
                               autogiro: tuple[str, str] | None = None) -> str:
    """Create or update the Lime invoice (and rows) of one Billecta invoice action and its write-off and
    credit rows; with ``with_payments`` also its payments, with ``autogiro`` (status, event time) the outcome
    of an autogiro withdrawal; all under the same per-invoice lock."""
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"invoice:{action_public_id}",
                     timeout_s=services.settings.worker.lock_timeout_s):
        invoice = services.billecta.get_invoice(action_public_id)
        outcome, invoice_id, links = _upsert_invoice(services, repo, action_public_id, invoice)
        mark_written(services.redis, invoice_id)
        from billecta_sync.usecases.payments import sync_invoice_adjustments  # payments build on this module

        adjustments = sync_invoice_adjustments(repo, invoice, invoice_id, links)
        if adjustments:
            outcome += "; " + adjustments
        if with_payments:
            from billecta_sync.usecases.payments import sync_invoice_payments  # payments build on this module

            outcome += "; " + sync_invoice_payments(services, repo, invoice, invoice_id, links)
        if autogiro is not None:
            outcome += "; " + _record_autogiro(repo, invoice_id, links["autogiro"], *autogiro)
        return outcome


def _upsert_invoice(services: Services, repo: LimeRepo, action_public_id: str,
                    invoice: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """Returns the outcome, the Lime invoice id and its links: creditor and debtor ids, and whether the Lime
    invoice already showed a write-off or credit (``had_adjustments``), and its autogiro fields (``autogiro``)."""
    existing = repo.find_one("invoice", {"actionpublicid": action_public_id})
    previous_status = option_key(existing.get("invoicestatus")) if existing else ""
    values = invoice_values(invoice, previous_status or "")
    if existing is None or not (existing.get("creditor") and existing.get("debtor")) or (
            not existing.get("order") and _from_order_flow(invoice)):
        # Relations never change once set; look them up only while one is still missing (the order
        # may not carry its actionpublicid yet when the first event arrives). An invoice made outside
        # the order flow never gets an order, so it is not looked for on every event.
        values.update(_relations(services, repo, invoice))
    source_id = credited_invoice_id(invoice)
    if source_id and (existing is None or not existing.get("creditinvoice")):
        values["creditinvoice"] = _credited_lime_invoice(services, repo, source_id)
    if existing is None:
        created = repo.create("invoice", values)
        invoice_id = int(created["_id"])
        verb = "created"
    else:
        invoice_id = int(existing["_id"])
        changed = {k: v for k, v in values.items() if differs(existing.get(k), v)}
        repo.update("invoice", invoice_id, changed)
        verb = "updated" if changed else "unchanged"
    if existing is None or previous_status in ("", "created"):
        # Billecta locks an invoice's rows when it is attested; after that they cannot change.
        _sync_rows(repo, invoice_id, list(invoice.get("Records") or []))
    if existing is None or previous_status != values["invoicestatus"] or "order" in values:
        _sync_order_status(repo, {**values, "order": values.get("order") or (existing and existing.get("order"))})
    outcome = f"invoice {invoice_id} {verb} from Billecta invoice {action_public_id} ({values['invoicestatus']})"
    reminder_id = text(invoice.get("ReminderInvoiceActionPublicId"))
    if reminder_id and previous_status != values["invoicestatus"] and values["invoicestatus"] in (
            "paid", "credited", "cancelled"):
        # Billecta closes the reminder with its source; read it only then, not on every invoice event.
        from billecta_sync.usecases.reminders import close_reminder_with_source  # reminders build on this module

        outcome += "; " + close_reminder_with_source(services, reminder_id, action_public_id)
    links = {k: values.get(k) or (existing or {}).get(k) for k in ("creditor", "debtor")}
    links["had_adjustments"] = bool(existing) and any(
        differs(existing.get(k), 0.0) for k in ("writtenoffamount", "creditedamount"))
    # The invoice sync never writes these, so what Lime showed before it is still current.
    links["autogiro"] = {k: (existing or {}).get(k) for k in ("autogirostatus", "autogirostatusat")}
    return outcome, invoice_id, links


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


def _record_autogiro(repo: LimeRepo, invoice_id: int, stored: dict[str, Any], status: str, occurred_at: str) -> str:
    changed = autogiro_values(stored, status, occurred_at)
    repo.update("invoice", invoice_id, changed)
    return f"autogiro {status} {'recorded' if changed else 'already shown or older than what Lime has'}"


def _from_order_flow(invoice: dict[str, Any]) -> bool:
    # The ExternalReference orders.external_reference gives every invoice made from a Lime order.
    return text(invoice.get("ExternalReference")).startswith("lime-order-")


def _credited_lime_invoice(services: Services, repo: LimeRepo, source_id: str) -> int:
    """The Lime invoice a credit invoice credits, brought over from Billecta first if Lime lacks it."""
    found = repo.find_one("invoice", {"actionpublicid": source_id})
    if found is None:
        sync_invoice_from_billecta(services, source_id)
        found = repo.find_one("invoice", {"actionpublicid": source_id})
    if found is None:
        raise RelatedObjectMissing(f"the invoice {source_id} credited by a credit invoice is not in Lime")
    return int(found["_id"])


def _sync_order_status(repo: LimeRepo, values: dict[str, Any]) -> None:
    order_id = values.get("order")
    if not order_id:
        return
    wanted = {"credited": "credited", "cancelled": "cancelled"}.get(values["invoicestatus"])
    if wanted is None and values["invoicestatus"] not in ("created",):
        wanted = "attested"
    if wanted is None:
        return
    order = repo.get_or_none("order", order_id)
    if order is not None and option_key(order.get("orderstatus")) not in (wanted, "credited", "cancelled"):
        repo.update("order", order_id, {"orderstatus": wanted, "billecta_error_message": ""})
