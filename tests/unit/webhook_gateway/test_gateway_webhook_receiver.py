"""The Billecta webhook receiver: what is stored, what is published, and what is refused."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from flask import jsonify
from flask.testing import FlaskClient
from sqlalchemy import select, text

from billecta_sync import catalogue, inbox
from billecta_sync.db import Database, InboxStatus, WebhookInbox
from billecta_sync.inbound import delivery
from webhook_gateway.routes import stored_webhook_answer

URL = "/limepkg-billecta-integration/billecta-webhook-receiver"
WEBHOOK = {"X-API-Key": "dev-webhook-key"}
ATTESTED = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a1b2c3", "CreditorPublicId": "cr-9"}


def rows(db: Database) -> list[WebhookInbox]:
    with db.session() as session:
        return list(session.scalars(select(WebhookInbox).order_by(WebhookInbox.id)))


def post(client: FlaskClient, body: bytes | str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return client.post(URL, data=body, headers={**WEBHOOK, "Content-Type": "application/json", **(headers or {})},
                       **kw)


def test_good_webhook_is_stored_intact_redacted_and_published(client: FlaskClient, db: Database,
                                                              publisher: Any) -> None:
    raw = json.dumps(ATTESTED, indent=1).encode()  # odd formatting must survive byte for byte
    resp = post(client, raw, {"Authorization": "Bearer something-else", "X-Trace": "t-1"})

    assert resp.status_code == 200
    stored = rows(db)
    assert len(stored) == 1
    row = stored[0]
    assert resp.get_json() == {"status": "queued", "inbox_id": row.id}
    assert row.body == raw.decode()
    assert row.source == "billecta"
    assert row.event_type == "InvoiceActionAttested"
    assert row.object_key == "action:a1b2c3"
    assert row.status == InboxStatus.QUEUED
    assert row.headers["X-Api-Key"] == "***"
    assert row.headers["Authorization"] == "***"
    assert row.headers["X-Trace"] == "t-1"
    assert "dev-webhook-key" not in json.dumps(row.headers)
    assert [(p.task, p.args, p.queue) for p in publisher.published] == [
        (catalogue.PROCESS_BILLECTA_WEBHOOK.name, [row.id], catalogue.QUEUE_WEBHOOKS)
    ]


def test_bearer_key_is_accepted(client: FlaskClient, db: Database, publisher: Any) -> None:
    resp = client.post(URL, json=ATTESTED, headers={"Authorization": "Bearer dev-webhook-key"})
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "queued"
    assert len(rows(db)) == 1


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "missing_api_key"),
        ({"X-API-Key": "not-the-right-key"}, 401, "invalid_api_key"),
        ({"Authorization": "Bearer not-the-right-key"}, 401, "invalid_api_key"),
        ({"X-API-Key": "dev-commands-key"}, 403, "wrong_scope"),
        ({"Authorization": "Bearer dev-operator-key"}, 403, "wrong_scope"),
    ],
)
def test_refused_keys_store_and_publish_nothing(client: FlaskClient, db: Database, publisher: Any,
                                                headers: dict[str, str], status: int, reason: str) -> None:
    resp = client.post(URL, json=ATTESTED, headers=headers)
    assert resp.status_code == status
    body = resp.get_json()
    assert body["reason"] == reason
    assert body["error"] == ("unauthorized" if status == 401 else "forbidden")
    assert body["message"]
    assert rows(db) == []
    assert publisher.published == []


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (b"{not json", "invalid_json", "not valid JSON"),
        (b"", "invalid_json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "invalid_json", "not valid JSON"),
        (b'[{"WebhookTriggerType": "InvoiceActionAttested"}]', "invalid_body", "JSON object"),
        (b'"InvoiceActionAttested"', "invalid_body", "JSON object"),
        (b'{"ActionPublicId": "a1"}', "invalid_webhook", "no event type"),
        (b'{"WebhookTriggerType": "InvoiceActionAttested"}', "missing_ids", "ActionPublicId"),
        (b'{"WebhookTriggerType": "DebtorUpdated", "ActionPublicId": "a1"}', "missing_ids", "DebtorPublicId"),
    ],
)
def test_malformed_deliveries_are_400_and_not_stored(client: FlaskClient, db: Database, publisher: Any,
                                                     body: bytes, error: str, fragment: str) -> None:
    resp = post(client, body)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == error
    assert fragment in resp.get_json()["message"]
    assert rows(db) == []
    assert publisher.published == []


def test_missing_ids_are_named(client: FlaskClient) -> None:
    resp = client.post(URL, json={"WebhookTriggerType": "UnmatchedPayment"}, headers=WEBHOOK)
    assert resp.status_code == 400
    assert resp.get_json()["missing"] == ["UnhandledPaymentPublicId", "PaymentPublicId"]


def test_oversized_body_is_413(make_settings: Any, make_app: Any, db: Database, publisher: Any) -> None:
    client = make_app(make_settings(GATEWAY_MAX_BODY_BYTES="2048")).test_client()
    big = json.dumps({**ATTESTED, "Padding": "x" * 3000}).encode()
    resp = post(client, big)
    assert resp.status_code == 413
    assert resp.get_json()["error"] == "payload_too_large"
    assert "2048" in resp.get_json()["message"]
    assert rows(db) == []
    assert publisher.published == []
    # Just under the limit still passes, so the limit is the configured one and not Flask's default.
    small = json.dumps({**ATTESTED, "Padding": "x" * 1500}).encode()
    assert post(client, small).status_code == 200


def test_oversized_body_without_content_length_is_413(make_settings: Any, make_app: Any, db: Database,
                                                      publisher: Any) -> None:
    client = make_app(make_settings(GATEWAY_MAX_BODY_BYTES="2048")).test_client()
    big = json.dumps({**ATTESTED, "Padding": "x" * 5000}).encode()
    # A chunked request carries no Content-Length; the read itself must stop at the limit.
    resp = client.post(URL, input_stream=io.BytesIO(big), headers={**WEBHOOK, "Content-Type": "application/json"},
                       environ_base={"wsgi.input_terminated": True})
    assert resp.status_code == 413
    assert resp.get_json()["error"] == "payload_too_large"
    assert rows(db) == []
    assert publisher.published == []


def test_unknown_event_is_stored_as_ignored_and_not_published(client: FlaskClient, db: Database,
                                                              publisher: Any) -> None:
    resp = client.post(URL, json={"WebhookTriggerType": "SomethingNew", "ActionPublicId": "a9"}, headers=WEBHOOK)
    assert resp.status_code == 200
    row = rows(db)[0]
    assert resp.get_json() == {"status": "ignored", "inbox_id": row.id}
    assert row.status == InboxStatus.IGNORED
    assert row.event_type == "SomethingNew"
    assert "unsupported" in row.last_error
    assert publisher.published == []


def test_publisher_down_answers_received_and_keeps_row(client: FlaskClient, db: Database, publisher: Any,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    publisher.fail = True
    with caplog.at_level(logging.WARNING, logger="webhook_gateway"):
        resp = client.post(URL, json=ATTESTED, headers=WEBHOOK)
    assert resp.status_code == 200
    row = rows(db)[0]
    assert resp.get_json() == {"status": "received", "inbox_id": row.id}
    assert row.status == InboxStatus.RECEIVED
    assert f"could not queue inbox {row.id}" in caplog.text


def test_database_down_is_503_so_billecta_retries(client: FlaskClient, db: Database, publisher: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE webhook_inbox"))
    resp = client.post(URL, json=ATTESTED, headers=WEBHOOK)
    assert resp.status_code == 503
    assert resp.get_json()["error"] == "unavailable"
    assert publisher.published == []


def test_keys_never_reach_the_logs(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client.post(URL, json=ATTESTED, headers=WEBHOOK)
        client.post(URL, json=ATTESTED, headers={"Authorization": "Bearer dev-commands-key"})
        client.post(URL, json=ATTESTED, headers={"X-API-Key": "guessed-key-123"})
    assert caplog.records, "the access log should have written lines"
    for secret in ("dev-webhook-key", "dev-commands-key", "guessed-key-123", "a1b2c3"):
        assert secret not in caplog.text


def test_configured_key_header_is_used_and_redacted(make_settings: Any, make_app: Any, db: Database) -> None:
    client = make_app(make_settings(GATEWAY_API_KEY_HEADER="X-Gateway-Key")).test_client()
    assert client.post(URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key"}).status_code == 401
    resp = client.post(URL, json=ATTESTED, headers={"X-Gateway-Key": "dev-webhook-key"})
    assert resp.status_code == 200
    assert rows(db)[0].headers["X-Gateway-Key"] == "***"


def test_wrong_method_is_json_405(client: FlaskClient) -> None:
    resp = client.get(URL, headers=WEBHOOK)
    assert resp.status_code == 405
    assert resp.get_json()["error"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


def _committed(db: Database, inbox_id: int) -> str | None:
    """The row's status as a connection of its own sees it: only committed rows are visible there."""
    other = Database(db.url)
    try:
        with other.session() as session:
            found = session.get(WebhookInbox, inbox_id)
            return found.status if found is not None else None
    finally:
        other.dispose()


def test_the_row_is_committed_before_it_is_published_and_answered(client: FlaskClient, db: Database,
                                                                  publisher: Any) -> None:
    seen_at_publish: list[str | None] = []
    record_publish = publisher.publish

    def publish(task_name: str, args: list[Any], queue: str, **kwargs: Any) -> str:
        seen_at_publish.append(_committed(db, args[0]))
        return record_publish(task_name, args, queue, **kwargs)

    publisher.publish = publish
    resp = post(client, json.dumps(ATTESTED))

    assert resp.status_code == 200
    inbox_id = resp.get_json()["inbox_id"]
    assert seen_at_publish == [InboxStatus.QUEUED]  # durable before the job could reach a worker
    assert _committed(db, inbox_id) == InboxStatus.QUEUED


def test_a_failed_publish_leaves_a_stored_row_the_sweeper_publishes(client: FlaskClient, db: Database,
                                                                    publisher: Any) -> None:
    publisher.fail = True
    resp = post(client, json.dumps(ATTESTED))
    assert resp.status_code == 200
    inbox_id = resp.get_json()["inbox_id"]
    assert _committed(db, inbox_id) == InboxStatus.RECEIVED

    publisher.fail = False
    stuck = inbox.stuck_ids(db, older_than_s=-1)  # as the sweeper finds it once it is old enough
    assert stuck == [inbox_id]
    delivery.republish(db, publisher, inbox.sources_of(db, stuck))
    assert [(p.task, p.args) for p in publisher.published] == [(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [inbox_id])]
    assert rows(db)[0].status == InboxStatus.QUEUED
    assert len(rows(db)) == 1  # stored once, published once after the broker came back


def test_a_stored_webhook_is_answered_with_the_bytes_jsonify_writes(client: FlaskClient) -> None:
    # The receivers format their answer themselves; a client must not be able to tell.
    with client.application.app_context():
        for status in (InboxStatus.QUEUED, InboxStatus.RECEIVED, InboxStatus.IGNORED):
            ours, flasks = stored_webhook_answer(status, 4711), jsonify(status=status, inbox_id=4711)
            assert (ours.get_data(), ours.mimetype, ours.status_code) == (
                flasks.get_data(), flasks.mimetype, flasks.status_code)


def test_a_body_cut_short_of_its_content_length_is_400_and_not_stored(client: FlaskClient, db: Database,
                                                                      publisher: Any) -> None:
    # The sender went away mid-body: what arrived (here even valid JSON) must not be stored as the delivery.
    raw = json.dumps(ATTESTED).encode()
    resp = client.post(URL, data=raw, headers={**WEBHOOK, "Content-Type": "application/json"},
                       environ_overrides={"CONTENT_LENGTH": str(len(raw) + 40)})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "incomplete_body"
    assert rows(db) == [] and publisher.published == []
