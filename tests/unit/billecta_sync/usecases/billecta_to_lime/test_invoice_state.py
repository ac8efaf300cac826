"""The Lime invoice status and values read from a Billecta invoice action (InvoiceActionView), credit invoices
and the autogiro outcome recorded on an invoice."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from billecta_sync.usecases.billecta_to_lime.invoice_state import (
    autogiro_values,
    credited_invoice_id,
    event_time,
    invoice_status,
    invoice_values,
    row_values,
)

TODAY = date(2026, 3, 15)


def sek(ore: int) -> dict[str, Any]:
    return {"CurrencyCode": "SEK", "Value": ore, "ValueForView": ore / 100}


def invoice(stage: str, *, invoiced: int = 1775125, paid: int = 0, credited: int = 0, current: int | None = None,
            due: str = "2026-03-02T00:00:00", **extra: Any) -> dict[str, Any]:
    return {
        "ActionPublicId": "0c3e8f0a-9d4b-4f7e-8e2c-6f1d2a3b4c5d",
        "State": {"Stage": stage, "IsPaused": False, "DisputedDate": None, "NextEventDate": None},
        "InvoicedAmount": sek(invoiced),
        "PaidAmount": sek(paid),
        "CreditedAmount": sek(credited),
        "CurrentAmount": sek(invoiced - paid - credited if current is None else current),
        "WriteOffAmount": sek(0),
        "InvoiceDate": "2026-01-31T00:00:00",
        "DueDate": due,
        **extra,
    }


@pytest.mark.parametrize(("stage", "status"), [
    ("Created", "created"),
    ("None", "created"),
    ("Attested", "attested"),
    ("InvoiceSent", "sent"),
    ("ReminderInvoiceSent", "sent"),
    ("Manual", "sent"),
    ("Completed", "paid"),
    ("Cancelled", "cancelled"),
    ("SentToDebtCollection", "debtcollection"),
    ("SalesRequested", "sent"),
    ("SaleRequestAccepted", "sent"),
    ("SalesRequestedCancelled", "sent"),
    ("SalesRequestedDenied", "sent"),
    ("SomeStageBillectaAddsLater", "sent"),
])
def test_stage_gives_the_lime_status(stage: str, status: str) -> None:
    assert invoice_status(invoice(stage), today=TODAY) == status


def test_missing_state_counts_as_sent() -> None:
    assert invoice_status({"InvoicedAmount": sek(100)}, today=TODAY) == "sent"


@pytest.mark.parametrize("stage", ["InvoiceSent", "ReminderInvoiceSent"])
def test_partly_paid_invoice_is_subpaid(stage: str) -> None:
    assert invoice_status(invoice(stage, paid=775125), today=TODAY) == "subpaid"


def test_sent_invoice_with_nothing_left_to_pay_is_not_subpaid() -> None:
    assert invoice_status(invoice("InvoiceSent", paid=1775125, current=0), today=TODAY) == "sent"


def test_fully_credited_unpaid_invoice_is_credited() -> None:
    assert invoice_status(invoice("Completed", credited=1775125), today=TODAY) == "credited"


def test_partly_credited_and_paid_invoice_is_paid() -> None:
    assert invoice_status(invoice("Completed", paid=1000000, credited=775125), today=TODAY) == "paid"


def test_expired_is_kept_while_the_due_date_has_passed() -> None:
    overdue = invoice("InvoiceSent", due="2026-03-02T00:00:00")
    assert invoice_status(overdue, previous="expired", today=TODAY) == "expired"
    assert invoice_status(invoice("InvoiceSent", paid=500000, due="2026-03-02"), previous="expired",
                          today=TODAY) == "expired"


def test_expired_is_dropped_when_the_due_date_moved_or_the_invoice_ended() -> None:
    postponed = invoice("InvoiceSent", due="2026-04-30T00:00:00")
    assert invoice_status(postponed, previous="expired", today=TODAY) == "sent"
    assert invoice_status(invoice("Completed", paid=1775125, current=0), previous="expired", today=TODAY) == "paid"
    assert invoice_status(invoice("InvoiceSent"), previous="", today=TODAY) == "sent"  # only the nightly job expires


def test_invoice_values_carry_number_ocr_amounts_and_dates_in_lime_units() -> None:
    remote = invoice("InvoiceSent", paid=500050, credited=100000, due="2099-03-02T00:00:00",
                     Invoices=[{"InvoiceNumber": "10042", "OCR": "1004200042"}])
    remote["State"].update(DisputedDate="2026-02-10T00:00:00", IsPaused=True,
                           NextEventDate="2026-03-20T00:00:00+01:00", InvoiceSentDate="2026-02-01T08:00:00")

    values = invoice_values(remote)

    assert values == {
        "actionpublicid": "0c3e8f0a-9d4b-4f7e-8e2c-6f1d2a3b4c5d",
        "invoicenumber": "10042",
        "ocr": "1004200042",
        "invoicestatus": "subpaid",
        "invoicedate": "2026-01-31",
        "invoice_expires": "2099-03-02",
        "invoicedamount": 17751.25,
        "currentamount": 11750.75,
        "paidamount": 5000.5,
        "creditedamount": 1000.0,
        "writtenoffamount": 0.0,
        "currencycode": "SEK",
        "isdisputed": True,
        "ispaused": True,
        "nexteventdate": "2026-03-20",
        "invoice_sent_date": "2026-02-01",
        "paid_date": None,  # only a paid invoice has one
        "invoice_balance": 11750.75,
        "billecta_error_message": "",
    }


def test_a_paid_invoice_records_when_it_closed_and_nothing_left() -> None:
    remote = invoice("Completed", paid=1775125, current=0)
    remote["State"].update(InvoiceSentDate="2026-02-01T08:00:00", ClosedDate="2026-02-20T10:00:00")

    values = invoice_values(remote)

    assert values["invoicestatus"] == "paid"
    assert (values["invoice_sent_date"], values["paid_date"], values["invoice_balance"]) == (
        "2026-02-01", "2026-02-20", 0.0)


def test_invoice_values_of_a_created_invoice_without_documents() -> None:
    values = invoice_values({"ActionPublicId": "a-1", "State": {"Stage": "Created"},
                             "InvoicedAmount": {"CurrencyCode": "EUR", "Value": 1000}})

    assert values["invoicestatus"] == "created"
    assert (values["invoicenumber"], values["ocr"]) == ("", "")
    assert values["currencycode"] == "EUR"
    assert values["invoicedamount"] == 10.0
    assert values["currentamount"] == 0.0
    assert (values["invoicedate"], values["invoice_expires"], values["nexteventdate"]) == (None, None, None)
    assert (values["isdisputed"], values["ispaused"]) == (False, False)


def test_row_values_read_a_record_in_kronor() -> None:
    record = {"RecordType": "Standard", "ArticleDescription": "Städning", "Quantity": 2.0,
              "UnitPrice": sek(85050), "VAT": 25.0}

    assert row_values(record, 3) == {"rowtype": "standard", "description": "Städning", "quantity": 2.0,
                                     "unitprice": 850.5, "vat": 25.0, "position": 3}
    assert row_values({"RecordType": "Message", "ArticleDescription": "Avser lokal 4B"}, 2) == {
        "rowtype": "message", "description": "Avser lokal 4B", "quantity": 0.0, "unitprice": 0.0, "vat": 0.0,
        "position": 2}


def test_credit_invoice_is_credited_and_names_the_invoice_it_credits() -> None:
    credit = {"ActionType": "CreditInvoiceAction", "CreditingInvoice": {"SourcePublicId": "orig-1"},
              "State": {"Stage": "Attested"}, "InvoicedAmount": sek(-5000)}
    assert credited_invoice_id(credit) == "orig-1"
    assert invoice_status(credit) == "credited"
    assert credited_invoice_id({"ActionType": "InvoiceAction", "CreditingInvoice": None}) == ""


# ---- autogiro on invoices -----------------------------------------------------------------------


def test_event_times_tolerate_z_offsets_and_no_zone() -> None:
    assert event_time("2026-03-02T12:00:00Z") == event_time("2026-03-02T14:00:00+02:00")
    assert event_time("2026-03-02T12:00:00") == event_time("2026-03-02T12:00:00Z")  # no zone: UTC
    assert event_time("") is None and event_time(None) is None and event_time("yesterday") is None


def test_a_withdrawal_event_is_recorded_with_its_time() -> None:
    assert autogiro_values({}, "failed", "2026-03-02T12:00:00Z") == {
        "autogirostatus": "failed", "autogirostatusat": "2026-03-02T12:00:00+00:00"}


def test_an_older_event_never_overwrites_a_newer_one() -> None:
    stored = {"autogirostatus": {"key": "renewed", "text": "Withdrawal renewed"},
              "autogirostatusat": "2026-03-02T14:00:00+02:00"}

    assert autogiro_values(stored, "failed", "2026-03-02T11:59:59Z") == {}
    assert autogiro_values(stored, "renewed", "2026-03-02T12:00:00Z") == {}  # the same event again
    assert autogiro_values(stored, "failed", "2026-03-03T08:00:00+01:00") == {
        "autogirostatus": "failed", "autogirostatusat": "2026-03-03T08:00:00+01:00"}


def test_an_event_without_a_time_is_written_without_touching_the_stored_time() -> None:
    stored = {"autogirostatus": "failed", "autogirostatusat": "2026-03-02T12:00:00+00:00"}

    assert autogiro_values(stored, "renewed", "") == {"autogirostatus": "renewed"}
    assert autogiro_values({"autogirostatusat": "not a time"}, "failed", "2026-03-02T12:00:00Z") == {
        "autogirostatus": "failed", "autogirostatusat": "2026-03-02T12:00:00+00:00"}
