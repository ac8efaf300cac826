"""A Lime debtor as Billecta's DebtorView, and which debtors the debtor commands may send."""

from __future__ import annotations

from typing import Any

import pytest

from billecta_sync.errors import PermanentError
from billecta_sync.usecases.lime_to_billecta.debtors import check_debtor_rules, debtor_view
from sandbox.billecta import contract

CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"

DEBTOR: dict[str, Any] = {
    "_id": 1001, "name": " Kund AB ", "ssnregno": "556677-8899", "contactname": "Cecilia Ek",
    "email": "ekonomi@kund.se", "maincontactphone": "+46 31 123 45", "address": "Lillgatan 2", "zipcode": "41101",
    "city": "Göteborg", "countrycode": "se", "debtortype": {"id": 2, "key": "company", "text": "Företag"},
    "person": None, "company": 55, "billecta_error_message": "",
}


def test_debtor_view_satisfies_billectas_contract() -> None:
    view = debtor_view(DEBTOR, CREDITOR)

    assert contract.validate("DebtorView", view) == []
    assert view == {
        "CreditorPublicId": CREDITOR,
        "DebtorExternalId": "1001",
        "Name": "Kund AB",
        "OrgNo": "556677-8899",
        "ContactName": "Cecilia Ek",
        "Email": "ekonomi@kund.se",
        "ContactEmail": "ekonomi@kund.se",
        "Phone": "+46 31 123 45",
        "Address": "Lillgatan 2",
        "ZipCode": "41101",
        "City": "Göteborg",
        "CountryCode": "SE",
        "DebtorType": "Company",
        "IsActive": True,
    }


def test_private_debtor_with_only_a_name() -> None:
    view = debtor_view({"_id": 7, "name": "Per Persson", "debtortype": "private", "countrycode": None}, CREDITOR)

    assert contract.validate("DebtorView", view) == []
    assert view["DebtorType"] == "Private"
    assert view["CountryCode"] == "SE"  # Billecta needs a country; Swedish by default
    assert (view["OrgNo"], view["Email"], view["ContactEmail"], view["Address"]) == (None, None, None, None)


@pytest.mark.parametrize("debtor_type", [None, "", {"id": 9, "key": "association", "text": "Förening"}])
def test_debtor_type_defaults_to_company(debtor_type: Any) -> None:
    assert debtor_view(dict(DEBTOR, debtortype=debtor_type), CREDITOR)["DebtorType"] == "Company"


@pytest.mark.parametrize("name", [None, "", "   "])
def test_debtor_without_a_name_is_refused_naming_the_debtor(name: Any) -> None:
    with pytest.raises(PermanentError, match="debtor 1001 has no name"):
        debtor_view(dict(DEBTOR, name=name), CREDITOR)


@pytest.mark.parametrize(("debtor", "fragment"), [
    ({"_id": 1, "debtortype": "company", "ssnregno": ""}, "no organisation number"),
    ({"_id": 2, "debtortype": None, "ssnregno": None}, "no organisation number"),  # company by default
    ({"_id": 3, "debtortype": {"key": "private"}, "ssnregno": "", "person": None}, "neither a person"),
])
def test_debtors_that_cannot_be_identified_are_refused(debtor: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PermanentError, match=fragment):
        check_debtor_rules(debtor)


@pytest.mark.parametrize("debtor", [
    {"_id": 1, "debtortype": "company", "ssnregno": "556677-8899"},
    {"_id": 2, "debtortype": "private", "ssnregno": "19800101-1234"},
    {"_id": 3, "debtortype": "private", "person": 42},
])
def test_identified_debtors_pass(debtor: dict[str, Any]) -> None:
    check_debtor_rules(debtor)
