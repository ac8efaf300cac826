"""(b) The flow end to end: orders per minute from the Lime command to "invoice in Lime as sent".

Every phase sends orders whose debtor and articles are already in Billecta (a warm-up order per creditor,
not measured, syncs them first), as at month end; syncing new ones is the debtor bench's subject.

For each sandbox latency (0 ms and 50 ms, set on both sandboxes through ``/_sandbox/config``):

* baseline: a few orders one at a time (one command per order, each waited for before the next);
* batch: M orders in one upsert-attest command.

Both are timed from the command to the moment the monitor batch is ok and every order's invoice is
in Lime with invoicestatus ``sent`` (polled through Lime's query API). Requests spent per order on
Lime and on Billecta come from the sandboxes' ``/_sandbox/stats``, counted after the system settled
(webhooks delivered, inbox drained), minus the benchmark's own polling queries.

Each phase starts with the service's Lime request budget (``ratelimit:lime`` in Redis) emptied, so no
phase is slowed by the calls of the ones before; the budget's effect on a sustained run is printed as
a figure of its own. The Billecta sandbox runs without checking its own answers against the contract
(``BILLECTA_SANDBOX_VALIDATE_RESPONSES=0``), which only costs the shared CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
import requests

from bench.common import (
    BenchStack,
    SummaryRow,
    bench_stack,
    fmt_ratio,
    machine_load,
    print_table,
    ratio,
    say,
    wait_for,
)
from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from billecta_sync.ratelimit import RedisRateLimiter
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret, load_settings
from devstack.demo import DemoTarget, seed, start_command

REDIS_INDEX = 11
LATENCIES_MS = (0, 50)
SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker", "beat")
POLL_S = 0.1
PHASE_TIMEOUT_S = 240.0
LIME_LIMITER_KEY = "ratelimit:lime"  # billecta_sync.container.build_services
OWN_POLL_KIND = "POST query"  # how our polling shows in the Lime sandbox's stats (the service's client GETs)


class FlowFailed(RuntimeError):
    pass


@dataclass
class Phase:
    label: str
    latency_ms: int
    orders: int
    seconds: float
    lime: dict[str, int]  # requests by "METHOD kind"
    billecta: dict[str, int]  # requests by "METHOD route"
    one_at_a_time: bool
    order_seconds: list[float]  # one at a time: each order's own time

    @property
    def per_minute(self) -> float:
        return self.orders / self.seconds * 60.0 if self.seconds else 0.0

    @property
    def lime_requests(self) -> int:
        return sum(self.lime.values())

    @property
    def billecta_requests(self) -> int:
        return sum(self.billecta.values())

    @property
    def lime_per_order(self) -> float:
        return self.lime_requests / self.orders

    @property
    def billecta_per_order(self) -> float:
        return self.billecta_requests / self.orders


class Flow:
    """Drives one running stack: seeding, latency knobs, request counters, the command and its end."""

    def __init__(self, stack: BenchStack) -> None:
        c = stack.config
        self.stack = stack
        self.target = DemoTarget(gateway_url=stack.gateway_url, prefix=c.prefix, commands_key=c.commands_key,
                                 billecta_url=stack.billecta_url, billecta_auth=c.billecta_auth,
                                 lime_url=stack.lime_url, lime_key=c.lime_key)
        self.billecta = BillectaClient(BillectaSettings(base_url=stack.billecta_url,
                                                        authentication=Secret(c.billecta_auth)))
        self.lime = LimeClient(LimeSettings(base_url=stack.lime_url, api_key=Secret(c.lime_key)))
        self.http = requests.Session()
        self.own_lime_requests = 0  # our polling queries, subtracted from the Lime sandbox's count
        lime_settings = load_settings(env=stack.env()).lime
        self.lime_budget = (lime_settings.rate_limit_requests, lime_settings.rate_limit_period_s)
        self.redis = redis.Redis.from_url(stack.redis_url)
        self.limiter = RedisRateLimiter(self.redis, LIME_LIMITER_KEY, *self.lime_budget)

    def close(self) -> None:
        self.billecta.close()
        self.http.close()
        self.redis.close()

    # -- sandboxes ----------------------------------------------------------------------------------
    def set_latency(self, ms: float) -> None:
        for admin in (self.stack.billecta_admin_url, self.stack.lime_admin_url):
            resp = self.http.post(f"{admin}/config", json={"latency_ms": ms}, timeout=10)
            resp.raise_for_status()

    def lime_counts(self) -> dict[str, int]:
        """The service's Lime requests since the last reset, by "METHOD kind", our own polls taken out."""
        stats = self.http.get(f"{self.stack.lime_admin_url}/stats", timeout=10).json()
        counts = {k: int(v) for k, v in stats["by_method_kind"].items()}
        counts[OWN_POLL_KIND] = counts.get(OWN_POLL_KIND, 0) - self.own_lime_requests
        return {k: v for k, v in counts.items() if v}

    def lime_reset(self) -> None:
        self.http.post(f"{self.stack.lime_admin_url}/stats/reset", timeout=10).raise_for_status()
        self.own_lime_requests = 0

    def billecta_counts(self) -> dict[str, int]:
        """Billecta API requests so far by "METHOD route" (the sandbox logs /v1/ calls only)."""
        stats = self.http.get(f"{self.stack.billecta_admin_url}/stats", timeout=10).json()
        return {k: int(v) for k, v in stats["requests_by_route"].items()}

    def seed(self, orders: int) -> list[int]:
        """A fresh creditor, debtor and articles with ``orders`` orders (demo.seed); their ids."""
        result = seed(self.target, self.billecta, self.lime, orders=orders)
        ids = self.lime.query_ids("order", {"key": "creditor", "op": "=", "exp": result.creditor_id})
        if len(ids) != orders:
            raise FlowFailed(f"seeded {orders} orders but Lime holds {len(ids)} for creditor {result.creditor_id}")
        return ids

    # -- watching -----------------------------------------------------------------------------------
    def batch(self, batch_id: int) -> dict[str, Any]:
        resp = self.http.get(f"{self.target.gateway_url}{self.target.prefix}/monitor/batches/{batch_id}",
                             headers={"X-API-Key": self.target.commands_key}, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def sent_orders(self, order_ids: list[int]) -> set[int]:
        """Orders whose invoice is in Lime with status sent (one query through Lime's public API)."""
        spec = {"limetype": "invoice",
                "responseFormat": {"object": {"_id": "", "order": "", "invoicestatus": ""}},
                "filter": {"key": "order", "op": "IN", "exp": order_ids},
                "orderBy": [{"_id": "ASC"}], "limit": 1000}
        self.own_lime_requests += 1
        resp = self.http.post(f"{self.stack.lime_url}query/", json=spec, timeout=30,
                              headers={"X-API-Key": self.stack.config.lime_key, "Accept": "application/json"})
        resp.raise_for_status()
        return {int(row["order"]) for row in resp.json()["objects"]
                if row.get("order") is not None and option_key(row.get("invoicestatus")) == "sent"}

    def run_command(self, order_ids: list[int], label: str) -> float:
        """Start one command for ``order_ids``; the seconds until the batch is ok and all invoices are sent."""
        started = time.monotonic()
        batch_id = start_command(self.target, order_ids, title=f"bench {label}")
        batch_status = "running"
        sent: set[int] = set()
        last_report = started
        while True:
            if batch_status == "running":
                batch = self.batch(batch_id)
                batch_status = batch["status"]
                if batch_status not in ("running", "ok"):
                    failures = [f"order {log['object_id']}: {log['message']}" for log in batch.get("logs", [])
                                if log.get("status") != "ok"][:5]
                    raise FlowFailed(f"{label}: monitor batch {batch_id} ended {batch_status}: {failures}")
            sent = self.sent_orders(order_ids)
            now = time.monotonic()
            if batch_status == "ok" and len(sent) == len(order_ids):
                return now - started
            if now - started > PHASE_TIMEOUT_S:
                raise FlowFailed(f"{label}: after {PHASE_TIMEOUT_S:.0f} s batch {batch_id} is {batch_status} and "
                                 f"{len(sent)}/{len(order_ids)} invoices are sent in Lime")
            if len(order_ids) > 1 and now - last_report >= 3.0:
                say(f"  {label}: {len(sent)}/{len(order_ids)} invoices sent in Lime, batch {batch_status} "
                    f"({now - started:.0f} s)")
                last_report = now
            time.sleep(POLL_S)

    def settle(self, timeout_s: float = 60.0) -> None:
        """Wait until Billecta has delivered every webhook and the gateway's inbox has nothing in flight."""
        self.http.post(f"{self.stack.billecta_admin_url}/webhooks/wait-idle", params={"timeout": timeout_s},
                       timeout=timeout_s + 10)

        def inbox_idle() -> bool:
            stats = self.http.get(f"{self.target.gateway_url}{self.target.prefix}/operator/inbox-stats",
                                  headers={"X-API-Key": self.stack.config.operator_key}, timeout=10).json()
            counts = stats.get("counts", {})
            return sum(counts.get(s, 0) for s in ("received", "queued", "processing", "failed")) == 0

        wait_for("the webhook inbox to drain", inbox_idle, timeout_s)
        time.sleep(0.5)  # let the last task's trailing calls land

    # -- phases -------------------------------------------------------------------------------------
    def measure(self, label: str, latency_ms: int, order_ids: list[int], one_at_a_time: bool) -> Phase:
        self.settle()
        self.set_latency(latency_ms)
        # Every phase starts with the whole Lime budget, so no phase is slowed by its predecessors' calls.
        self.limiter.reset()
        self.lime_reset()
        billecta_before = self.billecta_counts()
        order_seconds: list[float] = []
        if one_at_a_time:
            started = time.monotonic()
            for number, order_id in enumerate(order_ids, 1):
                order_seconds.append(self.run_command([order_id], f"{label} order {number}"))
                say(f"  {label}: order {number}/{len(order_ids)} sent in Lime after {order_seconds[-1]:.2f} s")
            seconds = time.monotonic() - started
        else:
            seconds = self.run_command(order_ids, label)
        self.settle()
        lime = self.lime_counts()
        billecta = {k: n for k, v in self.billecta_counts().items() if (n := v - billecta_before.get(k, 0))}
        self.set_latency(0)
        phase = Phase(label, latency_ms, len(order_ids), seconds, lime, billecta, one_at_a_time, order_seconds)
        say(f"{label}: {phase.orders} orders in {seconds:.1f} s = {phase.per_minute:.1f} orders/min; "
            f"{phase.lime_per_order:.1f} Lime + {phase.billecta_per_order:.1f} Billecta requests per order")
        return phase


def run(quick: bool = False) -> list[SummaryRow]:
    batch_orders = 10 if quick else 40
    single_orders = 2 if quick else 4
    say(f"flow: sandbox latency {', '.join(f'{ms} ms' for ms in LATENCIES_MS)}; baseline {single_orders} orders "
        f"one at a time, then {batch_orders} orders in one command; {machine_load()}")
    phases: list[Phase] = []
    with bench_stack("flow", services=SERVICES, redis_index=REDIS_INDEX,
                     extra_env={"BILLECTA_SANDBOX_VALIDATE_RESPONSES": "0"}) as stack:
        c = stack.config
        layout = (f"{c.worker_threads} worker threads" if c.worker_pool == "threads"
                  else f"{c.worker_concurrency} prefork worker processes")
        say(f"flow: stack up ({layout}, "
            f"{stack.config.gateway_workers} gateway workers); seeding at 0 ms latency")
        flow = Flow(stack)
        lime_budget = flow.lime_budget
        try:
            seeded = {(ms, kind): flow.seed(1 + (batch_orders if kind == "batch" else single_orders))
                      for ms in LATENCIES_MS for kind in ("single", "batch")}
            say(f"flow: seeded {sum(len(ids) for ids in seeded.values())} orders "
                f"in {len(seeded)} creditors")
            # Each creditor's first order syncs its debtor and articles to Billecta; it is not measured, so
            # every phase measures orders whose debtor and articles are already synced (the usual case).
            for key, ids in seeded.items():
                flow.run_command(ids[:1], f"warm-up {key[1]} {key[0]} ms")
                seeded[key] = ids[1:]
            say("flow: each creditor's debtor and articles synced by one warm-up order (not measured)")
            for ms in LATENCIES_MS:
                phases.append(flow.measure(f"{ms} ms one-at-a-time", ms, seeded[(ms, "single")], True))
                phases.append(flow.measure(f"{ms} ms batch", ms, seeded[(ms, "batch")], False))
        finally:
            flow.close()

    rows: list[list[str]] = []
    summary: list[SummaryRow] = []
    for ms in LATENCIES_MS:
        single, batch = sorted((p for p in phases if p.latency_ms == ms), key=lambda p: not p.one_at_a_time)
        gain = ratio(batch.per_minute, single.per_minute)
        for p in (single, batch):
            mean = f"{sum(p.order_seconds) / len(p.order_seconds):.2f}" if p.order_seconds else "-"
            rows.append([p.label, str(p.orders), f"{p.seconds:.1f}", f"{p.per_minute:.1f}",
                         fmt_ratio(ratio(p.per_minute, single.per_minute)), mean,
                         f"{p.lime_per_order:.1f}", f"{p.billecta_per_order:.1f}"])
        summary += [
            SummaryRow("flow", f"orders/min, {ms} ms sandboxes, batch of {batch.orders}", f"{batch.per_minute:.1f}",
                       f"{single.per_minute:.1f} (one at a time)", fmt_ratio(gain)),
            SummaryRow("flow", f"Lime requests/order, {ms} ms, batch", f"{batch.lime_per_order:.1f}",
                       f"{single.lime_per_order:.1f} (one at a time)",
                       fmt_ratio(ratio(batch.lime_per_order, single.lime_per_order))),
            SummaryRow("flow", f"Billecta requests/order, {ms} ms, batch", f"{batch.billecta_per_order:.1f}",
                       f"{single.billecta_per_order:.1f} (one at a time)",
                       fmt_ratio(ratio(batch.billecta_per_order, single.billecta_per_order))),
        ]
    print_table("flow: command -> every invoice in Lime as sent (monitor batch ok)",
                ["phase", "orders", "seconds", "orders/min", "vs 1-at-a-time", "s/order (1-at-a-time)",
                 "Lime req/order", "Billecta req/order"], rows)

    print("requests per order by kind (Lime: METHOD kind; Billecta: METHOD route):")
    for p in phases:
        for system, counts in (("Lime", p.lime), ("Billecta", p.billecta)):
            parts = ", ".join(f"{k} {v / p.orders:.1f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
            print(f"  {p.label:<20} {system:<8} {parts}")
    print()

    budget, window = lime_budget
    per_min = budget / window * 60.0
    for ms in LATENCIES_MS:
        batch = next(p for p in phases if p.latency_ms == ms and not p.one_at_a_time)
        cap = per_min / batch.lime_per_order
        print(f"Lime budget ({budget} requests per {window:g} s) at {batch.lime_per_order:.1f} Lime requests/order "
              f"caps a sustained run at {cap:.1f} orders/min ({ms} ms batch measured {batch.per_minute:.1f})")
        summary.append(SummaryRow("flow", f"sustained cap by Lime budget, {ms} ms", f"{cap:.1f}",
                                  f"{batch.per_minute:.1f} (measured batch)", fmt_ratio(ratio(cap, batch.per_minute))))
    for p in phases:
        if p.lime_requests > budget:
            print(f"note: {p.label} spent {p.lime_requests} Lime requests, more than the budget of {budget} per "
                  f"{window:g} s: the service's limiter slowed it down")
    print(flush=True)
    return summary
