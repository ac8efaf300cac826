"""One invoice action of the Billecta sandbox and its read models (InvoiceActionView, the rows of
InvoiceActionSubsView, the invoice document), built from the invoice and the records it refers to.

Pure functions: the ``invoices`` module looks the records up under the store lock and calls these.

The capability flags (``Can*``) and the schedule are computed from the invoice's state on every read, and the
invoice controls (``controls``) act only when the flag they need is true, so what a GET promises and what an
action accepts can't drift apart. The rules, where Billecta is silent (docs: billecta-api.md §2.4):

* open = attested and neither Completed nor Cancelled; "in debt collection" = a case was made from it
  (its Stage stays ``SentToDebtCollection`` and debt collection owns the claim from then on).
* ``CanPause``: open, not paused, not in debt collection. ``CanResume``: open and paused.
* ``CanDispute``: open, not disputed. ``CanUnDispute``: open and disputed.
* ``CanPostpone``: open and a next event is scheduled.
* ``CanSendManualReminderInvoice``: open, sent to the debtor, not in debt collection.
* ``CanSendToDebtCollection``: open, sent to the debtor, not in debt collection yet; past due or not (a
  manual send is the creditor's decision; Billecta's own start after due is configured per creditor).
* Schedule (``State.NextEvent``/``NextEventDate``), only for a sent, open invoice not in debt collection:
  ``InvoiceDue`` on the due date until it has passed, then ``WillSendReminderInvoice`` ``REMINDER_AFTER_DUE_DAYS``
  later; once a reminder is sent, ``ReminderDue`` on the reminder's due date. A postponement shifts the whole
  remaining schedule by its days (so NextEventDate moves by exactly that much); a new reminder starts a fresh
  schedule. The sandbox runs no reminder process of its own: a date in the past means the event is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import amount, iso, iso_date, now, parse_day
from sandbox.billecta.state.pricing import Totals, price_records

CLOSED_STAGES = frozenset({"Completed", "Cancelled"})
REMINDER_AFTER_DUE_DAYS = 10
PDF = "application/pdf"


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
    paused: bool = False
    disputed: datetime | None = None
    postponed_days: int = 0  # added to every date of the remaining schedule
    reminder_due: date | None = None  # due date of the latest reminder invoice
    file_public_id: str | None = None  # the invoice PDF, made at attest (``files``)

    @property
    def is_attested(self) -> bool:
        return self.stage != "Created"

    @property
    def is_open(self) -> bool:
        return self.is_attested and self.stage not in CLOSED_STAGES

    @property
    def in_debt_collection(self) -> bool:
        return self.sent_to_debt_collection is not None

    @property
    def file_name(self) -> str:
        return f"Faktura_{self.invoice_number or self.action_public_id}.pdf"

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
            "paused": self.paused,
            "disputed": iso(self.disputed),
            "postponed_days": self.postponed_days,
            "reminder_due": self.reminder_due.isoformat() if self.reminder_due else None,
            "file_public_id": self.file_public_id,
            "entry": self.entry,
            "events": self.events,
        }


def totals(invoice: Invoice, creditor: dict[str, Any] | None) -> Totals:
    return price_records(invoice.entry, bool((creditor or {}).get("UseCentRounding")))


def invoice_address(debtor: dict[str, Any]) -> dict[str, Any]:
    """The debtor's name and address as printed on an invoice document (invoice and reminder views)."""
    return {key: debtor.get(key) for key in ("Name", "Address", "Address2", "ZipCode", "City", "CountryCode")}


def next_event(invoice: Invoice, today: date | None = None) -> tuple[str, date] | None:
    """The next automatic event of the invoice's schedule and its day (rules in the module doc)."""
    if not invoice.is_open or invoice.sent is None or invoice.in_debt_collection:
        return None
    shift = timedelta(days=invoice.postponed_days)
    if invoice.reminder_due is not None:
        return "ReminderDue", invoice.reminder_due + shift
    due = invoice.due_date + shift
    if (today or now().date()) <= due:
        return "InvoiceDue", due
    return "WillSendReminderInvoice", due + timedelta(days=REMINDER_AFTER_DUE_DAYS)


def _flags(invoice: Invoice, scheduled: bool) -> dict[str, bool]:
    is_open = invoice.is_open
    sent = invoice.sent is not None
    collected = invoice.in_debt_collection
    return {
        "CanCancelSalesRequest": invoice.stage == "SalesRequested",
        "CanCreateAutogiroWithdrawal": False,
        "CanCreateCreditInvoice": is_open,
        "CanCreateInterestInvoice": False,
        "CanDispute": is_open and invoice.disputed is None,
        "CanUnDispute": is_open and invoice.disputed is not None,
        "CanMakeManual": is_open and invoice.stage != "Manual",
        "CanPause": is_open and not invoice.paused and not collected,
        "CanResume": is_open and invoice.paused,
        "CanPostpone": is_open and scheduled,
        "CanRegisterPayment": is_open,
        "CanResendManualInvoice": False,
        "CanSell": False,
        "CanSendManualInvoice": is_open and invoice.entry.get("DeliveryMethod") == "Manually",
        "CanSendManualReminderInvoice": is_open and sent and not collected,
        "CanSendToDebtCollection": is_open and sent and not collected,
    }


def _state_view(invoice: Invoice, scheduled: tuple[str, date] | None) -> dict[str, Any]:
    return {
        "Stage": invoice.stage,
        "AttestedDate": iso(invoice.attested),
        "InvoiceSentDate": iso(invoice.sent),
        "ClosedDate": iso(invoice.closed),
        "NextEvent": scheduled[0] if scheduled else None,
        "NextEventDate": iso_date(scheduled[1]) if scheduled else None,
        "IsLocked": invoice.is_attested,
        "IsPaused": invoice.paused,
        "DisputedDate": iso(invoice.disputed),
        "SentToDebtCollectionDate": iso(invoice.sent_to_debt_collection),
        "SalesRequestedDate": iso(invoice.sales_requested),
        "SmsSentDate": None,
        "CreditCardPaymentPublicId": None,
        "SwishPaymentPublicId": None,
        "UseDebtorBalance": bool(invoice.entry.get("UseDebtorBalance")),
    }


def file_reference(invoice: Invoice) -> dict[str, Any] | None:
    """The invoice PDF as other views name it: a FileView without its data (read it through the files API)."""
    if invoice.file_public_id is None:
        return None
    return {"FilePublicId": invoice.file_public_id, "ContentType": PDF, "FileName": invoice.file_name, "Data": None}


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
            "InvoiceFile": file_reference(invoice),
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
    scheduled = next_event(invoice)
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
            "State": _state_view(invoice, scheduled),
            "Events": [dict(e) for e in invoice.events],
            "Invoices": _documents(invoice, debtor, sums),
            **_flags(invoice, scheduled is not None),
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
    scheduled = next_event(invoice)
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
        "File": file_reference(invoice),
        "InvoiceDate": iso_date(invoice.invoice_date),
        "InvoiceNumber": invoice.invoice_number,
        "InvoiceSentDate": iso(invoice.sent),
        "InvoicedAmount": amount(sums.invoiced, cur),
        "IsCommented": False,
        "IsDisputed": invoice.disputed is not None,
        "IsLocked": invoice.is_attested,
        "IsPaused": invoice.paused,
        "NextEvent": scheduled[0] if scheduled else None,
        "NextEventDate": iso_date(scheduled[1]) if scheduled else None,
        "OCR": invoice.ocr,
        "ReminderInvoiceActionPublicId": None,
        "ReminderInvoiceSentDate": None,
        "Stage": invoice.stage,
        "TotalVATAmount": amount(sums.vat, cur),
        "YourReference": invoice.entry.get("YourReference"),
    }
