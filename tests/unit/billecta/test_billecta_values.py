"""Billecta wire-format helpers: amounts, dates, enums (checked against the schemas)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path

import pytest

from billecta_sync.billecta import values as v

SCHEMAS = Path(__file__).resolve().parents[3] / "sandbox" / "billecta" / "schemas"


@pytest.mark.parametrize(
    ("major", "minor"),
    [
        (125.5, 12550),
        ("125,50", 12550),
        (Decimal("0.005"), 1),  # half-up, not banker's rounding
        (Decimal("0.004"), 0),
        (2.675, 268),  # a float that is 2.67499999... in binary still rounds as written
        (-1.005, -101),
        (0, 0),
        (1000000, 100000000),
        ("1 234,5", 123450),
    ],
)
def test_amount_minor_units(major: object, minor: int) -> None:
    assert v.amount(major) == {"CurrencyCode": "SEK", "Value": minor}  # type: ignore[arg-type]


def test_amount_edge_cases() -> None:
    assert v.amount(None) is None
    assert v.amount("") is None
    assert v.amount(10, "EUR") == {"CurrencyCode": "EUR", "Value": 1000}
    with pytest.raises(TypeError):
        v.amount(True)
    with pytest.raises(ValueError):
        v.amount("ten")
    with pytest.raises(ValueError):
        v.amount("NaN")


def test_major_units() -> None:
    assert v.major_units({"CurrencyCode": "SEK", "Value": 12550, "ValueForView": 125.5}) == Decimal("125.50")
    assert v.major_units({"Value": -1}) == Decimal("-0.01")
    assert v.major_units(None) is None
    assert v.major_units({"CurrencyCode": "SEK", "Value": None}) is None
    assert v.major_units(v.amount("99.99")) == Decimal("99.99")


def test_format_dates() -> None:
    assert v.format_date(date(2024, 5, 1)) == "2024-05-01T00:00:00"
    assert v.format_date(datetime(2024, 5, 1, 13, 5)) == "2024-05-01T00:00:00"
    assert v.format_query_date(date(2024, 12, 31)) == "2024-12-31"
    tz = timezone(timedelta(hours=2))
    assert v.format_datetime(datetime(2024, 5, 1, 8, 30, 15, 999, tzinfo=tz)) == "2024-05-01T08:30:15+02:00"
    assert v.format_datetime(datetime(2024, 5, 1, 8, 30)) == "2024-05-01T08:30:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-06-10 12:45:57+0200", datetime(2018, 6, 10, 12, 45, 57, tzinfo=timezone(timedelta(hours=2)))),
        ("2017-09-19 00:00:00+02:00", datetime(2017, 9, 19, tzinfo=timezone(timedelta(hours=2)))),
        ("2017-09-05 04:13:42", datetime(2017, 9, 5, 4, 13, 42)),
        ("2024-05-01T10:00:00.1234567Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2023-06-21T10:28:16.963000+02:00",
         datetime(2023, 6, 21, 10, 28, 16, 963000, tzinfo=timezone(timedelta(hours=2)))),
        ("2024-05-01", datetime(2024, 5, 1)),
        ("2024-05-01T07:30", datetime(2024, 5, 1, 7, 30)),
        ("2024-01-01T00:00:00-05", datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))),
    ],
)
def test_parse_datetime_is_lenient(text: str, expected: datetime) -> None:
    assert v.parse_datetime(text) == expected
    assert v.parse_datetime(text).tzinfo == expected.tzinfo  # type: ignore[union-attr]


def test_parse_edge_cases() -> None:
    assert v.parse_datetime(None) is None
    assert v.parse_datetime("  ") is None
    assert v.parse_date("2024-05-01T23:30:00+02:00") == date(2024, 5, 1)
    with pytest.raises(ValueError, match="not an ISO"):
        v.parse_datetime("01/05/2024")


def test_enum_name_and_code() -> None:
    stage = v.InvoiceActionStageType
    assert v.enum_name(13, stage) == "Attested"
    assert v.enum_name("13", stage) == "Attested"
    assert v.enum_name("attested", stage) == "Attested"
    assert v.enum_name("None", stage) == "None"
    assert v.enum_name(stage["Completed"], stage) == "Completed"
    assert v.enum_name(None, stage) is None
    assert v.enum_code("SentToDebtCollection", stage) == 16
    assert v.enum_code("Email", v.DeliveryMethodType) == 0
    assert v.enum_name(-1, v.DebtorType) == "Undefined"
    with pytest.raises(ValueError, match="not a InvoiceActionStageType code"):
        v.enum_name(3, stage)
    with pytest.raises(ValueError, match="known"):
        v.enum_name("Teleported", stage)
    assert v.enum_name("Teleported", stage, default="Unknown") == "Unknown"
    with pytest.raises(TypeError):
        v.enum_name(True, stage)


def _schema_enums() -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for path in SCHEMAS.glob("*.json"):
        for name, node in (json.loads(path.read_text()).get("definitions") or {}).items():
            if "x-enumNames" in node:
                found.setdefault(name, dict(zip(node["x-enumNames"], node["enum"], strict=True)))
    return found


ENUMS = [
    "InvoiceActionStageType", "DebtCollectionActionStageType", "DebtCollectionActionLevelType", "DeliveryMethodType",
    "LanguageType", "DebtorType", "ProductType", "RecordType", "InterestType", "DiscountType", "ActionType",
    "CommentTargetType", "RegisterPaymentOverShootingAmountHandlingType", "UnhandledPaymentType",
    "UnhandledPaymentStateType", "SwishStatusType", "EventType",
]


@pytest.mark.parametrize("name", ENUMS)
def test_enums_agree_with_schemas(name: str) -> None:
    schema = _schema_enums()[f"{name}View"]
    ours: type[Enum] = getattr(v, name)
    for member in ours:
        assert schema.get(member.name) == member.value, f"{name}.{member.name}"
    if name != "EventType":  # EventType is a deliberate subset
        assert {m.name for m in ours} == set(schema)
