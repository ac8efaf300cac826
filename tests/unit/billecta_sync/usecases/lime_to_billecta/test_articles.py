"""A Lime article as Billecta's ProductView."""

from __future__ import annotations

from typing import Any

import pytest

from billecta_sync.errors import PermanentError
from billecta_sync.usecases.lime_to_billecta.articles import product_view
from sandbox.billecta import contract

CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"

ARTICLE: dict[str, Any] = {
    "_id": 31, "articlenumber": "HYRA-1", "name": "Hyra lokal", "unit": "st", "unitprice": 12500.50, "vat": 12,
    "articletype": {"id": 1, "key": "standard", "text": "Standard"}, "bookkeepingaccount": "3010",
    "isactive": True,
}


def test_product_view_satisfies_billectas_contract() -> None:
    view = product_view(ARTICLE, CREDITOR)

    assert contract.validate("ProductView", view) == []
    assert view == {
        "CreditorPublicId": CREDITOR,
        "ProductExternalId": "31",
        "ArticleNumber": "HYRA-1",
        "Description": "Hyra lokal",
        "Units": "st",
        "UnitPrice": 12500.5,  # a product's price is in kronor; only invoice rows use öre
        "VAT": 12.0,
        "ProductType": "Service",
        "BookKeepingAccount": 3010,  # an int32 in Billecta's contract, text in Lime
        "IsActive": True,
    }


def test_package_article_becomes_a_package_product() -> None:
    view = product_view(dict(ARTICLE, articletype="package"), CREDITOR)

    assert view["ProductType"] == "Package"
    assert contract.validate("ProductView", view) == []


def test_article_with_only_a_number_and_no_price_or_vat() -> None:
    view = product_view({"_id": 32, "articlenumber": "X-9", "name": "", "unitprice": None, "vat": None,
                         "isactive": False}, CREDITOR)

    assert contract.validate("ProductView", view) == []
    assert view["Description"] == "X-9"
    assert view["UnitPrice"] == 0.0
    assert view["VAT"] == 25.0  # Swedish standard rate when the article has none
    assert view["IsActive"] is False
    assert (view["Units"], view["BookKeepingAccount"]) == (None, None)


def test_article_without_number_or_name_is_refused_naming_it() -> None:
    with pytest.raises(PermanentError, match="article 33 has neither article number nor name"):
        product_view({"_id": 33, "articlenumber": " ", "name": None}, CREDITOR)


@pytest.mark.parametrize("account", ["30 10", "3010-A", "١٢", "99999999999"])
def test_bookkeeping_account_that_is_not_a_whole_number_is_refused_naming_it(account: str) -> None:
    with pytest.raises(PermanentError, match=f"article 31 has bookkeeping account '{account}'"):
        product_view(dict(ARTICLE, bookkeepingaccount=account), CREDITOR)
