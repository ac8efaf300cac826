"""Lime sandbox internals without HTTP: data model, value coercion, config, SQL filters."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sandbox.lime.app import LimeSandboxConfig
from sandbox.lime.datamodel import DATA_MODEL, LimeType, Property, all_events
from sandbox.lime.query import Compiler
from sandbox.lime.store import LimeStore
from sandbox.lime.values import ValidationError, coerce_write, parse_time, webhook_values


def _prop(limetype: str, name: str) -> tuple[LimeType, Property]:
    lt = DATA_MODEL[limetype]
    prop = lt.get(name)
    assert prop is not None
    return lt, prop


def test_data_model_types_follow_the_conventions() -> None:
    types = {(lt.name, p.name): p.type for lt in DATA_MODEL.values() for p in lt.properties}
    for key in [("invoice", "invoicedate"), ("invoice", "invoice_expires"), ("payment", "paymentdate"),
                ("payment", "transactiondate"), ("invoice", "nexteventdate"), ("debtcollection", "nexteventdate")]:
        assert types[key] == "date", key
    for key in [("invoice", "invoicedamount"), ("orderrow", "quantity"), ("orderrow", "vat"),
                ("orderrow", "discountpercentage"), ("debtcollection", "interestpercentage"), ("payment", "amount")]:
        assert types[key] == "decimal", key
    assert types[("order", "paymenttermsindays")] == "integer"
    assert types[("invoicerow", "position")] == "integer"
    assert types[("invoice", "actionpublicid")] == "string"
    assert types[("invoice", "invoice_pdf")] == "file"
    assert types[("document", "document")] == "file"
    assert DATA_MODEL["invoice"].get("creditinvoice").related == "invoice"  # type: ignore[union-attr]
    order_status = DATA_MODEL["order"].get("orderstatus")
    assert [o.key for o in order_status.options] == [  # type: ignore[union-attr]
        "created", "processing", "attested", "errorupsert", "errorattest", "credited", "cancelled", "completed",
    ]
    option_ids = [o.id for lt in DATA_MODEL.values() for p in lt.properties for o in p.options]
    assert len(option_ids) == len(set(option_ids))
    assert len(all_events()) == 4 * 17


def test_coerce_write_rules() -> None:
    lt, name = _prop("company", "name")
    with pytest.raises(ValidationError, match="null is not allowed"):
        coerce_write(lt, name, None)
    assert coerce_write(lt, name, "") == ""
    lt, status = _prop("invoice", "invoicestatus")
    assert coerce_write(lt, status, "paid") == "paid"
    assert coerce_write(lt, status, {"key": "sent"}) == "sent"
    paid_id = status.option_by_key("paid").id  # type: ignore[union-attr]
    assert coerce_write(lt, status, {"id": paid_id, "text": "whatever"}) == "paid"
    with pytest.raises(ValidationError, match="unknown option key"):
        coerce_write(lt, status, "bogus")
    _, amount = _prop("invoice", "invoicedamount")
    assert coerce_write(lt, amount, 10) == 10.0
    with pytest.raises(ValidationError):
        coerce_write(lt, amount, True)
    _, due = _prop("invoice", "invoice_expires")
    assert coerce_write(lt, due, "2024-02-29") == date(2024, 2, 29)
    with pytest.raises(ValidationError):
        coerce_write(lt, due, "2024-02-30")
    _, debtor = _prop("invoice", "debtor")
    assert coerce_write(lt, debtor, None) is None
    with pytest.raises(ValidationError, match="debtor id"):
        coerce_write(lt, debtor, "12")
    assert parse_time("2024-06-21T10:28:16.963+02:00", "x") == datetime(2024, 6, 21, 8, 28, 16, 963000)


def test_from_env_reads_prefixed_variables() -> None:
    config = LimeSandboxConfig.from_env({
        "LIME_SANDBOX_APPLICATION": "Lime CRM",
        "LIME_SANDBOX_API_KEYS": "a, b",
        "LIME_SANDBOX_DATABASE_URL": "sqlite:///:memory:",
        "LIME_SANDBOX_LATENCY_MS": "25",
        "LIME_SANDBOX_RATE_LIMIT_PER_S": "10",
        "LIME_SANDBOX_WEBHOOK_MAX_ATTEMPTS": "3",
    })
    assert config.application == "Lime CRM"
    assert config.api_keys == ["a", "b"]
    assert config.database_url == "sqlite:///:memory:"
    assert config.knobs.latency_ms == 25.0 and config.knobs.rate_limit_per_s == 10.0
    assert config.webhook_max_attempts == 3
    defaults = LimeSandboxConfig.from_env({})
    assert defaults.api_keys == ["dev-lime-key"] and defaults.application == "lime"


def test_store_filters_run_in_sql_and_updates_report_changes() -> None:
    store = LimeStore("sqlite:///:memory:")
    compiler = Compiler(store)
    lt = DATA_MODEL["invoice"]
    ids = store.bulk_insert("invoice", [{"invoicenumber": str(i), "invoicedamount": float(i)} for i in range(10)], 1)
    assert ids == list(range(1, 11))
    where = compiler.filter(lt, {"op": "OR", "exp": [
        {"key": "invoicedamount", "op": "<", "exp": 2},
        {"key": "invoicenumber", "op": "IN", "exp": ["7", "9"]},
    ]})
    assert "OR" in str(where.compile())  # compiled to SQL, not evaluated in Python
    rows = store.select_rows("invoice", where, compiler.order(lt, [("invoicedamount", True)]), 100, 0)
    assert [r["invoicenumber"] for r in rows] == ["9", "7", "1", "0"]
    assert store.count("invoice", where) == 4

    old, new, changed = store.update("invoice", 3, {"invoicedamount": 2.0, "ocr": "123"}, 1)  # type: ignore[misc]
    assert changed == {"ocr": ""}  # invoicedamount was already 2.0
    assert new["_timestamp"] > old["_timestamp"]
    assert webhook_values(lt, new)["invoicestatus"] == "created"  # option default, as a bare key
    assert store.update("invoice", 999, {"ocr": "1"}, 1) is None
    store.close()
