"""Invoice PDFs from Billecta: the documented way is the invoice's file reference, then the files API.

``GET invoice/action/{id}`` names the PDF in ``Invoices[].InvoiceFile.FilePublicId`` (without its data); the
bytes come from ``GET files/file/{FilePublicId}``. Saving stores them through Lime's file API and sets the
invoice's ``invoice_pdf`` file property.
"""

from __future__ import annotations

import base64
from typing import Any

from billecta_sync.container import Services
from billecta_sync.errors import ActionRefused
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import text
from billecta_sync.usecases.invoice_lookup import billecta_invoice, lime_invoice

PDF = "application/pdf"


def _pdf(services: Services, invoice_id: int) -> tuple[LimeRepo, dict[str, Any], bytes, str]:
    repo, invoice, action_id = lime_invoice(services, invoice_id)
    view = billecta_invoice(services, action_id)
    documents = [d for d in view.get("Invoices") or [] if isinstance(d, dict)]
    # The newest document is the one the debtor holds now (a resent invoice gets a new one).
    file_id = next((text((d.get("InvoiceFile") or {}).get("FilePublicId")) for d in reversed(documents)
                    if text((d.get("InvoiceFile") or {}).get("FilePublicId"))), "")
    if not file_id:
        raise ActionRefused(f"Billecta has no PDF for invoice {action_id} yet (made when it is attested)")
    content, content_type = services.billecta.download_file(file_id)
    if not content.startswith(b"%PDF"):
        raise ActionRefused(f"Billecta's file {file_id} for invoice {action_id} is not a PDF ({content_type})")
    number = text(invoice.get("invoicenumber")) or text(documents[-1].get("InvoiceNumber")) or action_id
    return repo, invoice, content, f"invoice-{number}.pdf"


def fetch_invoice_pdf(services: Services, invoice_id: int) -> dict[str, Any]:
    """The PDF, base64-encoded, and the file name it would be saved under."""
    _, _, content, filename = _pdf(services, invoice_id)
    return {"pdf": base64.b64encode(content).decode("ascii"), "filename": filename}


def fetch_and_save_invoice_pdf(services: Services, invoice_id: int) -> dict[str, Any]:
    """Store the PDF through Lime's file API on the invoice's ``invoice_pdf``; returns the Lime file id."""
    repo, _, content, filename = _pdf(services, invoice_id)
    meta = services.lime.upload_file(filename, content, PDF)
    file_id = int(meta["id"])
    repo.update("invoice", invoice_id, {"invoice_pdf": file_id, "billecta_error_message": ""})
    return {"file_id": file_id, "filename": filename, "size": len(content)}
