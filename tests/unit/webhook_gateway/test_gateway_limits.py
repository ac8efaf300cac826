"""Regression tests: ids past the database's integers, typed query filters, and the request limits.

* ``/monitor/batches/<id>`` and ``/operator/inbox/<id>`` with an id beyond the integer column answered 500
  (the database driver's OverflowError); they are 404 now, and replaying such ids is a 400.
* A query filter whose values have the wrong type (``_id IN [false]``) used to be stored as a monitor batch
  whose start task failed against Lime (Lime's 400 in ``start_batch``): a batch in ``error`` and a 502.
  It is a 400 naming ``query_filter`` now, before anything is stored or queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from billecta_sync.commands import BATCH_COMMANDS
from billecta_sync.db import Database, MonitorBatch
from billecta_sync.lime.query import (
    MAX_FILTER_COMPARISONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_LIST_LENGTH,
    MAX_FILTER_STRING_LENGTH,
)
from tests.unit.webhook_gateway.conftest import COMMANDS_KEY, OPERATOR_KEY, RecordingPublisher
from webhook_gateway.limits import MAX_REPLAY_IDS, MAX_REQUEST_HEADERS, MAX_ROW_ID

PREFIX = "/limepkg-billecta-integration"
COMMANDS = {"X-API-Key": COMMANDS_KEY}
OPERATOR = {"X-API-Key": OPERATOR_KEY}
FILTER_COMMANDS = [c for c in BATCH_COMMANDS if c.selects is None]
WRONG_TYPE = {"op": "OR", "exp": [{"key": "_id", "op": "IN", "exp": [False]}]}


def batch_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(MonitorBatch)) or 0)


# ---- defect 1: ids beyond the database's integers ----------------------------------------------------


@pytest.mark.parametrize("path", ["monitor/batches", "operator/inbox"])
@pytest.mark.parametrize("row_id", [2**70, 2**63, MAX_ROW_ID + 1, 0])
def test_an_id_no_row_can_have_is_404_not_500(client: FlaskClient, db: Database, path: str, row_id: int) -> None:
    resp = client.get(f"{PREFIX}/{path}/{row_id}", headers=OPERATOR)
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["monitor/batches", "operator/inbox"])
def test_the_largest_id_is_looked_up(client: FlaskClient, db: Database, path: str) -> None:
    resp = client.get(f"{PREFIX}/{path}/{MAX_ROW_ID}", headers=OPERATOR)
    assert resp.status_code == 404
    assert str(MAX_ROW_ID) in resp.get_json()["message"]  # the view's "no such row", not the router's


@pytest.mark.parametrize("ids", [[2**70], [1, MAX_ROW_ID + 1], [0], list(range(1, MAX_REPLAY_IDS + 2))])
def test_replaying_ids_no_row_can_have_is_400(client: FlaskClient, db: Database, ids: list[int]) -> None:
    resp = client.post(f"{PREFIX}/operator/inbox/replay", json={"ids": ids}, headers=OPERATOR)
    assert resp.status_code == 400
    assert resp.get_json()["field"] == "ids"


@pytest.mark.parametrize(("query", "field"), [
    ("before=", "before"), ("before=+5", "before"), ("before=%205", "before"), ("before=1_0", "before"),
    ("before=0", "before"), (f"before={2**70}", "before"), ("limit=", "limit"), ("status=", "status"),
    ("source=", "source"),
])
def test_inbox_list_parameters_are_checked_as_documented(client: FlaskClient, db: Database, query: str,
                                                         field: str) -> None:
    resp = client.get(f"{PREFIX}/operator/inbox?{query}", headers=OPERATOR)
    assert resp.status_code == 400
    assert resp.get_json()["field"] == field


# ---- defect 2: query filters are checked against the limetype's property types ------------------------


@pytest.mark.parametrize("command", FILTER_COMMANDS, ids=lambda c: c.operation)
def test_a_filter_with_wrongly_typed_values_is_400_and_stores_nothing(
        client: FlaskClient, db: Database, publisher: RecordingPublisher, command: Any) -> None:
    resp = client.post(PREFIX + command.path, json={"query_filter": WRONG_TYPE}, headers=COMMANDS)
    assert resp.status_code == 400
    answer = resp.get_json()
    assert answer["error"] == "invalid_query_filter"
    assert answer["field"] == "query_filter"
    assert answer["where"] == "query_filter.exp[0].exp[0]"
    assert "_id needs positive integers" in answer["message"]
    assert batch_count(db) == 0
    assert publisher.published == []


@pytest.mark.parametrize(("path", "query_filter", "where", "fragment"), [
    ("upsert-debtors", {"key": "_id", "op": "IN", "exp": []}, "query_filter.exp", "non-empty list"),
    ("upsert-debtors", {"key": "_id", "op": "=", "exp": True}, "query_filter.exp", "positive integers"),
    ("upsert-debtors", {"key": "_id", "op": "IN", "exp": [2**70]}, "query_filter.exp[0]", "positive integers"),
    ("upsert-debtors", {"key": "_id", "op": "IN", "exp": [None]}, "query_filter.exp[0]", "positive integers"),
    ("upsert-debtors", {"key": "name", "op": "=", "exp": False}, "query_filter.exp", "name needs strings"),
    ("upsert-debtors", {"key": "debtortype", "op": ">", "exp": "private"}, "query_filter.op", "option"),
    ("upsert-debtors", {"key": "debtortype", "op": "?", "exp": "pri"}, "query_filter.op", "text properties"),
    ("upsert-debtors", {"key": "_timestamp", "op": ">", "exp": "yesterday"}, "query_filter.exp", "ISO 8601"),
    ("upsert-debtors", {"key": "_secret", "op": "=", "exp": 1}, "query_filter.key", "system field"),
    ("upsert-debtors", {"key": "name.first", "op": "=", "exp": "x"}, "query_filter.key", "not a mapped relation"),
    ("upsert-debtors", {"key": "nickname", "op": "=", "exp": True}, "query_filter.exp", "strings or numbers"),
    ("upsert-debtors", {"key": "bad name", "op": "=", "exp": "x"}, "query_filter.key", "not a property name"),
    ("upsert-debtors", {"key": "_id\n", "op": "=", "exp": 1}, "query_filter.key", "not a property name"),
    ("upsert-orders", {"key": "creditor.creditorpublicid", "op": "=", "exp": 5}, "query_filter.exp", "strings"),
    ("upsert-orders", {"key": "customer.name", "op": "=", "exp": "x"}, "query_filter.key", "mapped relation"),
    ("upsert-orders", {"key": "creditor", "op": "=", "exp": "acme"}, "query_filter.exp", "related object ids"),
    ("upsert-orders", {"key": "paymenttermsindays", "op": "<", "exp": 1.5}, "query_filter.exp", "integers"),
    ("upsert-articles", {"key": "isactive", "op": "=", "exp": 1}, "query_filter.exp", "true or false"),
    ("upsert-articles", {"key": "unitprice", "op": "=", "exp": "12"}, "query_filter.exp", "numbers"),
    ("credit-invoices", {"key": "invoicedate", "op": ">=", "exp": "2024-13-01"}, "query_filter.exp", "dates"),
])
def test_keys_operators_and_values_must_fit_the_property(client: FlaskClient, db: Database, path: str,
                                                         query_filter: Any, where: str, fragment: str) -> None:
    resp = client.post(f"{PREFIX}/task/{path}-in-billecta", json={"query_filter": query_filter}, headers=COMMANDS)
    assert resp.status_code == 400, resp.get_json()
    answer = resp.get_json()
    assert (answer["field"], answer["where"]) == ("query_filter", where)
    assert fragment in answer["message"]
    assert batch_count(db) == 0


@pytest.mark.parametrize(("path", "query_filter"), [
    ("upsert-debtors", {"key": "_id", "op": "IN", "exp": [1001, 1002]}),
    ("upsert-debtors", {"key": "id", "op": "IN", "exp": [1001]}),  # the web client's alias
    ("upsert-debtors", {"op": "AND", "exp": [{"key": "_timestamp", "op": ">", "exp": "2024-01-01T00:00:00Z"},
                                             {"key": "debtortype", "op": "=", "exp": "private"}]}),
    ("upsert-debtors", {"key": "nickname", "op": "=?", "exp": "Ac"}),  # a customer's own property
    ("upsert-debtors", {"key": "person", "op": "IN", "exp": [7, None]}),
    ("upsert-orders", {"key": "creditor.creditorpublicid", "op": "!", "exp": ""}),
    ("upsert-orders", {"key": "debtor.company.name", "op": "=?", "exp": "Acme"}),
    ("upsert-orders", {"key": "invoicedate", "op": ">=", "exp": "2024-01-01"}),
    ("upsert-articles", {"key": "isactive", "op": "=", "exp": True}),
    ("upsert-articles", {"key": "unitprice", "op": ">", "exp": 1.5}),
    ("credit-invoices", {"key": "creditinvoice", "op": "=", "exp": None}),
])
def test_filters_that_fit_the_data_model_are_queued(client: FlaskClient, db: Database, path: str,
                                                    query_filter: Any) -> None:
    resp = client.post(f"{PREFIX}/task/{path}-in-billecta", json={"query_filter": query_filter}, headers=COMMANDS)
    assert resp.status_code == 202, resp.get_json()
    assert batch_count(db) == 1


def test_filters_use_the_customers_lime_names(tmp_path: Any, make_settings: Callable[..., Any],
                                              make_app: Callable[..., Flask], db: Database) -> None:
    config = tmp_path / "mappings.yaml"
    config.write_text("mappings:\n  debtor:\n    limetype: customer\n    properties: {ssnregno: orgnumber}\n"
                      "  creditor:\n    properties: {creditorpublicid: billectaid}\n")
    client = make_app(make_settings(BILLECTA_SYNC_CONFIG=str(config))).test_client()
    url = f"{PREFIX}/task/upsert-orders-in-billecta"

    def status(query_filter: Any) -> int:
        return client.post(url, json={"query_filter": query_filter}, headers=COMMANDS).status_code

    assert status({"key": "creditor.billectaid", "op": "=", "exp": "c-1"}) == 202
    assert status({"key": "creditor.billectaid", "op": "=", "exp": True}) == 400
    assert status({"key": "debtor.orgnumber", "op": "=?", "exp": "5560"}) == 202
    assert status({"key": "debtor.orgnumber", "op": "=", "exp": 5560}) == 400


# ---- query filter size -------------------------------------------------------------------------------


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"key": "_id", "op": "=", "exp": 1}
    for _ in range(levels - 1):
        node = {"op": "AND", "exp": [node]}
    return node


@pytest.mark.parametrize(("query_filter", "fragment"), [
    (_nested(MAX_FILTER_DEPTH + 1), f"deeper than {MAX_FILTER_DEPTH} levels"),
    ({"op": "OR", "exp": [{"key": "_id", "op": "=", "exp": i + 1} for i in range(MAX_FILTER_COMPARISONS + 1)]},
     f"more than {MAX_FILTER_COMPARISONS} comparisons"),
    ({"key": "_id", "op": "IN", "exp": list(range(1, MAX_FILTER_LIST_LENGTH + 2))},
     f"at most {MAX_FILTER_LIST_LENGTH} values"),
    ({"key": "name", "op": "=", "exp": "x" * (MAX_FILTER_STRING_LENGTH + 1)},
     f"limited to {MAX_FILTER_STRING_LENGTH} characters"),
])
def test_oversized_filters_are_400_naming_query_filter(client: FlaskClient, db: Database, query_filter: Any,
                                                       fragment: str) -> None:
    resp = client.post(f"{PREFIX}/task/upsert-debtors-in-billecta", json={"query_filter": query_filter},
                       headers=COMMANDS)
    assert resp.status_code == 400
    assert resp.get_json()["field"] == "query_filter"
    assert fragment in resp.get_json()["message"]
    assert batch_count(db) == 0


def test_filters_at_the_limits_are_accepted(client: FlaskClient, db: Database) -> None:
    url = f"{PREFIX}/task/upsert-debtors-in-billecta"
    for query_filter in (
        _nested(MAX_FILTER_DEPTH),
        {"op": "OR", "exp": [{"key": "_id", "op": "=", "exp": i + 1} for i in range(MAX_FILTER_COMPARISONS)]},
        {"key": "_id", "op": "IN", "exp": list(range(1, MAX_FILTER_LIST_LENGTH + 1))},
        {"key": "name", "op": "=", "exp": "x" * MAX_FILTER_STRING_LENGTH},
    ):
        assert client.post(url, json={"query_filter": query_filter}, headers=COMMANDS).status_code == 202


# ---- request headers ---------------------------------------------------------------------------------


def test_too_many_headers_is_431_on_every_route(client: FlaskClient) -> None:
    extra = {f"X-Extra-{i}": "1" for i in range(MAX_REQUEST_HEADERS)}
    for method, path in (("GET", "/healthz"), ("GET", f"{PREFIX}/operator/inbox"),
                         ("POST", f"{PREFIX}/billecta-webhook-receiver"), ("GET", "/no-such-route")):
        resp = client.open(path, method=method, headers={**OPERATOR, **extra})
        assert resp.status_code == 431, path
        assert resp.get_json()["error"] == "too_many_headers"
        assert resp.headers["X-Request-Id"]


def test_headers_up_to_the_limit_are_fine(client: FlaskClient) -> None:
    # The test client adds Host, User-Agent and the key: fill up to exactly the limit.
    extra = {f"X-Extra-{i}": "1" for i in range(MAX_REQUEST_HEADERS - 3)}
    resp = client.get(f"{PREFIX}/operator/inbox", headers={**OPERATOR, **extra})
    assert resp.status_code == 200


# ---- the document says so ----------------------------------------------------------------------------


def test_the_document_lists_the_answers_every_route_can_give(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert "431" in op["responses"], (method, path)
            if "requestBody" in op:
                assert "413" in op["responses"], (method, path)
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["schema"]["type"] == "integer":
                    assert (param["schema"]["minimum"], param["schema"]["maximum"]) == (1, MAX_ROW_ID)
    retrigger = doc["paths"][f"{PREFIX}/task/billecta-retrigger-failed-webhooks"]["post"]
    assert retrigger["requestBody"]["required"] is False  # Lime's button may post nothing
    add_message = doc["paths"][f"{PREFIX}/add-message-to-orderrow/"]["post"]
    assert {"413", "415"} <= set(add_message["responses"])
    for path in ("/operator/inbox", "/operator/inbox/{inbox_id}", "/operator/inbox-stats",
                 "/operator/dead-letters", "/monitor/batches/{batch_id}"):
        assert "503" in doc["paths"][PREFIX + path]["get"]["responses"], path
