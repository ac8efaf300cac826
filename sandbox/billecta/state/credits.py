"""Credit invoices in the Billecta sandbox: the rules of ActionType ``CreditInvoiceAction``.

What Billecta does here is only partly known (docs: billecta-api.md). A credit invoice is modelled as an
``InvoiceActionEntryView`` with ``ActionType=CreditInvoiceAction`` and ``CreditingInvoicePublicId`` naming
the invoice it credits (both fields exist in the schema; the flow is not confirmed). Its rows carry negative
prices. Attesting it lowers the credited invoice's balance by the credit's total; a balance of zero closes
the credited invoice (Stage ``Completed`` with ``CreditedAmount`` = ``InvoicedAmount``, which the service
reads as "credited"). A credit invoice without ``CreditingInvoicePublicId`` credits no invoice; its credit is
left as a balance to use (``money``).
"""

from __future__ import annotations

from typing import Any

from sandbox.billecta.state.core import BillectaError, amount, now
from sandbox.billecta.state.invoice import CLOSED_STAGES, Invoice
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.pricing import price_records

CREDIT_ACTION = "CreditInvoiceAction"


class CreditInvoices:
    """The rules of ``CREDIT_ACTION`` (``Invoices.add_action_type``) and the credited invoice shown in
    InvoiceActionView (``decorate``, a view hook)."""

    def __init__(self, invoices: Invoices) -> None:
        self.invoices = invoices

    def check(self, entry: dict[str, Any], creditor_public_id: str) -> None:
        """A credit invoice naming an invoice must name an open, attested invoice of the same creditor and
        debtor. One naming none credits nobody: attested, its credit is left as an unhandled payment of type
        ``BalanceFromInvoice`` (``money``), for the creditor to use on another invoice."""
        if price_records(entry).invoiced >= 0:
            raise BillectaError(400, "A credit invoice must have a negative total")
        credited_id = entry.get("CreditingInvoicePublicId")
        if not credited_id:
            return
        original = self.invoices.rows.get(str(credited_id))
        if original is None:
            raise BillectaError(404, f"Invoice action {credited_id} (CreditingInvoicePublicId) not found")
        if (
            original.creditor_public_id != creditor_public_id
            or original.debtor_public_id != entry.get("DebtorPublicId")
        ):
            raise BillectaError(400, f"Invoice {credited_id} belongs to another creditor or debtor")
        if not original.is_attested or original.stage in CLOSED_STAGES:
            raise BillectaError(400, f"Invoice {credited_id} can't be credited (Stage {original.stage})")

    def attested(self, invoice: Invoice) -> None:
        """Settle an attested credit invoice against the invoice it credits."""
        invoices = self.invoices
        credited_id = invoice.entry.get("CreditingInvoicePublicId")
        original = invoices.rows.get(str(credited_id)) if credited_id else None
        if original is None or original.stage in CLOSED_STAGES:
            return
        sums = invoices.totals(original)
        balance = sums.invoiced - original.paid - original.credited
        original.credited += min(-invoices.totals(invoice).invoiced, balance)
        moment = now()
        invoices.add_event(original, "Credited", f"Credited by invoice {invoice.invoice_number}", moment)
        if original.credited + original.paid >= sums.invoiced:
            original.closed = moment
            invoices.cancel_auto_send(original.action_public_id)
            invoices.add_event(original, "Completed", "Invoice completed", moment)
            original.stage = "Completed"
        invoices.state_changed(original)

    def decorate(self, invoice: Invoice, view: dict[str, Any]) -> None:
        """Billecta shows what a credit invoice credits in CreditingInvoice."""
        source_id = invoice.entry.get("CreditingInvoicePublicId")
        if not source_id:
            return
        source = self.invoices.rows.get(str(source_id))
        view["CreditingInvoice"] = {"SourcePublicId": str(source_id),
                                    "SourceInvoiceId": source.invoice_number if source else None}
        if invoice.is_attested:
            # An attested credit invoice is settled against the invoice it credits: its CreditedAmount is its
            # own (negative) total and nothing is left on it.
            invoiced = dict(view.get("InvoicedAmount") or {})
            view["CreditedAmount"] = invoiced
            view["CurrentAmount"] = amount(0, invoiced.get("CurrencyCode") or "SEK")
