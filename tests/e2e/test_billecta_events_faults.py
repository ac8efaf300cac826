"""Billecta → Lime under faults, over real processes: Billecta answering 5xx, 429 with Retry-After and
stalling; a worker killed with SIGKILL mid-processing; Redis restarted with events in flight.

Each test ends by comparing Lime with the state the events must produce, and by looking for duplicates.
The worker-kill and Redis-restart tests shorten the recovery timings (task time limit, hence the inbox
lease; visibility timeout; sweep interval) through the same settings an operator would use, so the
recovery paths run in seconds instead of minutes. The retry and worker-kill tests run on both brokers: Redis,
and RabbitMQ when one answers (``tests/e2e/brokers.py``), whose redelivery works differently (a dead
consumer's tasks come back at once instead of after the visibility timeout).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret
from devstack.stack import Ports, Stack, StackConfig, free_port
from tests.e2e import brokers, support
from tests.e2e.support import inbox_counts

pytestmark = pytest.mark.slow
# Recovery timings for the kill and restart tests: a claimed row is free again 10 + 15 s after its claim,
# Redis hands unacknowledged tasks back after 15 s (above the 10 s limit plus the 2 s backoff cap, as
# start-up insists), and the sweeper looks every 5 s.
FAST_RECOVERY = {"WORKER_TASK_SOFT_TIME_LIMIT_S": "8", "WORKER_TASK_TIME_LIMIT_S": "10",
                 "WORKER_VISIBILITY_TIMEOUT_S": "15", "WORKER_SWEEP_INTERVAL_S": "5"}


def clients(stack: Stack) -> tuple[BillectaClient, LimeClient]:
    return (BillectaClient(BillectaSettings(base_url=stack.billecta_url,
                                            authentication=Secret(stack.config.billecta_auth))),
            LimeClient(LimeSettings(base_url=stack.lime_url, api_key=Secret(stack.config.lime_key))))


# While a test restarts a process of the stack, failing requests mean "not yet".
RESTARTING = (requests.RequestException,)


def wait_for(probe: Callable[[], Any], what: str, timeout_s: float = 90.0) -> Any:
    return support.wait_for(probe, what, timeout_s, interval_s=0.3, tolerate=RESTARTING)


def settle(stack: Stack, timeout_s: float = 120.0) -> dict[str, int]:
    return support.settle(stack, timeout_s, sender_wait_s=60, tolerate=RESTARTING)


class Scenario:
    """Invoices made in Billecta for a creditor Lime knows; every one is paid in two parts."""

    def __init__(self, stack: Stack, count: int, ore: int = 100000) -> None:
        self.stack = stack
        self.billecta, self.lime = clients(stack)
        tag = uuid.uuid4().hex[:6]
        self.creditor = self.billecta.create_creditor({"Name": f"Fault AB {tag}"})
        self.lime.create("creditor", {"name": f"Fault AB {tag}", "creditorpublicid": self.creditor})
        self.debtor = self.billecta.create_debtor({"CreditorPublicId": self.creditor, "Name": f"Kund {tag}",
                                                   "DebtorType": "Company"})
        self.ore = ore
        self.actions: list[str] = []
        for _ in range(count):
            action = self.billecta.create_invoice({
                "CreditorPublicId": self.creditor, "DebtorPublicId": self.debtor, "DeliveryMethod": "Email",
                "Records": [{"RecordType": "Standard", "ArticleDescription": "Hyra", "Quantity": 1, "VAT": 0,
                             "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}]})
            self.billecta.attest_invoice(action)
            self.actions.append(action)

    def wait_sent(self) -> None:
        for action in self.actions:
            wait_for(lambda a=action: self.status(a) == "sent", f"invoice {action} sent in Lime")

    def pay(self, first_share: float = 0.3) -> None:
        for action in self.actions:
            first = round(self.ore * first_share / 100, 2)
            for amount in (first, round(self.ore / 100 - first, 2)):
                resp = requests.post(f"{self.stack.billecta_admin_url}/invoices/{action}/payments",
                                     json={"amount": str(amount), "payment_mean_code": "BG"}, timeout=15)
                assert resp.status_code == 200, resp.text

    def invoices(self, action: str) -> list[dict[str, Any]]:
        return list(self.lime.query("invoice", ["_id", "invoicestatus", "paidamount", "currentamount"],
                                    filter={"key": "actionpublicid", "op": "=", "exp": action}))

    def status(self, action: str) -> str:
        found = self.invoices(action)
        return option_key(found[0]["invoicestatus"]) or "" if found else ""

    def assert_all_paid_once(self) -> None:
        for action in self.actions:
            found = self.invoices(action)
            assert len(found) == 1, f"{len(found)} Lime invoices for {action}"
            assert option_key(found[0]["invoicestatus"]) == "paid"
            assert float(found[0]["paidamount"]) == self.ore / 100 and float(found[0]["currentamount"]) == 0
            payments = list(self.lime.query("payment", ["_id", "paymentbillectaid", "amount"],
                                            filter={"key": "invoice", "op": "=", "exp": found[0]["_id"]}))
            assert len(payments) == 2 and len({p["paymentbillectaid"] for p in payments}) == 2
            assert round(sum(float(p["amount"]) for p in payments), 2) == self.ore / 100
        links = list(self.lime.query("creditordebtor", ["_id"],
                                     filter={"key": "debtorpublicid", "op": "=", "exp": self.debtor}))
        assert len(links) == 1


def start(tmp: Path, redis_index: int, stack_starter: Callable[..., Stack], broker: str = "redis",
          **env: str) -> Stack:
    return stack_starter(tmp, database_url=None, redis_index=redis_index,  # type: ignore[no-any-return]
                         extra_env={"WORKER_MAX_RETRIES": "10", "WORKER_RETRY_BACKOFF_MAX_S": "2",
                                    "BILLECTA_API_TIMEOUT_S": "2", **env},
                         **brokers.stack_options(broker))


@pytest.fixture(scope="module", params=brokers.BROKERS)
def stack(request: pytest.FixtureRequest, stack_starter: Callable[..., Stack],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start(tmp_path_factory.mktemp(f"stack-faults-{request.param}"), 4, stack_starter, request.param)
    try:
        yield running
    finally:
        brokers.stop(running)


def test_billecta_5xx_429_and_stalls_for_a_while_change_nothing_in_the_end(stack: Stack) -> None:
    scenario = Scenario(stack, 4)
    scenario.wait_sent()
    settle(stack)
    config = f"{stack.billecta_admin_url}/config"
    requests.post(config, json={"knobs": {"error_rate": 0.4, "rate_limit_per_s": 3, "rate_limit_burst": 3,
                                          "retry_after_s": 1, "timeout_rate": 0.15, "stall_s": 3}},
                  timeout=10).raise_for_status()
    try:
        scenario.pay()
        time.sleep(6)  # the workers meet every fault for a while
        faults = requests.get(f"{stack.billecta_admin_url}/stats", timeout=10).json()["faults"]["counters"]
    finally:
        requests.post(config, json={"knobs": {"error_rate": 0, "rate_limit_per_s": 0, "timeout_rate": 0}},
                      timeout=10).raise_for_status()
    counts = settle(stack)
    assert counts.get("dead", 0) == 0
    assert sum(faults.values()) > 0, faults  # the faults did happen
    scenario.assert_all_paid_once()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker", brokers.BROKERS)
def test_worker_killed_mid_processing_recovers(broker: str, stack_starter: Callable[..., Stack],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    # The killed worker's tasks come back from Redis after the visibility timeout, from RabbitMQ as soon as
    # its connection is gone; the rows it had claimed are taken again once their lease ends, by the
    # redelivered task or the sweeper.
    stack = start(tmp_path_factory.mktemp(f"stack-kill-{broker}"), 5, stack_starter, broker, **FAST_RECOVERY)
    try:
        scenario = Scenario(stack, 6)
        scenario.wait_sent()
        requests.post(f"{stack.lime_admin_url}/config", json={"latency_ms": 300}, timeout=10)
        scenario.pay()
        wait_for(lambda: inbox_counts(stack).get("processing", 0) > 0, "a webhook being processed", 30)
        stack.kill_service("worker")
        requests.post(f"{stack.lime_admin_url}/config", json={"latency_ms": 0}, timeout=10)
        stack.start_service("worker")
        counts = settle(stack, timeout_s=200)
        assert counts.get("dead", 0) == 0
        scenario.assert_all_paid_once()
    finally:
        brokers.stop(stack)


@pytest.mark.timeout(300)
def test_redis_restarted_with_events_in_flight(stack_starter: Callable[..., Stack],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("stack-redis")
    # An unused port: the runner starts its own Redis with an append-only file, which the test restarts.
    config = StackConfig(var_dir=tmp, ports=Ports.free(), redis_url=f"redis://127.0.0.1:{free_port()}/0",
                         services=("billecta-sandbox", "lime-sandbox", "gateway", "worker", "beat"), quiet=True,
                         extra_env={"WORKER_MAX_RETRIES": "10", "WORKER_RETRY_BACKOFF_MAX_S": "2",
                                    **FAST_RECOVERY})
    stack = Stack(config)
    stack.start(timeout_s=90)
    try:
        assert stack.redis is not None, "the runner did not start an embedded Redis"
        scenario = Scenario(stack, 6)
        scenario.wait_sent()
        scenario.pay()
        stack.redis.stop()
        time.sleep(2)  # webhooks keep arriving: stored, acknowledged, published later
        stack.redis.start()
        counts = settle(stack, timeout_s=200)
        assert counts.get("dead", 0) == 0
        scenario.assert_all_paid_once()
    finally:
        stack.stop()
