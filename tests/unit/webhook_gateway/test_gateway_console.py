"""The operator console in-process: sign-in, CSRF, cookie flags, escaping, and the dry-run → confirm → audit replay."""

from __future__ import annotations

import re
from collections.abc import Callable

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from billecta_sync import inbox
from billecta_sync.db import Database, InboxStatus, MonitorBatch, MonitorLog, ReplayAudit
from billecta_sync.settings import ConfigError, Settings, load_settings
from tests.unit.webhook_gateway.conftest import OPERATOR_KEY, RecordingPublisher, base_env

PREFIX = "/limepkg-billecta-integration/console"


def csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1).decode()


def sign_in(client: FlaskClient, key: str = OPERATOR_KEY) -> None:
    token = csrf(client.get(f"{PREFIX}/login").data)
    resp = client.post(f"{PREFIX}/login", data={"csrf_token": token, "api_key": key})
    assert resp.status_code == 302, resp.data


def store(db: Database, n: int, *, status: str = InboxStatus.DEAD, event: str = "InvoiceActionAttested") -> list[int]:
    return [inbox.record(db, "billecta", {"X-API-Key": "dev-webhook-key", "Content-Type": "application/json"},
                         b'{"Type": "%s", "n": %d}' % (event.encode(), i), event_type=event,
                         object_key=f"A-{i}", status=status) for i in range(n)]


def test_pages_redirect_to_the_login_until_signed_in(client: FlaskClient) -> None:
    resp = client.get(f"{PREFIX}/inbox")
    assert resp.status_code == 302
    assert "/console/login" in resp.headers["Location"]


def test_a_wrong_key_is_refused_and_a_commands_key_is_not_an_operator_key(client: FlaskClient) -> None:
    token = csrf(client.get(f"{PREFIX}/login").data)
    assert client.post(f"{PREFIX}/login", data={"csrf_token": token, "api_key": "nope-nope"}).status_code == 401
    assert client.post(f"{PREFIX}/login",
                       data={"csrf_token": token, "api_key": "dev-commands-key"}).status_code == 401
    assert client.get(f"{PREFIX}/health").status_code == 302


def test_posts_without_the_csrf_token_are_refused(client: FlaskClient) -> None:
    client.get(f"{PREFIX}/login")
    assert client.post(f"{PREFIX}/login", data={"api_key": OPERATOR_KEY}).status_code == 400
    sign_in(client)
    assert client.post(f"{PREFIX}/inbox/replay", data={"status": "dead"}).status_code == 400
    assert client.post(f"{PREFIX}/inbox/replay", data={"status": "dead", "csrf_token": "forged"}).status_code == 400


def test_a_post_without_a_session_is_refused(app: Flask) -> None:
    assert app.test_client().post(f"{PREFIX}/inbox/replay", data={"status": "dead", "csrf_token": "x"}).status_code \
        == 400


def test_the_session_cookie_is_httponly_lax_and_scoped(client: FlaskClient) -> None:
    resp = client.get(f"{PREFIX}/login")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert f"Path={PREFIX}" in cookie
    assert "Secure" not in cookie  # development: the local stack is http://


def test_only_console_requests_have_a_session(client: FlaskClient) -> None:
    sign_in(client)
    assert client.get(f"{PREFIX}/health").status_code == 200  # the session carries over within the console
    webhook = client.post("/limepkg-billecta-integration/billecta-webhook-receiver",
                          json={"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a1"},
                          headers={"X-API-Key": "dev-webhook-key"})
    assert webhook.status_code == 200
    assert "Set-Cookie" not in webhook.headers and "Cookie" not in webhook.headers.get("Vary", "")
    assert client.get(f"{PREFIX}/health").status_code == 200  # and is still there afterwards


def test_requests_outside_the_console_do_not_open_its_session(app: Flask) -> None:
    for path, null in ((f"{PREFIX}/login", False), ("/limepkg-billecta-integration/billecta-webhook-receiver", True),
                       ("/healthz", True)):
        with app.test_request_context(path):
            assert app.session_interface.is_null_session(flask.session) is null, path


def test_production_cookie_is_secure(make_app: Callable[..., Flask], tmp_path: object) -> None:
    app = make_app(load_settings(env={**base_env(tmp_path), "BILLECTA_SYNC_ENV": "development"}))
    app.config["SESSION_COOKIE_SECURE"] = True  # what production sets (checked in the settings test below)
    assert "Secure" in app.test_client().get(f"{PREFIX}/login").headers["Set-Cookie"]


@pytest.mark.parametrize("value", [None, "short-secret", "dev-console-session-secret"])
def test_production_refuses_a_missing_short_or_development_session_secret(tmp_path: object,
                                                                           value: str | None) -> None:
    from tests.unit.billecta_sync.test_settings_production import production_env

    env = production_env()
    if value is None:
        env.pop("GATEWAY_SESSION_SECRET")
    else:
        env["GATEWAY_SESSION_SECRET"] = value
    with pytest.raises(ConfigError, match="GATEWAY_SESSION_SECRET"):
        load_settings(env=env)


def test_production_session_cookie_flag_follows_the_mode(tmp_path: object) -> None:
    from tests.unit.billecta_sync.test_settings_production import production_env
    from webhook_gateway import create_app

    app = create_app(load_settings(env=production_env()), publisher=RecordingPublisher(), db=object(),  # type: ignore[arg-type]
                     redis_client=object())
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_logout_ends_the_session(client: FlaskClient) -> None:
    sign_in(client)
    page = client.get(f"{PREFIX}/health")
    assert page.status_code == 200
    assert client.post(f"{PREFIX}/logout", data={"csrf_token": csrf(page.data)}).status_code == 302
    assert client.get(f"{PREFIX}/health").status_code == 302


def test_a_session_ends_when_its_key_is_removed(make_app: Callable[..., Flask], tmp_path: object,
                                               settings: Settings) -> None:
    app = make_app(settings)
    client = app.test_client()
    sign_in(client)
    rotated = load_settings(env={**base_env(tmp_path), "GATEWAY_API_KEYS_OPERATOR": "another-operator-key"})
    app.extensions["billecta_sync"].settings = rotated
    assert client.get(f"{PREFIX}/health").status_code == 302


def test_inbox_filters_escapes_and_shows_redacted_headers(client: FlaskClient, db: Database) -> None:
    ids = store(db, 3)
    evil = inbox.record(db, "billecta", {"X-API-Key": "dev-webhook-key"}, b'{"Type": "<script>alert(1)</script>"}',
                        event_type="<script>alert(1)</script>", status=InboxStatus.IGNORED)
    sign_in(client)
    page = client.get(f"{PREFIX}/inbox", query_string={"status": "dead", "object_key": "A-1"}).data.decode()
    assert f">{ids[1]}</a>" in page and f">{ids[0]}</a>" not in page
    listing = client.get(f"{PREFIX}/inbox").data.decode()
    assert "<script>alert(1)</script>" not in listing and "&lt;script&gt;" in listing
    detail = client.get(f"{PREFIX}/inbox/{evil}").data.decode()
    assert "dev-webhook-key" not in detail and "***" in detail
    assert "<script>" not in detail


def test_replay_counts_first_then_replays_and_audits(client: FlaskClient, db: Database,
                                                     publisher: RecordingPublisher) -> None:
    dead = store(db, 3)
    store(db, 2, status=InboxStatus.PROCESSED)
    sign_in(client)
    token = csrf(client.get(f"{PREFIX}/inbox").data)
    dry = client.post(f"{PREFIX}/inbox/replay", data={"csrf_token": token, "status": "dead"})
    assert dry.status_code == 200
    assert b"<strong>3</strong> rows would be replayed" in dry.data
    assert publisher.published == []  # the dry run publishes nothing
    up_to = re.search(rb'name="up_to_id" value="(\d+)"', dry.data).group(1).decode()  # type: ignore[union-attr]
    late = store(db, 1)  # arrives after the dry run: not replayed unseen
    done = client.post(f"{PREFIX}/inbox/replay", data={"csrf_token": token, "status": "dead", "up_to_id": up_to,
                                                       "confirm": "yes"})
    assert done.status_code == 302 and "/console/audit" in done.headers["Location"]
    assert sorted(p.args[0] for p in publisher.published) == dead
    with db.session() as session:
        audit = session.scalars(select(ReplayAudit)).one()
        assert audit.inbox_ids == dead and audit.replayed == 3
        assert audit.actor.startswith("operator key sha256:") and OPERATOR_KEY not in audit.actor
        assert audit.selection["status"] == "dead"
    assert late[0] not in audit.inbox_ids
    page = client.get(done.headers["Location"]).data.decode()
    assert "Replayed 3 rows" in page and audit.actor in page


def test_replay_is_capped(make_app: Callable[..., Flask], tmp_path: object, db: Database,
                          publisher: RecordingPublisher) -> None:
    app = make_app(load_settings(env={**base_env(tmp_path), "GATEWAY_CONSOLE_REPLAY_CAP": "2"}))
    client = app.test_client()
    store(db, 3)
    sign_in(client)
    token = csrf(client.get(f"{PREFIX}/inbox").data)
    dry = client.post(f"{PREFIX}/inbox/replay", data={"csrf_token": token, "status": "dead"}).data
    assert b"<strong>2</strong> rows" in dry and b"more rows match" in dry


def test_replay_needs_a_filter(client: FlaskClient, db: Database) -> None:
    store(db, 1)
    sign_in(client)
    token = csrf(client.get(f"{PREFIX}/inbox").data)
    resp = client.post(f"{PREFIX}/inbox/replay", data={"csrf_token": token})
    assert resp.status_code == 302
    assert b"Choose a filter first" in client.get(resp.headers["Location"]).data


def test_batches_health_jobs_dead_letters_and_audit_pages_render(client: FlaskClient, db: Database) -> None:
    with db.session() as session:
        batch = MonitorBatch(title="Attest <b>orders</b>", operation="upsert_attest_orders", total=1)
        session.add(batch)
        session.flush()
        session.add(MonitorLog(batch_id=batch.id, operation="upsert_attest_order", limetype="order",
                               object_id="1001", status="error", message="no debtor"))
        batch_id = batch.id
    sign_in(client)
    listing = client.get(f"{PREFIX}/batches", query_string={"status": "running"}).data.decode()
    assert "Attest &lt;b&gt;orders&lt;/b&gt;" in listing
    detail = client.get(f"{PREFIX}/batches/{batch_id}").data.decode()
    assert "no debtor" in detail and "limeobject/order/1001/" in detail
    health = client.get(f"{PREFIX}/health").data.decode()
    for queue in ("webhooks", "interactive", "bulk", "scheduled"):
        assert f"<td>{queue}</td>" in health
    assert "Unverified Billecta routes" in health
    for name in ("jobs", "dead-letters", "audit"):
        assert client.get(f"{PREFIX}/{name}").status_code == 200


def test_login_next_is_never_an_open_redirect(client: FlaskClient) -> None:
    token = csrf(client.get(f"{PREFIX}/login").data)
    resp = client.post(f"{PREFIX}/login", data={"csrf_token": token, "api_key": OPERATOR_KEY,
                                                "next": "https://evil.example/"})
    assert resp.headers["Location"].endswith(f"{PREFIX}/")


def test_console_routes_are_not_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert not [p for p in paths if "/console" in p]


def test_queue_depths_show_the_next_task_and_how_long_it_waits() -> None:
    import json
    import time

    import fakeredis

    from webhook_gateway.console.views import queue_depths

    redis = fakeredis.FakeRedis()
    for n in (1, 2):  # Celery pushes on the left and pops on the right: the oldest is at index -1
        redis.lpush("webhooks", json.dumps({"headers": {"task": "process", "id": f"t-{n}",
                                                        "x_published_at": time.time() - 60 / n}}))
    depths = {entry["queue"]: entry for entry in queue_depths(redis)}
    assert depths["webhooks"]["waiting"] == 2 and depths["webhooks"]["oldest"] == "process t-1"
    assert 59 <= depths["webhooks"]["waiting_s"] < 70
    assert depths["bulk"]["waiting"] == 0 and depths["bulk"]["oldest"] == ""


def test_queue_depths_read_the_broker_names_of_a_namespaced_stack() -> None:
    import fakeredis

    from webhook_gateway.console.views import queue_depths

    redis = fakeredis.FakeRedis()
    redis.lpush("acme.webhooks", "{}", "{}", "{}")
    redis.lpush("webhooks", "{}")  # another stack's queue on the same Redis: not this one's

    depths = {entry["queue"]: entry["waiting"] for entry in queue_depths(redis, "acme")}

    assert depths["webhooks"] == 3 and depths["bulk"] == 0
