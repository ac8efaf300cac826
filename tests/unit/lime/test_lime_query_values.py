"""Lime filter builders/validator and value normalisation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billecta_sync.lime import query as q
from billecta_sync.lime.values import blank_text_nulls, option_key, relation_id, to_decimal


def test_builders() -> None:
    assert q.eq("name", "x") == {"key": "name", "op": "=", "exp": "x"}
    assert q.in_("_id", (1, 2)) == {"key": "_id", "op": "IN", "exp": [1, 2]}
    assert q.gt("_timestamp", "2024-01-01") == {"key": "_timestamp", "op": ">", "exp": "2024-01-01"}
    assert q.and_(q.eq("a", 1), q.or_(q.lt("b", 2), q.ge("c", 3))) == {
        "op": "AND",
        "exp": [{"key": "a", "op": "=", "exp": 1},
                {"op": "OR", "exp": [{"key": "b", "op": "<", "exp": 2}, {"key": "c", "op": ">=", "exp": 3}]}],
    }
    assert q.and_(q.eq("a", 1)) == q.eq("a", 1)
    with pytest.raises(ValueError):
        q.or_()


def test_valid_filters_pass() -> None:
    for expr in (
        q.eq("_id", 1), q.ne("status", None), q.le("x", 1.5), q.begins_with("name", "Ac"), q.contains("name", "me"),
        q.in_("_id", []), q.and_(q.eq("a", 1), q.or_(q.eq("b", True), q.in_("c", ["x", "y"]))),
    ):
        q.validate_filter(expr)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ([], "must be an object"),
        ({"key": "a", "op": "LIKE", "exp": 1}, "filter.op: 'LIKE' is not an operator"),
        ({"key": "a", "op": "="}, "filter.exp: missing"),
        ({"op": "=", "exp": 1}, "filter.key: = needs a property name"),
        ({"key": "", "op": "=", "exp": 1}, "filter.key"),
        ({"key": "a", "op": "IN", "exp": 1}, "IN needs a list"),
        ({"key": "a", "op": "IN", "exp": [[1]]}, r"filter.exp\[0\]: IN values"),
        ({"key": "a", "op": "=", "exp": [1]}, "needs a plain value"),
        ({"key": "a", "op": "?", "exp": 1}, "needs a string"),
        ({"op": "AND", "exp": []}, "non-empty list"),
        ({"op": "OR", "exp": {"key": "a"}}, "non-empty list"),
        ({"key": "a", "op": "AND", "exp": [{"key": "a", "op": "=", "exp": 1}]}, "filter.key: not allowed with AND"),
        ({"op": "AND", "exp": [{"key": "a", "op": "=", "exp": 1}, {"key": "b", "op": "~", "exp": 1}]},
         r"filter.exp\[1\].op"),
        ({"key": "a", "op": "=", "exp": 1, "extra": 2}, "unexpected field"),
    ],
)
def test_malformed_filters_name_the_spot(expr: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        q.validate_filter(expr)


def test_deep_filter_is_rejected() -> None:
    expr: dict[str, Any] = q.eq("a", 1)
    for _ in range(40):
        expr = {"op": "AND", "exp": [expr]}
    with pytest.raises(ValueError, match="nested deeper"):
        q.validate_filter(expr)


def test_option_key() -> None:
    assert option_key({"id": 538201, "key": "sn0", "text": "SN0"}) == "sn0"
    assert option_key("agreement") == "agreement"
    assert option_key(None) is None
    assert option_key("") is None
    assert option_key({"id": 1, "key": None}) is None
    with pytest.raises(TypeError):
        option_key(5)


def test_relation_id() -> None:
    assert relation_id(1014) == 1014
    assert relation_id("1014") == 1014
    assert relation_id({"_id": 7, "name": "x"}) == 7
    assert relation_id({"id": "8"}) == 8
    assert relation_id(None) is None
    assert relation_id("") is None
    assert relation_id({}) is None
    with pytest.raises(ValueError):
        relation_id("abc")
    with pytest.raises(TypeError):
        relation_id(True)


def test_to_decimal() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("1 234,50") == Decimal("1234.50")
    assert to_decimal(3) == Decimal(3)
    assert to_decimal(None) is None
    assert to_decimal("") is None
    with pytest.raises(ValueError):
        to_decimal("abc")
    with pytest.raises(ValueError):
        to_decimal("inf")


def test_blank_text_nulls() -> None:
    assert blank_text_nulls({"a": None, "b": None, "c": "x"}, {"a", "c"}) == {"a": "", "b": None, "c": "x"}
