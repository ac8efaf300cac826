"""The Billecta wire contract (schemas -> validators) and the sandbox's pure helpers."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.billecta import contract
from sandbox.billecta.__main__ import build_parser, config_from_args
from sandbox.billecta.app import DEFAULT_AUTHORIZATION, BillectaSandboxConfig, parse_headers
from sandbox.billecta.state import luhn_check_digit, luhn_valid, price_records

GUID = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"


def test_known_views() -> None:
    assert contract.is_known("InvoiceActionEntryView")
    assert not contract.is_known("NoSuchView")
    assert not contract.is_known("../README")  # names are never paths
    assert "DebtorView" in contract.known_views()
    assert contract.validate("NoSuchView", {}) == ["unknown view model 'NoSuchView'"]


@pytest.mark.parametrize("value", ["Email", 0, "Mail", 1, "Kivra", -1])
def test_enum_accepts_names_and_codes(value: object) -> None:
    assert contract.validate("InvoiceActionEntryView", {"DeliveryMethod": value}) == []


@pytest.mark.parametrize("value", ["email", "Fax", 9, True, 1.0])
def test_enum_rejects_other_values(value: object) -> None:
    problems = contract.validate("InvoiceActionEntryView", {"DeliveryMethod": value})
    assert len(problems) >= 1 and all(p.startswith("$.DeliveryMethod:") for p in problems)


def test_enum_message_lists_the_names() -> None:
    (problem,) = contract.validate("DebtorView", {"DebtorType": "Firm"})
    assert problem == "$.DebtorType: 'Firm' is not a valid DebtorTypeView (expected one of Private, Company, Undefined)"


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01",
        "2024-05-01T00:00:00",
        "2024-05-01T12:30:00+02:00",
        "2024-05-01T12:30:00Z",
        "2024-05-01T12:30:00.1234567",
        "2024-05-01 12:45:57+0200",
        "2017-09-19 00:00:00+02:00",
        "2017-09-05 04:13:42",
    ],
)
def test_lenient_date_time_accepted(value: str) -> None:
    assert contract.validate("InvoiceActionEntryView", {"InvoiceDate": value}) == []
    assert contract.parse_datetime(value) is not None


@pytest.mark.parametrize("value", ["2024-13-01", "01/05/2024", "2024-05-01T25:00:00", "yesterday", ""])
def test_bad_date_time_rejected(value: str) -> None:
    assert contract.validate("InvoiceActionEntryView", {"InvoiceDate": value}) == [
        f"$.InvoiceDate: {value!r} is not a valid date-time"
    ]


def test_guid_format() -> None:
    assert contract.validate("DebtorView", {"CreditorPublicId": GUID}) == []
    assert contract.validate("DebtorView", {"CreditorPublicId": "123"}) == [
        "$.CreditorPublicId: '123' is not a valid guid"
    ]


def test_errors_carry_json_paths_into_nested_amounts() -> None:
    body = {"Records": [{"UnitPrice": {"CurrencyCode": "SEK", "Value": 12.5}}, {"Quantity": "2"}]}
    assert contract.validate("InvoiceActionEntryView", body) == [
        "$.Records[0].UnitPrice.Value: expected integer, got number",
        "$.Records[1].Quantity: expected null or number, got string",
    ]


def test_unknown_fields_are_named() -> None:
    assert contract.validate("ProductView", {"Description": "x", "Price": 1}) == ["$.Price: unknown field"]


def test_paged_list_views_are_arrays() -> None:
    assert contract.validate("DebtorsView", [{"Name": "Kund AB", "CreditorPublicId": GUID}]) == []
    assert contract.validate("DebtorsView", {"Total": 0}) == ["$: expected array, got object"]
    assert contract.validate("InvoiceActionSubsView", [{"Stage": "InvoiceSent"}]) == []
    assert contract.validate("InvoiceActionSubsView", [{"Stage": "Sent"}]) != []


def test_to_enum_names_rewrites_codes_deeply() -> None:
    body: dict[str, Any] = {
        "DeliveryMethod": 1,
        "InterestType": 2,
        "Records": [{"RecordType": 1, "DiscountType": 1, "Quantity": 1}],
        "OurReference": "1",
    }
    assert contract.to_enum_names("InvoiceActionEntryView", body) == {
        "DeliveryMethod": "Mail",
        "InterestType": "NoInterest",
        "Records": [{"RecordType": "Message", "DiscountType": "Percentage", "Quantity": 1}],
        "OurReference": "1",
    }
    assert body["DeliveryMethod"] == 1  # the input is not modified


def test_enum_members_and_defaults() -> None:
    stages = contract.enum_members("InvoiceActionView", "InvoiceActionStageTypeView")
    assert (stages["Created"], stages["Attested"], stages["InvoiceSent"], stages["Completed"]) == (1, 13, 12, 6)
    defaults = contract.defaults("InvoiceActionEntryView")
    assert defaults["DeliveryMethod"] == "Email" and defaults["Records"] is None and defaults["IsLocked"] is False
    assert "CreditorPublicId" not in defaults  # non-null ids have no default
    assert contract.defaults("InvoiceActionView", "InvoiceActionRecordView")["RecordType"] == "Standard"


def test_luhn() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert luhn_check_digit("1001") == "7" and luhn_valid("10017")


def test_pricing_in_minor_units() -> None:
    entry = {
        "Records": [
            {"UnitPrice": {"CurrencyCode": "SEK", "Value": 10000}, "Quantity": 2, "VAT": 25},
            {"UnitPrice": {"CurrencyCode": "SEK", "Value": 12500}, "Quantity": 1, "VAT": 25, "VatIsIncluded": True},
            {"UnitPrice": {"Value": 5000}, "Quantity": 1, "VAT": 6, "DiscountType": "Amount",
             "DiscountAmount": {"Value": 1000}},
            {"RecordType": "Message", "ArticleDescription": "Hej"},
        ],
        "InvoiceFee": {"CurrencyCode": "SEK", "Value": 2900},
    }
    totals = price_records(entry)
    assert [r["TotalIncVAT"]["Value"] if r["TotalIncVAT"] else None for r in totals.records] == [
        25000, 12500, 4240, None,
    ]
    assert totals.records[1]["TotalExclVAT"]["Value"] == 10000
    assert totals.records[2]["TotalExclVATNoDiscount"]["Value"] == 5000
    assert totals.vat == 5000 + 2500 + 240
    assert totals.invoiced == 25000 + 12500 + 4240 + 2900
    rounded = price_records({"Records": [{"UnitPrice": {"Value": 1030}, "Quantity": 1, "VAT": 25}]}, True)
    assert (rounded.net_incl_vat, rounded.cent_rounding, rounded.invoiced) == (1288, 12, 1300)


def test_pricing_refuses_mixed_currencies() -> None:
    from sandbox.billecta.state import BillectaError

    entry = {"Records": [{"UnitPrice": {"CurrencyCode": "SEK", "Value": 1}, "Quantity": 1},
                         {"UnitPrice": {"CurrencyCode": "EUR", "Value": 1}, "Quantity": 1}]}
    with pytest.raises(BillectaError, match="same currency"):
        price_records(entry)


def test_config_from_env() -> None:
    config = BillectaSandboxConfig.from_env(
        {
            "BILLECTA_SANDBOX_WEBHOOK_URL": "http://gw/hooks/billecta",
            "BILLECTA_SANDBOX_WEBHOOK_HEADERS": "X-API-Key: dev-webhook-key; X-Other: a:b",
            "BILLECTA_SANDBOX_WEBHOOK_STYLE": "nested",
            "BILLECTA_SANDBOX_AUTO_SEND_DELAY_S": "-1",
            "BILLECTA_SANDBOX_LATENCY_MS": "25",
            "BILLECTA_SANDBOX_RATE_LIMIT_PER_S": "10",
            "BILLECTA_SANDBOX_WEBHOOK_MAX_ATTEMPTS": "3",
        }
    )
    assert config.webhook_url == "http://gw/hooks/billecta"
    assert config.webhook_headers == {"X-API-Key": "dev-webhook-key", "X-Other": "a:b"}
    assert config.webhook_payload_style == "nested"
    assert config.auto_send_delay_s == -1.0 and config.webhook_max_attempts == 3
    assert (config.knobs.latency_ms, config.knobs.rate_limit_per_s) == (25.0, 10.0)
    assert config.accepted_authorizations == [DEFAULT_AUTHORIZATION]
    with pytest.raises(ValueError, match="webhook_payload_style"):
        BillectaSandboxConfig.from_env({"BILLECTA_SANDBOX_WEBHOOK_STYLE": "xml"})


def test_parse_headers_json() -> None:
    assert parse_headers('{"Authorization": "Bearer x"}') == {"Authorization": "Bearer x"}
    with pytest.raises(ValueError):
        parse_headers("no colon here")


def test_cli_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLECTA_SANDBOX_WEBHOOK_URL", raising=False)
    args = build_parser().parse_args(
        ["--port", "8111", "--webhook-url", "http://127.0.0.1:9/h", "--webhook-header", "X-API-Key: k1",
         "--latency-ms", "5", "--error-rate", "0.1", "--auto-send-delay-s", "0.5"]
    )
    config = config_from_args(args)
    assert args.port == 8111
    assert config.webhook_url == "http://127.0.0.1:9/h" and config.webhook_headers == {"X-API-Key": "k1"}
    assert (config.knobs.latency_ms, config.knobs.error_rate, config.auto_send_delay_s) == (5.0, 0.1, 0.5)
