"""What a Lime debt collection case gets from Billecta's debt collection view."""

from __future__ import annotations

from typing import Any

from billecta_sync.usecases.billecta_to_lime.debtcollections import debtcollection_values


def sek(ore: int) -> dict[str, Any]:
    return {"CurrencyCode": "SEK", "Value": ore, "ValueForView": ore / 100}


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
