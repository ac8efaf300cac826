"""Batch commands: strict validation, the batch row, the START_BATCH task and the wait for its answer."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from billecta_sync import catalogue, monitor
from billecta_sync.db import Database, MonitorBatch, MonitorStatus
from billecta_sync.queueing import TaskFailed

PREFIX = "/limepkg-billecta-integration"
URL = f"{PREFIX}/task/upsert-attest-orders-in-billecta"
COMMANDS = {"X-API-Key": "dev-commands-key"}
FILTER = {"key": "_id", "op": "IN", "exp": [1001, 1002, 1003]}


def batches(db: Database) -> list[MonitorBatch]:
    with db.session() as session:
        return list(session.scalars(select(MonitorBatch).order_by(MonitorBatch.id)))


def batch_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(MonitorBatch)) or 0)


@pytest.mark.parametrize(
    ("body", "error", "field", "fragment"),
    [
        ({}, "invalid_body", "query_filter", "query_filter is required"),
        ({"query_filter": FILTER, "extra": 1}, "invalid_body", "extra", "unknown field(s): extra"),
        ({"query_filter": FILTER, "integration_monitor_batch_title": 5}, "invalid_body",
         "integration_monitor_batch_title", "non-empty string"),
        ({"query_filter": FILTER, "integration_monitor_batch_title": "  "}, "invalid_body",
         "integration_monitor_batch_title", "non-empty string"),
        ({"query_filter": FILTER, "integration_monitor_batch_title": "x" * 201}, "invalid_body",
         "integration_monitor_batch_title", "at most 200"),
        ({"query_filter": "all"}, "invalid_query_filter", "query_filter", "query_filter"),
        ({"query_filter": {"key": "_id", "op": "LIKE", "exp": 1}}, "invalid_query_filter", "query_filter",
         "query_filter.op"),
        ({"query_filter": {"key": "_id", "op": "IN", "exp": 5}}, "invalid_query_filter", "query_filter",
         "query_filter.exp"),
        ({"query_filter": {"op": "=", "exp": 5}}, "invalid_query_filter", "query_filter", "query_filter.key"),
        ({"query_filter": {"op": "AND", "exp": [FILTER, {"key": "x", "op": "?", "exp": 3}]}},
         "invalid_query_filter", "query_filter", "query_filter.exp[1].exp"),
        ({"query_filter": {"op": "OR", "exp": []}}, "invalid_query_filter", "query_filter", "query_filter.exp"),
    ],
)
def test_bad_command_is_400_naming_the_field_and_stores_nothing(
    client: FlaskClient, db: Database, publisher: Any, body: dict[str, Any], error: str, field: str, fragment: str
) -> None:
    resp = client.post(URL, json=body, headers=COMMANDS)
    assert resp.status_code == 400
    answer = resp.get_json()
    assert answer["error"] == error
    assert answer["field"] == field
    assert fragment in answer["message"]
    assert batch_count(db) == 0
    assert publisher.published == []


def test_body_that_is_not_an_object_is_400(client: FlaskClient, db: Database) -> None:
    resp = client.post(URL, json=[FILTER], headers=COMMANDS)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_body"
    assert batch_count(db) == 0


def test_form_body_is_415(client: FlaskClient, db: Database) -> None:
    resp = client.post(URL, data={"query_filter": "x"}, headers=COMMANDS)
    assert resp.status_code == 415
    assert resp.get_json()["error"] == "unsupported_media_type"
    assert batch_count(db) == 0


def test_good_command_creates_batch_and_publishes_start(client: FlaskClient, db: Database, publisher: Any) -> None:
    resp = client.post(URL, json={"query_filter": FILTER}, headers=COMMANDS)

    stored = batches(db)
    assert len(stored) == 1
    batch = stored[0]
    assert resp.status_code == 202
    assert resp.get_json() == {"integration_monitor_batch_id": batch.id, "status": "queued"}
    assert batch.title == "Upsert & attest orders in Billecta"
    assert batch.operation == "upsert_attest_orders"
    assert batch.query_filter == FILTER
    assert batch.params == {"limetype": "order", "attest": True}
    assert batch.status == MonitorStatus.RUNNING
    assert [(p.task, p.args, p.queue, p.want_result) for p in publisher.published] == [
        (catalogue.START_BATCH.name, [batch.id], catalogue.QUEUE_INTERACTIVE, True)
    ]
    assert publisher.waits == [("task-1", 5.0)]


def test_answer_in_time_is_200_running_with_total(client: FlaskClient, db: Database, publisher: Any) -> None:
    publisher.wait_result = {"batch_id": 1, "total": 3}
    resp = client.post(URL, json={"query_filter": FILTER, "integration_monitor_batch_title": "March orders"},
                       headers=COMMANDS)
    batch = batches(db)[0]
    assert resp.status_code == 200
    assert resp.get_json() == {"integration_monitor_batch_id": batch.id, "status": "running", "total": 3}
    assert batch.title == "March orders"


def test_wait_uses_the_configured_time(make_settings: Any, make_app: Any, publisher: Any) -> None:
    client = make_app(make_settings(GATEWAY_COMMAND_WAIT_S="2.5")).test_client()
    assert client.post(URL, json={"query_filter": FILTER}, headers=COMMANDS).status_code == 202
    assert publisher.waits == [("task-1", 2.5)]


def test_zero_wait_answers_queued_without_waiting(make_settings: Any, make_app: Any, publisher: Any) -> None:
    publisher.wait_result = {"batch_id": 1, "total": 3}
    client = make_app(make_settings(GATEWAY_COMMAND_WAIT_S="0")).test_client()
    resp = client.post(URL, json={"query_filter": FILTER}, headers=COMMANDS)
    assert resp.status_code == 202
    assert publisher.waits == []
    assert publisher.published[0].want_result is False


def test_start_task_error_is_502_with_batch_id(client: FlaskClient, db: Database, publisher: Any) -> None:
    publisher.wait_error = TaskFailed("Lime is unreachable")
    resp = client.post(URL, json={"query_filter": FILTER}, headers=COMMANDS)
    batch = batches(db)[0]
    assert resp.status_code == 502
    assert resp.get_json() == {
        "error": "start_failed",
        "message": "the batch could not be started: Lime is unreachable",
        "integration_monitor_batch_id": batch.id,
    }


def test_publisher_down_still_stores_the_batch_and_answers_queued(client: FlaskClient, db: Database,
                                                                  publisher: Any) -> None:
    publisher.fail = True
    resp = client.post(URL, json={"query_filter": FILTER}, headers=COMMANDS)
    batch = batches(db)[0]
    assert resp.status_code == 202
    assert resp.get_json() == {"integration_monitor_batch_id": batch.id, "status": "queued"}
    assert batch.started is False  # left for the sweeper, which starts unstarted batches
    assert publisher.waits == []


def test_other_scopes_are_refused(client: FlaskClient, db: Database, publisher: Any) -> None:
    for headers, status in (({"X-API-Key": "dev-webhook-key"}, 403), ({"X-API-Key": "dev-operator-key"}, 403),
                            ({}, 401)):
        assert client.post(URL, json={"query_filter": FILTER}, headers=headers).status_code == status
    assert batch_count(db) == 0
    assert publisher.published == []


@pytest.mark.parametrize(("path", "operation", "limetype", "params"), [
    ("upsert-orders-in-billecta", "upsert_orders", "order", {"attest": False}),
    ("attest-orders-in-billecta", "attest_orders", "order", {}),
    ("upsert-debtors-in-billecta", "upsert_debtors", "debtor", {}),
    ("anonymize-debtors-in-billecta", "anonymize_debtors", "debtor", {}),
    ("upsert-articles-in-billecta", "upsert_articles", "article", {}),
    ("delete-articles-in-billecta", "delete_articles", "article", {}),
    ("credit-invoices-in-billecta", "credit_invoices", "invoice", {}),
])
def test_each_seed_command_starts_its_own_batch(client: FlaskClient, db: Database, publisher: Any, path: str,
                                                operation: str, limetype: str, params: dict[str, Any]) -> None:
    resp = client.post(f"{PREFIX}/task/{path}", json={"query_filter": FILTER}, headers=COMMANDS)
    assert resp.status_code == 202
    batch = batches(db)[0]
    assert (batch.operation, batch.params) == (operation, {"limetype": limetype, **params})
    assert [p.task for p in publisher.published] == [catalogue.START_BATCH.name]


@pytest.mark.parametrize("path", ["nonsense", "upsert-invoices-in-billecta"])
def test_unregistered_commands_are_404(client: FlaskClient, path: str) -> None:
    resp = client.post(f"{PREFIX}/task/{path}", json={"query_filter": FILTER}, headers=COMMANDS)
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"


def test_batch_status_for_commands_and_operator(client: FlaskClient, db: Database) -> None:
    batch_id = monitor.create_batch(db, "Nightly", "upsert_attest_orders", FILTER, params={"limetype": "order"})
    monitor.add_logs(db, batch_id, "upsert_attest_order", "order", [1001, 1002])
    for key in ("dev-commands-key", "dev-operator-key"):
        resp = client.get(f"{PREFIX}/monitor/batches/{batch_id}", headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["id"] == batch_id
        assert body["title"] == "Nightly"
        assert body["counts"] == {"running": 2, "ok": 0, "error": 0}
        assert [log["object_id"] for log in body["logs"]] == ["1001", "1002"]
    assert client.get(f"{PREFIX}/monitor/batches/{batch_id}",
                      headers={"X-API-Key": "dev-webhook-key"}).status_code == 403
    missing = client.get(f"{PREFIX}/monitor/batches/{batch_id + 1}", headers=COMMANDS)
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "not_found", "message": f"no batch {batch_id + 1}"}


def test_database_down_is_503(client: FlaskClient, db: Database, publisher: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE monitor_log"))
        conn.execute(text("DROP TABLE monitor_batch"))
    resp = client.post(URL, json={"query_filter": FILTER}, headers=COMMANDS)
    assert resp.status_code == 503
    assert publisher.published == []


@pytest.mark.parametrize("path, message", [
    ("/billecta/event-log/order/1", "Invalid limetype or ID"),  # the seed's own words for its event log
    ("/billecta/swish-request/status/b%C3%A5d!", "requestid is malformed"),
])
def test_a_path_argument_that_does_not_fit_is_400_naming_it_and_queues_nothing(
        client: FlaskClient, publisher: Any, path: str, message: str) -> None:
    resp = client.get(f"/limepkg-billecta-integration{path}", headers=COMMANDS)
    assert resp.status_code == 400
    assert resp.get_json()["error_message"] == message
    assert publisher.published == []
