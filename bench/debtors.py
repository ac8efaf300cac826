"""(c) Bulk debtor upsert: "Upsert debtors in Billecta" for 10 000 debtors (500 with --quick) at 50 ms.

Both sandboxes answer every request 50 ms late (``/_sandbox/config``). Measured against a baseline in
the same run: a few debtors one at a time (one command per debtor, each waited for before the next).
Figures: debtors per second, Lime and Billecta requests per debtor (from the sandboxes' stats, the
benchmark's own polling taken out) and the workers' peak memory (RSS of every Celery worker process of the
layout and their children, summed, sampled with psutil every 0.2 s) and CPU time per debtor.

Two worker layouts run in the same run, one stack each: the one before (one worker on every queue with 16
prefork processes) as the baseline, and the thread-pool layout (webhooks, interactive, bulk and nightly jobs
on one thread-pool process; reports on a prefork worker whose children are forked on demand, idle here, so
counted as its one parent process). Then, on the thread-pool stack,
a second thread-pool worker process joins (as on a second machine) and a fresh command of as many debtors
measures the throughput of two worker processes against one.

Seeding goes through the Lime sandbox's ``/_sandbox/bulk`` endpoint, so it is not part of any figure.
The service's Lime budget (3000 requests per 5 minutes, Lime Cloud's) would cap a 10 000-debtor run at
a few debtors per second; the benchmark raises it (``LIME_RATE_LIMIT_REQUESTS``) to measure the service
itself and prints the cap the real budget implies. Billecta's budget (the service's default, 6000 requests a
minute) is kept: the quick run's 500 debtors fit in one minute's budget, so it shows what the workers can do;
a full run of 10 000 is held at that budget (about 50 debtors/s at 2 requests each) in every layout, which
then shows what each layout costs in memory and CPU at the same throughput.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil
import requests

from bench.common import (
    SummaryRow,
    bench_stack,
    fmt_ratio,
    lime_bulk,
    machine_load,
    print_table,
    ratio,
    say,
    wait_for,
)
from billecta_sync.billecta import BillectaClient
from billecta_sync.settings import BillectaSettings, Secret
from devstack.demo import DemoTarget

REDIS_INDEX = 3  # 14 and 15 belong to integration tests that flush them
LATENCY_MS = 50
SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker")
WORKER_CONCURRENCY = 16  # prefork processes of the layout before
WORKER_THREADS = 32  # threads of the thread-pool worker
CPU_WORKER_CONCURRENCY = 2  # prefork processes (on demand) of the reports worker beside it: the devstack default
LIME_CLOUD_BUDGET = (3000, 300.0)


@dataclass(frozen=True)
class Layout:
    name: str
    label: str
    stack: dict[str, Any]


LAYOUTS = (
    Layout("prefork", f"prefork x{WORKER_CONCURRENCY} (before)",
           {"worker_pool": "prefork", "worker_concurrency": WORKER_CONCURRENCY}),
    Layout("threads", f"threads x{WORKER_THREADS} + reports prefork",
           {"worker_pool": "threads", "worker_threads": WORKER_THREADS,
            "worker_concurrency": CPU_WORKER_CONCURRENCY}),
)


@dataclass
class Phase:
    label: str
    debtors: int
    seconds: float
    lime_requests: int
    billecta_requests: int
    peak_rss_mb: float
    cpu_s: float = 0.0

    @property
    def per_second(self) -> float:
        return self.debtors / self.seconds if self.seconds else 0.0

    @property
    def lime_per_debtor(self) -> float:
        return self.lime_requests / self.debtors

    @property
    def billecta_per_debtor(self) -> float:
        return self.billecta_requests / self.debtors

    @property
    def cpu_ms_per_debtor(self) -> float:
        return 1000 * self.cpu_s / self.debtors


class MemoryWatch:
    """Peak RSS of some processes and their children, summed, sampled in a thread; and the CPU time they used
    meanwhile (a thread-pool worker is one process: one core at most for its Python, the GIL's share)."""

    def __init__(self, pids: list[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self.cpu_s = 0.0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _family(self) -> Iterator[psutil.Process]:
        """Every process of the measured services, prefork children included."""
        for root in self.processes:
            try:
                yield from [root, *root.children(recursive=True)]
            except psutil.Error:
                continue

    def _sample(self) -> int:
        total = 0
        for proc in self._family():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _cpu_times(self) -> dict[int, float]:
        # Per process, so a prefork child that ended meanwhile keeps what it used up to the last sample.
        for proc in self._family():
            try:
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                pass
        return dict(self._cpu)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._cpu_times()
            self._stop.wait(0.2)

    def __enter__(self) -> MemoryWatch:
        self.peak = self._sample()
        self._start_cpu = self._cpu_times()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        end = self._cpu_times()
        self.cpu_s = sum(used - self._start_cpu.get(pid, 0.0) for pid, used in end.items())


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
        return lime_bulk(self.http, self.stack.lime_admin_url, limetype, rows)

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

    def worker_pids(self) -> list[int]:
        """Every worker process of the stack (the layout's, and any added since)."""
        return [proc.pid for name, proc in self.stack.processes.items() if name.startswith("worker")]

    def measure(self, label: str, ids: list[int], one_at_a_time: bool) -> Phase:
        lime0, billecta0 = self.lime_total(), self.billecta_total()
        with MemoryWatch(self.worker_pids()) as memory:
            started = time.monotonic()
            if one_at_a_time:
                for debtor in ids:
                    self.command([debtor], 60)
                seconds = time.monotonic() - started
            else:
                batch = self.command(ids, 3600)
                seconds = (_stamp(batch["ended_at"]) - _stamp(batch["created_at"])).total_seconds()
        phase = Phase(label, len(ids), seconds, self.lime_total() - lime0, self.billecta_total() - billecta0,
                      memory.peak / 2**20, memory.cpu_s)
        say(f"{label}: {phase.debtors} debtors in {seconds:.1f} s = {phase.per_second:.1f}/s; "
            f"{phase.lime_per_debtor:.1f} Lime + {phase.billecta_per_debtor:.1f} Billecta requests per debtor; "
            f"workers' peak {phase.peak_rss_mb:.0f} MB, {phase.cpu_ms_per_debtor:.1f} CPU ms per debtor")
        return phase


@dataclass
class LayoutRun:
    layout: Layout
    baseline: Phase
    batch: Phase
    again: Phase
    two_workers: Phase | None = None


def run_layout(layout: Layout, count: int, single: int, *, scale_out: bool) -> LayoutRun:
    extra = count if scale_out else 0
    with bench_stack(f"debtors-{layout.name}", services=SERVICES, redis_index=REDIS_INDEX,
                     extra_env={"BILLECTA_SANDBOX_VALIDATE_RESPONSES": "0", "LIME_RATE_LIMIT_REQUESTS": "1000000"},
                     **layout.stack) as stack:
        say(f"debtors [{layout.label}]: {stack.layout()}")
        bench = DebtorBench(stack)
        try:
            seeded = bench.seed(count + single + extra)
            say(f"debtors [{layout.label}]: seeded {len(seeded)} debtors through the Lime sandbox's bulk endpoint")
            bench.set_latency(LATENCY_MS)
            result = LayoutRun(layout,
                               bench.measure(f"{layout.label}: one at a time", seeded[:single], True),
                               bench.measure(f"{layout.label}: one command", seeded[single:single + count], False),
                               bench.measure(f"{layout.label}: one command, again (updates)",
                                             seeded[single:single + count], False))
            if scale_out:
                # A second thread-pool worker process on the same Redis and database, as on another machine.
                stack.add_worker("worker-b", pool="threads", concurrency=WORKER_THREADS)
                result.two_workers = bench.measure(f"{layout.label}: one command, 2 worker processes",
                                                   seeded[single + count:], False)
        finally:
            bench.close()
    return result


def run(quick: bool = False) -> list[SummaryRow]:
    count = 500 if quick else 10_000
    single = 5 if quick else 20
    say(f"debtors: {count} debtors in one command vs {single} one at a time, {LATENCY_MS} ms sandboxes, "
        f"layouts: {'; '.join(layout.label for layout in LAYOUTS)}; {machine_load()}")
    runs = [run_layout(layout, count, single, scale_out=layout.name == "threads") for layout in LAYOUTS]
    before, after = runs

    phases = [(r, p) for r in runs for p in (r.baseline, r.batch, r.again, r.two_workers) if p is not None]
    rows = [[p.label, str(p.debtors), f"{p.seconds:.1f}", f"{p.per_second:.1f}",
             fmt_ratio(ratio(p.per_second, r.baseline.per_second)),
             fmt_ratio(ratio(p.per_second, before.batch.per_second)), f"{p.lime_per_debtor:.1f}",
             f"{p.billecta_per_debtor:.1f}", f"{p.peak_rss_mb:.0f}", f"{p.cpu_ms_per_debtor:.1f}"]
            for r, p in phases]
    print_table(f"debtors: upsert-debtors-in-billecta at {LATENCY_MS} ms sandbox latency",
                ["phase", "debtors", "seconds", "debtors/s", "vs 1-at-a-time", "vs prefork batch",
                 "Lime req/debtor", "Billecta req/debtor", "workers' peak MB", "worker CPU ms/debtor"], rows)
    batch = after.batch
    budget, window = LIME_CLOUD_BUDGET
    cap = budget / window / batch.lime_per_debtor
    print(f"Lime Cloud's budget ({budget} requests per {window:g} s) at {batch.lime_per_debtor:.1f} Lime requests "
          f"per debtor caps a sustained run at {cap:.1f} debtors/s", flush=True)
    # The service keeps Billecta's budget in every run (the stacks use the default): a run longer than its
    # window is capped by it, whichever layout runs the tasks.
    billecta_budget, billecta_window = BillectaSettings.rate_limit_requests, BillectaSettings.rate_limit_period_s
    billecta_cap = billecta_budget / billecta_window / batch.billecta_per_debtor
    print(f"the service's Billecta budget ({billecta_budget} requests per {billecta_window:g} s) at "
          f"{batch.billecta_per_debtor:.1f} Billecta requests per debtor caps a run longer than a minute at "
          f"{billecta_cap:.1f} debtors/s\n", flush=True)
    summary = [
        SummaryRow("debtors", f"debtors/s, {count} in one command, {LATENCY_MS} ms, {after.layout.label}",
                   f"{batch.per_second:.1f}", f"{before.batch.per_second:.1f} ({before.layout.label})",
                   fmt_ratio(ratio(batch.per_second, before.batch.per_second))),
        SummaryRow("debtors", f"debtors/s, updates, {after.layout.label}", f"{after.again.per_second:.1f}",
                   f"{before.again.per_second:.1f} ({before.layout.label})",
                   fmt_ratio(ratio(after.again.per_second, before.again.per_second))),
        SummaryRow("debtors", f"workers' peak RSS MB, {after.layout.label}", f"{batch.peak_rss_mb:.0f}",
                   f"{before.batch.peak_rss_mb:.0f} ({before.layout.label})",
                   fmt_ratio(ratio(batch.peak_rss_mb, before.batch.peak_rss_mb))),
        SummaryRow("debtors", "debtors/s, one at a time", f"{after.baseline.per_second:.1f}",
                   f"{before.baseline.per_second:.1f} ({before.layout.label})",
                   fmt_ratio(ratio(after.baseline.per_second, before.baseline.per_second))),
        SummaryRow("debtors", "Lime requests/debtor (new)", f"{batch.lime_per_debtor:.1f}",
                   f"{after.baseline.lime_per_debtor:.1f} (one at a time)",
                   fmt_ratio(ratio(batch.lime_per_debtor, after.baseline.lime_per_debtor))),
        SummaryRow("debtors", "Billecta requests/debtor (new)", f"{batch.billecta_per_debtor:.1f}",
                   f"{after.baseline.billecta_per_debtor:.1f} (one at a time)",
                   fmt_ratio(ratio(batch.billecta_per_debtor, after.baseline.billecta_per_debtor))),
        SummaryRow("debtors", "Billecta requests/debtor (update)", f"{after.again.billecta_per_debtor:.1f}"),
    ]
    if after.two_workers is not None:
        two = after.two_workers
        summary += [
            SummaryRow("debtors", "debtors/s, 2 thread-pool worker processes (scale-out)", f"{two.per_second:.1f}",
                       f"{batch.per_second:.1f} (1 process)", fmt_ratio(ratio(two.per_second, batch.per_second))),
            SummaryRow("debtors", "workers' peak RSS MB, 2 thread-pool worker processes", f"{two.peak_rss_mb:.0f}",
                       f"{batch.peak_rss_mb:.0f} (1 process)"),
        ]
    summary.append(SummaryRow("debtors", "sustained cap by Lime Cloud budget, debtors/s", f"{cap:.1f}"))
    return summary
