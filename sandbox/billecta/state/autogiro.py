"""Autogiro (Swedish direct debit) in the Billecta sandbox: a debtor's approval changing, and a withdrawal
on an invoice failing or being renewed. Nothing is kept beyond the debtor's Autogiro field and the
invoice's events; each change raises the webhook Billecta would raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.billecta.state.core import BillectaError, Store
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Debtors

WITHDRAWAL_TRIGGERS = {"failed": "AutogiroWithdrawalFailedOnInvoice", "renewed": "AutogiroWithdrawalRenewedOnInvoice"}
APPROVAL_STAGES = {"approved": "Approved", "failed": "Failed", "removed": "Removed"}


@dataclass(eq=False)
class Autogiro:
    store: Store
    invoices: Invoices
    debtors: Debtors

    def withdrawal(self, action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            outcome = body.get("outcome")
            trigger = WITHDRAWAL_TRIGGERS.get(str(outcome))
            if trigger is None:
                raise BillectaError(400, 'outcome must be "failed" or "renewed"')
            self.invoices.add_event(invoice, "AutogiroWithdrawal", f"Autogiro withdrawal {outcome}")
            self.store.emit(trigger, CreditorPublicId=invoice.creditor_public_id, ActionPublicId=action_id)
            return {"event": trigger}

    def approval(self, debtor_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            debtor = self.debtors.find(debtor_id)
            status = body.get("status")
            if not isinstance(status, str) or status not in APPROVAL_STAGES:  # a JSON list is unhashable
                raise BillectaError(400, 'status must be "approved", "failed" or "removed"')
            debtor["Autogiro"] = {
                "AccountNo": body.get("account_no"), "Active": status == "approved",
                "AutogiroFirstWithdrawalDate": None, "ClearingNo": body.get("clearing_no"),
                "PayerNumber": debtor.get("DebtorNo"), "PaymentServiceSupplier": None,
                "Stage": APPROVAL_STAGES[status],
            }
            trigger = "AutogiroApprovalFailed" if status == "failed" else "AutogiroApprovalChanged"
            self.store.emit(trigger, CreditorPublicId=debtor["CreditorPublicId"], DebtorPublicId=debtor_id)
            return dict(debtor)
