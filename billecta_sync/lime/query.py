"""Builders and a validator for Lime query-API filter expressions.

A filter is either a comparison ``{"key": <property>, "op": <op>, "exp": <value>}`` or a combination
``{"op": "AND"|"OR", "exp": [<filter>, ...]}``. The gateway accepts filters from callers
(``query_filter``), so ``validate_filter`` checks the whole tree and names the bad spot, rather than
letting Lime answer with an opaque 400 later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "COMPARISON_OPS",
    "LOGICAL_OPS",
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


def validate_filter(expr: Any, where: str = "filter") -> None:
    """Raise ``ValueError`` naming the first malformed node of a filter tree."""
    _validate(expr, where, 0)


def _validate(expr: Any, where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: filter is nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(expr, Mapping):
        raise ValueError(f"{where}: must be an object with 'op' and 'exp', got {type(expr).__name__}")
    unknown = sorted(str(k) for k in expr if k not in ("key", "op", "exp"))
    if unknown:
        raise ValueError(f"{where}: unexpected field(s) {unknown}; allowed: key, op, exp")
    op = expr.get("op")
    if not isinstance(op, str) or op not in COMPARISON_OPS | LOGICAL_OPS:
        allowed = sorted(COMPARISON_OPS | LOGICAL_OPS)
        raise ValueError(f"{where}.op: {op!r} is not an operator; allowed: {allowed}")
    if "exp" not in expr:
        raise ValueError(f"{where}.exp: missing")
    exp = expr["exp"]
    if op in LOGICAL_OPS:
        if "key" in expr:
            raise ValueError(f"{where}.key: not allowed with {op}")
        if not isinstance(exp, list) or not exp:
            raise ValueError(f"{where}.exp: {op} needs a non-empty list of filters")
        for i, sub in enumerate(exp):
            _validate(sub, f"{where}.exp[{i}]", depth + 1)
        return
    key = expr.get("key")
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"{where}.key: {op} needs a property name")
    if op == "IN":
        if not isinstance(exp, list):
            raise ValueError(f"{where}.exp: IN needs a list of values")
        for i, item in enumerate(exp):
            if not isinstance(item, _SCALARS):
                raise ValueError(f"{where}.exp[{i}]: IN values must be plain values, got {type(item).__name__}")
        return
    if not isinstance(exp, _SCALARS):
        raise ValueError(f"{where}.exp: {op} needs a plain value, got {type(exp).__name__}")
    if op in ("=?", "?") and not isinstance(exp, str):
        raise ValueError(f"{where}.exp: {op} needs a string")
