"""The Lime webhook receiver: signature first (nothing stored without it), then store, then queue."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from billecta_sync import catalogue
from billecta_sync.db import Database, InboxStatus, WebhookInbox
from billecta_sync.inbound.lime_events import sign
from billecta_sync.settings import Settings

PREFIX = "/limepkg-billecta-integration"
URL = f"{PREFIX}/lime-webhook-receiver"
SECRET = "lime-test-secret"
EVENT = {"event": "debtor.update", "body": {"id": 1001, "limetype": "debtor", "values": {"name": "Ny AB"},
                                             "original_values": {"name": "Gammal AB"}}}


@pytest.fixture
def client(make_app: Callable[..., Flask], make_settings: Callable[..., Settings]) -> FlaskClient:
    return make_app(make_settings(LIME_WEBHOOK_SECRET=SECRET)).test_client()


def rows(db: Database) -> list[WebhookInbox]:
    with db.session() as session:
        return list(session.scalars(select(WebhookInbox).order_by(WebhookInbox.id)))


def post(client: FlaskClient, payload: Any, signature: str | None) -> Any:
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Lime-Signature"] = signature
    return client.post(URL, data=raw, headers=headers)


def test_signed_event_is_stored_before_it_is_queued(client: FlaskClient, db: Database, publisher: Any) -> None:
    raw = json.dumps(EVENT).encode()
    resp = client.post(URL, data=raw, headers={"Content-Type": "application/json",
                                               "X-Lime-Signature": sign(SECRET, raw)})
    assert resp.status_code == 200
    [row] = rows(db)
    assert resp.get_json() == {"status": "queued", "inbox_id": row.id}
    assert (row.source, row.event_type, row.object_key, row.status) == ("lime", "debtor.update", "debtor:1001",
                                                                        InboxStatus.QUEUED)
    assert row.body == raw.decode()  # the raw body, exactly as signed
    assert row.headers.get("X-Lime-Signature") != sign(SECRET, raw)  # not kept in clear
    assert [(p.task, p.args, p.queue) for p in publisher.published] == [
        (catalogue.PROCESS_LIME_WEBHOOK.name, [row.id], catalogue.QUEUE_WEBHOOKS)]


@pytest.mark.parametrize("signature", [None, "", "sha256=00", "md5=abc", sign("another-secret", b"{}")])
def test_missing_or_wrong_signature_is_401_and_stores_nothing(client: FlaskClient, db: Database, publisher: Any,
                                                               signature: str | None) -> None:
    resp = post(client, EVENT, signature)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "unauthorized"
    assert rows(db) == []
    assert publisher.published == []


def test_signature_over_other_bytes_is_refused(client: FlaskClient, db: Database) -> None:
    tampered = dict(EVENT, event="debtor.new")
    resp = post(client, tampered, sign(SECRET, json.dumps(EVENT).encode()))
    assert resp.status_code == 401
    assert rows(db) == []


def test_without_a_configured_secret_every_delivery_is_refused(make_app: Callable[..., Flask], settings: Settings,
                                                               db: Database) -> None:
    client = make_app(settings).test_client()
    raw = json.dumps(EVENT).encode()
    resp = client.post(URL, data=raw, headers={"Content-Type": "application/json",
                                               "X-Lime-Signature": sign("", raw)})
    assert resp.status_code == 401
    assert rows(db) == []


def test_unsynced_limetype_is_stored_as_ignored_and_not_queued(client: FlaskClient, db: Database,
                                                                publisher: Any) -> None:
    event = {"event": "deal.update", "body": {"id": 7, "limetype": "deal", "values": {}}}
    resp = post(client, event, sign(SECRET, json.dumps(event).encode()))
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ignored"
    assert rows(db)[0].status == InboxStatus.IGNORED
    assert publisher.published == []


def test_signed_but_malformed_event_is_400(client: FlaskClient, db: Database) -> None:
    event = {"event": "debtor", "body": {"id": 1}}
    resp = post(client, event, sign(SECRET, json.dumps(event).encode()))
    assert resp.status_code == 400
    assert rows(db) == []
