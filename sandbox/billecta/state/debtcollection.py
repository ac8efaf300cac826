"""Debt collection in the Billecta sandbox: a case made from a sent, open invoice, and its stages.

Sending an invoice to debt collection moves it to Stage ``SentToDebtCollection`` and opens a case for its
balance with a fixed fee; the case's own stages (DebtCollectionActionStageTypeView) are advanced by hand,
each raising DebtCollectionActionStateChanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import (
    BillectaError,
    Store,
    action_event,
    amount,
    iso,
    iso_date,
    minor_units,
    now,
)
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Debtors

COLLECTION_FEE_ORE = 18000
FIRST_STAGE = "ReminderInvoiceSent"


@dataclass(eq=False)
class DebtCollections:
    store: Store
    invoices: Invoices
    debtors: Debtors
    ledger: Ledger
    cases: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)

    def clear(self) -> None:
        self.cases = {}

    def _case(self, dc_id: str) -> dict[str, Any]:
        case = self.cases.get(dc_id)
        if case is None:
            raise BillectaError(404, f"Debt collection action {dc_id} not found")
        return case

    def send(self, action_id: str) -> dict[str, Any]:
        """Send an invoice to debt collection; answers the new case's DebtCollectionActionView."""
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            if invoice.sent is None:
                raise BillectaError(400, f"Invoice {action_id} has not been sent")
            money = self.ledger.of(action_id)
            if money.debt_collection_id:
                raise BillectaError(400, f"Invoice {action_id} is already in debt collection")
            dc_id = self.ledger.next_action_id()
            self.cases[dc_id] = {
                "id": dc_id, "source": action_id, "stage": FIRST_STAGE, "debt": self.ledger.balance(invoice),
                "interest": 0, "fee": COLLECTION_FEE_ORE, "paid": 0, "created": now(), "events": [],
            }
            money.debt_collection_id = dc_id
            self.invoices.apply_stage(invoice, "SentToDebtCollection")
            self.cases[dc_id]["events"].append(action_event("Created", "Debt collection case created"))
            self.store.emit("DebtCollectionActionStateChanged", CreditorPublicId=invoice.creditor_public_id,
                            ActionPublicId=dc_id)
            return self.view(dc_id)

    def advance(self, dc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Move a case to ``stage``, optionally booking ``interest`` (major units)."""
        with self.store.lock:
            case = self._case(dc_id)
            stage = body.get("stage")
            stages = contract.enum_members("DebtCollectionActionView", "DebtCollectionActionStageTypeView")
            if not isinstance(stage, str) or stage not in stages:
                raise BillectaError(400, f"stage must be one of {sorted(stages)}")
            case["stage"] = stage
            if body.get("interest") is not None:
                case["interest"] = minor_units(body["interest"], "interest")
            case["events"].append(action_event("Updated", f"Stage {stage}"))
            source = self.invoices.rows[case["source"]]
            self.store.emit("DebtCollectionActionStateChanged", CreditorPublicId=source.creditor_public_id,
                            ActionPublicId=dc_id)
            return self.view(dc_id)

    def view(self, dc_id: str) -> dict[str, Any]:
        """The DebtCollectionActionView of a case."""
        with self.store.lock:
            case = self._case(dc_id)
            source = self.invoices.rows[case["source"]]
            currency = self.invoices.totals(source).currency
            closed = case["stage"] in ("Completed", "Cancelled")
            next_day = (case["created"] + timedelta(days=10)).date()
            view = contract.defaults("DebtCollectionActionView")
            view.update({
                "ActionPublicId": dc_id,
                "CreditorPublicId": source.creditor_public_id,
                "Created": iso(case["created"]),
                "Debtor": dict(self.debtors.rows.get(source.debtor_public_id) or {}) or None,
                "DeliveryMethod": source.entry.get("DeliveryMethod") or "Email",
                "InvoiceSourcePublicId": source.action_public_id,
                "DebtAmount": amount(case["debt"], currency),
                "OriginalAmount": amount(case["debt"], currency),
                "InterestAmount": amount(case["interest"], currency),
                "FeeAmount": amount(case["fee"], currency),
                "CurrentAmount": amount(0 if closed else case["debt"] + case["interest"] + case["fee"] - case["paid"],
                                        currency),
                "InterestPercentage": float(source.entry.get("InterestPercentage") or 8.0),
                "OriginalInvoiceNumber": source.invoice_number,
                "OriginalDueDate": iso_date(source.due_date),
                "OriginalInvoiceDate": iso_date(source.invoice_date),
                "Events": [dict(e) for e in case["events"]],
                "State": {
                    **contract.defaults("DebtCollectionActionView", "DebtCollectionActionStateView"),
                    "Stage": case["stage"],
                    "NextEvent": None if closed else "DebtCollectionInvoiceDue",
                    "NextEventDate": None if closed else iso_date(next_day),
                    "ClosedDate": iso(now()) if closed else None,
                },
            })
            return view
