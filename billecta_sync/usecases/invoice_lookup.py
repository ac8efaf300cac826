"""Finding the invoice a Lime command names: the Lime invoice with its Billecta id, and Billecta's view of it.

Shared by the commands of both directions (collection controls, money operations, PDFs); a missing object is
an ``ObjectNotFound`` with the seed's message, so every command answers it the same way.
"""

from __future__ import annotations

from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import ObjectNotFound
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import text

NOT_FOUND = "Invoice not found or missing Billecta invoice ID"


def lime_invoice(services: Services, invoice_id: int) -> tuple[LimeRepo, dict[str, Any], str]:
    """The repo, the Lime invoice and its ActionPublicId; ``ObjectNotFound`` when either is missing."""
    repo = LimeRepo(services.lime, services.mappings)
    invoice = repo.get_or_none("invoice", invoice_id)
    action_id = text((invoice or {}).get("actionpublicid"))
    if invoice is None or not action_id:
        raise ObjectNotFound(NOT_FOUND)
    return repo, invoice, action_id


def billecta_invoice(services: Services, action_id: str) -> dict[str, Any]:
    """Billecta's InvoiceActionView; ``ObjectNotFound`` when Billecta has no such invoice."""
    try:
        return services.billecta.get_invoice(action_id)
    except BillectaApiNotFoundException:
        raise ObjectNotFound(f"Billecta has no invoice {action_id}") from None
