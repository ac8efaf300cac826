"""Operator endpoints: inbox listing and detail, replay, stats and dead letters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from billecta_sync import catalogue, inbox
from billecta_sync.db import Database, DeadLetter, InboxStatus, ReplayAudit, WebhookInbox, utcnow

PREFIX = "/limepkg-billecta-integration/operator"
OPERATOR = {"X-API-Key": "dev-operator-key"}


def add_row(db: Database, status: str = InboxStatus.RECEIVED, source: str = "billecta", body: bytes = b"{}",
            event_type: str = "InvoiceActionAttested", headers: dict[str, str] | None = None) -> int:
    return inbox.record(db, source, headers or {"Content-Type": "application/json"}, body, "10.0.0.1",
                        event_type=event_type, object_key="action:a1", status=status)


def status_of(db: Database, inbox_id: int) -> str:
    with db.session() as session:
        return session.get(WebhookInbox, inbox_id).status  # type: ignore[union-attr]


def set_received_at(db: Database, inbox_id: int, days_ago: int) -> None:
    with db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id)
                        .values(received_at=utcnow() - timedelta(days=days_ago)))


def test_list_inbox_filters_and_omits_bodies(client: FlaskClient, db: Database) -> None:
    dead = add_row(db, InboxStatus.DEAD, body=b'{"secret": "body"}')
    add_row(db, InboxStatus.PROCESSED)
    lime = add_row(db, InboxStatus.DEAD, source="lime")

    resp = client.get(f"{PREFIX}/inbox?status=dead", headers=OPERATOR)
    assert resp.status_code == 200
    body = resp.get_json()
    assert [item["id"] for item in body["items"]] == [lime, dead]  # newest first
    assert body["count"] == 2
    assert set(body["items"][0]) == {"id", "source", "status", "event_type", "object_key", "attempts",
                                     "last_error", "received_at"}
    assert body["items"][1]["event_type"] == "InvoiceActionAttested"
    assert body["items"][1]["received_at"].endswith("Z")

    only_billecta = client.get(f"{PREFIX}/inbox?status=dead&source=billecta&limit=5", headers=OPERATOR).get_json()
    assert [item["id"] for item in only_billecta["items"]] == [dead]
    assert [i["id"] for i in client.get(f"{PREFIX}/inbox?limit=1", headers=OPERATOR).get_json()["items"]] == [lime]


@pytest.mark.parametrize("query", ["status=nope", "source=web", "limit=0", "limit=abc", "limit=5000"])
def test_list_inbox_rejects_bad_parameters(client: FlaskClient, query: str) -> None:
    resp = client.get(f"{PREFIX}/inbox?{query}", headers=OPERATOR)
    assert resp.status_code == 400
    assert resp.get_json()["field"] == query.split("=")[0]


def test_inbox_row_detail_has_body_and_redacted_headers(client: FlaskClient, db: Database) -> None:
    row_id = add_row(db, body=b'{"WebhookTriggerType": "X"}',
                     headers={"X-API-Key": "leaked-if-not-redacted", "X-Trace": "t"})
    resp = client.get(f"{PREFIX}/inbox/{row_id}", headers=OPERATOR)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["body"] == '{"WebhookTriggerType": "X"}'
    assert body["headers"] == {"X-API-Key": "***", "X-Trace": "t"}
    assert body["remote_addr"] == "10.0.0.1"
    missing = client.get(f"{PREFIX}/inbox/{row_id + 100}", headers=OPERATOR)
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"


def test_replay_dead_rows_resets_and_publishes_them(client: FlaskClient, db: Database, publisher: Any) -> None:
    dead1 = add_row(db, InboxStatus.DEAD)
    done = add_row(db, InboxStatus.PROCESSED)
    dead2 = add_row(db, InboxStatus.DEAD)
    with db.session() as session:
        session.add(DeadLetter(task_name=catalogue.PROCESS_BILLECTA_WEBHOOK.name, args=[dead1], inbox_id=dead1))

    resp = client.post(f"{PREFIX}/inbox/replay", json={"status": "dead"}, headers=OPERATOR)
    assert resp.status_code == 200
    assert resp.get_json() == {"replayed": 2, "ids": [dead1, dead2], "skipped": [], "unpublished": []}
    assert [(p.task, p.args, p.queue) for p in publisher.published] == [
        (catalogue.PROCESS_BILLECTA_WEBHOOK.name, [dead1], catalogue.QUEUE_WEBHOOKS),
        (catalogue.PROCESS_BILLECTA_WEBHOOK.name, [dead2], catalogue.QUEUE_WEBHOOKS),
    ]
    assert status_of(db, dead1) == InboxStatus.QUEUED
    assert status_of(db, dead2) == InboxStatus.QUEUED
    assert status_of(db, done) == InboxStatus.PROCESSED
    with db.session() as session:
        assert session.scalar(select(DeadLetter.replayed_at).where(DeadLetter.inbox_id == dead1)) is not None
        # The replay is on record: who (the key's fingerprint, never the key), what and how many.
        audit = session.scalars(select(ReplayAudit)).one()
        assert (audit.replayed, audit.inbox_ids, audit.selection["status"]) == (2, [dead1, dead2], "dead")
        assert audit.actor.startswith("operator key sha256:") and OPERATOR["X-API-Key"] not in audit.actor


def test_replay_by_ids_skips_rows_being_processed_and_sends_each_source_to_its_task(
        client: FlaskClient, db: Database, publisher: Any) -> None:
    failed = add_row(db, InboxStatus.FAILED)
    busy = add_row(db, InboxStatus.PROCESSING)
    lime = add_row(db, InboxStatus.DEAD, source="lime")
    resp = client.post(f"{PREFIX}/inbox/replay", json={"ids": [failed, busy, lime]}, headers=OPERATOR)
    assert resp.get_json() == {"replayed": 2, "ids": [failed, lime], "skipped": [busy], "unpublished": []}
    assert [(p.task, p.args) for p in publisher.published] == [
        (catalogue.PROCESS_BILLECTA_WEBHOOK.name, [failed]), (catalogue.PROCESS_LIME_WEBHOOK.name, [lime])]
    assert status_of(db, busy) == InboxStatus.PROCESSING
    assert status_of(db, lime) == InboxStatus.QUEUED


def test_replay_by_time_range(client: FlaskClient, db: Database, publisher: Any) -> None:
    old = add_row(db, InboxStatus.DEAD)
    recent = add_row(db, InboxStatus.DEAD)
    set_received_at(db, old, days_ago=10)
    set_received_at(db, recent, days_ago=2)
    since = (utcnow() - timedelta(days=5)).isoformat() + "Z"
    until = (utcnow() + timedelta(hours=1)).isoformat() + "+00:00"
    resp = client.post(f"{PREFIX}/inbox/replay", json={"since": since, "until": until}, headers=OPERATOR)
    assert resp.get_json()["ids"] == [recent]
    assert status_of(db, old) == InboxStatus.DEAD


def test_replay_with_broker_down_leaves_rows_received(client: FlaskClient, db: Database, publisher: Any) -> None:
    first = add_row(db, InboxStatus.DEAD)
    second = add_row(db, InboxStatus.DEAD)
    publisher.fail = True
    resp = client.post(f"{PREFIX}/inbox/replay", json={"status": "dead"}, headers=OPERATOR)
    assert resp.get_json() == {"replayed": 2, "ids": [first, second], "skipped": [], "unpublished": [first, second]}
    assert status_of(db, first) == InboxStatus.RECEIVED
    assert status_of(db, second) == InboxStatus.RECEIVED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ids"),
        ({"ids": []}, "ids"),
        ({"ids": ["1"]}, "ids"),
        ({"ids": [True]}, "ids"),
        ({"status": "zombie"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-02-01T00:00:00", "until": "2025-01-01T00:00:00"}, "since"),
        ({"status": "dead", "everything": True}, "everything"),
        ({"status": "dead", "limit": 0}, "limit"),
    ],
)
def test_replay_rejects_bad_selections(client: FlaskClient, db: Database, publisher: Any,
                                       body: dict[str, Any], field: str) -> None:
    dead = add_row(db, InboxStatus.DEAD)
    resp = client.post(f"{PREFIX}/inbox/replay", json=body, headers=OPERATOR)
    assert resp.status_code == 400
    assert resp.get_json()["field"] == field
    assert publisher.published == []
    assert status_of(db, dead) == InboxStatus.DEAD


def test_inbox_stats_counts_every_status(client: FlaskClient, db: Database) -> None:
    add_row(db, InboxStatus.DEAD)
    add_row(db, InboxStatus.DEAD)
    add_row(db, InboxStatus.QUEUED)
    body = client.get(f"{PREFIX}/inbox-stats", headers=OPERATOR).get_json()
    assert body["counts"]["dead"] == 2
    assert body["counts"]["queued"] == 1
    assert body["counts"]["processed"] == 0
    assert set(body["counts"]) == set(InboxStatus.ALL)
    assert body["total"] == 3


def test_dead_letters_newest_first(client: FlaskClient, db: Database) -> None:
    row_id = add_row(db, InboxStatus.DEAD)
    with db.session() as session:
        session.add(DeadLetter(task_name="a.first", args=[1], exception="ValueError: one"))
        session.add(DeadLetter(task_name="b.second", args=[row_id], exception="KeyError: two", inbox_id=row_id))
    body = client.get(f"{PREFIX}/dead-letters?limit=10", headers=OPERATOR).get_json()
    assert [item["task_name"] for item in body["items"]] == ["b.second", "a.first"]
    assert body["items"][0]["inbox_id"] == row_id
    assert body["items"][0]["exception"] == "KeyError: two"
    assert body["items"][1]["replayed_at"] is None
    assert len(client.get(f"{PREFIX}/dead-letters?limit=1", headers=OPERATOR).get_json()["items"]) == 1


@pytest.mark.parametrize("path", ["/inbox", "/inbox/1", "/inbox-stats", "/dead-letters"])
def test_operator_endpoints_need_the_operator_scope(client: FlaskClient, path: str) -> None:
    assert client.get(PREFIX + path, headers={"X-API-Key": "dev-commands-key"}).status_code == 403
    assert client.get(PREFIX + path).status_code == 401
    assert client.post(f"{PREFIX}/inbox/replay", json={"status": "dead"},
                       headers={"X-API-Key": "dev-webhook-key"}).status_code == 403
