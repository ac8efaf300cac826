"""Small conversions shared by the use-cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.lime.values import option_key, relation_id

__all__ = ["as_date", "as_decimal", "iso_day", "option_key", "relation_id", "save_by_external_id", "text"]


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
