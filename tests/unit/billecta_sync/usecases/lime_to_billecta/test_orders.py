"""A Lime order as Billecta's InvoiceActionEntryView: the contract, amounts in öre, dates, rows; and sending an
order, with what the user then sees on it in Lime.

``test_billecta_sandbox_accepts_the_views_and_the_invoice_reads_back`` sends the views to the Billecta sandbox
over real HTTP and reads the invoice back; the tests after it run the use-case on in-memory Lime and Billecta.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from billecta_sync.billecta import BillectaClient
from billecta_sync.billecta.errors import BillectaApiConnectionError
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime.values import option_key
from billecta_sync.settings import BillectaSettings, Secret
from billecta_sync.usecases.billecta_to_lime.invoice_state import invoice_values, row_values
from billecta_sync.usecases.lime_to_billecta.articles import product_view
from billecta_sync.usecases.lime_to_billecta.debtors import debtor_view
from billecta_sync.usecases.lime_to_billecta.orders import invoice_entry, upsert_attest_order
from sandbox.billecta import contract
from sandbox.billecta.app import DEFAULT_AUTHORIZATION, BillectaSandboxConfig, create_app
from sandbox.common import serve_in_thread
from tests.unit.fakes import FakeBillecta, FakeLime, add_order

CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"
DEBTOR = "7a9b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
PRODUCT_RENT = "0c3e8f0a-9d4b-4f7e-8e2c-6f1d2a3b4c5d"
PRODUCT_CLEANING = "1d4f9a1b-ae5c-4a8f-9f3d-7a2e3b4c5d6e"


def option(key: str) -> dict[str, Any]:
    return {"id": 1, "key": key, "text": key.title()}


# Shaped as Lime's REST API returns them: options as objects, relations as ids, decimals as numbers.
ARTICLES: dict[int, dict[str, Any]] = {
    11: {"_id": 11, "articlenumber": "HYRA-1", "name": "Hyra lokal", "unit": "st", "unitprice": 12500.50,
         "vat": 25, "articletype": option("standard"), "bookkeepingaccount": "3010", "isactive": True},
    12: {"_id": 12, "articlenumber": "STAD-1", "name": "Städning", "unit": "tim", "unitprice": 850.50,
         "vat": 25, "articletype": option("standard"), "isactive": True},
}
ORDER: dict[str, Any] = {
    "_id": 4711, "creditor": 1, "debtor": 2, "orderstatus": option("created"), "invoicedate": "2026-01-31",
    "paymenttermsindays": 30, "deliverymethod": option("email"), "ourreference": "Anna Andersson",
    "yourreference": "Bo Berg", "message": "Tack för att ni är kund hos oss.", "actionpublicid": "",
}
ROWS: list[dict[str, Any]] = [
    {"_id": 1, "order": 4711, "article": 11, "rowtype": option("standard"), "description": "Hyra december",
     "quantity": 2, "unitprice": 12500.50, "vat": 25, "discountpercentage": None, "position": 1},
    # A message row that (wrongly) carries an article and a price in Lime: only its text may be sent.
    {"_id": 2, "order": 4711, "article": 12, "rowtype": option("message"), "description": "Avser lokal 4B",
     "quantity": 3, "unitprice": 99, "vat": 25, "discountpercentage": None, "position": 2},
    # No price or VAT on the row: the article's are used.
    {"_id": 3, "order": 4711, "article": 12, "rowtype": option("standard"), "description": "",
     "quantity": 2, "unitprice": None, "vat": None, "discountpercentage": 20, "position": 3},
]
PRODUCTS = {11: PRODUCT_RENT, 12: PRODUCT_CLEANING}


def entry_for(order: dict[str, Any] | None = None, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return invoice_entry(order or ORDER, rows or ROWS, PRODUCTS, ARTICLES, CREDITOR, DEBTOR)


def test_invoice_entry_satisfies_billectas_contract() -> None:
    entry = entry_for()

    assert contract.validate("InvoiceActionEntryView", entry) == []
    assert entry["ActionType"] == "InvoiceAction"
    assert entry["CreditorPublicId"] == CREDITOR
    assert entry["DebtorPublicId"] == DEBTOR
    assert entry["ExternalReference"] == "lime-order-4711"
    assert entry["OurReference"] == "Anna Andersson"
    assert entry["YourReference"] == "Bo Berg"
    assert entry["Message"] == "Tack för att ni är kund hos oss."
    assert entry["VatIsIncluded"] is False


def test_message_rows_carry_only_their_text() -> None:
    records = entry_for()["Records"]

    assert [r["RecordType"] for r in records] == ["Standard", "Message", "Standard"]
    assert [r["SequenceNo"] for r in records] == [1, 2, 3]
    assert records[1] == {"SequenceNo": 2, "RecordType": "Message", "ArticleDescription": "Avser lokal 4B"}


def test_amounts_are_sent_in_ore() -> None:
    rent, _message, cleaning = entry_for()["Records"]

    assert rent["UnitPrice"] == {"CurrencyCode": "SEK", "Value": 1250050}  # 12 500.50 kr
    assert rent["Quantity"] == 2.0
    assert rent["VAT"] == 25.0
    assert rent["ProductPublicId"] == PRODUCT_RENT
    assert rent["ArticleNumber"] == "HYRA-1"
    assert rent["ArticleDescription"] == "Hyra december"
    assert rent["Units"] == "st"
    assert "DiscountPercentage" not in rent
    # Price, VAT and description come from the article when the row has none.
    assert cleaning["UnitPrice"] == {"CurrencyCode": "SEK", "Value": 85050}
    assert cleaning["VAT"] == 25.0
    assert cleaning["ArticleDescription"] == "Städning"
    assert (cleaning["DiscountPercentage"], cleaning["DiscountType"]) == (20.0, "Percentage")


def test_price_is_rounded_half_up_to_whole_ore() -> None:
    rows = [dict(ROWS[0], unitprice="99.995")]

    assert entry_for(rows=rows)["Records"][0]["UnitPrice"] == {"CurrencyCode": "SEK", "Value": 10000}


@pytest.mark.parametrize(("invoice_date", "terms", "due"), [
    ("2026-01-31", 30, "2026-03-02T00:00:00"),
    ("2028-02-15", 14, "2028-02-29T00:00:00"),
    ("2026-12-20T00:00:00+01:00", 20, "2027-01-09T00:00:00"),
    ("2026-05-01", 0, "2026-05-01T00:00:00"),
    ("2026-05-01", None, "2026-05-31T00:00:00"),  # no terms on the order: 30 days
])
def test_due_date_is_invoice_date_plus_payment_terms(invoice_date: str, terms: int | None, due: str) -> None:
    entry = entry_for(order=dict(ORDER, invoicedate=invoice_date, paymenttermsindays=terms))

    assert entry["InvoiceDate"] == f"{invoice_date[:10]}T00:00:00"
    assert entry["DueDate"] == due
    assert contract.validate("InvoiceActionEntryView", entry) == []


@pytest.mark.parametrize(("lime_key", "billecta_name"), [
    ("email", "Email"), ("mail", "Mail"), ("manually", "Manually"), ("sms", "SMS"), ("einvoice", "EInvoice"),
    ("kivra", "Kivra"),
])
def test_delivery_method_is_mapped_to_billectas_name(lime_key: str, billecta_name: str) -> None:
    entry = entry_for(order=dict(ORDER, deliverymethod=option(lime_key)))

    assert entry["DeliveryMethod"] == billecta_name
    assert contract.validate("InvoiceActionEntryView", entry) == []


@pytest.mark.parametrize("method", [None, "", option("carrierpigeon")])
def test_unknown_or_empty_delivery_method_is_left_to_billecta(method: Any) -> None:
    assert "DeliveryMethod" not in entry_for(order=dict(ORDER, deliverymethod=method))


def test_empty_references_are_sent_as_null() -> None:
    entry = entry_for(order=dict(ORDER, ourreference="", yourreference="  ", message=None))

    assert (entry["OurReference"], entry["YourReference"], entry["Message"]) == (None, None, None)
    assert contract.validate("InvoiceActionEntryView", entry) == []


def test_invoice_entry_does_not_change_its_inputs() -> None:
    order, rows, articles = copy.deepcopy(ORDER), copy.deepcopy(ROWS), copy.deepcopy(ARTICLES)

    invoice_entry(order, rows, dict(PRODUCTS), articles, CREDITOR, DEBTOR)

    assert (order, rows, articles) == (ORDER, ROWS, ARTICLES)


@pytest.fixture
def billecta() -> Iterator[BillectaClient]:
    server, url = serve_in_thread(create_app(BillectaSandboxConfig(auto_send_delay_s=-1)))
    client = BillectaClient(BillectaSettings(base_url=f"{url}/v1", authentication=Secret(DEFAULT_AUTHORIZATION)))
    client.backoff_initial_s = 0.01
    try:
        yield client
    finally:
        client.close()
        server.shutdown()


def test_billecta_sandbox_accepts_the_views_and_the_invoice_reads_back(billecta: BillectaClient) -> None:
    creditor = billecta.create_creditor({"Name": "Demo Fastigheter AB", "OrgNo": "556000-0001",
                                         "CountryCode": "SE", "IsEnabled": True})
    debtor = billecta.create_debtor(debtor_view(
        {"_id": 2, "name": "Kund AB", "ssnregno": "556677-8899", "email": "ekonomi@kund.se",
         "countrycode": "se", "debtortype": option("company")}, creditor))
    products = {article_id: billecta.create_product(product_view(article, creditor))
                for article_id, article in ARTICLES.items()}

    action_id = billecta.create_invoice(invoice_entry(ORDER, ROWS, products, ARTICLES, creditor, debtor))
    invoice = billecta.get_invoice(action_id)

    values = invoice_values(invoice)
    # 2 x 12 500.50 = 25 001.00 and 2 x 850.50 - 20 % = 1 360.80, excl. VAT; with 25 % VAT: 32 952.25.
    assert Decimal(str(values["invoicedamount"])) == Decimal("32952.25")
    assert values["invoicestatus"] == "created"
    assert values["invoicedate"] == "2026-01-31"
    assert values["invoice_expires"] == "2026-03-02"
    assert values["currencycode"] == "SEK"
    assert values["actionpublicid"] == action_id
    assert invoice["ExternalReference"] == "lime-order-4711"
    rows = [row_values(record, position) for position, record in enumerate(invoice["Records"], start=1)]
    assert [(r["rowtype"], r["description"], r["quantity"], r["unitprice"]) for r in rows] == [
        ("standard", "Hyra december", 2.0, 12500.5),
        ("message", "Avser lokal 4B", 0.0, 0.0),
        ("standard", "Städning", 2.0, 850.5),
    ]
    product = billecta.get_product(products[11])
    assert product["UnitPrice"] == 12500.5  # products carry kronor, not öre
    assert product["BookKeepingAccount"] == 3010
    assert billecta.get_debtor(debtor)["CountryCode"] == "SE"


# ---- sending an order: what the user sees on the Lime order (in-memory Lime and Billecta) ------------------


def order_state(lime: FakeLime, order_id: int) -> tuple[str | None, str, str]:
    order = lime.obj("order", order_id)
    return option_key(order["orderstatus"]), order["billecta_error_message"], order["actionpublicid"]


def test_a_sent_order_is_attested_in_billecta_and_shows_its_invoice(services: Services, fake_lime: FakeLime,
                                                                    fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)

    message = upsert_attest_order(services, ids.order, attest=True)

    (action_id,) = fake_billecta.invoices
    assert order_state(fake_lime, ids.order) == ("attested", "", action_id)
    assert fake_billecta.invoices[action_id]["State"]["Stage"] == "Attested"
    assert fake_billecta.invoices[action_id]["DebtorPublicId"] == ids.debtor_public_id
    assert message == f"Order {ids.order} → Billecta invoice {action_id} (attested)"


@pytest.mark.parametrize("final_attempt", [False, True])
def test_an_order_billecta_refuses_shows_billectas_message_at_once(services: Services, fake_lime: FakeLime,
                                                                  fake_billecta: FakeBillecta,
                                                                  final_attempt: bool) -> None:
    ids = add_order(fake_lime, fake_billecta)
    fake_billecta.fail("create_invoice", FakeBillecta.refusal("InvoiceDate must not be in the past"))

    with pytest.raises(PermanentError, match=f"Billecta refused order {ids.order}: InvoiceDate must not be"):
        upsert_attest_order(services, ids.order, attest=True, final_attempt=final_attempt)

    # A refusal is not retried, so the user is told on the first attempt already.
    assert order_state(fake_lime, ids.order) == ("errorupsert", "InvoiceDate must not be in the past", "")
    assert fake_billecta.invoices == {}


def test_an_invoice_billecta_will_not_attest_shows_errorattest_and_keeps_the_invoice(
        services: Services, fake_lime: FakeLime, fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    fake_billecta.fail("attest_invoice", FakeBillecta.refusal("The debtor has no address", status=409))

    with pytest.raises(PermanentError, match="The debtor has no address"):
        upsert_attest_order(services, ids.order, attest=True, final_attempt=False)

    (action_id,) = fake_billecta.invoices
    assert order_state(fake_lime, ids.order) == ("errorattest", "The debtor has no address", action_id)


def test_an_outage_before_the_last_attempt_leaves_no_error_on_the_order(services: Services, fake_lime: FakeLime,
                                                                       fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    outage = FakeBillecta.outage()
    fake_billecta.fail("create_invoice", outage)

    with pytest.raises(BillectaApiConnectionError) as raised:
        upsert_attest_order(services, ids.order, attest=True, final_attempt=False)

    assert raised.value is outage  # unchanged, so the task retries it
    # A retry is coming, so there is no error to show yet: the order is not written at all.
    assert fake_lime.writes_to("order") == []
    assert order_state(fake_lime, ids.order) == ("created", "", "")


def test_an_outage_on_the_last_attempt_shows_the_error_on_the_order(services: Services, fake_lime: FakeLime,
                                                                   fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    fake_billecta.fail("create_invoice", FakeBillecta.outage())

    with pytest.raises(BillectaApiConnectionError):
        upsert_attest_order(services, ids.order, attest=True, final_attempt=True)

    assert order_state(fake_lime, ids.order) == (
        "errorupsert", "Billecta invoice.create could not connect: connection refused", "")

    # Once Billecta is back, sending the order again attests it and clears the error.
    upsert_attest_order(services, ids.order, attest=True)
    (action_id,) = fake_billecta.invoices
    assert order_state(fake_lime, ids.order) == ("attested", "", action_id)


def test_an_invoice_created_but_whose_answer_was_lost_is_found_again_not_created_twice(
        services: Services, fake_lime: FakeLime, fake_billecta: FakeBillecta, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = add_order(fake_lime, fake_billecta)
    create = fake_billecta.create_invoice

    def created_then_timed_out(entry: dict[str, Any]) -> str:
        create(entry)
        raise FakeBillecta.outage()

    monkeypatch.setattr(fake_billecta, "create_invoice", created_then_timed_out)
    with pytest.raises(BillectaApiConnectionError):
        upsert_attest_order(services, ids.order, attest=True, final_attempt=False)
    monkeypatch.setattr(fake_billecta, "create_invoice", create)

    upsert_attest_order(services, ids.order, attest=True)

    (action_id,) = fake_billecta.invoices  # the debtor gets one invoice, not two
    assert order_state(fake_lime, ids.order) == ("attested", "", action_id)


@pytest.mark.parametrize("status", ["attested", "credited", "cancelled"])
def test_an_order_already_final_is_never_sent_again(services: Services, fake_lime: FakeLime,
                                                    fake_billecta: FakeBillecta, status: str) -> None:
    ids = add_order(fake_lime, fake_billecta, status=status)

    assert upsert_attest_order(services, ids.order, attest=True) == (
        f"Order {ids.order} is already {status}; nothing sent.")
    assert fake_billecta.writes() == [] and fake_lime.writes == []
