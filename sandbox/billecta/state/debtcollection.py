"""Debt collection in the Billecta sandbox: a case made from a sent, open invoice, its stages and controls.

A case is opened by ``create_from_invoice`` (``POST /v1/debtcollection/actionfrominvoice``, a
DebtCollectionFromInvoiceEntryView; refused unless the invoice's ``CanSendToDebtCollection`` is true) or by
``send`` (the admin stand-in, kept for the tests that predate the route). Either books the invoice's balance
as the debt with a fixed fee, moves the invoice to Stage ``SentToDebtCollection`` (its
``DebtCollectionActionPublicId`` then names the case) and raises ``InvoiceActionStateChanged`` and
``DebtCollectionActionStateChanged``. The case starts in Stage ``ReminderInvoiceSent``: the collection
letter goes out at once, due after the entry's PaymentTermsInDays (10 when 0).

The controls, each refused with a 400 that changes nothing unless its flag in the DebtCollectionActionView is
true, and each raising ``DebtCollectionActionStateChanged``:

* postpone by ``days`` (``CanPostpone``: open and a next event scheduled): NextEventDate += days;
* cancel (``CanCancel``: open): Stage ``Cancelled``, the case is closed. The invoice stays in
  ``SentToDebtCollection`` and names the cancelled case, so a second case for it is refused too;
* long-term surveillance (``CanSendToLongTermSurveilance``: open, not there yet): Stage
  ``LongTermSurveilance`` (Billecta's spelling);
* bailiff (``CanSendToBailiff``: open, not at the bailiff yet): Stage ``SentToBailiff``;
* assistance with bailiff (the view has no flag of its own, so ``CanSendToBailiff`` decides): Stage
  ``ReadyForAssistanceWithBailiff``, the case handed over and not yet carried out (``AssistedWithBailiff``
  would be the bailiff's outcome, which Billecta learns later). Billecta may allow it for eviction cases
  only; the sandbox does not guess that rule.

Under long-term surveillance and at the bailiff Billecta's own schedule waits on others, so no next event is
scheduled there. Which controls a stage allows is the sandbox's assumption (docs: billecta-api.md §2.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.controls import positive_days, refusal
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
from sandbox.billecta.state.invoice import Invoice, file_reference
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Debtors

COLLECTION_FEE_ORE = 18000
FIRST_STAGE = "ReminderInvoiceSent"
DEFAULT_TERMS_DAYS = 10
CLOSED_STAGES = frozenset({"Completed", "Cancelled"})
SURVEILLANCE = "LongTermSurveilance"  # sic: Billecta's spelling
ASSISTANCE_STAGE = "ReadyForAssistanceWithBailiff"
BAILIFF_STAGES = frozenset({
    "ReadyForBailiff", "SentToBailiff", "SentToBailiffEnforcement", "ReadyForEnforcement",
    "ReadyForAssistanceWithBailiff", "AssistedWithBailiff",
})
# Entry fields the case keeps and shows in DebtCollectionActionView as written.
ECHOED = ("CommunicationLanguage", "DeliveryAddressOverride", "EndDebtCollectionActionLevel", "InterestType",
          "InterestStartInDaysAfterDueDate", "NumberOfReminders", "OurReference", "ReasonDescription",
          "ReasonForHigherInterest", "StartDebtCollectionActionLevel", "YourReference")


@dataclass
class Case:
    """One debt collection action; ``entry`` is the DebtCollectionFromInvoiceEntryView it was made from."""

    action_public_id: str
    source_id: str
    debt: int
    fee: int
    created: datetime
    next_event_date: date
    entry: dict[str, Any]
    stage: str = FIRST_STAGE
    interest: int = 0
    paid: int = 0
    closed: datetime | None = None
    sent_to_bailiff: datetime | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.stage not in CLOSED_STAGES

    @property
    def scheduled(self) -> bool:
        return self.is_open and self.stage != SURVEILLANCE and self.stage not in BAILIFF_STAGES


def _flags(case: Case) -> dict[str, bool]:
    return {
        "CanCancel": case.is_open,
        "CanCreateInstallmentPlan": False,
        "CanCredit": False,
        "CanDisputeAction": False,
        "CanPostpone": case.scheduled,
        "CanSendToBailiff": case.is_open and case.stage not in BAILIFF_STAGES,
        "CanSendToBailiffEnforcement": False,
        "CanSendToLongTermSurveilance": case.is_open and case.stage != SURVEILLANCE,
    }


def _reason(case: Case, flag: str) -> str:
    if not case.is_open:
        return f"it is closed (Stage {case.stage})"
    return {
        "CanPostpone": f"it has no next event scheduled (Stage {case.stage})",
        "CanSendToLongTermSurveilance": "it is already under long-term surveillance",
        "CanSendToBailiff": f"it is already with the bailiff (Stage {case.stage})",
    }.get(flag, f"Billecta does not allow it in Stage {case.stage}")


@dataclass(eq=False)
class DebtCollections:
    store: Store
    invoices: Invoices
    debtors: Debtors
    ledger: Ledger
    cases: dict[str, Case] = field(default_factory=dict, init=False)

    def clear(self) -> None:
        self.cases = {}

    def _case(self, dc_id: str) -> Case:
        case = self.cases.get(dc_id)
        if case is None:
            raise BillectaError(404, f"Debt collection action {dc_id} not found")
        return case

    # ---- opening a case ------------------------------------------------------------------------------

    def create_from_invoice(self, entry: dict[str, Any]) -> str:
        """A case from a DebtCollectionFromInvoiceEntryView; returns its ActionPublicId."""
        source = entry.get("SourcePublicId")
        if not source:
            raise BillectaError(400, "SourcePublicId (the invoice's ActionPublicId) is required")
        with self.store.lock:
            invoice = self.invoices.find(str(source))
            flag = "CanSendToDebtCollection"
            if not self.invoices.get(invoice.action_public_id)[flag]:
                raise refusal(invoice, flag, "sending to debt collection")
            if entry.get("DeliveryMethod") == "Unknown":
                raise BillectaError(400, "DeliveryMethod Unknown can't deliver a debt collection letter")
            if int(entry.get("PaymentTermsInDays") or 0) < 0:
                raise BillectaError(400, "PaymentTermsInDays must not be negative")
            return self._open(invoice, entry)

    def send(self, action_id: str) -> dict[str, Any]:
        """Admin: send an invoice to debt collection; answers the new case's DebtCollectionActionView."""
        with self.store.lock:
            invoice = self.invoices.find_open(action_id)
            if invoice.sent is None:
                raise BillectaError(400, f"Invoice {action_id} has not been sent")
            if self.ledger.of(action_id).debt_collection_id or invoice.in_debt_collection:
                raise BillectaError(400, f"Invoice {action_id} is already in debt collection")
            return self.view(self._open(invoice, {}))

    def _open(self, invoice: Invoice, entry: dict[str, Any]) -> str:
        """Open the case (the caller checked the invoice) and announce it; called under the lock."""
        dc_id = self.ledger.next_action_id()
        terms = int(entry.get("PaymentTermsInDays") or 0) or DEFAULT_TERMS_DAYS
        created = now()
        case = Case(
            action_public_id=dc_id, source_id=invoice.action_public_id, debt=self.ledger.balance(invoice),
            fee=COLLECTION_FEE_ORE, created=created, next_event_date=created.date() + timedelta(days=terms),
            entry={**entry, "PaymentTermsInDays": terms},
        )
        self.cases[dc_id] = case
        # Linked before the invoice's state changes, so its InvoiceActionStateChanged already names the case.
        self.ledger.of(invoice.action_public_id).debt_collection_id = dc_id
        self.invoices.apply_stage(invoice, "SentToDebtCollection")
        case.events.append(action_event("Created", "Debt collection case created", created))
        self._changed(case)
        return dc_id

    # ---- controls ------------------------------------------------------------------------------------

    def _allowed(self, dc_id: str, flag: str, what: str) -> Case:
        case = self._case(dc_id)
        if not _flags(case)[flag]:
            raise BillectaError(400, f"Debt collection action {dc_id}: {what} is not allowed now; "
                                     f"{_reason(case, flag)} ({flag} is false)")
        return case

    def _changed(self, case: Case) -> None:
        source = self.invoices.rows[case.source_id]
        self.store.emit("DebtCollectionActionStateChanged", CreditorPublicId=source.creditor_public_id,
                        ActionPublicId=case.action_public_id)

    def _to_stage(self, case: Case, stage: str, event_type: str, title: str) -> None:
        moment = now()
        case.stage = stage
        if stage in CLOSED_STAGES:
            case.closed = moment
        case.events.append(action_event(event_type, title, moment))
        self._changed(case)

    def postpone(self, dc_id: str, days: object) -> None:
        with self.store.lock:
            self._case(dc_id)  # an unknown case is a 404 before a bad days is a 400
            count = positive_days(days)
            case = self._allowed(dc_id, "CanPostpone", "postponing the next event")
            case.next_event_date += timedelta(days=count)
            case.events.append(action_event("Updated", f"Next event postponed {count} days to "
                                                       f"{case.next_event_date.isoformat()}"))
            self._changed(case)

    def cancel(self, dc_id: str) -> None:
        with self.store.lock:
            case = self._allowed(dc_id, "CanCancel", "cancelling")
            self._to_stage(case, "Cancelled", "Cancelled", "Debt collection cancelled")

    def long_term_surveillance(self, dc_id: str) -> None:
        with self.store.lock:
            case = self._allowed(dc_id, "CanSendToLongTermSurveilance", "sending to long-term surveillance")
            self._to_stage(case, SURVEILLANCE, "LongTermSurveilance", "Sent to long-term surveillance")

    def bailiff(self, dc_id: str) -> None:
        with self.store.lock:
            case = self._allowed(dc_id, "CanSendToBailiff", "sending to the bailiff")
            case.sent_to_bailiff = now()
            self._to_stage(case, "SentToBailiff", "SentToBailiff", "Sent to the bailiff (Kronofogden)")

    def assistance_with_bailiff(self, dc_id: str) -> None:
        with self.store.lock:
            case = self._allowed(dc_id, "CanSendToBailiff", "sending for assistance with bailiff")
            self._to_stage(case, ASSISTANCE_STAGE, "Updated", "Ready for assistance with bailiff")

    def advance(self, dc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Admin: move a case to ``stage``, optionally booking ``interest`` (major units)."""
        with self.store.lock:
            case = self._case(dc_id)
            stage = body.get("stage")
            stages = contract.enum_members("DebtCollectionActionView", "DebtCollectionActionStageTypeView")
            if not isinstance(stage, str) or stage not in stages:
                raise BillectaError(400, f"stage must be one of {sorted(stages)}")
            if body.get("interest") is not None:
                case.interest = minor_units(body["interest"], "interest")
            self._to_stage(case, stage, "Updated", f"Stage {stage}")
            return self.view(dc_id)

    # ---- reads ---------------------------------------------------------------------------------------

    def view(self, dc_id: str) -> dict[str, Any]:
        """The DebtCollectionActionView of a case."""
        with self.store.lock:
            case = self._case(dc_id)
            source = self.invoices.rows[case.source_id]
            currency = self.invoices.totals(source).currency
            entry = case.entry
            view = contract.defaults("DebtCollectionActionView")
            view.update({k: entry[k] for k in ECHOED if entry.get(k) is not None})
            interest_percentage = entry.get("InterestPercentage") or source.entry.get("InterestPercentage") or 8.0
            view.update({
                "ActionPublicId": dc_id,
                "CreditorPublicId": source.creditor_public_id,
                "Created": iso(case.created),
                "Debtor": dict(self.debtors.rows.get(source.debtor_public_id) or {}) or None,
                "DebtCollectionActionSource": "InvoiceAction",
                "DeliveryMethod": entry.get("DeliveryMethod") or source.entry.get("DeliveryMethod") or "Email",
                "OurReference": view["OurReference"] or source.entry.get("OurReference"),
                "YourReference": view["YourReference"] or source.entry.get("YourReference"),
                "InvoiceSourcePublicId": source.action_public_id,
                "DebtAmount": amount(case.debt, currency),
                "OriginalAmount": amount(case.debt, currency),
                "InterestAmount": amount(case.interest, currency),
                "FeeAmount": amount(case.fee, currency),
                "CurrentAmount": amount(0 if not case.is_open else case.debt + case.interest + case.fee - case.paid,
                                        currency),
                "InterestPercentage": float(interest_percentage),
                "PaymentTermsInDays": int(entry.get("PaymentTermsInDays") or DEFAULT_TERMS_DAYS),
                "OriginalInvoiceNumber": source.invoice_number,
                "OriginalDueDate": iso_date(source.due_date),
                "OriginalInvoiceDate": iso_date(source.invoice_date),
                "OriginalInvoiceFile": file_reference(source),
                "Events": [dict(e) for e in case.events],
                "State": {
                    **contract.defaults("DebtCollectionActionView", "DebtCollectionActionStateView"),
                    "Stage": case.stage,
                    "AttestedDate": iso(case.created),
                    "DebtCollectionInvoiceSentDate": iso(case.created),
                    "NextEvent": "DebtCollectionInvoiceDue" if case.scheduled else None,
                    "NextEventDate": iso_date(case.next_event_date) if case.scheduled else None,
                    "ClosedDate": iso(case.closed),
                    "SentToBailiffDate": iso(case.sent_to_bailiff),
                },
                **_flags(case),
            })
            return view
