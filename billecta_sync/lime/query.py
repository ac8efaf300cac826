"""Builders and a validator for Lime query-API filter expressions.

A filter is either a comparison ``{"key": <property>, "op": <op>, "exp": <value>}`` or a combination
``{"op": "AND"|"OR", "exp": [<filter>, ...]}``. The gateway accepts filters from callers
(``query_filter``), so ``validate_filter`` checks the whole tree and names the bad spot, rather than
letting Lime answer with an opaque 400 later. Given the data model (``billecta_sync.lime.schema``) it also
checks every key, operator and value against the property's type, and given ``FilterLimits`` the size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billecta_sync.lime import schema
from billecta_sync.lime.schema import MAX_LIME_ID, DataModel, UnknownKey

__all__ = [
    "COMPARISON_OPS",
    "LOGICAL_OPS",
    "MAX_FILTER_COMPARISONS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LIST_LENGTH",
    "MAX_FILTER_STRING_LENGTH",
    "FilterError",
    "FilterLimits",
    "and_",
    "begins_with",
    "contains",
    "eq",
    "ge",
    "gt",
    "in_",
    "le",
    "lt",
    "ne",
    "or_",
    "validate_filter",
]

Expr = dict[str, Any]

COMPARISON_OPS = frozenset({"=", "!", ">", "<", ">=", "<=", "IN", "=?", "?"})
LOGICAL_OPS = frozenset({"AND", "OR"})
_MAX_DEPTH = 32  # caller-supplied trees: refuse anything deep enough to hurt the recursion


def _cmp(key: str, op: str, value: Any) -> Expr:
    return {"key": key, "op": op, "exp": value}


def eq(key: str, value: Any) -> Expr:
    return _cmp(key, "=", value)


def ne(key: str, value: Any) -> Expr:
    return _cmp(key, "!", value)


def lt(key: str, value: Any) -> Expr:
    return _cmp(key, "<", value)


def gt(key: str, value: Any) -> Expr:
    return _cmp(key, ">", value)


def le(key: str, value: Any) -> Expr:
    return _cmp(key, "<=", value)


def ge(key: str, value: Any) -> Expr:
    return _cmp(key, ">=", value)


def begins_with(key: str, prefix: str) -> Expr:
    return _cmp(key, "=?", prefix)


def contains(key: str, text: str) -> Expr:
    return _cmp(key, "?", text)


def in_(key: str, values: Iterable[Any]) -> Expr:
    return _cmp(key, "IN", list(values))


def _combine(op: str, exprs: tuple[Expr, ...]) -> Expr:
    if not exprs:
        raise ValueError(f"{op} needs at least one expression")
    if len(exprs) == 1:
        return exprs[0]  # a one-armed AND/OR is just its argument
    return {"op": op, "exp": list(exprs)}


def and_(*exprs: Expr) -> Expr:
    return _combine("AND", exprs)


def or_(*exprs: Expr) -> Expr:
    return _combine("OR", exprs)


_SCALARS = (str, int, float, bool, type(None))

# Bounds on a caller's filter (the gateway passes ``FilterLimits()``). Each should become a setting
# (GATEWAY_QUERY_FILTER_MAX_DEPTH, _MAX_COMPARISONS, _MAX_LIST_LENGTH, _MAX_STRING_LENGTH); until then these
# are the defaults, documented in docs/operations.md ("Limits").
MAX_FILTER_DEPTH = 8  # levels of objects: a comparison is 1, an AND of comparisons 2
MAX_FILTER_COMPARISONS = 200  # comparisons in the whole tree
MAX_FILTER_LIST_LENGTH = 10_000  # values in one IN list (a Lime selection of ids)
MAX_FILTER_STRING_LENGTH = 1_000  # characters of one string value

_INT64 = 2**63
_ORDERED_OPS = frozenset({">", "<", ">=", "<="})
_TEXT_OPS = frozenset({"=?", "?"})
_NULL_OPS = frozenset({"=", "!", "IN"})
_TEXT_KINDS = frozenset({schema.STRING, schema.TEXT, schema.CUSTOM})
_UNORDERED_KINDS = frozenset({schema.OPTION, schema.YESNO, schema.FILE})
_WANTS = {
    schema.ID: "positive integers",
    schema.RELATION: "related object ids (positive integers) or null",
    schema.FILE: "file ids (positive integers) or null",
    schema.INTEGER: "integers",
    schema.DECIMAL: "numbers",
    schema.STRING: "strings",
    schema.TEXT: "strings",
    schema.OPTION: "option keys (non-empty strings)",
    schema.YESNO: "true or false",
    schema.DATE: "dates as 'YYYY-MM-DD' strings",
    schema.DATETIME: "ISO 8601 date-time strings",
    schema.CUSTOM: "strings or numbers",
}


@dataclass(frozen=True)
class FilterLimits:
    max_depth: int = MAX_FILTER_DEPTH
    max_comparisons: int = MAX_FILTER_COMPARISONS
    max_list_length: int = MAX_FILTER_LIST_LENGTH
    max_string_length: int = MAX_FILTER_STRING_LENGTH


class FilterError(ValueError):
    """A malformed filter; ``where`` is the path of the faulty node (``query_filter.exp[1].key``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def validate_filter(expr: Any, where: str = "filter", *, model: DataModel | None = None, limetype: str = "",
                    limits: FilterLimits | None = None) -> None:
    """Raise ``FilterError`` (a ``ValueError``) naming the first malformed node of a filter tree.

    Without ``model`` only the shape is checked. With ``model`` and the Lime ``limetype`` the filter is
    queried on, every key must name a property (or a path through mapped relations), every operator must
    apply to the property's type and every value must be of that type. ``limits`` bounds the tree's size.
    """
    if model is not None and not limetype:
        raise ValueError("validate_filter: a model needs the limetype the filter is for")
    _Checker(model, limetype, limits).node(expr, where, 0)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    def __init__(self, model: DataModel | None, limetype: str, limits: FilterLimits | None) -> None:
        self.model = model
        self.limetype = limetype
        self.limits = limits
        self.comparisons = 0

    def node(self, expr: Any, where: str, depth: int) -> None:
        if self.limits is not None and depth >= self.limits.max_depth:
            raise FilterError(where, f"filter is nested deeper than {self.limits.max_depth} levels")
        if depth > _MAX_DEPTH:
            raise FilterError(where, f"filter is nested deeper than {_MAX_DEPTH} levels")
        if not isinstance(expr, Mapping):
            raise FilterError(where, f"must be an object with 'op' and 'exp', got {type(expr).__name__}")
        unknown = sorted(str(k) for k in expr if k not in ("key", "op", "exp"))
        if unknown:
            raise FilterError(where, f"unexpected field(s) {unknown}; allowed: key, op, exp")
        op = expr.get("op")
        if not isinstance(op, str) or op not in COMPARISON_OPS | LOGICAL_OPS:
            allowed = sorted(COMPARISON_OPS | LOGICAL_OPS)
            raise FilterError(f"{where}.op", f"{_short(op)} is not an operator; allowed: {allowed}")
        if "exp" not in expr:
            raise FilterError(f"{where}.exp", "missing")
        exp = expr["exp"]
        if op in LOGICAL_OPS:
            if "key" in expr:
                raise FilterError(f"{where}.key", f"not allowed with {op}")
            if not isinstance(exp, list) or not exp:
                raise FilterError(f"{where}.exp", f"{op} needs a non-empty list of filters")
            for i, sub in enumerate(exp):
                self.node(sub, f"{where}.exp[{i}]", depth + 1)
            return
        self.comparisons += 1
        if self.limits is not None and self.comparisons > self.limits.max_comparisons:
            raise FilterError(where, f"the filter has more than {self.limits.max_comparisons} comparisons")
        self.comparison(expr.get("key"), op, exp, where)

    def comparison(self, key: Any, op: str, exp: Any, where: str) -> None:
        if not isinstance(key, str) or not key.strip():
            raise FilterError(f"{where}.key", f"{op} needs a property name")
        if op == "IN":
            if not isinstance(exp, list):
                raise FilterError(f"{where}.exp", "IN needs a list of values")
            if self.limits is not None and len(exp) > self.limits.max_list_length:
                raise FilterError(f"{where}.exp", f"IN takes at most {self.limits.max_list_length} values")
            for i, item in enumerate(exp):
                if not isinstance(item, _SCALARS):
                    raise FilterError(f"{where}.exp[{i}]", f"IN values must be plain values, got {type(item).__name__}")
        elif not isinstance(exp, _SCALARS):
            raise FilterError(f"{where}.exp", f"{op} needs a plain value, got {type(exp).__name__}")
        elif op in _TEXT_OPS and not isinstance(exp, str):
            raise FilterError(f"{where}.exp", f"{op} needs a string")
        if self.limits is not None:
            for i, value in enumerate(exp if isinstance(exp, list) else [exp]):
                if isinstance(value, str) and len(value) > self.limits.max_string_length:
                    spot = f"{where}.exp[{i}]" if isinstance(exp, list) else f"{where}.exp"
                    raise FilterError(spot, f"strings are limited to {self.limits.max_string_length} characters")
        if self.model is not None:
            self.typed(key, op, exp, where)

    def typed(self, key: str, op: str, exp: Any, where: str) -> None:
        assert self.model is not None
        try:
            prop = self.model.resolve(self.limetype, key)
        except UnknownKey as exc:
            raise FilterError(f"{where}.key", str(exc)) from None
        kind = prop.kind
        if op in _TEXT_OPS and kind not in _TEXT_KINDS:
            raise FilterError(f"{where}.op", f"{op} only applies to text properties, and {key} is {_a(kind)}")
        if op in _ORDERED_OPS and kind in _UNORDERED_KINDS:
            raise FilterError(f"{where}.op", f"{op} does not apply to {key}, {_a(kind)}")
        if op == "IN":
            if not exp:
                raise FilterError(f"{where}.exp", "IN needs a non-empty list of values")
            for i, item in enumerate(exp):
                if not _fits(kind, op, item):
                    raise FilterError(f"{where}.exp[{i}]", f"{key} needs {_WANTS[kind]}, got {_show(item)}")
        elif not _fits(kind, op, exp):
            raise FilterError(f"{where}.exp", f"{key} needs {_WANTS[kind]}, got {_show(exp)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} property"


def _is_time(value: str) -> bool:
    """An ISO 8601 date or date-time (a date property compared with a date-time uses its day)."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _fits(kind: str, op: str, value: Any) -> bool:
    """Whether ``value`` may stand beside ``op`` for a property of ``kind``."""
    if value is None:
        return op in _NULL_OPS and kind not in (schema.ID, schema.YESNO)
    if isinstance(value, bool):
        return kind == schema.YESNO
    if kind == schema.YESNO:
        return False
    if kind in (schema.ID, schema.RELATION, schema.FILE):
        return isinstance(value, int) and 1 <= value <= MAX_LIME_ID
    if isinstance(value, int):
        return kind in (schema.INTEGER, schema.DECIMAL, schema.CUSTOM) and -_INT64 <= value < _INT64
    if isinstance(value, float):
        return kind in (schema.DECIMAL, schema.CUSTOM) and math.isfinite(value)
    if not isinstance(value, str):
        return False
    if kind == schema.OPTION:
        return bool(value)
    if kind in (schema.DATE, schema.DATETIME):
        return _is_time(value)
    return kind in (schema.STRING, schema.TEXT, schema.CUSTOM)
