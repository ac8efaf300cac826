"""One invoice action of the Billecta sandbox and its read models (InvoiceActionView, the rows of
InvoiceActionSubsView, the invoice document), built from the invoice and the records it refers to.

Pure functions: the ``invoices`` module looks the records up under the store lock and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import amount, iso, iso_date, parse_day
from sandbox.billecta.state.pricing import Totals, price_records

CLOSED_STAGES = frozenset({"Completed", "Cancelled"})


@dataclass
class Invoice:
    """One invoice action; ``entry`` is the InvoiceActionEntryView as last written (enum names)."""

    action_public_id: str
    creditor_public_id: str
    debtor_public_id: str
    entry: dict[str, Any]
    invoice_date: date
    due_date: date
    created: datetime
    stage: str = "Created"
    invoice_number: str | None = None
    ocr: str | None = None
    attested: datetime | None = None
    sent: datetime | None = None
    closed: datetime | None = None
    sent_to_debt_collection: datetime | None = None
    sales_requested: datetime | None = None
    paid: int = 0
    credited: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_attested(self) -> bool:
        return self.stage != "Created"

    def raw(self) -> dict[str, Any]:
        return {
            "action_public_id": self.action_public_id,
            "creditor_public_id": self.creditor_public_id,
            "debtor_public_id": self.debtor_public_id,
            "stage": self.stage,
            "invoice_number": self.invoice_number,
            "ocr": self.ocr,
            "invoice_date": self.invoice_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "created": iso(self.created),
            "attested": iso(self.attested),
            "sent": iso(self.sent),
            "closed": iso(self.closed),
            "sent_to_debt_collection": iso(self.sent_to_debt_collection),
            "paid": self.paid,
            "credited": self.credited,
            "entry": self.entry,
            "events": self.events,
        }


def totals(invoice: Invoice, creditor: dict[str, Any] | None) -> Totals:
    return price_records(invoice.entry, bool((creditor or {}).get("UseCentRounding")))


def invoice_address(debtor: dict[str, Any]) -> dict[str, Any]:
    """The debtor's name and address as printed on an invoice document (invoice and reminder views)."""
    return {key: debtor.get(key) for key in ("Name", "Address", "Address2", "ZipCode", "City", "CountryCode")}


def _open_sent(invoice: Invoice) -> bool:
    return invoice.sent is not None and invoice.stage not in CLOSED_STAGES


def _flags(invoice: Invoice) -> dict[str, bool]:
    open_attested = invoice.is_attested and invoice.stage not in CLOSED_STAGES
    sent = invoice.sent is not None
    return {
        "CanCancelSalesRequest": invoice.stage == "SalesRequested",
        "CanCreateAutogiroWithdrawal": False,
        "CanCreateCreditInvoice": open_attested,
        "CanCreateInterestInvoice": False,
        "CanDispute": open_attested,
        "CanUnDispute": False,
        "CanMakeManual": open_attested and invoice.stage != "Manual",
        "CanPause": open_attested,
        "CanResume": False,
        "CanPostpone": open_attested,
        "CanRegisterPayment": open_attested,
        "CanResendManualInvoice": False,
        "CanSell": False,
        "CanSendManualInvoice": open_attested and invoice.entry.get("DeliveryMethod") == "Manually",
        "CanSendManualReminderInvoice": open_attested and sent,
        "CanSendToDebtCollection": open_attested and sent and invoice.stage != "SentToDebtCollection",
    }


def _state_view(invoice: Invoice) -> dict[str, Any]:
    open_sent = _open_sent(invoice)
    return {
        "Stage": invoice.stage,
        "AttestedDate": iso(invoice.attested),
        "InvoiceSentDate": iso(invoice.sent),
        "ClosedDate": iso(invoice.closed),
        "NextEvent": "InvoiceDue" if open_sent else None,
        "NextEventDate": iso_date(invoice.due_date) if open_sent else None,
        "IsLocked": invoice.is_attested,
        "IsPaused": False,
        "DisputedDate": None,
        "SentToDebtCollectionDate": iso(invoice.sent_to_debt_collection),
        "SalesRequestedDate": iso(invoice.sales_requested),
        "SmsSentDate": None,
        "CreditCardPaymentPublicId": None,
        "SwishPaymentPublicId": None,
        "UseDebtorBalance": bool(invoice.entry.get("UseDebtorBalance")),
    }


def _documents(invoice: Invoice, debtor: dict[str, Any] | None, sums: Totals) -> list[dict[str, Any]]:
    if not invoice.is_attested:
        return []  # the invoice document only exists once the invoice is booked
    debtor = debtor or {}
    return [
        {
            "InvoiceNumber": invoice.invoice_number,
            "OCR": invoice.ocr,
            "InvoiceDate": iso_date(invoice.invoice_date),
            "DueDate": iso_date(invoice.due_date),
            "PaymentTermsInDays": (invoice.due_date - invoice.invoice_date).days,
            "InvoicedAmount": amount(sums.invoiced, sums.currency),
            "InvoiceDecription": invoice.entry.get("Message"),
            "InvoiceFile": None,
            **invoice_address(debtor),
            "Email": debtor.get("Email"),
            "OurReference": invoice.entry.get("OurReference"),
            "YourReference": invoice.entry.get("YourReference"),
        }
    ]


def action_view(invoice: Invoice, debtor: dict[str, Any] | None, sums: Totals) -> dict[str, Any]:
    """The InvoiceActionView of an invoice, before the domains' additions (``Invoices.add_view_hook``)."""
    cur = sums.currency
    view = contract.defaults("InvoiceActionView")
    view_fields = set(contract.schema("InvoiceActionView")["properties"])
    # Echo what the caller wrote; nulls keep the view's own default so the view stays valid.
    view.update({k: v for k, v in invoice.entry.items() if k in view_fields and v is not None})
    current = sums.invoiced - invoice.paid - invoice.credited
    view.update(
        {
            "ActionPublicId": invoice.action_public_id,
            "ActionType": invoice.entry.get("ActionType") or "InvoiceAction",
            "CreditorPublicId": invoice.creditor_public_id,
            "Debtor": dict(debtor) if debtor else None,
            "Created": iso(invoice.created),
            "InvoiceDate": iso_date(invoice.invoice_date),
            "DueDate": iso_date(invoice.due_date),
            "PaymentTermsInDays": (invoice.due_date - invoice.invoice_date).days,
            "InvoiceNumber": invoice.invoice_number,
            "Records": sums.records,
            "InvoicedAmount": amount(sums.invoiced, cur),
            "CurrentAmount": amount(current, cur),
            "PaidAmount": amount(invoice.paid, cur),
            "CreditedAmount": amount(invoice.credited, cur),
            "WriteOffAmount": amount(0, cur),
            "InterestAmount": amount(0, cur),
            "TotalVATAmount": amount(sums.vat, cur),
            "CentRoundingAmount": amount(sums.cent_rounding, cur),
            "AwaitingPaymentTransferAmount": amount(0, cur),
            "State": _state_view(invoice),
            "Events": [dict(e) for e in invoice.events],
            "Invoices": _documents(invoice, debtor, sums),
            **_flags(invoice),
        }
    )
    if view.get("DeliveryDate") is not None:
        view["DeliveryDate"] = iso_date(parse_day(view["DeliveryDate"], "DeliveryDate"))
    return view


def sub_view(
    invoice: Invoice, creditor: dict[str, Any] | None, debtor: dict[str, Any] | None, sums: Totals
) -> dict[str, Any]:
    """One row of InvoiceActionSubsView (the open and closed invoice lists)."""
    cur = sums.currency
    creditor = creditor or {}
    debtor = debtor or {}
    open_sent = _open_sent(invoice)
    return {
        "ActionPublicId": invoice.action_public_id,
        "ActionType": "InvoiceAction",
        "AttestedDate": iso(invoice.attested),
        "AutogiroWithdrawalEnabled": False,
        "AwaitingPaymentTransferAmount": amount(0, cur),
        "ClosedDate": iso(invoice.closed),
        "ContractInvoiceActionPublicId": None,
        "Created": iso(invoice.created),
        "CreditorName": creditor.get("Name"),
        "CreditorOrgNo": creditor.get("OrgNo"),
        "CreditorPublicId": invoice.creditor_public_id,
        "CurrentAmount": amount(sums.invoiced - invoice.paid - invoice.credited, cur),
        "DebtCollectionActionPublicId": None,
        "DebtorName": debtor.get("Name"),
        "DebtorOrgNo": debtor.get("OrgNo"),
        "DebtorPublicId": invoice.debtor_public_id,
        "DeliveryMethod": invoice.entry.get("DeliveryMethod") or "Email",
        "DeliveryStatus": "Unknown",
        "DueDate": iso_date(invoice.due_date),
        "File": None,
        "InvoiceDate": iso_date(invoice.invoice_date),
        "InvoiceNumber": invoice.invoice_number,
        "InvoiceSentDate": iso(invoice.sent),
        "InvoicedAmount": amount(sums.invoiced, cur),
        "IsCommented": False,
        "IsDisputed": False,
        "IsLocked": invoice.is_attested,
        "IsPaused": False,
        "NextEvent": "InvoiceDue" if open_sent else None,
        "NextEventDate": iso_date(invoice.due_date) if open_sent else None,
        "OCR": invoice.ocr,
        "ReminderInvoiceActionPublicId": None,
        "ReminderInvoiceSentDate": None,
        "Stage": invoice.stage,
        "TotalVATAmount": amount(sums.vat, cur),
        "YourReference": invoice.entry.get("YourReference"),
    }
