"""Small conversions shared by the use-cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.billecta.values import major_units
from billecta_sync.lime.values import option_key, relation_id

#: a related object the caller has not read, as opposed to None: read, and there is none
UNREAD: Any = object()

__all__ = ["UNREAD", "as_date", "as_decimal", "differs", "iso_day", "money", "option_key", "relation_id",
           "save_by_external_id", "text"]


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def money(value: Any) -> float:
    """A Billecta Amount in major units, as Lime stores it (0.0 when there is none)."""
    units = major_units(value)
    return float(units) if units is not None else 0.0


def differs(current: Any, wanted: Any) -> bool:
    """Whether the Lime value ``current`` differs from ``wanted``, the value about to be written: options
    compare by key, decimals numerically, yes/no by truth (unset is no), missing text equals ""."""
    if isinstance(current, dict):
        current = option_key(current)
    if isinstance(wanted, float):
        try:
            return abs(float(current or 0) - wanted) > 1e-9
        except (TypeError, ValueError):
            return True
    if isinstance(wanted, bool):
        return bool(current) != wanted
    return (current if current is not None else "") != (wanted if wanted is not None else "")


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


def save_by_external_id(
    view: dict[str, Any], public_id: str, *, id_field: str, external_field: str,
    update: Callable[[dict[str, Any]], None], find: Callable[[str, str], dict[str, Any] | None],
    create: Callable[[dict[str, Any]], str],
) -> str:
    """Update a Billecta object if it still exists, else find it by its external id or create it.

    Idempotent across interrupted attempts: an object created by an earlier try is found again by the
    external id (the Lime id) instead of being created twice. Returns the object's public id.
    """
    if public_id:
        try:
            update({**view, id_field: public_id})
            return public_id
        except BillectaApiNotFoundException:
            pass  # removed in Billecta meanwhile: find or create it again
    existing = find(view["CreditorPublicId"], view[external_field])
    if existing and existing.get(id_field):
        public_id = str(existing[id_field])
        update({**view, id_field: public_id})
        return public_id
    return create(view)
