"""Crediting a Lime invoice: a Billecta credit invoice for its full amount, linked back in Lime.

How Billecta credits is only partly known (docs/billecta-routes.md): the service creates an
``InvoiceActionEntryView`` with ``ActionType=CreditInvoiceAction`` and ``CreditingInvoicePublicId`` (both
fields exist in Billecta's schema) through the verified invoice-create route, with the original's rows at
negative prices, and attests it. The alternative, ``CreditActionView`` on ``invoice.credit``, has no
known path; it stays in the route table, unused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from billecta_sync import days
from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.db import OutboundIntent
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.common import relation_id, text
from billecta_sync.usecases.lime_to_billecta.orders import create_invoice_once
from billecta_sync.usecases.lime_to_billecta.relations import refusal

INTENT_CREATE_CREDIT = "create_credit_invoice"
CREDIT_ACTION = "CreditInvoiceAction"


def credit_reference(invoice_id: int) -> str:
    return f"lime-credit-{invoice_id}"


def credit_entry(original: dict[str, Any], lime_invoice_id: int, today: date | None = None) -> dict[str, Any]:
    """The credit invoice for all of ``original`` (an InvoiceActionView): same rows, negative prices."""
    records: list[dict[str, Any]] = []
    for sequence, rec in enumerate(original.get("Records") or [], start=1):
        kind = rec.get("RecordType") or "Standard"
        if kind == "Message":
            records.append({"SequenceNo": sequence, "RecordType": "Message",
                            "ArticleDescription": rec.get("ArticleDescription")})
            continue
        price = rec.get("UnitPrice") or {}
        record = {
            "SequenceNo": sequence,
            "RecordType": kind,
            "ProductPublicId": rec.get("ProductPublicId"),
            "ArticleNumber": rec.get("ArticleNumber"),
            "ArticleDescription": rec.get("ArticleDescription"),
            "Units": rec.get("Units"),
            "Quantity": rec.get("Quantity"),
            "UnitPrice": {"CurrencyCode": price.get("CurrencyCode") or "SEK", "Value": -int(price.get("Value") or 0)},
            "VAT": rec.get("VAT"),
        }
        if rec.get("DiscountPercentage"):
            record["DiscountPercentage"] = rec["DiscountPercentage"]
            record["DiscountType"] = "Percentage"
        records.append(record)
    day = f"{(today or days.today()).isoformat()}T00:00:00"
    number = next((d.get("InvoiceNumber") for d in original.get("Invoices") or [] if d.get("InvoiceNumber")),
                  original.get("InvoiceNumber"))
    return {
        "ActionType": CREDIT_ACTION,
        "CreditingInvoicePublicId": original["ActionPublicId"],
        "CreditorPublicId": original["CreditorPublicId"],
        "DebtorPublicId": (original.get("Debtor") or {}).get("DebtorPublicId") or original.get("DebtorPublicId"),
        "InvoiceDate": day,
        "DueDate": day,
        "OurReference": original.get("OurReference"),
        "YourReference": original.get("YourReference"),
        "Message": f"Kreditering av faktura {number}" if number else "Kreditering",
        "CommunicationLanguage": original.get("CommunicationLanguage") or "SV",
        "VatIsIncluded": bool(original.get("VatIsIncluded")),
        "DeliveryMethod": original.get("DeliveryMethod") or "Email",
        "ExternalReference": credit_reference(lime_invoice_id),
        "Records": records,
    }


def _credit_already_created(services: Services, invoice_id: int) -> bool:
    with services.db.session() as session:
        return session.query(OutboundIntent).filter_by(
            kind=INTENT_CREATE_CREDIT, limetype="invoice", object_id=str(invoice_id)).first() is not None


def credit_invoice(services: Services, invoice_id: int) -> str:
    """Credit one Lime invoice in Billecta in full.

    The Lime credit invoice points at the invoice it credits (``creditinvoice``, as in Lime's data
    model); an invoice some credit invoice already points at is not credited again.
    """
    repo = LimeRepo(services.lime, services.mappings)
    invoice = repo.get("invoice", invoice_id)
    if relation_id(invoice.get("creditinvoice")) is not None:
        raise PermanentError(f"Invoice {invoice_id} is itself a credit invoice; it cannot be credited.")
    earlier = repo.find_one("invoice", {"creditinvoice": invoice_id})
    if earlier is not None:
        return f"Invoice {invoice_id} is already credited by invoice {earlier['_id']}; nothing sent."
    action_id = text(invoice.get("actionpublicid"))
    if not action_id:
        raise PermanentError(f"Invoice {invoice_id} is not in Billecta (no actionpublicid).")
    # Not the "invoice:<id>" lock: syncing the invoices back below takes that one.
    with object_lock(services.redis, f"credit:{action_id}", timeout_s=services.settings.worker.lock_timeout_s):
        try:
            try:
                original = services.billecta.get_invoice(action_id)
            except BillectaApiNotFoundException:
                raise PermanentError(f"Billecta invoice {action_id} of invoice {invoice_id} does not exist.") from None
            if not _credit_already_created(services, invoice_id) and not original.get("CanCreateCreditInvoice"):
                stage = (original.get("State") or {}).get("Stage")
                raise PermanentError(f"Billecta does not allow crediting invoice {invoice_id} (stage {stage}).")
            entry = credit_entry(original, invoice_id)
            credit_id = create_invoice_once(services, invoice_id, entry, kind=INTENT_CREATE_CREDIT,
                                             limetype="invoice")
            credit = services.billecta.get_invoice(credit_id)
            if (credit.get("State") or {}).get("Stage") in ("Created", None, "None"):
                services.billecta.attest_invoice(credit_id)
        except Exception as exc:
            message = refusal(exc)
            repo.update("invoice", invoice_id, {"billecta_error_message": message[:2000]})
            if isinstance(exc, PermanentError):
                raise
            raise PermanentError(f"Billecta refused to credit invoice {invoice_id}: {message}") from exc
        sync_invoice_from_billecta(services, credit_id)
        credit_lime = repo.find_one("invoice", {"actionpublicid": credit_id})
        if credit_lime is None:  # the sync above creates it; absent only if Lime lost it meanwhile
            raise PermanentError(f"the credit invoice {credit_id} did not reach Lime")
        if relation_id(credit_lime.get("creditinvoice")) != invoice_id:
            # The sync links it when Billecta's view names the credited invoice; make sure it is linked.
            repo.update("invoice", credit_lime["_id"], {"creditinvoice": invoice_id})
        if text(invoice.get("billecta_error_message")):
            repo.update("invoice", invoice_id, {"billecta_error_message": ""})
        sync_invoice_from_billecta(services, action_id)  # the credited amount and status of the original
        return (f"Invoice {invoice_id} credited by Billecta credit invoice {credit_id} "
                f"(Lime invoice {credit_lime['_id']})")
