"""App-wide behaviour: health probes, OpenAPI coverage, prefix, request ids and JSON errors."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from billecta_sync.commands import BATCH_COMMANDS
from billecta_sync.settings import Settings

DEFAULT_PREFIX = "/limepkg-billecta-integration"
WEBHOOK = {"X-API-Key": "dev-webhook-key"}
EVENT = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a1"}


class DownRedis:
    def ping(self) -> bool:
        raise redis.ConnectionError("connection refused")


class DownDatabase:
    def ping(self) -> None:
        raise OSError("disk gone")


def test_healthz(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_ready(client: FlaskClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_names_redis_when_down(make_app: Any, settings: Settings) -> None:
    resp = make_app(settings, redis_client=DownRedis()).test_client().get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["checks"] == {"database": "ok", "redis": "failed"}
    assert body["status"] == "not_ready"
    assert "redis" in body["message"]


def test_readyz_names_database_when_down(make_app: Any, settings: Settings) -> None:
    resp = make_app(settings, db=DownDatabase()).test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "failed", "redis": "ok"}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_openapi_covers_every_rule_and_method(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    # The console's HTML pages (and other Doc(internal=True) routes) are described but kept out of the document.
    rules = [r for r in app.url_map.iter_rules()
             if not getattr(getattr(app.view_functions[r.endpoint], "openapi_doc", None), "internal", False)]
    # At least the fixed routes, one per batch command, update-creditor and add-message-to-orderrow (other
    # blueprints add more); every one of them must be documented, and nothing else.
    assert len(rules) >= 10 + len(BATCH_COMMANDS) + 2
    for rule in rules:
        path = _openapi_path(rule.rule)
        assert path in doc["paths"], f"{rule.rule} is missing from the OpenAPI document"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], f"{method} {rule.rule} is not documented"
    assert len(doc["paths"]) == len(rules)


def test_openapi_describes_security_bodies_and_params(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["webhookApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                        "description": "a key from GATEWAY_API_KEYS_WEBHOOK"}
    assert schemes["operatorBearer"]["scheme"] == "bearer"

    receiver = doc["paths"][f"{DEFAULT_PREFIX}/billecta-webhook-receiver"]["post"]
    assert receiver["security"] == [{"webhookApiKey": []}, {"webhookBearer": []}]
    assert {"200", "400", "401", "403", "413", "503"} <= set(receiver["responses"])

    command = doc["paths"][f"{DEFAULT_PREFIX}/task/upsert-attest-orders-in-billecta"]["post"]
    assert command["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchCommand"}
    assert {"200", "202", "400", "502"} <= set(command["responses"])

    batch = doc["paths"][f"{DEFAULT_PREFIX}/monitor/batches/{{batch_id}}"]["get"]
    assert batch["parameters"] == [{"name": "batch_id", "in": "path", "required": True,
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}]
    assert {"commandsApiKey": []} in batch["security"]
    assert {"operatorBearer": []} in batch["security"]
    assert "security" not in doc["paths"]["/healthz"]["get"]
    inbox = doc["paths"][f"{DEFAULT_PREFIX}/operator/inbox"]["get"]
    assert [p["name"] for p in inbox["parameters"]] == ["status", "source", "limit", "before"]
    # Every $ref points at a component that exists.
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', str(doc).replace("'", '"')))
    assert refs and refs <= set(doc["components"]["schemas"])


def test_prefix_is_configurable(make_settings: Any, make_app: Any, publisher: Any) -> None:
    app = make_app(make_settings(GATEWAY_PREFIX="/x"))
    client = app.test_client()
    old = client.post(f"{DEFAULT_PREFIX}/billecta-webhook-receiver", json=EVENT, headers=WEBHOOK)
    assert old.status_code == 404
    assert old.get_json()["error"] == "not_found"
    new = client.post("/x/billecta-webhook-receiver", json=EVENT, headers=WEBHOOK)
    assert new.status_code == 200
    assert new.get_json()["status"] == "queued"
    assert len(publisher.published) == 1
    doc = client.get("/openapi.json").get_json()
    assert "/x/billecta-webhook-receiver" in doc["paths"]
    assert f"{DEFAULT_PREFIX}/billecta-webhook-receiver" not in doc["paths"]


def test_request_id_is_echoed_or_generated(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="webhook_gateway.access"):
        given = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
        made = client.get("/healthz")
        unsafe = client.get("/healthz", headers={"X-Request-Id": "bad id forged=1"})
    assert given.headers["X-Request-Id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    assert unsafe.headers["X-Request-Id"] != "bad id forged=1"
    lines = [r.getMessage() for r in caplog.records if r.name == "webhook_gateway.access"]
    assert len(lines) == 3
    assert re.fullmatch(r"GET /healthz 200 \d+\.\dms rid=abc-123", lines[0])
    assert "forged" not in caplog.text


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"
    assert resp.get_json()["message"]


def test_unexpected_error_is_json_500(make_app: Any, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(settings)

    def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_url_rule("/boom", view_func=boom)
    with caplog.at_level(logging.ERROR):
        resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    assert resp.get_json() == {"error": "internal_error", "message": "internal error"}
    assert "kaboom" in caplog.text  # logged with its traceback, not shown to the caller


def test_route_without_description_fails_at_start(settings: Settings) -> None:
    from webhook_gateway.openapi import build_openapi

    app = Flask("bare", static_folder=None)
    app.add_url_rule("/undocumented", view_func=lambda: "x")
    with pytest.raises(LookupError, match="/undocumented"):
        build_openapi(app, settings)
