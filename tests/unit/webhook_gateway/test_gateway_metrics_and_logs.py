"""/metrics after known work, the correlation id (X-Request-ID) from request to inbox row and task headers, and
JSON log lines that never show a key."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from billecta_sync import logs
from billecta_sync.db import Database, InboxStatus, WebhookInbox
from billecta_sync.lime import LimeClient
from billecta_sync.settings import LimeSettings, Secret
from taskqueue import CeleryTaskQueue
from tests.unit.webhook_gateway.conftest import OPERATOR_KEY

PREFIX = "/limepkg-billecta-integration"
WEBHOOK_URL = f"{PREFIX}/billecta-webhook-receiver"
ATTESTED = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a1b2c3", "CreditorPublicId": "cr-9"}
OPERATOR = {"X-API-Key": OPERATOR_KEY}


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = client.get("/metrics", headers=OPERATOR)
    assert resp.status_code == 200, resp.data
    assert resp.content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(resp.data.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_operator_key(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "dev-commands-key"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"}).status_code == 200


def test_metrics_count_webhooks_commands_and_refused_keys_and_read_gauges(client: FlaskClient, db: Database) -> None:
    before = scrape(client)
    for _ in range(2):
        assert client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key"}).status_code == 200
    assert client.post(WEBHOOK_URL, json={"WebhookTriggerType": "SomethingNew"},
                       headers={"X-API-Key": "dev-webhook-key"}).status_code == 200  # stored as ignored
    assert client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "wrong-key-123"}).status_code == 401
    assert client.post(WEBHOOK_URL, json=ATTESTED).status_code == 401
    assert client.post(f"{PREFIX}/task/upsert-attest-orders-in-billecta",
                       json={"query_filter": {"key": "_id", "op": "IN", "exp": [1]}},
                       headers={"X-API-Key": "dev-commands-key"}).status_code == 202
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("billecta_sync_webhooks_received_total", source="billecta", outcome="queued") == 2
    assert delta("billecta_sync_webhooks_received_total", source="billecta", outcome="ignored") == 1
    assert delta("billecta_sync_webhooks_received_total", source="billecta", outcome="401") == 2
    assert delta("billecta_sync_auth_failures_total", scope="webhook", reason="invalid_api_key") == 1
    assert delta("billecta_sync_auth_failures_total", scope="webhook", reason="missing_api_key") == 1
    commands = {labels: v for (name, labels), v in after.items() if name == "billecta_sync_commands_total"}
    assert sum(v for labels, v in commands.items() if ("status", "202") in labels) >= 1
    # Scrape-time gauges: the rows just stored (the recording publisher "queued" two, one is ignored).
    assert value(after, "billecta_sync_inbox_rows", status="queued") == 2
    assert value(after, "billecta_sync_inbox_rows", status="ignored") == 1
    assert value(after, "billecta_sync_monitor_batches_running") == 1
    assert value(after, "billecta_sync_inbox_oldest_open_age_seconds") >= 0
    assert value(after, "billecta_sync_scrape_error") == 0
    assert "wrong-key-123" not in client.get("/metrics", headers=OPERATOR).data.decode()


def test_the_request_id_is_kept_stored_on_the_row_and_drawn_when_unsafe(client: FlaskClient, db: Database) -> None:
    given = client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key",
                                                             "X-Request-ID": "billecta.delivery-42_a"})
    assert given.headers["X-Request-ID"] == "billecta.delivery-42_a"
    too_long = client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key",
                                                                "X-Request-ID": "a" * 65})
    forged = client.get("/healthz", headers={"X-Request-ID": "x forged=1 <script>"})
    assert too_long.headers["X-Request-ID"] != "a" * 65 and len(too_long.headers["X-Request-ID"]) == 32
    assert "forged" not in forged.headers["X-Request-ID"]
    with db.session() as session:
        stored = list(session.scalars(select(WebhookInbox.correlation_id).order_by(WebhookInbox.id)))
    assert stored == ["billecta.delivery-42_a", too_long.headers["X-Request-ID"]]


def test_the_publisher_sends_the_correlation_id_in_the_task_headers() -> None:
    sent: list[dict[str, Any]] = []

    class FakeCelery:
        def send_task(self, name: str, **options: Any) -> Any:
            sent.append(options)
            return type("R", (), {"id": "t-1"})()

    queue = CeleryTaskQueue(FakeCelery())  # type: ignore[arg-type]
    logs.bind(correlation_id="cid-1")
    try:
        queue.publish("billecta_sync.process_billecta_webhook", [1], "webhooks")
    finally:
        logs.clear()
    queue.publish("billecta_sync.process_billecta_webhook", [2], "webhooks")
    assert sent[0]["headers"][logs.TASK_HEADER] == "cid-1"
    assert logs.TASK_HEADER not in sent[1]["headers"]
    assert all(isinstance(options["headers"]["x_published_at"], float) for options in sent)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of the process as the JSON lines the service writes."""
    logs.configure_logging("DEBUG")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.json_formatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_logs_are_json_with_the_correlation_id_and_never_show_a_key(client: FlaskClient, json_log: io.StringIO,
                                                                    requests_mock_lime: Any) -> None:
    resp = client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key",
                                                            "X-Request-ID": "cid-webhook-1"})
    assert resp.status_code == 200
    # A Lime call in the same context (what a worker does), with the Lime key in its headers.
    logs.bind(correlation_id="cid-webhook-1", task="billecta_sync.process_billecta_webhook")
    try:
        lime = LimeClient(LimeSettings(base_url="http://lime.test/api/v1/", api_key=Secret("lime-secret-key-xyz")))
        lime.get("invoice", 7)
        logging.getLogger("billecta_sync.test").info("with extras", extra={"headers": {"X-API-Key": "leak-me"},
                                                                            "api_key": "leak-me-too"})
    finally:
        logs.clear()
    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    # A stored webhook's record is its inbox row (below): no access line of its own by default.
    assert not [line for line in lines if line.get("logger") == "webhook_gateway.access"]
    lime_lines = [line for line in lines if line.get("logger") == "billecta_sync.lime.client"
                  and "lime GET" in line.get("event", "")]
    assert lime_lines and lime_lines[0]["correlation_id"] == "cid-webhook-1"
    for secret in ("dev-webhook-key", "lime-secret-key-xyz", "leak-me", "SecureToken", "ZGV2LWJpbGxlY3RhLXRva2Vu"):
        assert secret not in text, secret
    assert InboxStatus.QUEUED  # the webhook was stored and queued, not refused


def _access_lines(json_log: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "webhook_gateway.access"]


def test_a_stored_webhook_is_on_its_inbox_row_and_a_refused_one_in_the_access_log(
        client: FlaskClient, db: Database, json_log: io.StringIO) -> None:
    stored = client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key",
                                                              "X-Request-ID": "cid-stored"})
    refused = client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "guessed-key",
                                                               "X-Request-ID": "cid-refused"})
    unreadable = client.post(WEBHOOK_URL, data=b"not json", headers={"X-API-Key": "dev-webhook-key",
                                                                     "X-Request-ID": "cid-bad"})
    assert (stored.status_code, refused.status_code, unreadable.status_code) == (200, 401, 400)
    with db.session() as session:
        row = session.scalars(select(WebhookInbox)).one()
    assert (row.correlation_id, row.status) == ("cid-stored", InboxStatus.QUEUED)
    access = _access_lines(json_log)
    assert [(line["correlation_id"], line["status"]) for line in access] == [("cid-refused", 401), ("cid-bad", 400)]


def test_gateway_log_stored_webhooks_writes_their_access_lines_too(
        make_settings: Any, make_app: Any, json_log: io.StringIO) -> None:
    client = make_app(make_settings(GATEWAY_LOG_STORED_WEBHOOKS="true")).test_client()
    resp = client.post(WEBHOOK_URL, json=ATTESTED, headers={"X-API-Key": "dev-webhook-key",
                                                            "X-Request-ID": "cid-logged"})
    assert resp.status_code == 200
    [line] = _access_lines(json_log)
    assert (line["correlation_id"], line["status"], line["path"]) == ("cid-logged", 200, WEBHOOK_URL)


@pytest.fixture
def requests_mock_lime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lime answers every GET with an object, without a network."""
    import requests

    def fake_request(self: Any, method: str, url: str, **kwargs: Any) -> requests.Response:
        resp = requests.Response()
        resp.status_code = 200
        resp._content = b'{"_id": 7}'
        resp.headers["Content-Type"] = "application/json"
        resp.url = url
        return resp

    monkeypatch.setattr(requests.Session, "request", fake_request)
