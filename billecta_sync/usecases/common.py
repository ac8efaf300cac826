"""Small conversions shared by the use-cases."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billecta_sync.lime.values import option_key, relation_id

__all__ = ["as_date", "as_decimal", "iso_day", "option_key", "relation_id", "text"]


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def as_decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default


def as_date(value: Any) -> date | None:
    """A date from a Lime value ('2026-01-31', an ISO datetime) or a Billecta date-time string."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = str(value).strip().replace(" ", "T")
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def iso_day(value: date | None) -> str | None:
    return value.isoformat() if value else None
