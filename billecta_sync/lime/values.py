"""Normalising Lime values: REST and webhooks represent options and relations differently.

REST reads options as ``{"id", "key", "text"}`` and relations as integer ids; webhook payloads carry
bare option keys. These helpers accept every form so the rest of the code sees one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["TEXT_PROPERTY_TYPES", "blank_text_nulls", "option_key", "relation_id", "to_decimal"]

# Property types that Lime refuses null for; a cleared value must be sent as "".
TEXT_PROPERTY_TYPES = frozenset({"string", "text", "phone", "link"})


def option_key(value: Any) -> str | None:
    """Key of an option given as ``{"key": ...}``, a bare key string, or None/empty."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        key = value.get("key")
        return str(key) if key not in (None, "") else None
    if isinstance(value, str):
        return value or None
    raise TypeError(f"cannot read an option key from {type(value).__name__}")


def relation_id(value: Any) -> int | None:
    """Id of a related object given as an int, a numeric string, ``{"_id"|"id": ...}``, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a relation id")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        raise ValueError(f"not a relation id: {value!r}")
    if isinstance(value, Mapping):
        for key in ("_id", "id"):
            if value.get(key) not in (None, ""):
                return relation_id(value[key])
        return None
    raise TypeError(f"cannot read a relation id from {type(value).__name__}")


def to_decimal(value: Any) -> Decimal | None:
    """A Decimal from Lime's decimal values (numbers, numeric strings, decimal comma); None if empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # via repr so 0.1 does not become 0.1000000000000000055...
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if not text:
            return None
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return result
    raise TypeError(f"cannot read a number from {type(value).__name__}")


def blank_text_nulls(values: Mapping[str, Any], text_properties: Iterable[str]) -> dict[str, Any]:
    """Copy of ``values`` with None replaced by "" for the given text properties."""
    text = set(text_properties)
    return {k: ("" if v is None and k in text else v) for k, v in values.items()}
