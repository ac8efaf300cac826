"""Reminder invoices: each Billecta reminder invoice action is a Lime invoice of its own (lower layer: reading
and writing one reminder whose source Lime has; the event flow is reminders.py).

The Lime invoice carries the reminder's ActionPublicId, number, OCR, dates, amounts and fee, the creditor
and debtor of the invoice it reminds of, and ``reminderof`` pointing at that invoice. Like invoices it is
always written from a fresh GET (ReminderInvoiceActionView), so late or repeated events change nothing.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from billecta_sync import days
from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError, RelatedObjectMissing
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.invoice_state import STAGE_STATUS, mark_written
from billecta_sync.usecases.common import as_date, differs, iso_day, money, option_key, relation_id, text

log = logging.getLogger(__name__)

ROUTE = "invoice.reminder.get"
RELATIONS = ("creditor", "debtor", "reminderof")
# Lime statuses of a source invoice that close its reminder; re-reading the reminder then is worth a call.
CLOSING_STATUSES = frozenset({"paid", "credited", "cancelled"})


def reminder_document(reminder: dict[str, Any]) -> dict[str, Any]:
    """The reminder invoice document; Billecta lists them, the last one is the newest."""
    documents = [d for d in reminder.get("ReminderInvoices") or [] if isinstance(d, dict)]
    return documents[-1] if documents else {}


def reminder_status(reminder: dict[str, Any], source_status: str = "", previous: str = "",
                    today: date | None = None) -> str:
    status = STAGE_STATUS.get(str(reminder.get("Stage") or ""), "sent")
    if status == "paid" and source_status in ("credited", "cancelled"):
        # Billecta completes the reminder whenever its source closes; nobody paid a credited one.
        status = source_status
    if status == "sent" and previous == "expired":
        due = as_date(reminder_document(reminder).get("DueDate"))
        if due and due < (today or days.today()):
            status = "expired"  # the nightly job's mark; Billecta has no stage that contradicts it
    return status


def reminder_values(reminder: dict[str, Any], source: dict[str, Any], previous_status: str = "",
                    today: date | None = None) -> dict[str, Any]:
    """Lime invoice values of a ReminderInvoiceActionView; ``source`` is the Lime invoice it reminds of."""
    document = reminder_document(reminder)
    currency = next((text(a.get("CurrencyCode")) for a in (
        document.get("InvoicedAmount"), reminder.get("CurrentValue"), reminder.get("ReminderFee"))
        if isinstance(a, dict) and text(a.get("CurrencyCode"))), "") or text(source.get("currencycode")) or "SEK"
    source_status = option_key(source.get("invoicestatus")) or ""
    return {
        "actionpublicid": text(reminder.get("ActionPublicId")),
        "invoicenumber": text(document.get("InvoiceNumber")),
        "ocr": text(document.get("OCR")),
        "invoicestatus": reminder_status(reminder, source_status, previous_status, today),
        "invoicedate": iso_day(as_date(document.get("InvoiceDate"))),
        "invoice_expires": iso_day(as_date(document.get("DueDate"))),
        "invoicedamount": money(document.get("InvoicedAmount")),
        "currentamount": money(reminder.get("CurrentValue")),
        "reminderfee": money(reminder.get("ReminderFee")),
        "currencycode": currency,
        "creditor": relation_id(source.get("creditor")),
        "debtor": relation_id(source.get("debtor")),
        "reminderof": int(source["_id"]),
        "billecta_error_message": "",
    }


def _fetch(services: Services, reminder_action_id: str) -> dict[str, Any]:
    view = services.billecta.call(ROUTE, {"action_public_id": reminder_action_id})
    if not isinstance(view, dict):
        raise PermanentError(f"Billecta answered no ReminderInvoiceActionView for {reminder_action_id}")
    return view


def _upsert_reminder(services: Services, repo: LimeRepo, reminder_action_id: str, reminder: dict[str, Any],
                     source: dict[str, Any]) -> str:
    existing = repo.find_one("invoice", {"actionpublicid": reminder_action_id})
    previous_status = (option_key(existing.get("invoicestatus")) or "") if existing else ""
    values = reminder_values(reminder, source, previous_status)
    values["actionpublicid"] = reminder_action_id  # the id it is found by, whatever the view echoes
    if existing is None:
        invoice_id = int(repo.create("invoice", values)["_id"])
        verb = "created"
    else:
        invoice_id = int(existing["_id"])
        changed = {k: v for k, v in values.items()
                   if (relation_id(existing.get(k)) != v if k in RELATIONS else differs(existing.get(k), v))}
        repo.update("invoice", invoice_id, changed)
        verb = "updated" if changed else "unchanged"
    mark_written(services.redis, invoice_id)  # the expiry job reads this (invoices.written_since)
    return (f"reminder invoice {invoice_id} {verb} from Billecta reminder {reminder_action_id} of invoice "
            f"{source['_id']} ({values['invoicestatus']})")


def refresh_reminder(services: Services, reminder_action_id: str, source_action_id: str = "") -> tuple[str | None, str]:
    """Read one reminder and write it into Lime, under its lock, if Lime has its source invoice.

    Returns the outcome (``None`` when Lime lacks the source) and the source's ActionPublicId; ``source_action_id``
    is only used when the view does not name its source.
    """
    repo = LimeRepo(services.lime, services.mappings)
    lock_s = services.settings.worker.lock_timeout_s
    with object_lock(services.redis, f"invoice:{reminder_action_id}", timeout_s=lock_s):
        reminder = _fetch(services, reminder_action_id)
        source_id = text(reminder.get("SourceActionPublicId")) or source_action_id
        if not source_id:
            raise PermanentError(f"reminder invoice {reminder_action_id} names no source invoice")
        source = repo.find_one("invoice", {"actionpublicid": source_id})
        if source is None:
            return None, source_id
        return _upsert_reminder(services, repo, reminder_action_id, reminder, source), source_id


def close_reminder_with_source(services: Services, reminder_action_id: str, source_action_id: str) -> str:
    """Re-read a reminder after its source invoice closed in Lime, so the reminder closes too.

    The read route is a guess (routes.py); a 404 is logged and reported rather than failing the source
    invoice's own sync, which has already been written.
    """
    try:
        outcome, source_id = refresh_reminder(services, reminder_action_id, source_action_id)
    except BillectaApiNotFoundException as exc:
        log.warning("reminder %s of invoice %s not readable: %s", reminder_action_id, source_action_id, exc)
        return f"reminder {reminder_action_id} not readable from Billecta: {exc}"
    if outcome is None:
        raise RelatedObjectMissing(f"the invoice {source_id} reminded of by {reminder_action_id} is not in Lime")
    return outcome
