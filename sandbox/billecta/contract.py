"""Billecta's wire contract: the view-model JSON Schemas in ``schemas/`` turned into validators.

Used by the sandbox (to check every request body and every response it produces) and by tests (to
check what our client sends). Two adjustments are made to the scraped draft-04 schemas:

* Enums are integer codes with ``x-enumNames``; Billecta exchanges the *names* as strings, so either
  form is accepted. :func:`to_enum_names` rewrites codes to names so the sandbox always answers in
  the name form.
* The paged list views (``DebtorsView``, ``InvoiceActionSubsView``, ...) are written as
  ``allOf: [array, object-with-paging-fields]``. No JSON value can be both, so they are read as the
  array branch: a .NET list subclass serialises as a plain JSON array and drops the paging fields.

Formats: ``guid`` and a lenient ``date-time`` (Billecta and its clients use several date shapes) are
checked; ``int32``/``int64``/``double``/``byte`` are informational only.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Date, optionally followed by a time ("T" or a space), fraction and offset ("Z", +02:00 or +0200).
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?\s?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)

_FORMAT_CHECKER = FormatChecker(formats=())


@_FORMAT_CHECKER.checks("guid")
def _is_guid(value: object) -> bool:
    # Formats only constrain strings; other types are the "type" keyword's business.
    return not isinstance(value, str) or bool(_GUID_RE.match(value))


@_FORMAT_CHECKER.checks("date-time")
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or parse_datetime(value) is not None


def parse_datetime(value: str) -> datetime | None:
    """Parse any date shape the contract accepts; ``None`` when it is not one of them."""
    match = _DATETIME_RE.match(value.strip())
    if not match:
        return None
    try:
        date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if match.group(4) is not None:
            hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6) or 0)
            if hour > 23 or minute > 59 or second > 59:
                return None
        text = value.strip().replace(" ", "T", 1).replace(" ", "")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        # fromisoformat (3.11) understands +0200 and up to 6 fraction digits; .NET sends up to 7.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _load_raw(view_name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{view_name}.json"
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _adapt(node: Any, name: str | None = None) -> Any:
    """Return a copy of a schema node with the two contract adjustments applied (see module doc)."""
    if isinstance(node, list):
        return [_adapt(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "x-enumNames" in node and node.get("type") == "integer":
        out = {k: v for k, v in node.items() if k not in ("type", "enum")}
        out["type"] = ["integer", "string"]
        out["enum"] = list(node["enum"]) + list(node["x-enumNames"])
        out["x-enumCodes"] = list(node["enum"])
        out["x-enumType"] = name or "enum"
        return out
    members = node.get("allOf")
    if isinstance(members, list):
        arrays = [m for m in members if isinstance(m, dict) and m.get("type") == "array"]
        if len(arrays) == 1 and all(m is arrays[0] or m.get("type") == "object" for m in members):
            out = {k: _adapt(v) for k, v in node.items() if k != "allOf"}
            out.update(_adapt(arrays[0]))
            return out
    out = {}
    for key, value in node.items():
        if key == "definitions" and isinstance(value, dict):
            out[key] = {def_name: _adapt(defn, def_name) for def_name, defn in value.items()}
        else:
            out[key] = _adapt(value)
    return out


def known_views() -> list[str]:
    """Names of all view models in the contract (file names without ``.json``)."""
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


def is_known(view_name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9]+", view_name)) and (SCHEMA_DIR / f"{view_name}.json").is_file()


@cache
def schema(view_name: str) -> dict[str, Any]:
    """The adapted schema of ``view_name`` (shared; do not mutate)."""
    if not is_known(view_name):
        raise KeyError(f"unknown Billecta view model {view_name!r}")
    return _adapt(_load_raw(view_name))


def _for_speed(node: Any, root: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Same meaning, cheaper to evaluate: internal $refs inlined and ``oneOf: [null, X]`` as anyOf.

    The two branches of ``[null, X]`` never overlap, so anyOf (which stops at the first match) says
    the same as oneOf (which always tries both). Validating every sandbox answer made this matter.
    """
    if isinstance(node, list):
        return [_for_speed(item, root, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.removeprefix("#/definitions/")
        if name in seen:  # a recursive definition stays a reference
            return node
        return _for_speed(root["definitions"][name], root, (*seen, name))
    out = {k: _for_speed(v, root, seen) for k, v in node.items() if k != "definitions" or not seen}
    branches = out.get("oneOf")
    if isinstance(branches, list) and (len(branches) == 1 or (len(branches) == 2 and {"type": "null"} in branches)):
        out["anyOf"] = out.pop("oneOf")
    return out


@cache
def _validator(view_name: str) -> Draft4Validator:
    root = schema(view_name)
    return Draft4Validator(_for_speed(root, root), format_checker=_FORMAT_CHECKER)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _path(parts: Iterable[str | int]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _messages(error: ValidationError) -> list[str]:
    """Readable messages for one error, descending into oneOf branches to the actual problem."""
    if error.context:
        # Skip the "not null" complaints of ``oneOf: [null, X]``: the X branch says what is wrong.
        subs = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        if subs:
            out: list[str] = []
            for sub in subs:
                out.extend(_messages(sub))
            return out
    where = _path(error.absolute_path)
    sch = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [f"{where}: expected {' or '.join(map(str, expected))}, got {_json_type(error.instance)}"]
    if error.validator == "enum" and "x-enumNames" in sch:
        names = ", ".join(sch["x-enumNames"])
        return [f"{where}: {error.instance!r} is not a valid {sch.get('x-enumType', 'enum')} (expected one of {names})"]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(sch.get("properties", {}))
        extras = sorted(k for k in error.instance if k not in allowed)
        return [f"{_path([*error.absolute_path, k])}: unknown field" for k in extras]
    if error.validator == "format":
        return [f"{where}: {error.instance!r} is not a valid {error.validator_value}"]
    return [f"{where}: {error.message}"]


def validate(view_name: str, body: object) -> list[str]:
    """Check ``body`` against view model ``view_name``; returns error messages (empty = valid)."""
    if not is_known(view_name):
        return [f"unknown view model {view_name!r}"]
    errors = sorted(_validator(view_name).iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    messages: list[str] = []
    for error in errors:
        for message in _messages(error):
            if message not in messages:
                messages.append(message)
    return messages


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        if not ref.startswith("#/definitions/"):
            break
        node = root.get("definitions", {}).get(ref.removeprefix("#/definitions/"), {})
    return node


def _to_names(node: Any, value: Any, root: dict[str, Any]) -> Any:
    node = _resolve(node, root)
    if not isinstance(node, dict) or value is None:
        return value
    if "x-enumCodes" in node and isinstance(value, int) and not isinstance(value, bool):
        codes: list[int] = node["x-enumCodes"]
        return node["x-enumNames"][codes.index(value)] if value in codes else value
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key, []):
            resolved = _resolve(branch, root)
            if isinstance(resolved, dict) and resolved.get("type") != "null":
                value = _to_names(resolved, value, root)
    if isinstance(value, dict) and isinstance(node.get("properties"), dict):
        props: dict[str, Any] = node["properties"]
        return {k: _to_names(props[k], v, root) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_to_names(node["items"], item, root) for item in value]
    return value


def to_enum_names(view_name: str, body: Any) -> Any:
    """Copy of ``body`` with every integer enum code replaced by its name (the form Billecta sends)."""
    root = schema(view_name)
    return _to_names(root, copy.deepcopy(body), root)


def enum_members(view_name: str, enum_type: str) -> dict[str, int]:
    """Name -> code of enum definition ``enum_type`` (e.g. ``InvoiceActionStageTypeView``) in a view."""
    node = schema(view_name).get("definitions", {}).get(enum_type)
    if not isinstance(node, dict) or "x-enumCodes" not in node:
        raise KeyError(f"{view_name} has no enum {enum_type!r}")
    return dict(zip(node["x-enumNames"], node["x-enumCodes"], strict=True))


def defaults(view_name: str, definition: str | None = None) -> dict[str, Any]:
    """Fields of an object view model (or of one of its definitions) with the value .NET would
    serialise when unset.

    Nullable fields are null, booleans false, numbers 0 and enums the name of code 0 (default(enum)).
    Non-nullable strings (ids, dates) have no sensible default and are left out.
    """
    root = schema(view_name)
    target = root if definition is None else root.get("definitions", {}).get(definition)
    if not isinstance(target, dict):
        raise KeyError(f"{view_name} has no definition {definition!r}")
    out: dict[str, Any] = {}
    for key, prop in target.get("properties", {}).items():
        node = _resolve(prop, root)
        branches = [_resolve(b, root) for b in node.get("oneOf", [])] if isinstance(node, dict) else []
        if any(isinstance(b, dict) and b.get("type") == "null" for b in branches):
            out[key] = None
            continue
        if branches:
            node = branches[0]
        if not isinstance(node, dict):
            continue
        if "x-enumCodes" in node:
            codes = node["x-enumCodes"]
            out[key] = node["x-enumNames"][codes.index(0) if 0 in codes else 0]
            continue
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "null" in kinds:
            out[key] = None
        elif "boolean" in kinds:
            out[key] = False
        elif "integer" in kinds:
            out[key] = 0
        elif "number" in kinds:
            out[key] = 0.0
    return out
