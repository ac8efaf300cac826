"""Kronor to öre, exactly, for every amount field of the money commands (property-based)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billecta_sync.errors import InvalidRequest
from billecta_sync.money import MAX_AMOUNT_ORE, iso_date, kronor, swedish_mobile, to_minor_units

ORE = st.integers(min_value=1, max_value=MAX_AMOUNT_ORE // 10)


@given(ORE)
def test_every_two_decimal_amount_sent_as_a_json_float_books_exactly_its_ore(ore: int) -> None:
    as_float = ore / 100  # what a JSON number with two decimals becomes
    assert to_minor_units(as_float, "payment_amount") == ore
    assert to_minor_units(str(kronor(ore)), "payment_amount") == ore  # and as text


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_a_sum_computed_in_floats_books_the_exact_sum(a: int, b: int) -> None:
    # A browser adding two amounts (0.1 + 0.2 = 0.30000000000000004) still books the öre the user meant.
    assert to_minor_units(a / 100 + b / 100, "amount") == a + b


def test_the_classic_float_traps() -> None:
    assert to_minor_units(0.1 + 0.2, "amount") == 30
    assert to_minor_units(0.29, "amount") == 29  # int(0.29 * 100) would be 28
    assert to_minor_units(19.99 * 3, "amount") == 5997


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_ORE), st.integers(min_value=1, max_value=9))
def test_a_third_decimal_is_refused_naming_the_field(ore: int, thousandth: int) -> None:
    value = Decimal(ore) / 100 + Decimal(thousandth) / 1000
    with pytest.raises(InvalidRequest) as refused:
        to_minor_units(str(value), "vat_amount")
    assert refused.value.field == "vat_amount"


@pytest.mark.parametrize("value", [0, 0.0, -5, "-0.01", "abc", None, True, float("nan"), float("inf"), "1e400",
                                   [1], {"v": 1}, 10**11])
def test_nothing_but_a_positive_amount_gets_through(value: object) -> None:
    with pytest.raises(InvalidRequest) as refused:
        to_minor_units(value, "amount")
    assert refused.value.field == "amount" and "amount" in str(refused.value)


def test_dates_and_mobile_numbers() -> None:
    assert iso_date("2025-09-10", "payment_date").isoformat() == "2025-09-10"
    for bad in ("2025-9-10", "10/09/2025", "2025-02-30", 20250910, ""):
        with pytest.raises(InvalidRequest):
            iso_date(bad, "payment_date")
    assert swedish_mobile("+46 70-123 45 67", "phone") == "46701234567"
    assert swedish_mobile("0701234567", "phone") == "46701234567"
    for bad in ("+4681234567", "0812345678", "070123456", "+46 70 123 45 678", "", None):
        with pytest.raises(InvalidRequest):
            swedish_mobile(bad, "phone")
