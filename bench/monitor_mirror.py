"""(g) The integration monitor mirrored into Lime: Lime requests per object, against the same batch unmirrored.

One stack (sandboxes, gateway, worker; no beat, so the mirror runs only when this benchmark runs it). Three
"Upsert debtors in Billecta" batches of the same size, one in ten debtors refused (a company without an
organisation number), so the monitor holds ok and error logs:

* baseline: the batch with the mirror off — the Lime requests the sync itself needs per debtor;
* after settle: the batch, then the mirror job once it has settled (the common case: batches end between runs);
* while running: the mirror job every 0.5 s while the batch runs, until nothing is left to send.

The mirror runs in this process through the service's own wiring (``build_services``: the production Lime
client behind the shared Redis rate limit), with ``LIME_MONITOR_MIRROR=true``. A phase's Lime requests are
the Lime sandbox's count (the benchmark's own reads come after it), the mirror's share what its runs counted;
each phase starts with nothing left to mirror. Printed: Lime requests per debtor for each batch and the
mirror's share, and whether Lime's copy matches the service's monitor.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from bench.common import SummaryRow, bench_stack, fmt_ratio, machine_load, print_table, ratio, say, wait_for
from billecta_sync import monitor
from billecta_sync.billecta import BillectaClient
from billecta_sync.container import Services, build_services
from billecta_sync.lime.values import option_key
from billecta_sync.settings import BillectaSettings, Secret, load_settings
from billecta_sync.usecases.jobs import lime_monitor

REDIS_INDEX = 6
SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker")
REFUSED_EVERY = 10  # one debtor in ten has no organisation number: its log ends in error


@dataclass
class Phase:
    label: str
    objects: int
    batch_requests: int  # the sync's own Lime requests while the batch ran
    mirror_requests: int  # the mirror's, as its runs counted them
    mirror_runs: int
    matches: bool

    @property
    def per_object(self) -> float:
        return (self.batch_requests + self.mirror_requests) / self.objects

    @property
    def mirror_per_object(self) -> float:
        return self.mirror_requests / self.objects


class MirrorBench:
    def __init__(self, stack: Any) -> None:
        c = stack.config
        self.stack = stack
        self.http = requests.Session()
        self.http.headers["X-API-Key"] = c.commands_key
        self.command_url = f"{stack.gateway_url}{c.prefix}/task/upsert-debtors-in-billecta"
        self.batch_url = f"{stack.gateway_url}{c.prefix}/monitor/batches"
        self.billecta = BillectaClient(BillectaSettings(base_url=stack.billecta_url,
                                                        authentication=Secret(c.billecta_auth)))
        self.services: Services = build_services(load_settings(env={**stack.env(), "LIME_MONITOR_MIRROR": "true"}))
        self.creditor = 0

    def close(self) -> None:
        self.http.close()
        self.billecta.close()
        self.services.close()

    def lime_requests(self) -> int:
        return int(self.http.get(f"{self.stack.lime_admin_url}/stats", timeout=10).json()["total"])

    def bulk(self, limetype: str, rows: list[dict[str, Any]]) -> list[int]:
        resp = self.http.post(f"{self.stack.lime_admin_url}/bulk/{limetype}", params={"ids": "1"}, json=rows,
                              timeout=120)
        resp.raise_for_status()
        return [int(i) for i in resp.json()["ids"]]

    def seed(self, count: int) -> list[int]:
        """``count`` company debtors of one creditor known to Billecta; every tenth without an org number."""
        if not self.creditor:
            public_id = self.billecta.create_creditor({"Name": "Bench Monitor AB", "OrgNo": "556000-0007",
                                                       "CountryCode": "SE", "IsEnabled": True})
            [self.creditor] = self.bulk("creditor", [{"name": "Bench Monitor AB", "creditorpublicid": public_id}])
        tag = uuid.uuid4().hex[:6]
        debtors = self.bulk("debtor", [
            {"name": f"Kund {tag} {n} AB", "ssnregno": "" if n % REFUSED_EVERY == 0 else f"556{n:07d}",
             "email": f"kund{n}@example.se", "countrycode": "SE", "debtortype": "company"} for n in range(count)])
        self.bulk("creditordebtor", [{"creditor": self.creditor, "debtor": d} for d in debtors])
        return debtors

    def start(self, ids: list[int]) -> int:
        resp = self.http.post(self.command_url, timeout=120, json={
            "integration_monitor_batch_title": "bench monitor mirror",
            "query_filter": {"key": "_id", "op": "IN", "exp": ids}})
        resp.raise_for_status()
        return int(resp.json()["integration_monitor_batch_id"])

    def settled(self, batch_id: int) -> bool:
        batch = self.http.get(f"{self.batch_url}/{batch_id}", timeout=30).json()
        return bool(batch["status"] != "running")

    def mirror_until_done(self) -> tuple[int, int]:
        """Run the mirror job until nothing is left to send; (runs, Lime requests it counted)."""
        runs = sent = 0
        while True:
            runs += 1
            result = lime_monitor.mirror_to_lime(self.services)
            if result.get("error"):
                raise RuntimeError(f"the mirror failed: {result['error']}")
            sent += int(result["lime_requests"])
            if not result["pending"]:
                return runs, sent

    def matches(self, batch_id: int) -> bool:
        """Lime's copy of the batch and its logs against the service's monitor."""
        summary = monitor.batch_summary(self.services.db, batch_id)
        assert summary is not None
        lime = self.services.lime
        batch = lime.get("integration_monitor_batch", int(summary["lime_id"]))
        logs = lime.query("integration_monitor_log", ["objectid", "status", "message"],
                          {"key": "integration_monitor_batch", "op": "=", "exp": int(summary["lime_id"])})
        return bool(
            (option_key(batch["status"]), batch["totalcount"], batch["okcount"], batch["errorcount"])
            == (summary["status"], summary["total"], summary["counts"]["ok"], summary["counts"]["error"])
            and sorted((e["objectid"], option_key(e["status"]), e["message"]) for e in logs)
            == sorted((int(e["object_id"]), e["status"], e["message"]) for e in summary["logs"]))

    def phase(self, label: str, count: int, mode: str) -> Phase:
        ids = self.seed(count)
        self.mirror_until_done()  # an earlier phase's batch is not this one's cost
        before = self.lime_requests()
        batch_id = self.start(ids)
        mirror_requests = runs = 0
        if mode == "while running":
            while not self.settled(batch_id):
                mirror_requests += lime_monitor.mirror_to_lime(self.services)["lime_requests"]
                runs += 1
                time.sleep(0.5)
        wait_for(f"batch {batch_id}", lambda: self.settled(batch_id), 600, 0.5)
        if mode != "off":
            more_runs, more_requests = self.mirror_until_done()
            runs, mirror_requests = runs + more_runs, mirror_requests + more_requests
        # The sandbox's count of everything in the phase; the mirror's own share is what its runs counted.
        batch_requests = self.lime_requests() - before - mirror_requests
        matches = self.matches(batch_id) if mode != "off" else True
        phase = Phase(label, count, batch_requests, mirror_requests, runs, matches)
        say(f"{label}: {count} debtors, {phase.batch_requests} Lime requests by the batch + {mirror_requests} by the "
            f"mirror in {runs} runs = {phase.per_object:.2f} per debtor (mirror {phase.mirror_per_object:.3f}); "
            f"Lime matches the service: {matches}")
        return phase


def run(quick: bool = False) -> list[SummaryRow]:
    count = 40 if quick else 400
    say(f"monitor_mirror: 3 batches of {count} debtors (1 in {REFUSED_EVERY} refused); {machine_load()}")
    with bench_stack("monitor-mirror", services=SERVICES, redis_index=REDIS_INDEX, worker_concurrency=4,
                     extra_env={"BILLECTA_SANDBOX_VALIDATE_RESPONSES": "0",
                                "LIME_RATE_LIMIT_REQUESTS": "1000000"}) as stack:
        bench = MirrorBench(stack)
        try:
            lime_monitor.forget_monitor_ids()
            # Reads (and creates) the integration_monitor record once, as a worker's first run does.
            bench.mirror_until_done()
            off = bench.phase("mirror off (baseline)", count, "off")
            after = bench.phase("mirror after settle", count, "after settle")
            during = bench.phase("mirror while running", count, "while running")
        finally:
            bench.close()
    rows = [[p.label, p.objects, f"{p.batch_requests / p.objects:.2f}", f"{p.mirror_per_object:.2f}",
             f"{p.per_object:.2f}", p.mirror_runs, p.matches] for p in (off, after, during)]
    print_table("Lime requests per debtor, with and without the integration monitor mirror",
                ["batch", "debtors", "sync/debtor", "mirror/debtor", "total/debtor", "mirror runs", "Lime = service"],
                rows)
    return [
        SummaryRow("monitor_mirror", "Lime requests/debtor, mirrored after settle", f"{after.per_object:.2f}",
                   f"{off.per_object:.2f} (off)", fmt_ratio(ratio(after.per_object, off.per_object))),
        SummaryRow("monitor_mirror", "Lime requests/debtor, mirrored while running", f"{during.per_object:.2f}",
                   f"{off.per_object:.2f} (off)", fmt_ratio(ratio(during.per_object, off.per_object))),
        SummaryRow("monitor_mirror", "mirror's Lime requests/debtor (after settle; while running)",
                   f"{after.mirror_per_object:.3f}; {during.mirror_per_object:.3f}", "1 + batch share", ""),
    ]
