"""Sandbox rules for the Lime → Billecta operations beyond the order flow: credit invoices, anonymisation.

Kept out of ``state.py`` so the core fake stays readable; ``BillectaState`` calls in here at two points
(checking an invoice entry, attesting an invoice).

What Billecta does here is only partly known (docs: billecta-api.md):

* A credit invoice is modelled as an ``InvoiceActionEntryView`` with ``ActionType=CreditInvoiceAction``
  and ``CreditingInvoicePublicId`` naming the invoice it credits (both fields exist in the schema; the
  flow is not confirmed). Its rows carry negative prices. Attesting it lowers the credited invoice's
  balance by the credit's total; a balance of zero closes the credited invoice (Stage ``Completed``
  with ``CreditedAmount`` = ``InvoicedAmount``, which the service reads as "credited").
* Anonymisation (GDPR) has no known endpoint at all; the sandbox answers ``PUT
  /v1/debtors/anonymize/{id}`` by blanking the debtor's personal fields and keeping its ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.billecta.state import CLOSED_STAGES, BillectaError, now, price_records

if TYPE_CHECKING:
    from sandbox.billecta.state import BillectaState, Invoice

CREDIT_ACTION = "CreditInvoiceAction"
# Personal data Billecta would have to forget; ids, numbers and the creditor link stay.
PERSONAL_FIELDS = ("OrgNo", "Attention", "CareOf", "Address", "Address2", "ZipCode", "City", "Phone", "Email",
                   "ContactName", "ContactEmail", "VatNumber", "GLN", "Notes")
ANONYMOUS_NAME = "Anonymized"


def is_credit(entry: dict[str, Any]) -> bool:
    return entry.get("ActionType") == CREDIT_ACTION


def check_credit_entry(state: BillectaState, entry: dict[str, Any], creditor_public_id: str) -> None:
    """A credit invoice must name an open, attested invoice of the same creditor and debtor."""
    credited_id = entry.get("CreditingInvoicePublicId")
    if not credited_id:
        raise BillectaError(400, "CreditingInvoicePublicId is required on a CreditInvoiceAction")
    original = state.invoices.get(str(credited_id))
    if original is None:
        raise BillectaError(404, f"Invoice action {credited_id} (CreditingInvoicePublicId) not found")
    if original.creditor_public_id != creditor_public_id or original.debtor_public_id != entry.get("DebtorPublicId"):
        raise BillectaError(400, f"Invoice {credited_id} belongs to another creditor or debtor")
    if not original.is_attested or original.stage in CLOSED_STAGES:
        raise BillectaError(400, f"Invoice {credited_id} can't be credited (Stage {original.stage})")
    if price_records(entry).invoiced >= 0:
        raise BillectaError(400, "A credit invoice must have a negative total")


def apply_credit(state: BillectaState, credit: Invoice) -> None:
    """Called under the state lock once a credit invoice is attested."""
    original = state.invoices.get(str(credit.entry.get("CreditingInvoicePublicId")))
    if original is None or original.stage in CLOSED_STAGES:
        return
    totals = state._totals(original)
    balance = totals.invoiced - original.paid - original.credited
    credited = min(-state._totals(credit).invoiced, balance)
    original.credited += credited
    moment = now()
    state._event(original, "Credited", f"Credited by invoice {credit.invoice_number}", moment)
    if original.credited + original.paid >= totals.invoiced:
        original.closed = moment
        timer = state._timers.pop(original.action_public_id, None)
        if timer is not None:
            timer.cancel()
        state._event(original, "Completed", "Invoice completed", moment)
        state._set_stage(original, "Completed")
    state._emit_state_changed(original)


def anonymize_debtor(state: BillectaState, public_id: str) -> None:
    with state.lock:
        debtor = state._debtor(public_id)
        for name in PERSONAL_FIELDS:
            debtor[name] = None
        debtor["Name"] = ANONYMOUS_NAME
        debtor["IsActive"] = False
        state._emit("DebtorUpdated", CreditorPublicId=debtor["CreditorPublicId"], DebtorPublicId=public_id)


def _configs(state: BillectaState) -> dict[str, dict[str, Any]]:
    # Kept beside the state rather than in it; a reset leaves stale entries that no creditor can reach.
    return state.__dict__.setdefault("default_action_configs", {})


def get_default_action_config(state: BillectaState, creditor_public_id: str) -> dict[str, Any]:
    from sandbox.billecta import contract

    with state.lock:
        state._creditor(creditor_public_id)
        stored = _configs(state).get(creditor_public_id)
        if stored is None:
            stored = {**contract.defaults("DefaultActionConfigView"), "CreditorPublicId": creditor_public_id,
                      "CurrencyCode": "SEK", "DeliveryMethod": "Email", "CommunicationLanguage": "SV",
                      "PaymentTermsInDays": 30, "InvoicePaymentTermsInDays": 30}
        return dict(stored)


def update_default_action_config(state: BillectaState, body: dict[str, Any]) -> None:
    from sandbox.billecta import contract

    with state.lock:
        creditor_id = state._creditor(body.get("CreditorPublicId"))["CreditorPublicId"]
        _configs(state)[creditor_id] = {**contract.defaults("DefaultActionConfigView"), **body}
        state._emit("CreditorUpdated", CreditorPublicId=creditor_id)
