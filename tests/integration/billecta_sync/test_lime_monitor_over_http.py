"""The integration monitor mirrored into the Lime sandbox over real HTTP, through the service's own wiring
(``build_services``: the production Lime client behind the shared Redis rate limit), and read back the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from billecta_sync import monitor
from billecta_sync.container import Services, build_services
from billecta_sync.db import MonitorStatus, upgrade
from billecta_sync.lime.values import option_key
from billecta_sync.settings import load_settings
from billecta_sync.usecases.jobs import lime_monitor
from devstack.stack import redis_answers
from sandbox.common import serve_in_thread
from sandbox.lime.app import LimeSandboxConfig, create_app

REDIS_URL = f"{os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')}/10"
LIMITER_KEY = "ratelimit:lime"  # the key build_services gives the Lime client's limiter
OBJECTS = {101: ("ok", "Order 101 → Billecta invoice a-1 (attested)"), 102: ("error", "Order 102 has no rows."),
           103: ("ok", "Order 103 → Billecta invoice a-3 (attested)"),
           104: ("error", "Billecta refused order 104: InvoiceDate must not be in the past"),
           105: ("ok", "Order 105 → Billecta invoice a-5 (attested)")}


@pytest.fixture(scope="module")
def lime_sandbox() -> Iterator[str]:
    server, base = serve_in_thread(create_app(LimeSandboxConfig(database_url="sqlite:///:memory:")))
    yield base
    server.shutdown()


@pytest.fixture
def services(tmp_path: Path, lime_sandbox: str) -> Iterator[Services]:
    if not redis_answers(REDIS_URL):
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    settings = load_settings(env={
        "BILLECTA_SYNC_ENV": "development",
        "BILLECTA_API_BASE_URL": "http://127.0.0.1:9/v1",
        "BILLECTA_API_AUTHENTICATION": "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",
        "LIME_BASE_URL": f"{lime_sandbox}/lime/api/v1/", "LIME_API_KEY": "dev-lime-key",
        "GATEWAY_API_KEYS_WEBHOOK": "dev-webhook-key", "GATEWAY_API_KEYS_COMMANDS": "dev-commands-key",
        "GATEWAY_API_KEYS_OPERATOR": "dev-operator-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}", "REDIS_URL": REDIS_URL,
        "LIME_MONITOR_MIRROR": "true",
    })
    upgrade(settings.database_url)
    built = build_services(settings)
    built.redis.delete(LIMITER_KEY)
    lime_monitor.forget_monitor_ids()
    try:
        yield built
    finally:
        lime_monitor.forget_monitor_ids()
        built.close()


def settled_batch(services: Services) -> int:
    """A five-order batch, two of them failed, as the workers leave it."""
    db = services.db
    batch_id = monitor.create_batch(db, "Upsert & attest orders in Billecta", "upsert_attest_orders")
    logs = monitor.add_logs(db, batch_id, "upsert_attest_orders", "order", list(OBJECTS))
    monitor.mark_batch_started(db, batch_id, len(logs))
    for log_id, object_id in logs:
        monitor.log_started(db, log_id, f"task-{object_id}")
        status, message = OBJECTS[int(object_id)]
        monitor.log_finished(db, log_id, status, message)
        monitor.settle_batch_of_log(db, log_id)
    return batch_id


def sandbox_requests(base: str) -> int:
    return int(requests.get(f"{base}/_sandbox/stats", timeout=10).json()["total"])


def test_a_batch_with_failures_reads_back_from_lime_as_the_service_has_it(services: Services,
                                                                          lime_sandbox: str) -> None:
    batch_id = settled_batch(services)
    summary = monitor.batch_summary(services.db, batch_id)
    assert summary is not None and summary["status"] == MonitorStatus.DONE_WITH_ERROR
    before = sandbox_requests(lime_sandbox)

    result = lime_monitor.mirror_to_lime(services)

    # Read the monitor record (none yet), create it, the batch, then one create per object: nothing else.
    assert sandbox_requests(lime_sandbox) - before == result["lime_requests"] == 3 + len(OBJECTS)
    assert redis.Redis.from_url(REDIS_URL).zcard(LIMITER_KEY) == 3 + len(OBJECTS)  # every one took a slot
    lime = services.lime
    (monitor_record,) = lime.query("integration_monitor", ["_id", "integration_key", "type"],
                                   {"key": "integration_key", "op": "=", "exp": "billecta-sync"})
    assert option_key(monitor_record["type"]) == "batch"
    lime_batch_id = (monitor.batch_summary(services.db, batch_id) or {})["lime_id"]
    batch = lime.get("integration_monitor_batch", lime_batch_id)
    assert batch["integration_monitor"] == monitor_record["_id"]
    assert (batch["title"], option_key(batch["status"]), batch["totalcount"], batch["okcount"],
            batch["errorcount"]) == (summary["title"], summary["status"], summary["total"],
                                     summary["counts"]["ok"], summary["counts"]["error"])
    assert batch["endtime"] is not None
    logs: list[dict[str, Any]] = list(lime.query(
        "integration_monitor_log", ["objectid", "limetype", "status", "message", "integration_monitor"],
        {"key": "integration_monitor_batch", "op": "=", "exp": lime_batch_id}))
    assert sorted((e["objectid"], e["limetype"], option_key(e["status"]), e["message"]) for e in logs) == sorted(
        (int(e["object_id"]), e["limetype"], e["status"], e["message"]) for e in summary["logs"])
    assert {e["integration_monitor"] for e in logs} == {monitor_record["_id"]}

    # The next run has nothing to send and asks Lime nothing.
    before = sandbox_requests(lime_sandbox)
    assert lime_monitor.mirror_to_lime(services)["lime_requests"] == 0
    assert sandbox_requests(lime_sandbox) == before
