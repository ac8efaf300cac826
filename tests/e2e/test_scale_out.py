"""Scale-out over real processes: two thread-pool workers and two gateways, as on two machines, on one Redis and
one PostgreSQL, share the work of two batch commands and of Billecta's webhooks, and nothing is done twice.

Each gateway takes one command of orders; both workers consume the same queues. At the end every order is
attested once (one Billecta invoice each, no second debtor or product), every invoice came back into Lime
once, both workers ran some of the per-order tasks, and no task ran to success on both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.demo import DemoTarget, seed, start_command, wait_batch
from devstack.stack import Stack
from tests.e2e.support import settle

pytestmark = pytest.mark.slow

ORDERS_PER_GATEWAY = 16  # 32 per-order tasks: more than one worker's 16 threads hold at once
SUCCEEDED = re.compile(r"Task billecta_sync\.orders\.upsert_attest_order\[([0-9a-f-]+)\] succeeded")


def creations(stack: Stack) -> dict[str, int]:
    """Billecta's create requests so far, by route."""
    stats = requests.get(f"{stack.billecta_admin_url}/stats", timeout=10).json()
    return {route: int(n) for route, n in stats["requests_by_route"].items() if route.startswith("POST create_")}


def succeeded_tasks(log: Path) -> set[str]:
    ids: set[str] = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line).get("event", "")
        except ValueError:  # Celery's start-up banner is plain text
            continue
        if (found := SUCCEEDED.search(str(event))) is not None:
            ids.add(found.group(1))
    return ids


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stack", ["postgres"], indirect=True)
def test_two_workers_and_two_gateways_share_the_work_and_nothing_is_done_twice(
        stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
    stack.add_worker("worker-b")  # the same queues, Redis and database: a second machine
    second_gateway = stack.add_gateway("gateway-b")
    first = DemoTarget(gateway_url=stack.gateway_url, billecta_url=stack.billecta_url, lime_url=stack.lime_url)
    second = DemoTarget(gateway_url=second_gateway, billecta_url=stack.billecta_url, lime_url=stack.lime_url)
    before = creations(stack)

    seeded = [seed(target, billecta, lime, orders=ORDERS_PER_GATEWAY) for target in (first, second)]
    orders = [[int(o["_id"]) for o in lime.query("order", ["_id"],
                                                 filter={"key": "creditor", "op": "=", "exp": s.creditor_id})]
              for s in seeded]
    batches = [(target, start_command(target, ids, title=f"scale-out {n}"))
               for n, (target, ids) in enumerate(zip((first, second), orders, strict=True))]
    for target, batch_id in batches:
        batch = wait_batch(target, batch_id, 180)
        assert batch["status"] == "ok", batch["counts"]
        assert batch["counts"] == {"running": 0, "ok": ORDERS_PER_GATEWAY, "error": 0}
    settle(stack, 120)

    # Exactly once in Billecta: one invoice per order, one debtor and two products per creditor.
    made = {route: n - before.get(route, 0) for route, n in creations(stack).items()}
    assert made.get("POST create_invoice") == 2 * ORDERS_PER_GATEWAY, made
    assert made.get("POST create_debtor") == 2, made
    assert made.get("POST create_product") == 4, made
    actions: set[str] = set()
    for ids in orders:
        for order_id in ids:
            order = lime.get("order", order_id)
            assert option_key(order["orderstatus"]) == "attested"
            actions.add(order["actionpublicid"])
            back = list(lime.query("invoice", ["_id"], filter={"key": "order", "op": "=", "exp": order_id}))
            assert len(back) == 1, f"{len(back)} Lime invoices for order {order_id}"
    assert len(actions) == 2 * ORDERS_PER_GATEWAY

    # Both workers did some of the per-order tasks, and no task succeeded on both.
    by_worker = {name: succeeded_tasks(stack.logs[name]) for name in ("worker", "worker-b")}
    assert all(by_worker.values()), {name: len(ids) for name, ids in by_worker.items()}
    assert not by_worker["worker"] & by_worker["worker-b"]
    assert len(by_worker["worker"] | by_worker["worker-b"]) == 2 * ORDERS_PER_GATEWAY
