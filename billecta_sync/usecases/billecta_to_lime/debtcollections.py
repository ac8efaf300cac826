"""Billecta debt collection actions as Lime ``debtcollection`` objects (found by ``actionpublicid``)."""

from __future__ import annotations

from typing import Any

from billecta_sync.container import Services
from billecta_sync.errors import RelatedObjectMissing
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.common import as_date, differs, iso_day, money, text

DELIVERY_METHODS = {"Email": "email", "Mail": "mail", "Manually": "manually", "SMS": "sms",
                    "EInvoice": "einvoice", "Kivra": "kivra"}


def debtcollection_values(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("State") or {}
    values: dict[str, Any] = {
        "actionpublicid": text(view.get("ActionPublicId")),
        "stage": text(state.get("Stage")),
        "debtamount": money(view.get("DebtAmount") or view.get("OriginalAmount")),
        "currentamount": money(view.get("CurrentAmount")),
        "interestamount": money(view.get("InterestAmount")),
        "feeamount": money(view.get("FeeAmount")),
        "interestpercentage": float(view.get("InterestPercentage") or 0),
        "nextevent": text(state.get("NextEvent")),
        "nexteventdate": iso_day(as_date(state.get("NextEventDate"))),
        "billecta_error_message": "",
    }
    method = DELIVERY_METHODS.get(text(view.get("DeliveryMethod")))
    if method:
        values["deliverymethod"] = method
    return values


def sync_debt_collection_from_billecta(services: Services, action_public_id: str) -> str:
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"debtcollection:{action_public_id}",
                     timeout_s=services.settings.worker.lock_timeout_s):
        view = services.billecta.call("debtcollection.get", {"action_public_id": action_public_id})
        values = debtcollection_values(view)
        existing = repo.find_one("debtcollection", {"actionpublicid": action_public_id})
        if existing is None or not all(existing.get(k) for k in ("invoice", "creditor", "debtor")):
            values.update(_relations(services, repo, view))
        if existing is None:
            created = repo.create("debtcollection", values)
            return f"debtcollection {created['_id']} created from Billecta {action_public_id} ({values['stage']})"
        changed = {k: v for k, v in values.items() if differs(existing.get(k), v)}
        repo.update("debtcollection", int(existing["_id"]), changed)
        verb = "updated" if changed else "unchanged"
        return f"debtcollection {existing['_id']} {verb} from Billecta {action_public_id} ({values['stage']})"


def _relations(services: Services, repo: LimeRepo, view: dict[str, Any]) -> dict[str, Any]:
    creditor_public_id = text(view.get("CreditorPublicId"))
    creditor = repo.find_one("creditor", {"creditorpublicid": creditor_public_id}) if creditor_public_id else None
    if creditor is None:
        raise RelatedObjectMissing(f"no Lime creditor has creditorpublicid {creditor_public_id!r}")
    relations: dict[str, Any] = {"creditor": int(creditor["_id"])}
    source_id = text(view.get("InvoiceSourcePublicId"))
    if source_id:
        invoice = repo.find_one("invoice", {"actionpublicid": source_id})
        if invoice is None:
            sync_invoice_from_billecta(services, source_id)  # brings the debtor along too
            invoice = repo.find_one("invoice", {"actionpublicid": source_id})
        if invoice is not None:
            relations["invoice"] = int(invoice["_id"])
            if invoice.get("debtor"):
                relations["debtor"] = invoice["debtor"]
    debtor_public_id = text((view.get("Debtor") or {}).get("DebtorPublicId"))
    if "debtor" not in relations and debtor_public_id:
        link = repo.find_one("creditordebtor", {"debtorpublicid": debtor_public_id})
        if link is not None and link.get("debtor"):
            relations["debtor"] = link["debtor"]
    return relations
