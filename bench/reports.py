"""The accounts-receivable report for many open invoices: 10 000 (quick: 1 000), seeded in the Billecta
sandbox with one bulk admin request (``/_sandbox/analysis/bulk-invoices``, no webhooks).

The report runs in this process (the code the reports worker runs: ``billecta_sync.reports``) against the two
sandboxes, once as xlsx and once as PDF, each stored in Lime. Printed per format: seconds, Billecta and Lime
requests (from the sandboxes' request counters) and the process's peak resident memory (``ru_maxrss``: a
high-water mark, so the PDF row shows the larger of both runs; tracemalloc would slow ReportLab ~25x); the
baseline is the one Billecta request alone (the AR analysis answer for all invoices).
"""

from __future__ import annotations

import resource
import time
import uuid
from datetime import date
from types import SimpleNamespace
from typing import Any

import requests

from bench.common import SummaryRow, bench_stack, fmt_ratio, print_table, ratio, say
from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.mappings import FieldMappings
from billecta_sync.reports import accounts_receivable, store
from billecta_sync.reports.common import creditor
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret

SERVICES = ("billecta-sandbox", "lime-sandbox")
REDIS_INDEX = 5
OVERDUE_DAYS = [-10, 0, 15, 45, 75, 120]  # one of each bucket, round-robin


def _count(http: requests.Session, url: str, key: str) -> int:
    return sum(int(v) for v in http.get(url, timeout=10).json()[key].values())


def run(quick: bool = False) -> list[SummaryRow]:
    count = 1_000 if quick else 10_000
    summary: list[SummaryRow] = []
    rows: list[list[str]] = []
    with bench_stack("reports", services=SERVICES, redis_index=REDIS_INDEX) as stack:
        c = stack.config
        billecta = BillectaClient(BillectaSettings(base_url=stack.billecta_url, authentication=Secret(c.billecta_auth),
                                                   timeout_s=300))
        lime = LimeClient(LimeSettings(base_url=stack.lime_url, api_key=Secret(c.lime_key)))
        http = requests.Session()
        try:
            tag = uuid.uuid4().hex[:6]
            public_id = billecta.create_creditor({"Name": f"Bench AB {tag}", "OrgNo": "556000-0004"})
            lime_id = int(lime.create("creditor", {"name": f"Bench AB {tag}", "creditorpublicid": public_id})["_id"])
            debtor = billecta.create_debtor({"CreditorPublicId": public_id, "Name": f"Kund {tag}",
                                             "OrgNo": "556123-4567", "DebtorType": "Company", "CountryCode": "SE"})
            today = date.today()
            t0 = time.perf_counter()
            http.post(f"{stack.billecta_admin_url}/analysis/bulk-invoices", timeout=600, json={
                "creditor_public_id": public_id, "debtor_public_id": debtor, "count": count, "amount": "1234.56",
                "date": today.isoformat(), "days_overdue": OVERDUE_DAYS}).raise_for_status()
            say(f"reports: seeded {count} open invoices in {time.perf_counter() - t0:.1f} s (one request)")
            services: Any = SimpleNamespace(billecta=billecta, lime=lime, mappings=FieldMappings.build())
            t0 = time.perf_counter()
            answer = accounts_receivable.outstanding(services, public_id, today)
            baseline = time.perf_counter() - t0
            assert len(answer) == count, len(answer)
            del answer
            for fmt in ("xlsx", "pdf"):
                before_b = _count(http, f"{stack.billecta_admin_url}/stats", "requests_by_route")
                before_l = _count(http, f"{stack.lime_admin_url}/stats", "by_method_kind")
                t0 = time.perf_counter()
                who = creditor(services, lime_id)
                report = accounts_receivable.build(services, who, today)
                stored = store.store(services, report, fmt, who.id, f"bench {fmt}")
                seconds = time.perf_counter() - t0
                # The process's peak resident set so far (KiB on Linux): tracemalloc would slow ReportLab ~25x.
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                b_req = _count(http, f"{stack.billecta_admin_url}/stats", "requests_by_route") - before_b
                l_req = _count(http, f"{stack.lime_admin_url}/stats", "by_method_kind") - before_l
                expected = sum(123456 for _ in range(count))
                assert sum(r["remaining"] for r in report.tables[-1].rows) == expected
                mib = peak / 2**20
                say(f"reports: {fmt}: {count} invoices in {seconds:.1f} s, {b_req} Billecta + {l_req} Lime requests, "
                    f"peak RSS {mib:.0f} MiB, file {stored['size'] / 1024:.0f} KiB")
                rows.append([fmt, str(count), f"{seconds:.2f}", str(b_req), str(l_req), f"{mib:.0f}",
                             f"{stored['size'] / 1024:.0f}"])
                summary.append(SummaryRow("reports", f"AR report {fmt}, {count} open invoices", f"{seconds:.2f} s",
                                          f"{baseline:.2f} s AR analysis alone", fmt_ratio(ratio(seconds, baseline))))
                summary.append(SummaryRow("reports", f"AR report {fmt}: requests, peak memory",
                                          f"{b_req} Billecta + {l_req} Lime, peak RSS {mib:.0f} MiB"))
        finally:
            billecta.close()
            http.close()
    print_table(f"accounts receivable report ({count} open invoices)",
                ["format", "invoices", "seconds", "Billecta req", "Lime req", "peak RSS MiB", "file KiB"], rows)
    return summary
