"""The integration monitor in Lime over real processes: beat schedules ``mirror-to-lime``, a worker runs it, and
the Lime sandbox then holds the batch of a command with a failed object as the service's monitor has it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.demo import DemoTarget, wait_batch
from devstack.stack import Stack
from tests.e2e.support import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The mirror runs at the sweep interval: short here so the copy shows within seconds.
    running = stack_starter(tmp_path_factory.mktemp("stack-lime-monitor"), database_url=None, redis_index=11,
                            extra_env={"LIME_MONITOR_MIRROR": "true", "WORKER_SWEEP_INTERVAL_S": "5"})
    try:
        yield running
    finally:
        running.stop()


def test_a_batch_with_a_failed_object_shows_in_lime_as_in_the_service(
        stack: Stack, target: DemoTarget, billecta: BillectaClient, lime: LimeClient) -> None:
    tag = uuid.uuid4().hex[:6]
    public_id = billecta.create_creditor({"Name": f"Mirror AB {tag}", "OrgNo": "556000-0009", "CountryCode": "SE"})
    creditor = lime.create("creditor", {"name": f"Mirror AB {tag}", "creditorpublicid": public_id})["_id"]
    debtors = [lime.create("debtor", {"name": f"Kund {tag} {n}", "ssnregno": orgno, "countrycode": "SE",
                                      "debtortype": "company"})["_id"]
               for n, orgno in enumerate(("556123-4567", ""))]  # the second has no organisation number
    for debtor in debtors:
        lime.create("creditordebtor", {"creditor": creditor, "debtor": debtor})
    resp = requests.post(f"{target.gateway_url}{target.prefix}/task/upsert-debtors-in-billecta",
                         json={"integration_monitor_batch_title": "Upsert debtors (mirror e2e)",
                               "query_filter": {"key": "_id", "op": "IN", "exp": debtors}},
                         headers={"X-API-Key": target.commands_key}, timeout=30)
    assert resp.status_code in (200, 202), resp.text
    batch_id = int(resp.json()["integration_monitor_batch_id"])
    assert wait_batch(target, batch_id, 60)["status"] == "donewitherror"

    def mirrored() -> dict[str, Any] | None:
        summary = requests.get(f"{target.gateway_url}{target.prefix}/monitor/batches/{batch_id}",
                               headers={"X-API-Key": target.commands_key}, timeout=10).json()
        if not summary.get("lime_id"):
            return None
        logs = list(lime.query("integration_monitor_log", ["objectid", "status", "message"],
                               {"key": "integration_monitor_batch", "op": "=", "exp": summary["lime_id"]}))
        return {"summary": summary, "logs": logs} if len(logs) == len(summary["logs"]) else None

    found = wait_for(mirrored, "the batch and its logs in Lime", 45, interval_s=0.5)
    summary = found["summary"]
    batch = lime.get("integration_monitor_batch", summary["lime_id"])
    assert (option_key(batch["status"]), batch["totalcount"], batch["okcount"], batch["errorcount"]) == (
        "donewitherror", 2, 1, 1)
    assert sorted((e["objectid"], option_key(e["status"]), e["message"]) for e in found["logs"]) == sorted(
        (int(e["object_id"]), e["status"], e["message"]) for e in summary["logs"])
    assert any("no organisation number" in e["message"] for e in found["logs"])
