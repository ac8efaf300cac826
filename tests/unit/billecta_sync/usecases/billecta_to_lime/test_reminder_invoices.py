"""The Lime invoice a Billecta reminder invoice action (ReminderInvoiceActionView) becomes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from billecta_sync.usecases.billecta_to_lime.reminder_invoices import reminder_status, reminder_values

TODAY = date(2026, 3, 15)
SOURCE = {"_id": 41, "creditor": 7, "debtor": 9, "invoicestatus": {"key": "sent"}, "currencycode": "SEK"}


def sek(ore: int) -> dict[str, Any]:
    return {"CurrencyCode": "SEK", "Value": ore, "ValueForView": ore / 100}


def reminder(stage: str = "ReminderInvoiceSent", **extra: Any) -> dict[str, Any]:
    return {
        "ActionPublicId": "8123456789",
        "SourceActionPublicId": "0c3e8f0a-9d4b-4f7e-8e2c-6f1d2a3b4c5d",
        "Created": "2026-03-01T09:30:00",
        "ClosedDate": None,
        "Stage": stage,
        "CurrentValue": sek(47550),
        "ReminderFee": sek(7550),
        "ReminderInvoices": [{
            "InvoiceNumber": "1007", "OCR": "10074", "InvoiceDate": "2026-03-01T00:00:00",
            "DueDate": "2026-03-11T00:00:00", "InvoicedAmount": sek(47550), "PaymentTermsInDays": 10,
        }],
        **extra,
    }


def test_values_of_an_open_reminder_copy_the_source_links_and_use_major_units() -> None:
    values = reminder_values(reminder(), SOURCE, today=TODAY)
    assert values == {
        "actionpublicid": "8123456789",
        "invoicenumber": "1007",
        "ocr": "10074",
        "invoicestatus": "sent",
        "invoicedate": "2026-03-01",
        "invoice_expires": "2026-03-11",
        "invoicedamount": 475.5,
        "currentamount": 475.5,
        "reminderfee": 75.5,
        "currencycode": "SEK",
        "creditor": 7,
        "debtor": 9,
        "reminderof": 41,
        "billecta_error_message": "",
    }


def test_relations_given_as_objects_are_read_as_ids() -> None:
    source = {**SOURCE, "creditor": {"_id": 7}, "debtor": "9"}
    values = reminder_values(reminder(), source, today=TODAY)
    assert (values["creditor"], values["debtor"], values["reminderof"]) == (7, 9, 41)


def test_newest_reminder_document_wins_and_currency_comes_from_the_amounts() -> None:
    eur = {"CurrencyCode": "EUR", "Value": 1200}
    older = {"InvoiceNumber": "1007", "OCR": "10074", "DueDate": "2026-03-11T00:00:00", "InvoicedAmount": eur}
    newer = {"InvoiceNumber": "1012", "OCR": "10124", "DueDate": "2026-03-25T00:00:00", "InvoicedAmount": eur}
    values = reminder_values(reminder(ReminderInvoices=[older, newer], CurrentValue=eur, ReminderFee=None),
                             SOURCE, today=TODAY)
    assert (values["invoicenumber"], values["invoice_expires"]) == ("1012", "2026-03-25")
    assert values["currencycode"] == "EUR" and values["reminderfee"] == 0.0


@pytest.mark.parametrize(("stage", "source_status", "status"), [
    ("ReminderInvoiceSent", "sent", "sent"),
    ("InvoiceSent", "subpaid", "sent"),
    ("Completed", "paid", "paid"),
    ("Completed", "credited", "credited"),  # completed because its source was credited, not paid
    ("Cancelled", "cancelled", "cancelled"),
    ("SomeStageBillectaAddsLater", "sent", "sent"),
])
def test_stage_gives_the_status(stage: str, source_status: str, status: str) -> None:
    assert reminder_status(reminder(stage), source_status, today=TODAY) == status


def test_expired_mark_is_kept_while_open_and_past_due_but_not_once_closed() -> None:
    assert reminder_status(reminder(), "sent", previous="expired", today=TODAY) == "expired"
    assert reminder_status(reminder(), "sent", previous="expired", today=date(2026, 3, 5)) == "sent"
    assert reminder_status(reminder("Completed"), "paid", previous="expired", today=TODAY) == "paid"


def test_a_view_without_documents_or_amounts_gives_empty_values_not_an_error() -> None:
    values = reminder_values({"ActionPublicId": "1", "Stage": "ReminderInvoiceSent"}, SOURCE, today=TODAY)
    assert values["invoicenumber"] == "" and values["invoice_expires"] is None
    assert values["invoicedamount"] == 0.0 and values["currencycode"] == "SEK"
