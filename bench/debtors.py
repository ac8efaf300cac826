"""(c) Bulk debtor upsert: "Upsert debtors in Billecta" for 10 000 debtors (500 with --quick) at 50 ms.

Both sandboxes answer every request 50 ms late (``/_sandbox/config``). Measured against a baseline in
the same run: a few debtors one at a time (one command per debtor, each waited for before the next).
Figures: debtors per second, Lime and Billecta requests per debtor (from the sandboxes' stats, the
benchmark's own polling taken out) and the worker's peak memory (RSS of the Celery worker and its
children, sampled with psutil every 0.2 s).

Seeding goes through the Lime sandbox's ``/_sandbox/bulk`` endpoint, so it is not part of any figure.
The service's Lime budget (3000 requests per 5 minutes, Lime Cloud's) would cap a 10 000-debtor run at
a few debtors per second; the benchmark raises it (``LIME_RATE_LIMIT_REQUESTS``) to measure the service
itself and prints the cap the real budget implies.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil
import requests

from bench.common import SummaryRow, bench_stack, fmt_ratio, machine_load, print_table, ratio, say, wait_for
from billecta_sync.billecta import BillectaClient
from billecta_sync.settings import BillectaSettings, Secret
from devstack.demo import DemoTarget

REDIS_INDEX = 3  # 14 and 15 belong to integration tests that flush them
LATENCY_MS = 50
SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker")
WORKER_CONCURRENCY = 16
LIME_CLOUD_BUDGET = (3000, 300.0)


@dataclass
class Phase:
    label: str
    debtors: int
    seconds: float
    lime_requests: int
    billecta_requests: int
    peak_rss_mb: float

    @property
    def per_second(self) -> float:
        return self.debtors / self.seconds if self.seconds else 0.0

    @property
    def lime_per_debtor(self) -> float:
        return self.lime_requests / self.debtors

    @property
    def billecta_per_debtor(self) -> float:
        return self.billecta_requests / self.debtors


class MemoryWatch:
    """Peak RSS of a process and its children, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(0.2)

    def __enter__(self) -> MemoryWatch:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _id_filter(ids: list[int]) -> dict[str, Any]:
    """Bulk-inserted ids are contiguous: a range, as a Lime user's filter would be, instead of 10 000 ids."""
    if len(ids) > 1 and ids == list(range(ids[0], ids[-1] + 1)):
        return {"op": "AND", "exp": [{"key": "_id", "op": ">=", "exp": ids[0]},
                                     {"key": "_id", "op": "<=", "exp": ids[-1]}]}
    return {"key": "_id", "op": "IN", "exp": ids}


class DebtorBench:
    def __init__(self, stack: Any) -> None:
        c = stack.config
        self.stack = stack
        self.target = DemoTarget(gateway_url=stack.gateway_url, prefix=c.prefix, commands_key=c.commands_key)
        self.http = requests.Session()
        self.billecta = BillectaClient(BillectaSettings(base_url=stack.billecta_url,
                                                        authentication=Secret(c.billecta_auth)))

    def close(self) -> None:
        self.http.close()
        self.billecta.close()

    def set_latency(self, ms: float) -> None:
        for admin in (self.stack.billecta_admin_url, self.stack.lime_admin_url):
            self.http.post(f"{admin}/config", json={"latency_ms": ms}, timeout=10).raise_for_status()

    def lime_total(self) -> int:
        stats = self.http.get(f"{self.stack.lime_admin_url}/stats", timeout=10).json()
        return sum(int(v) for v in stats["by_method_kind"].values())

    def billecta_total(self) -> int:
        stats = self.http.get(f"{self.stack.billecta_admin_url}/stats", timeout=10).json()
        return sum(int(v) for v in stats["requests_by_route"].values())

    def bulk(self, limetype: str, rows: list[dict[str, Any]]) -> list[int]:
        ids: list[int] = []
        for start in range(0, len(rows), 2000):
            resp = self.http.post(f"{self.stack.lime_admin_url}/bulk/{limetype}", params={"ids": "1"},
                                  json=rows[start:start + 2000], timeout=120)
            resp.raise_for_status()
            ids += resp.json()["ids"]
        return ids

    def seed(self, count: int) -> list[int]:
        """A creditor in Billecta and Lime and ``count`` company debtors billed by it; the debtor ids."""
        tag = uuid.uuid4().hex[:6]
        public_id = self.billecta.create_creditor({"Name": f"Bench AB {tag}", "OrgNo": "556000-0001",
                                                   "CountryCode": "SE", "IsEnabled": True})
        [creditor] = self.bulk("creditor", [{"name": f"Bench AB {tag}", "creditorpublicid": public_id}])
        debtors = self.bulk("debtor", [{"name": f"Kund {tag} {n} AB", "ssnregno": f"556{n:07d}",
                                        "email": f"kund{n}@example.se", "address": "Gatan 1", "zipcode": "11122",
                                        "city": "Stockholm", "countrycode": "SE", "debtortype": "company"}
                                       for n in range(count)])
        self.bulk("creditordebtor", [{"creditor": creditor, "debtor": d} for d in debtors])
        return debtors

    def command(self, ids: list[int], timeout_s: float) -> dict[str, Any]:
        resp = self.http.post(f"{self.target.gateway_url}{self.target.prefix}/task/upsert-debtors-in-billecta",
                              json={"integration_monitor_batch_title": "bench debtors",
                                    "query_filter": _id_filter(ids)},
                              headers={"X-API-Key": self.target.commands_key}, timeout=120)
        resp.raise_for_status()
        batch_id = int(resp.json()["integration_monitor_batch_id"])
        url = f"{self.target.gateway_url}{self.target.prefix}/monitor/batches/{batch_id}"

        def done() -> dict[str, Any] | None:
            batch = self.http.get(url, headers={"X-API-Key": self.target.commands_key}, timeout=30).json()
            return batch if batch["status"] != "running" else None

        # A big batch's summary carries every log: poll it rarely, and time it by its own stamps instead.
        batch = wait_for(f"batch {batch_id}", done, timeout_s, 0.1 if len(ids) == 1 else 5.0)
        if batch["status"] != "ok":
            raise RuntimeError(f"batch {batch_id} ended {batch['status']}: {batch['counts']}")
        return batch

    def measure(self, label: str, ids: list[int], one_at_a_time: bool, worker_pid: int) -> Phase:
        lime0, billecta0 = self.lime_total(), self.billecta_total()
        with MemoryWatch(worker_pid) as memory:
            started = time.monotonic()
            if one_at_a_time:
                for debtor in ids:
                    self.command([debtor], 60)
                seconds = time.monotonic() - started
            else:
                batch = self.command(ids, 3600)
                seconds = (_stamp(batch["ended_at"]) - _stamp(batch["created_at"])).total_seconds()
        phase = Phase(label, len(ids), seconds, self.lime_total() - lime0, self.billecta_total() - billecta0,
                      memory.peak / 2**20)
        say(f"{label}: {phase.debtors} debtors in {seconds:.1f} s = {phase.per_second:.1f}/s; "
            f"{phase.lime_per_debtor:.1f} Lime + {phase.billecta_per_debtor:.1f} Billecta requests per debtor; "
            f"worker peak {phase.peak_rss_mb:.0f} MB")
        return phase


def run(quick: bool = False) -> list[SummaryRow]:
    count = 500 if quick else 10_000
    single = 5 if quick else 20
    say(f"debtors: {count} debtors in one command vs {single} one at a time, {LATENCY_MS} ms sandboxes, "
        f"worker concurrency {WORKER_CONCURRENCY}; {machine_load()}")
    with bench_stack("debtors", services=SERVICES, redis_index=REDIS_INDEX, worker_concurrency=WORKER_CONCURRENCY,
                     extra_env={"BILLECTA_SANDBOX_VALIDATE_RESPONSES": "0",
                                "LIME_RATE_LIMIT_REQUESTS": "1000000"}) as stack:
        bench = DebtorBench(stack)
        try:
            worker_pid = stack.processes["worker"].pid
            seeded = bench.seed(count + single)
            say(f"debtors: seeded {len(seeded)} debtors through the Lime sandbox's bulk endpoint")
            bench.set_latency(LATENCY_MS)
            baseline = bench.measure("one at a time", seeded[:single], True, worker_pid)
            batch = bench.measure("one command", seeded[single:], False, worker_pid)
            again = bench.measure("one command, again (updates)", seeded[single:], False, worker_pid)
        finally:
            bench.close()

    rows = [[p.label, str(p.debtors), f"{p.seconds:.1f}", f"{p.per_second:.1f}",
             fmt_ratio(ratio(p.per_second, baseline.per_second)), f"{p.lime_per_debtor:.1f}",
             f"{p.billecta_per_debtor:.1f}", f"{p.peak_rss_mb:.0f}"] for p in (baseline, batch, again)]
    print_table(f"debtors: upsert-debtors-in-billecta at {LATENCY_MS} ms sandbox latency",
                ["phase", "debtors", "seconds", "debtors/s", "vs 1-at-a-time", "Lime req/debtor",
                 "Billecta req/debtor", "worker peak MB"], rows)
    budget, window = LIME_CLOUD_BUDGET
    cap = budget / window / batch.lime_per_debtor
    print(f"Lime Cloud's budget ({budget} requests per {window:g} s) at {batch.lime_per_debtor:.1f} Lime requests "
          f"per debtor caps a sustained run at {cap:.1f} debtors/s\n", flush=True)
    return [
        SummaryRow("debtors", f"debtors/s, {count} in one command, {LATENCY_MS} ms", f"{batch.per_second:.1f}",
                   f"{baseline.per_second:.1f} (one at a time)", fmt_ratio(ratio(batch.per_second,
                                                                                 baseline.per_second))),
        SummaryRow("debtors", "Lime requests/debtor (new)", f"{batch.lime_per_debtor:.1f}",
                   f"{baseline.lime_per_debtor:.1f} (one at a time)",
                   fmt_ratio(ratio(batch.lime_per_debtor, baseline.lime_per_debtor))),
        SummaryRow("debtors", "Billecta requests/debtor (new)", f"{batch.billecta_per_debtor:.1f}",
                   f"{baseline.billecta_per_debtor:.1f} (one at a time)",
                   fmt_ratio(ratio(batch.billecta_per_debtor, baseline.billecta_per_debtor))),
        SummaryRow("debtors", "Billecta requests/debtor (update)", f"{again.billecta_per_debtor:.1f}"),
        SummaryRow("debtors", "worker peak RSS MB", f"{batch.peak_rss_mb:.0f}",
                   f"{baseline.peak_rss_mb:.0f} (one at a time)"),
        SummaryRow("debtors", "sustained cap by Lime Cloud budget, debtors/s", f"{cap:.1f}"),
    ]
