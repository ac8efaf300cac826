"""Amounts from Lime commands into Billecta's minor units (öre), exactly.

Lime sends kronor as JSON numbers, which arrive as binary floats: ``0.1 + 0.2`` computed in a browser is
``0.30000000000000004``, and ``int(0.29 * 100)`` is 28. Amounts are therefore read through their decimal
text, never multiplied as floats: a value with at most two decimals (allowing only the noise a float sum
leaves far below one öre) becomes that exact number of öre; anything finer, negative, zero (where a
positive amount is asked for) or absurdly large is refused naming the field.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from billecta_sync.errors import InvalidRequest

ORE = Decimal("0.01")
# What float arithmetic on two-decimal amounts leaves behind grows with the amount (a double holds ~16
# digits): allow an absolute floor plus a relative part — at the largest amount still a hundredth of an öre,
# so a real third decimal is always refused.
FLOAT_NOISE = Decimal("1e-9")
RELATIVE_NOISE = Decimal("1e-14")
MAX_AMOUNT_ORE = 10**12  # 10 000 000 000 kr: larger is a typo, not an invoice
CURRENCY = re.compile(r"^[A-Z]{3}$")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Swedish mobile numbers: 07x xxx xx xx, or +46 7x xxx xx xx / 0046...
_MOBILE = re.compile(r"^(?:\+46|0046|46|0)(7[02369]\d{7})$")


def to_minor_units(value: Any, field: str, *, positive: bool = True) -> int:
    """Kronor (a JSON number or a numeric string) as whole öre; ``InvalidRequest`` naming ``field`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidRequest(f"{field} must be an amount, e.g. 1250.50", field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidRequest(f"{field} must be an amount, e.g. 1250.50", field) from None
    if not number.is_finite():
        raise InvalidRequest(f"{field} must be a finite amount", field)
    if abs(number) > Decimal(MAX_AMOUNT_ORE) / 100:
        raise InvalidRequest(f"{field} is larger than any invoice", field)
    rounded = number.quantize(ORE, rounding=ROUND_HALF_EVEN)
    if abs(number - rounded) > FLOAT_NOISE + abs(number) * RELATIVE_NOISE:
        raise InvalidRequest(f"{field} must have at most two decimals (öre), got {value}", field)
    ore = int(rounded * 100)
    if positive and ore <= 0:
        raise InvalidRequest(f"{field} must be more than 0", field)
    if ore < 0:
        raise InvalidRequest(f"{field} must not be negative", field)
    if ore > MAX_AMOUNT_ORE:
        raise InvalidRequest(f"{field} is larger than any invoice", field)
    return ore


def kronor(ore: int) -> Decimal:
    return (Decimal(ore) / 100).quantize(ORE)


def currency_code(value: Any, field: str) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value.strip().upper()):
        raise InvalidRequest(f"{field} must be a three-letter currency code such as SEK", field)
    return value.strip().upper()


def iso_date(value: Any, field: str) -> date:
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{field} must be a date as YYYY-MM-DD, got {value!r}", field) from None


def swedish_mobile(value: Any, field: str) -> str:
    """The number as Swish wants it (46 7x…), from the ways Swedes write it; ``InvalidRequest`` otherwise."""
    digits = re.sub(r"[\s\-()]", "", value) if isinstance(value, str) else ""
    found = _MOBILE.match(digits)
    if not found:
        raise InvalidRequest(f"{field} must be a Swedish mobile number such as +46701234567", field)
    return "46" + found.group(1)
