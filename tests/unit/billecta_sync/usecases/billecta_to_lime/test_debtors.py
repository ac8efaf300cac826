"""What Lime gets from Billecta's debtor, debt collection and credit-invoice views, and which events are handled."""

from __future__ import annotations

from typing import Any

from billecta_sync.inbound.billecta_events import SUPPORTED_EVENTS
from billecta_sync.usecases.billecta_to_lime.debtcollections import debtcollection_values
from billecta_sync.usecases.billecta_to_lime.debtors import _changed, lime_debtor_values
from billecta_sync.usecases.billecta_to_lime.events import HANDLERS
from billecta_sync.usecases.billecta_to_lime.invoice_state import credited_invoice_id, invoice_status


def sek(ore: int) -> dict[str, Any]:
    return {"CurrencyCode": "SEK", "Value": ore, "ValueForView": ore / 100}


def test_every_supported_event_has_a_handler() -> None:
    assert set(HANDLERS) == set(SUPPORTED_EVENTS)


def test_debtor_view_gives_the_lime_debtor_fields() -> None:
    values = lime_debtor_values({"Name": " Kund AB ", "OrgNo": "556677-8899", "Email": None,
                                 "ContactEmail": "info@kund.se", "Phone": "08-123", "CountryCode": "se",
                                 "DebtorType": "Private", "City": "Lund"})
    assert values["name"] == "Kund AB" and values["email"] == "info@kund.se"
    assert values["countrycode"] == "SE" and values["debtortype"] == "private"
    assert values["ssnregno"] == "556677-8899" and values["maincontactphone"] == "08-123"


def test_only_changed_debtor_fields_are_written() -> None:
    existing = {"name": "Kund AB", "city": "Lund", "debtortype": {"key": "company", "id": 2}, "email": None}
    assert _changed(existing, {"name": "Kund AB", "city": "Malmö", "debtortype": "company", "email": ""}) == {
        "city": "Malmö"}


def test_debt_collection_view_gives_stage_amounts_and_next_event() -> None:
    values = debtcollection_values({
        "ActionPublicId": "dc-1", "DebtAmount": sek(80000), "CurrentAmount": sek(98000),
        "InterestAmount": sek(1250), "FeeAmount": sek(18000), "InterestPercentage": 8.5, "DeliveryMethod": "Mail",
        "State": {"Stage": "DebtCollectionInvoiceSent", "NextEvent": "DebtCollectionInvoiceDue",
                  "NextEventDate": "2026-12-01T00:00:00"},
    })
    assert values["stage"] == "DebtCollectionInvoiceSent"
    assert (values["debtamount"], values["currentamount"], values["interestamount"], values["feeamount"]) == (
        800.0, 980.0, 12.5, 180.0)
    assert values["nexteventdate"] == "2026-12-01" and values["nextevent"] == "DebtCollectionInvoiceDue"
    assert values["deliverymethod"] == "mail" and values["interestpercentage"] == 8.5


def test_credit_invoice_is_credited_and_names_the_invoice_it_credits() -> None:
    credit = {"ActionType": "CreditInvoiceAction", "CreditingInvoice": {"SourcePublicId": "orig-1"},
              "State": {"Stage": "Attested"}, "InvoicedAmount": sek(-5000)}
    assert credited_invoice_id(credit) == "orig-1"
    assert invoice_status(credit) == "credited"
    assert credited_invoice_id({"ActionType": "InvoiceAction", "CreditingInvoice": None}) == ""


def test_event_log_is_newest_first_with_plain_timestamps() -> None:
    from billecta_sync.usecases.billecta_to_lime.event_log import format_events

    events = [
        {"EventDate": "2026-11-20T10:30:00.100+01:00", "Title": "Invoice created", "EventType": "Created"},
        {"EventDate": "2026-11-21T08:00:00.900+01:00", "Title": "Payment", "Content": "40.00 SEK"},
        {"EventDate": "2026-11-21T08:00:00.200+01:00", "Title": "Sent"},
        "not an event",
    ]
    assert format_events(events) == [
        {"eventdate": "2026-11-21 08:00:00", "eventtype": "", "title": "Payment", "content": "40.00 SEK"},
        {"eventdate": "2026-11-21 08:00:00", "eventtype": "", "title": "Sent", "content": ""},
        {"eventdate": "2026-11-20 10:30:00", "eventtype": "Created", "title": "Invoice created", "content": ""},
    ]
