"""Crediting an invoice in full: what the credit invoice sent to Billecta holds."""

from __future__ import annotations

from datetime import date
from typing import Any

from billecta_sync.usecases.lime_to_billecta.credits import credit_entry
from sandbox.billecta import contract

CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"
DEBTOR = "6a2d7b63-4c1f-4d66-8b72-1c6c9d1f0b22"
PRODUCT1 = "7b3e8c74-5d20-4e77-9c83-2d7d0e2a1c33"
PRODUCT2 = "8c4f9d85-6e31-4f88-8d94-3e8e1f3b2d44"

ORIGINAL: dict[str, Any] = {
    "ActionPublicId": "7001", "CreditorPublicId": CREDITOR, "Debtor": {"DebtorPublicId": DEBTOR},
    "OurReference": "Anna", "YourReference": "Bo", "DeliveryMethod": "Email", "VatIsIncluded": False,
    "Invoices": [{"InvoiceNumber": "1001"}],
    "Records": [
        {"SequenceNo": 1, "RecordType": "Standard", "ProductPublicId": PRODUCT1, "ArticleDescription": "Hyra",
         "Quantity": 1, "UnitPrice": {"CurrencyCode": "SEK", "Value": 1250000}, "VAT": 25,
         "TotalIncVAT": {"CurrencyCode": "SEK", "Value": 1562500}},
        {"SequenceNo": 2, "RecordType": "Message", "ArticleDescription": "Avser 4B"},
        {"SequenceNo": 3, "RecordType": "Standard", "ProductPublicId": PRODUCT2, "ArticleDescription": "Städ",
         "Quantity": 2, "UnitPrice": {"CurrencyCode": "SEK", "Value": 85050}, "VAT": 25, "DiscountPercentage": 10},
    ],
}


def test_credit_invoice_mirrors_the_rows_at_negative_prices_and_names_the_original() -> None:
    entry = credit_entry(ORIGINAL, 55, today=date(2026, 11, 21))

    assert contract.validate("InvoiceActionEntryView", entry) == []
    assert entry["ActionType"] == "CreditInvoiceAction"
    assert entry["CreditingInvoicePublicId"] == "7001"
    assert (entry["CreditorPublicId"], entry["DebtorPublicId"]) == (CREDITOR, DEBTOR)
    assert entry["ExternalReference"] == "lime-credit-55"
    assert entry["Message"] == "Kreditering av faktura 1001"
    prices = [(r["RecordType"], (r.get("UnitPrice") or {}).get("Value")) for r in entry["Records"]]
    assert prices == [("Standard", -1250000), ("Message", None), ("Standard", -85050)]
    assert entry["Records"][2]["DiscountPercentage"] == 10
    assert "TotalIncVAT" not in entry["Records"][0]  # output fields are not sent back
    assert entry["InvoiceDate"] == entry["DueDate"] == "2026-11-21T00:00:00"
