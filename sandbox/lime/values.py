"""Conversion of property values between Lime's wire forms and the Python values the store keeps.

Lime shows the same value differently depending on where it appears: REST reads give options as
``{id, key, text}``, the query API as ``{key, text}`` and webhooks as the bare key. The store keeps
the plain form (option key, relation id, ``date``, naive UTC ``datetime``) and this module renders it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.lime.datamodel import SYSTEM_FIELDS, LimeType, Property

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ValidationError(ValueError):
    """A request value that Lime would refuse with 400."""


def utcnow() -> datetime:
    # Stored naive in UTC: SQLite has no time zones and this keeps comparisons plain.
    return datetime.now(UTC).replace(tzinfo=None)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat(timespec="microseconds")


def parse_time(raw: Any, what: str) -> datetime:
    if not isinstance(raw, str):
        raise ValidationError(f"{what}: expected an ISO 8601 datetime string, got {type(raw).__name__}")
    try:
        parsed = datetime.fromisoformat(raw.strip().upper())  # upper(): accept "t"/"z" too
    except ValueError:
        raise ValidationError(f"{what}: {raw!r} is not an ISO 8601 datetime") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_date(raw: Any, what: str) -> date:
    if not isinstance(raw, str) or not _DATE_RE.match(raw):
        raise ValidationError(f"{what}: expected a date as 'YYYY-MM-DD', got {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{what}: {raw!r} is not a valid date") from None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def default_value(prop: Property) -> Any:
    """The value a property gets when a create leaves it out."""
    if prop.type in ("string", "text"):
        return ""  # Lime never stores null text
    if prop.type == "yesno":
        return False
    if prop.type == "option":
        opt = prop.default_option
        return opt.key if opt else None
    return None


def coerce_write(lt: LimeType, prop: Property, value: Any) -> Any:
    """Validate a value written through the REST API and turn it into its stored form."""
    what = f"{lt.name}.{prop.name}"
    kind = prop.type
    if kind in ("string", "text"):
        if value is None:
            raise ValidationError(f'{what}: null is not allowed for {kind} properties; send "" to clear it')
        if not isinstance(value, str):
            raise ValidationError(f"{what}: expected a string, got {_type_name(value)}")
        return value
    if kind == "yesno":
        if not isinstance(value, bool):
            raise ValidationError(f"{what}: expected true or false, got {_type_name(value)}")
        return value
    if kind == "option":
        return _coerce_option(what, prop, value)
    if value is None:
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{what}: expected an integer, got {_type_name(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(f"{what}: expected an integer, got {value}")
        return int(value)
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{what}: expected a number, got {_type_name(value)}")
        return float(value)
    if kind == "date":
        return parse_date(value, what)
    if kind == "time":
        return parse_time(value, what)
    if kind in ("belongsto", "file"):
        if isinstance(value, bool) or not isinstance(value, int):
            noun = f"{prop.related} id" if kind == "belongsto" else "file id"
            raise ValidationError(f"{what}: expected an integer {noun} or null, got {_type_name(value)}")
        return value
    raise ValidationError(f"{what}: unsupported property type {kind}")  # pragma: no cover - model is checked


def _coerce_option(what: str, prop: Property, value: Any) -> str:
    if isinstance(value, dict):
        # A value read back from the API ({id, key, text}) may be written back as it is.
        if isinstance(value.get("key"), str):
            value = value["key"]
        elif isinstance(value.get("id"), int) and not isinstance(value.get("id"), bool):
            opt = prop.option_by_id(value["id"])
            if opt is None:
                raise ValidationError(f"{what}: unknown option id {value['id']}")
            return opt.key
    if not isinstance(value, str):
        raise ValidationError(f"{what}: expected an option key string, got {_type_name(value)}")
    if prop.option_by_key(value) is None:
        keys = ", ".join(o.key for o in prop.options)
        raise ValidationError(f"{what}: unknown option key {value!r}; valid keys: {keys}")
    return value


def coerce_filter(lt: LimeType, prop: Property | None, name: str, value: Any) -> Any:
    """Turn a JSON filter operand (query API) into the stored form; None stays None (null test)."""
    what = f"{lt.name}.{name}"
    if value is None:
        return None
    kind = prop.type if prop is not None else SYSTEM_FIELDS.get(name, "integer")
    if kind in ("string", "text"):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(f"{what}: expected a string to compare with, got {_type_name(value)}")
        return str(value)
    if kind == "option":
        assert prop is not None
        return _coerce_option(what, prop, value)
    if kind == "yesno":
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        raise ValidationError(f"{what}: expected true or false, got {value!r}")
    if kind == "integer" or kind in ("belongsto", "file"):
        if isinstance(value, dict) and "id" in value:
            value = value["id"]  # a relation written as an object
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{what}: expected an integer, got {_type_name(value)}")
        return value
    if kind == "decimal":
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ValidationError(f"{what}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{what}: expected a number, got {_type_name(value)}")
        return float(value)
    if kind == "date":
        if isinstance(value, str) and not _DATE_RE.match(value):
            return parse_time(value, what).date()  # a datetime compared with a date: use its day
        return parse_date(value, what)
    if kind == "time":
        return parse_time(value, what)
    raise ValidationError(f"{what}: cannot filter on this property")


def parse_param(lt: LimeType, prop: Property | None, name: str, raw: str) -> Any:
    """Turn a URL query-string value (limeobject list filters) into the stored form."""
    kind = prop.type if prop is not None else SYSTEM_FIELDS.get(name, "integer")
    if raw.lower() == "null" and kind not in ("string", "text"):
        return None
    if kind == "yesno":
        lowered = raw.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValidationError(f"{lt.name}.{name}: expected true or false, got {raw!r}")
    return coerce_filter(lt, prop, name, raw)


# --- rendering ------------------------------------------------------------------------------------


def _plain(prop_type: str, value: Any) -> Any:
    if value is None:
        return None
    if prop_type == "date":
        return value.isoformat()
    if prop_type == "time":
        return format_time(value)
    if prop_type == "decimal":
        return float(value)
    return value


def descriptive(lt: LimeType, row: dict[str, Any]) -> str:
    parts = [str(row.get(name) or "").strip() for name in lt.descriptive]
    text = " ".join(p for p in parts if p)
    return text or f"{lt.singular} {row['_id']}"


def rest_value(prop: Property, value: Any) -> Any:
    if prop.type == "option":
        opt = prop.option_by_key(value) if value is not None else None
        return {"id": opt.id, "key": opt.key, "text": opt.text} if opt else None
    return _plain(prop.type, value)


def query_value(prop: Property, value: Any) -> Any:
    if prop.type == "option":
        opt = prop.option_by_key(value) if value is not None else None
        return {"key": opt.key, "text": opt.text} if opt else None
    return _plain(prop.type, value)


def system_value(name: str, row: dict[str, Any], lt: LimeType) -> Any:
    if name == "_descriptive":
        return descriptive(lt, row)
    return _plain(SYSTEM_FIELDS[name], row.get(name))


def webhook_value(prop: Property, value: Any) -> Any:
    return _plain(prop.type, value)


def webhook_values(lt: LimeType, row: dict[str, Any]) -> dict[str, Any]:
    """All values in webhook form: bare option keys, relation ids, system fields without underscore."""
    values: dict[str, Any] = {
        "id": row["_id"],
        "timestamp": format_time(row["_timestamp"]),
        "createdtime": format_time(row["_createdtime"]),
        "createduser": row["_createduser"],
        "updateduser": row["_updateduser"],
    }
    for prop in lt.properties:
        values[prop.name] = _plain(prop.type, row.get(prop.name))
    return values


def bump(previous: datetime | None) -> datetime:
    """A fresh ``_timestamp`` that is strictly later than ``previous`` (keeps watermark syncs exact)."""
    now = utcnow()
    if previous is not None and now <= previous:
        now = previous + timedelta(microseconds=1)
    return now
