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
from billecta_sync.usecases.billecta_to_lime.coalescing import refresh_coalesced
from billecta_sync.usecases.billecta_to_lime.debtors import ensure_lime_debtor
from billecta_sync.usecases.billecta_to_lime.invoice_state import (
    autogiro_values,
    credited_invoice_id,
    invoice_values,
    mark_written,
    row_values,
)
from billecta_sync.usecases.billecta_to_lime.payments import (
    lime_payments_of,
    sync_invoice_adjustments,
    sync_invoice_payments,
)
from billecta_sync.usecases.billecta_to_lime.reminder_invoices import close_reminder_with_source, refresh_reminder
from billecta_sync.usecases.common import differs, option_key, relation_id, text
from billecta_sync.usecases.shared_reads import read_together


def _relations(services: Services, repo: LimeRepo, invoice: dict[str, Any]) -> dict[str, Any]:
    """The Lime creditor, debtor and order of an invoice; for one made from a Lime order, all three in one
    query of that order (its ExternalReference names it), else by the Billecta ids they carry."""
    from_order = _order_of(services, repo, invoice)
    if from_order is not None:
        return from_order
    creditor_public_id = text(invoice.get("CreditorPublicId"))
    creditor = repo.find_one("creditor", {"creditorpublicid": creditor_public_id}) if creditor_public_id else None
    if creditor is None:
        raise RelatedObjectMissing(f"no Lime creditor has creditorpublicid {creditor_public_id!r}")
    relations: dict[str, Any] = {"creditor": creditor["_id"]}
    debtor_public_id = _debtor_public_id(invoice)
    if debtor_public_id:
        # An invoice made outside the order flow may name a debtor Lime has never seen: create it.
        relations["debtor"] = ensure_lime_debtor(services, repo, int(creditor["_id"]), debtor_public_id)
    order = repo.find_one("order", {"actionpublicid": text(invoice.get("ActionPublicId"))})
    if order is not None:
        relations["order"] = order["_id"]
        relations[_ORDER_STATUS] = option_key(order.get("orderstatus")) or ""
    return relations


def _invoices_by_action(repo: LimeRepo, action_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The Lime invoice of each Billecta invoice action (the oldest, should there be two), its order nested."""
    found: dict[str, dict[str, Any]] = {}
    query = repo.filter_in("invoice", "actionpublicid", action_ids)
    for invoice in repo.find_nested("invoice", query, {"order": ["orderstatus"]}):
        found.setdefault(text(invoice.get("actionpublicid")), invoice)
    return found


def _orders_by_id(repo: LimeRepo, order_ids: list[str]) -> dict[str, dict[str, Any]]:
    query = repo.filter_in("order", "_id", [int(i) for i in order_ids])
    return {str(o["_id"]): o for o in repo.find_nested("order", query, {"creditor": ["creditorpublicid"]})}


_ORDER_STATUS = "_orderstatus"  # carried beside the relations so the order's status needs no GET of its own


def _debtor_public_id(invoice: dict[str, Any]) -> str:
    return text((invoice.get("Debtor") or {}).get("DebtorPublicId") or invoice.get("DebtorPublicId"))


def _order_of(services: Services, repo: LimeRepo, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """Creditor, debtor and order (with its status) of an invoice made from a Lime order, from one query of
    that order; None when the invoice is not from an order, or the order no longer matches it."""
    reference = text(invoice.get("ExternalReference"))
    if not reference.startswith(ORDER_REFERENCE):
        return None
    raw_id = reference.removeprefix(ORDER_REFERENCE)
    if not raw_id.isdigit():
        return None
    order = read_together(services, "order-by-id", raw_id, lambda ids: _orders_by_id(repo, ids))
    if order is None:
        return None
    creditor = order.get("creditor") if isinstance(order.get("creditor"), dict) else {}
    action_id = text(order.get("actionpublicid"))
    if (text(creditor.get("creditorpublicid")) != text(invoice.get("CreditorPublicId"))
            or relation_id(order.get("debtor")) is None
            or action_id not in ("", text(invoice.get("ActionPublicId")))):
        return None  # an order sent again since, or changed by hand: look each relation up on its own
    # The order's debtor is the one its invoice was made for: the order flow sent it for that creditor.
    return {"creditor": int(creditor["_id"]), "debtor": relation_id(order.get("debtor")), "order": int(order["_id"]),
            _ORDER_STATUS: option_key(order.get("orderstatus")) or ""}


def _sync_rows(repo: LimeRepo, invoice_id: int, records: list[dict[str, Any]], *, new: bool = False) -> None:
    """Make the invoice's rows match Billecta's records (a ``new`` invoice has none to read first)."""
    existing = {} if new else {int(r.get("position") or 0): r for r in repo.find("invoicerow", {"invoice": invoice_id})}
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
    with object_lock(services.redis, f"invoice:{action_public_id}",
                     timeout_s=services.settings.worker.lock_timeout_s):
        return _sync_invoice(services, action_public_id, with_payments=with_payments, autogiro=autogiro)


def refresh_invoice_for_event(services: Services, action_public_id: str, *, with_payments: bool = False) -> str:
    """An event's refresh of its invoice, shared with the other events of the same burst (coalescing.py)."""
    return refresh_coalesced(
        services, action_public_id,
        lambda extras: _sync_invoice(services, action_public_id, with_payments=PAYMENTS in extras),
        extras={PAYMENTS} if with_payments else ())


PAYMENTS = "payments"


def _sync_invoice(services: Services, action_public_id: str, *, with_payments: bool = False,
                  autogiro: tuple[str, str] | None = None) -> str:
    repo = LimeRepo(services.lime, services.mappings)
    invoice = services.billecta.get_invoice(action_public_id)
    outcome, invoice_id, links = _upsert_invoice(services, repo, action_public_id, invoice)
    mark_written(services.redis, invoice_id)

    known_payments = lime_payments_of(services, repo, invoice_id)  # read once, if at all, for both
    adjustments = sync_invoice_adjustments(repo, invoice, invoice_id, links, known_payments)
    if adjustments:
        outcome += "; " + adjustments
    if with_payments:
        outcome += "; " + sync_invoice_payments(services, repo, invoice, invoice_id, links, known_payments)
    if autogiro is not None:
        outcome += "; " + _record_autogiro(repo, invoice_id, links["autogiro"], *autogiro)
    return outcome


def _upsert_invoice(services: Services, repo: LimeRepo, action_public_id: str,
                    invoice: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """Returns the outcome, the Lime invoice id and its links: creditor and debtor ids, and whether the Lime
    invoice already showed a write-off or credit (``had_adjustments``), and its autogiro fields (``autogiro``)."""
    # The invoice with its order's status nested (no GET of the order to keep its status in step), in one
    # query with the lookups of the other events being handled right now.
    existing = read_together(services, "invoice-by-action", action_public_id,
                             lambda action_ids: _invoices_by_action(repo, action_ids))
    order_status = ""
    if existing is not None and isinstance(existing.get("order"), dict):
        order_status = option_key(existing["order"].get("orderstatus")) or ""
        existing["order"] = existing["order"]["_id"]
    previous_status = option_key(existing.get("invoicestatus")) if existing else ""
    values = invoice_values(invoice, previous_status or "")
    if existing is None or not (existing.get("creditor") and existing.get("debtor")) or (
            not existing.get("order") and _from_order_flow(invoice)):
        # Relations never change once set; look them up only while one is still missing (the order
        # may not carry its actionpublicid yet when the first event arrives). An invoice made outside
        # the order flow never gets an order, so it is not looked for on every event.
        values.update(_relations(services, repo, invoice))
        order_status = values.pop(_ORDER_STATUS, order_status)
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
        _sync_rows(repo, invoice_id, list(invoice.get("Records") or []), new=existing is None)
    if existing is None or previous_status != values["invoicestatus"] or "order" in values:
        _sync_order_status(repo, {**values, "order": values.get("order") or (existing and existing.get("order"))},
                           order_status)
    outcome = f"invoice {invoice_id} {verb} from Billecta invoice {action_public_id} ({values['invoicestatus']})"
    reminder_id = text(invoice.get("ReminderInvoiceActionPublicId"))
    if reminder_id and previous_status != values["invoicestatus"] and values["invoicestatus"] in (
            "paid", "credited", "cancelled"):
        # Billecta closes the reminder with its source; read it only then, not on every invoice event.

        outcome += "; " + close_reminder_with_source(services, reminder_id, action_public_id)
    links = {k: values.get(k) or (existing or {}).get(k) for k in ("creditor", "debtor")}
    links["had_adjustments"] = bool(existing) and any(
        differs(existing.get(k), 0.0) for k in ("writtenoffamount", "creditedamount"))
    links["had_payments"] = bool(existing) and differs(existing.get("paidamount"), 0.0)
    # The invoice sync never writes these, so what Lime showed before it is still current.
    links["autogiro"] = {k: (existing or {}).get(k) for k in ("autogirostatus", "autogirostatusat")}
    return outcome, invoice_id, links


def _record_autogiro(repo: LimeRepo, invoice_id: int, stored: dict[str, Any], status: str, occurred_at: str) -> str:
    changed = autogiro_values(stored, status, occurred_at)
    repo.update("invoice", invoice_id, changed)
    return f"autogiro {status} {'recorded' if changed else 'already shown or older than what Lime has'}"


# The ExternalReference orders.external_reference gives every invoice made from a Lime order.
ORDER_REFERENCE = "lime-order-"


def _from_order_flow(invoice: dict[str, Any]) -> bool:
    return text(invoice.get("ExternalReference")).startswith(ORDER_REFERENCE)


def _credited_lime_invoice(services: Services, repo: LimeRepo, source_id: str) -> int:
    """The Lime invoice a credit invoice credits, brought over from Billecta first if Lime lacks it."""
    found = repo.find_one("invoice", {"actionpublicid": source_id})
    if found is None:
        sync_invoice_from_billecta(services, source_id)
        found = repo.find_one("invoice", {"actionpublicid": source_id})
    if found is None:
        raise RelatedObjectMissing(f"the invoice {source_id} credited by a credit invoice is not in Lime")
    return int(found["_id"])


def _sync_order_status(repo: LimeRepo, values: dict[str, Any], known_status: str = "") -> None:
    """Keep the order's status in step with its invoice's (``known_status``: the order's, if already read)."""
    order_id = values.get("order")
    if not order_id:
        return
    wanted = {"credited": "credited", "cancelled": "cancelled", "paid": "completed"}.get(values["invoicestatus"])
    if wanted is None and values["invoicestatus"] not in ("created",):
        wanted = "attested"
    if wanted is None:
        return
    if known_status:
        current: str | None = known_status
    else:
        order = repo.get_or_none("order", order_id)
        current = None if order is None else option_key(order.get("orderstatus")) or ""
    if current is not None and current not in (wanted, "credited", "cancelled", "completed"):
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
