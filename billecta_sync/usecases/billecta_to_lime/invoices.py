"""Invoices in Lime mirror Billecta's invoice actions: number, OCR, amounts, dates, status and rows.

Always written from a fresh GET of the invoice action, never from a webhook body, so events that
arrive late or twice cannot roll the invoice back to an older state.
"""

from __future__ import annotations

from typing import Any

from billecta_sync.container import Services
from billecta_sync.errors import RelatedObjectMissing
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.debtors import ensure_lime_debtor
from billecta_sync.usecases.billecta_to_lime.invoice_state import (
    autogiro_values,
    credited_invoice_id,
    invoice_values,
    mark_written,
    row_values,
)
from billecta_sync.usecases.billecta_to_lime.payments import sync_invoice_adjustments, sync_invoice_payments
from billecta_sync.usecases.billecta_to_lime.reminder_invoices import close_reminder_with_source, refresh_reminder
from billecta_sync.usecases.common import differs, option_key, text


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

        adjustments = sync_invoice_adjustments(repo, invoice, invoice_id, links)
        if adjustments:
            outcome += "; " + adjustments
        if with_payments:

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

        outcome += "; " + close_reminder_with_source(services, reminder_id, action_public_id)
    links = {k: values.get(k) or (existing or {}).get(k) for k in ("creditor", "debtor")}
    links["had_adjustments"] = bool(existing) and any(
        differs(existing.get(k), 0.0) for k in ("writtenoffamount", "creditedamount"))
    # The invoice sync never writes these, so what Lime showed before it is still current.
    links["autogiro"] = {k: (existing or {}).get(k) for k in ("autogirostatus", "autogirostatusat")}
    return outcome, invoice_id, links


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
    wanted = {"credited": "credited", "cancelled": "cancelled", "paid": "completed"}.get(values["invoicestatus"])
    if wanted is None and values["invoicestatus"] not in ("created",):
        wanted = "attested"
    if wanted is None:
        return
    order = repo.get_or_none("order", order_id)
    if order is not None and option_key(order.get("orderstatus")) not in (wanted, "credited", "cancelled", "completed"):
        repo.update("order", order_id, {"orderstatus": wanted, "billecta_error_message": ""})


def refresh_invoice(services: Services, invoice_id: int) -> str:
    """Read one Lime invoice's state from Billecta again (the backfill batch: fields added later get filled)."""
    invoice = LimeRepo(services.lime, services.mappings).get("invoice", invoice_id)
    action_id = text(invoice.get("actionpublicid"))
    if not action_id:
        return f"invoice {invoice_id} is not in Billecta; nothing to read"
    if invoice.get("reminderof"):  # a reminder invoice is read through its own view
        outcome, _ = refresh_reminder(services, action_id)
        return outcome or f"reminder invoice {invoice_id}: its source invoice is not in Lime"
    return sync_invoice_from_billecta(services, action_id)
