"""The Billecta receiver's optional source allow-list, and a slow database answered with 503 in time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from billecta_sync.db import Database, WebhookInbox
from billecta_sync.settings import ConfigError, Settings

WEBHOOK = {"X-API-Key": "dev-webhook-key"}
ATTESTED = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a1b2c3", "CreditorPublicId": "cr-9"}


def stored(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookInbox)) or 0)


@pytest.mark.parametrize("peer, status", [("192.0.2.7", 200), ("198.51.100.9", 403), ("2001:db8::5", 200)])
def test_only_the_allowed_networks_may_deliver_billecta_webhooks(
        make_app: Callable[..., Flask], make_settings: Callable[..., Settings], db: Database, publisher: Any,
        peer: str, status: int) -> None:
    app = make_app(make_settings(GATEWAY_BILLECTA_ALLOWED_NETWORKS="192.0.2.0/24, 2001:db8::/32"))
    resp = app.test_client().post("/limepkg-billecta-integration/billecta-webhook-receiver", json=ATTESTED,
                                  headers=WEBHOOK, environ_base={"REMOTE_ADDR": peer})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert stored(db) == (1 if status == 200 else 0)
    if status == 403:
        assert resp.get_json()["reason"] == "source_not_allowed" and publisher.published == []


def test_without_an_allow_list_any_source_may_deliver(client: Any, db: Database) -> None:
    resp = client.post("/limepkg-billecta-integration/billecta-webhook-receiver", json=ATTESTED, headers=WEBHOOK,
                       environ_base={"REMOTE_ADDR": "203.0.113.1"})
    assert resp.status_code == 200 and stored(db) == 1


def test_a_network_that_is_not_one_is_refused_at_start_up(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_BILLECTA_ALLOWED_NETWORKS"):
        make_settings(GATEWAY_BILLECTA_ALLOWED_NETWORKS="192.0.2.0/24,billecta.com")


def test_a_locked_database_is_a_503_within_the_gateways_timeout(make_app: Callable[..., Flask],
                                                               make_settings: Callable[..., Settings],
                                                               tmp_path: Path) -> None:
    settings = make_settings(GATEWAY_DB_TIMEOUT_S="0.5")
    app = make_app(settings, db=Database(settings.database_url, timeout_s=settings.gateway.db_timeout_s))
    path = settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the database for longer than the timeout
    release = threading.Timer(5.0, holder.rollback)
    release.start()
    try:
        started = time.monotonic()
        resp = app.test_client().post("/limepkg-billecta-integration/billecta-webhook-receiver", json=ATTESTED,
                                      headers=WEBHOOK)
        took = time.monotonic() - started
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert resp.status_code == 503 and resp.get_json()["error"] == "unavailable"
    assert took < 4.5  # answered while the lock was still held: bounded by GATEWAY_DB_TIMEOUT_S
