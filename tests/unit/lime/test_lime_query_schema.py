"""The data model derived from the field mappings, and query filters checked against it."""

from __future__ import annotations

from typing import Any

import pytest

from billecta_sync.lime import query as q
from billecta_sync.lime import schema
from billecta_sync.lime.query import FilterError, FilterLimits, validate_filter
from billecta_sync.lime.schema import MAX_LIME_ID, PropertyType, UnknownKey, data_model
from billecta_sync.mappings import DEFAULT_MODEL, FieldMappings

MODEL = data_model(FieldMappings.build())


def check(expr: Any, limetype: str = "debtor", limits: FilterLimits | None = None) -> None:
    validate_filter(expr, "query_filter", model=MODEL, limetype=limetype, limits=limits or FilterLimits())


def test_every_default_limetype_and_property_has_a_type() -> None:
    assert set(MODEL.limetypes) == set(DEFAULT_MODEL)
    for logical, properties in DEFAULT_MODEL.items():
        for prop in properties:
            assert MODEL[logical].properties[prop].kind in schema.KINDS - {schema.CUSTOM}


@pytest.mark.parametrize(("limetype", "key", "expected"), [
    ("debtor", "_id", PropertyType(schema.ID)),
    ("debtor", "id", PropertyType(schema.ID)),
    ("debtor", "_timestamp", PropertyType(schema.DATETIME)),
    ("debtor", "name", PropertyType(schema.STRING)),
    ("debtor", "debtortype", PropertyType(schema.OPTION)),
    ("debtor", "company", PropertyType(schema.RELATION, "company")),
    ("debtor", "nickname", PropertyType(schema.CUSTOM)),
    ("order", "creditor.creditorpublicid", PropertyType(schema.STRING)),
    ("order", "creditor._id", PropertyType(schema.ID)),
    ("order", "debtor.company.orgno", PropertyType(schema.STRING)),
    ("order", "creditor.nickname", PropertyType(schema.CUSTOM)),
    ("invoice", "creditinvoice.isdisputed", PropertyType(schema.YESNO)),
])
def test_keys_resolve_to_their_types(limetype: str, key: str, expected: PropertyType) -> None:
    assert MODEL.resolve(limetype, key) == expected


@pytest.mark.parametrize(("key", "fragment"), [
    ("_secret", "not a Lime system field"),
    ("name.first", "not a mapped relation of debtor"),
    ("nickname.x", "not a mapped relation of debtor"),
    ("_id.x", "not a mapped relation"),
    ("a b", "not a property name"),
    ("a..b", "not a property name"),
    ("name\n", "not a property name"),
    ("x" * 101, "not a property name"),
])
def test_bad_keys_say_why(key: str, fragment: str) -> None:
    with pytest.raises(UnknownKey, match=fragment):
        MODEL.resolve("debtor", key)


def test_the_model_speaks_the_customers_lime_names() -> None:
    model = data_model(FieldMappings.build({
        "debtor": {"limetype": "customer", "properties": {"ssnregno": "orgnumber", "company": "firm"}},
        "company": {"limetype": "organisation"},
    }))
    assert "debtor" not in model.limetypes
    assert model.resolve("customer", "orgnumber") == PropertyType(schema.STRING)
    assert model.resolve("customer", "ssnregno") == PropertyType(schema.CUSTOM)  # not a mapped name any more
    assert model.resolve("customer", "firm") == PropertyType(schema.RELATION, "organisation")
    assert model.resolve("customer", "firm.orgno") == PropertyType(schema.STRING)
    assert model.resolve("order", "debtor.orgnumber") == PropertyType(schema.STRING)


@pytest.mark.parametrize(("limetype", "expr"), [
    ("debtor", q.in_("_id", [1, MAX_LIME_ID])),
    ("debtor", q.eq("name", "Acme")),
    ("debtor", q.ne("name", None)),
    ("debtor", q.begins_with("name", "Ac")),
    ("debtor", q.eq("debtortype", "private")),
    ("debtor", q.in_("company", [1, None])),
    ("debtor", q.gt("_timestamp", "2024-05-01T10:00:00+02:00")),
    ("debtor", q.le("_createdtime", "2024-05-01")),
    ("debtor", q.eq("_createduser", 12)),
    ("debtor", q.eq("nickname", 12.5)),
    ("debtor", q.contains("nickname", "x")),
    ("order", q.eq("creditor.creditorpublicid", "")),
    ("order", q.ge("paymenttermsindays", -5)),
    ("order", q.lt("invoicedate", "2024-12-31")),
    ("article", q.eq("isactive", False)),
    ("article", q.in_("isactive", [True, False])),
    ("article", q.gt("unitprice", 0)),
    ("invoice", q.eq("invoice_pdf", None)),
    ("invoice", q.and_(q.eq("isdisputed", True), q.or_(q.gt("currentamount", 0.5), q.eq("ispaused", False)))),
])
def test_filters_that_fit_pass(limetype: str, expr: Any) -> None:
    check(expr, limetype)


@pytest.mark.parametrize(("limetype", "expr", "where", "fragment"), [
    ("debtor", q.in_("_id", [False]), "query_filter.exp[0]", "_id needs positive integers, got false"),
    ("debtor", q.in_("_id", [0]), "query_filter.exp[0]", "positive integers"),
    ("debtor", q.in_("_id", [MAX_LIME_ID + 1]), "query_filter.exp[0]", "positive integers"),
    ("debtor", q.in_("_id", ["7"]), "query_filter.exp[0]", "positive integers"),
    ("debtor", q.eq("_id", None), "query_filter.exp", "positive integers"),
    ("debtor", q.in_("_id", []), "query_filter.exp", "non-empty list"),
    ("debtor", q.eq("name", 5), "query_filter.exp", "name needs strings"),
    ("debtor", q.eq("company", True), "query_filter.exp", "related object ids"),
    ("debtor", q.gt("debtortype", "a"), "query_filter.op", "does not apply"),
    ("debtor", q.eq("debtortype", ""), "query_filter.exp", "option keys"),
    ("debtor", q.begins_with("_id", "1"), "query_filter.op", "only applies to text"),
    ("debtor", q.gt("_timestamp", None), "query_filter.exp", "ISO 8601"),
    ("debtor", q.gt("_timestamp", "soon"), "query_filter.exp", "ISO 8601"),
    ("debtor", q.eq("nickname", True), "query_filter.exp", "strings or numbers"),
    ("debtor", q.eq("nickname", float("nan")), "query_filter.exp", "strings or numbers"),
    ("order", q.eq("paymenttermsindays", 2**63), "query_filter.exp", "integers"),
    ("order", q.eq("paymenttermsindays", "30"), "query_filter.exp", "integers"),
    ("order", q.eq("creditor.creditorpublicid", True), "query_filter.exp", "strings"),
    ("article", q.eq("isactive", 1), "query_filter.exp", "true or false"),
    ("article", q.eq("isactive", None), "query_filter.exp", "true or false"),
    ("article", q.eq("unitprice", float("inf")), "query_filter.exp", "numbers"),
    ("invoice", q.gt("invoice_pdf", 1), "query_filter.op", "does not apply"),
    ("invoice", q.eq("invoicedate", "31/12/2024"), "query_filter.exp", "dates"),
    ("invoice", q.and_(q.eq("isdisputed", True), q.eq("_nope", 1)), "query_filter.exp[1].key", "system field"),
])
def test_filters_that_do_not_fit_name_the_spot(limetype: str, expr: Any, where: str, fragment: str) -> None:
    with pytest.raises(FilterError, match=fragment) as caught:
        check(expr, limetype)
    assert caught.value.where == where
    assert str(caught.value).startswith(f"{where}: ")


def test_without_a_model_only_the_shape_is_checked() -> None:
    # The service's own queries (LimeClient.query) keep the structural check only.
    validate_filter(q.in_("_id", []))
    validate_filter(q.eq("_id", True))
    validate_filter(q.and_(*[q.eq("_id", i) for i in range(1, 500)]))


def test_a_model_needs_the_limetype() -> None:
    with pytest.raises(ValueError, match="needs the limetype"):
        validate_filter(q.eq("_id", 1), model=MODEL)


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = q.eq("_id", 1)
    for _ in range(levels - 1):
        node = {"op": "OR", "exp": [node]}
    return node


def test_limits_bound_depth_comparisons_lists_and_strings() -> None:
    small = FilterLimits(max_depth=3, max_comparisons=2, max_list_length=2, max_string_length=3)
    check(_nested(3), limits=small)
    with pytest.raises(FilterError, match="deeper than 3 levels") as caught:
        check(_nested(4), limits=small)
    assert caught.value.where == "query_filter.exp[0].exp[0].exp[0]"
    check(q.or_(q.eq("_id", 1), q.eq("_id", 2)), limits=small)
    with pytest.raises(FilterError, match="more than 2 comparisons"):
        check(q.or_(q.eq("_id", 1), q.eq("_id", 2), q.eq("_id", 3)), limits=small)
    with pytest.raises(FilterError, match="at most 2 values"):
        check(q.in_("_id", [1, 2, 3]), limits=small)
    with pytest.raises(FilterError, match="limited to 3 characters"):
        check(q.in_("name", ["abc", "abcd"]), limits=small)


def test_absurd_nesting_is_refused_before_the_recursion_hurts() -> None:
    with pytest.raises(FilterError, match="deeper than"):
        validate_filter(_nested(10_000))
