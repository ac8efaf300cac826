"""Checking a request against the JSON Schema its route declares, answering 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from webhook_gateway.errors import ApiError

_TYPES = {"integer": "an integer", "string": "a string", "object": "an object", "array": "a list",
          "boolean": "true or false", "number": "a number"}


def _field(error: ValidationError, prefix: str) -> str:
    path = [str(p) for p in error.absolute_path]
    return prefix + ".".join(path) if path else prefix.rstrip(".")


def _message(error: ValidationError, name: str) -> str:
    schema, value = error.schema, error.validator_value
    if error.validator == "type":
        return f"{name} must be {_TYPES.get(str(value), value)}"
    if error.validator == "minimum":
        return f"{name} must be at least {value}"
    if error.validator == "exclusiveMinimum":
        return f"{name} must be more than {value}"
    if error.validator == "maximum":
        return f"{name} must be at most {value}"
    if error.validator in ("minLength", "pattern") and schema.get("type") == "string":
        limit = schema.get("maxLength")
        suffix = f" of at most {limit} characters" if limit else ""
        return f"{name} must be a non-empty string{suffix}" if schema.get("minLength") else f"{name} is malformed"
    if error.validator == "maxLength":
        return f"{name} must be at most {value} characters"
    if error.validator == "enum":
        return f"{name} must be one of {', '.join(map(str, value))}"
    return f"{name}: {error.message}"


def check(values: Mapping[str, Any], schema: Mapping[str, Any], *, prefix: str = "", error: str = "invalid_body",
          **extra: Any) -> None:
    """Raise a 400 for the first problem of ``values``: unknown fields, then missing ones, then bad values."""
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(values) - set(properties))
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", error=error, field=unknown[0], **extra)
    for name in schema.get("required", []):
        if name not in values:
            raise ApiError(400, f"{prefix}{name} is required", error=error, field=prefix + name, **extra)
    problems = sorted(Draft202012Validator(schema).iter_errors(values), key=lambda e: list(e.absolute_path))
    if problems:
        name = _field(problems[0], prefix)
        raise ApiError(400, _message(problems[0], name), error=error, field=name, **extra)
