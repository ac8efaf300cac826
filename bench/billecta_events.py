"""(c) Billecta → Lime: payment webhooks per second, and the nightly expiry job.

* payments: N invoices exist in Billecta and in Lime (sent, outside the order flow); N payments are
  registered in the Billecta sandbox, each raising InvoicePaymentReceived. Timed from the first payment
  to the inbox having processed all N; Lime and Billecta requests per event come from the sandboxes'
  stats. Baseline: the same events one at a time (each waited for before the next).
* expiry: M candidates among T Lime invoices (seeded with the Lime sandbox's bulk endpoint); the job
  (billecta_sync.usecases.jobs.expiry) runs in this process against the stack's Lime, Redis and database.
  The Lime budget is raised for the bench so the figure is the job's own speed; what the real budget
  (3000 requests per 5 minutes by default) makes of it is printed next to it.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import requests

from bench.common import BenchStack, SummaryRow, bench_stack, fmt_ratio, print_table, ratio, say, wait_for
from billecta_sync.billecta import BillectaClient
from billecta_sync.container import build_services
from billecta_sync.lime import LimeClient
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret, load_settings
from billecta_sync.usecases.jobs import expiry

REDIS_INDEX = 15
SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker", "beat")
BENCH_LIME_BUDGET = "10000000"  # requests per period: the bench measures the job, not the budget
REAL_LIME_BUDGET = (3000, 300.0)
BULK_CHUNK = 5000


class Events:
    def __init__(self, stack: BenchStack) -> None:
        c = stack.config
        self.stack = stack
        self.http = requests.Session()
        self.billecta = BillectaClient(BillectaSettings(base_url=stack.billecta_url,
                                                        authentication=Secret(c.billecta_auth)))
        self.lime = LimeClient(LimeSettings(base_url=stack.lime_url, api_key=Secret(c.lime_key)))

    def close(self) -> None:
        self.billecta.close()
        self.http.close()

    def admin(self, base: str, path: str, body: Any = None) -> Any:
        resp = self.http.post(f"{base}{path}", json=body, timeout=120)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def lime_requests(self) -> int:
        stats = self.http.get(f"{self.stack.lime_admin_url}/stats", timeout=10).json()
        return sum(int(v) for v in stats["by_method_kind"].values())

    def billecta_requests(self) -> int:
        stats = self.http.get(f"{self.stack.billecta_admin_url}/stats", timeout=10).json()
        return sum(int(v) for v in stats["requests_by_route"].values())

    def processed(self) -> int:
        stats = self.http.get(f"{self.stack.gateway_url}{self.stack.config.prefix}/operator/inbox-stats",
                              headers={"X-API-Key": self.stack.config.operator_key}, timeout=10).json()
        return int(stats.get("counts", stats).get("processed", 0))

    def seed_invoices(self, count: int) -> list[str]:
        """``count`` attested invoices in Billecta, mirrored in Lime as sent (bulk), no webhooks raised."""
        tag = uuid.uuid4().hex[:6]
        creditor = self.billecta.create_creditor({"Name": f"Bench AB {tag}"})
        lime_creditor = int(self.lime.create("creditor", {"name": f"Bench AB {tag}",
                                                          "creditorpublicid": creditor})["_id"])
        debtor = self.billecta.create_debtor({"CreditorPublicId": creditor, "Name": f"Kund {tag}",
                                              "DebtorType": "Company"})
        lime_debtor = int(self.lime.create("debtor", {"name": f"Kund {tag}", "debtortype": "company"})["_id"])
        self.lime.create("creditordebtor", {"creditor": lime_creditor, "debtor": lime_debtor,
                                            "debtorpublicid": debtor})
        entry = {"CreditorPublicId": creditor, "DebtorPublicId": debtor, "DeliveryMethod": "Manually",
                 "Records": [{"RecordType": "Standard", "ArticleDescription": "Hyra", "Quantity": 1, "VAT": 0,
                              "UnitPrice": {"CurrencyCode": "SEK", "Value": 10000}}]}

        def make(_: int) -> str:
            action = self.billecta.create_invoice(entry)
            self.billecta.attest_invoice(action)
            return action

        with ThreadPoolExecutor(16) as pool:
            actions = list(pool.map(make, range(count)))
        rows = [{"actionpublicid": a, "creditor": lime_creditor, "debtor": lime_debtor, "invoicestatus": "sent",
                 "invoicedamount": 100, "currentamount": 100} for a in actions]
        for start in range(0, len(rows), BULK_CHUNK):
            self.admin(self.stack.lime_admin_url, "/bulk/invoice", rows[start:start + BULK_CHUNK])
        return actions

    def pay(self, action: str) -> None:
        self.admin(self.stack.billecta_admin_url, f"/invoices/{action}/payments",
                   {"amount": "40.00", "payment_mean_code": "BG"})

    def measure(self, actions: list[str], one_at_a_time: bool) -> dict[str, float]:
        lime0, billecta0, done0 = self.lime_requests(), self.billecta_requests(), self.processed()
        started = time.monotonic()
        if one_at_a_time:
            for i, action in enumerate(actions, start=1):
                self.pay(action)
                wait_for("the payment to be processed", lambda i=i: self.processed() >= done0 + i, 60, 0.02)
        else:
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(self.pay, actions))
            wait_for(f"{len(actions)} payments to be processed", lambda: self.processed() >= done0 + len(actions),
                     3600, 0.5)
        seconds = time.monotonic() - started
        n = len(actions)
        billecta_calls = self.billecta_requests() - billecta0
        return {"events": n, "seconds": seconds, "per_s": n / seconds,
                "lime_per_event": (self.lime_requests() - lime0) / n,
                "billecta_per_event": billecta_calls / n}


def run_payments(stack: BenchStack, quick: bool) -> list[SummaryRow]:
    n = 300 if quick else 10_000
    single = 10 if quick else 30
    events = Events(stack)
    try:
        # Only payment webhooks: seeding must not flood the inbox with attest events.
        events.admin(stack.billecta_admin_url, "/config", {"webhook_triggers": ["InvoicePaymentReceived"]})
        say(f"billecta_events: seeding {n + single} invoices in Billecta and Lime")
        actions = events.seed_invoices(n + single)
        say("billecta_events: payments one at a time (baseline)")
        base = events.measure(actions[:single], one_at_a_time=True)
        say(f"billecta_events: {n} payments at once")
        burst = events.measure(actions[single:], one_at_a_time=False)
    finally:
        events.close()
    print_table("billecta_events: InvoicePaymentReceived -> Lime payment + invoice (inbox processed)",
                ["phase", "events", "seconds", "events/s", "Lime req/event", "Billecta req/event"],
                [[label, str(int(p["events"])), f"{p['seconds']:.1f}", f"{p['per_s']:.1f}",
                  f"{p['lime_per_event']:.1f}", f"{p['billecta_per_event']:.1f}"]
                 for label, p in (("one at a time", base), ("burst", burst))])
    budget, window = REAL_LIME_BUDGET
    cap = budget / window / burst["lime_per_event"]
    print(f"the default Lime budget ({budget} per {window:g} s) caps sustained payment events at {cap:.2f}/s\n",
          flush=True)
    return [
        SummaryRow("billecta_events", f"payment events/s, burst of {n}", f"{burst['per_s']:.1f}",
                   f"{base['per_s']:.1f} (one at a time)", fmt_ratio(ratio(burst["per_s"], base["per_s"]))),
        SummaryRow("billecta_events", "Lime requests/payment event", f"{burst['lime_per_event']:.1f}"),
        SummaryRow("billecta_events", "Billecta requests/payment event", f"{burst['billecta_per_event']:.1f}"),
    ]


def run_expiry(stack: BenchStack, quick: bool) -> list[SummaryRow]:
    total, candidates = (20_000, 1_000) if quick else (200_000, 10_000)
    today = date.today() + timedelta(days=7300)  # a day no other invoice of the stack is due before
    past, future = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=30)).isoformat()
    events = Events(stack)
    try:
        say(f"billecta_events: seeding {total} Lime invoices, {candidates} of them overdue")
        every = total // candidates
        for start in range(0, total, BULK_CHUNK):
            rows = [{"invoicestatus": "sent" if i % every == 0 else ("paid" if i % 3 else "sent"),
                     "invoice_expires": past if i % every == 0 or i % 3 else future}
                    for i in range(start, min(start + BULK_CHUNK, total))]
            events.admin(stack.lime_admin_url, "/bulk/invoice", rows)
        services = build_services(load_settings(env=stack.env()))
        try:
            lime0 = events.lime_requests()
            started = time.monotonic()
            result = expiry.set_invoices_as_expired(services, today=today, progress=lambda _line: None)
            seconds = time.monotonic() - started
            spent = events.lime_requests() - lime0
            again_started = time.monotonic()
            again = expiry.set_invoices_as_expired(services, today=today, progress=lambda _line: None)
            again_seconds = time.monotonic() - again_started
        finally:
            services.close()
    finally:
        events.close()
    budget, window = REAL_LIME_BUDGET
    print_table(f"billecta_events: expiry job, {candidates} candidates among {total} invoices",
                ["run", "seconds", "expired", "Lime requests", "Lime req/candidate"],
                [["first", f"{seconds:.1f}", str(result.get("expired")), str(spent),
                  f"{spent / max(candidates, 1):.2f}"],
                 ["same day again", f"{again_seconds:.2f}", str(again.get("expired")) + f" ({again['status']})", "-",
                  "-"]])
    print(f"at the default Lime budget ({budget} per {window:g} s) the same run needs at least "
          f"{spent / budget * window / 60:.1f} min\n", flush=True)
    return [SummaryRow("billecta_events", f"expiry job seconds, {candidates} of {total}", f"{seconds:.1f}"),
            SummaryRow("billecta_events", "expiry job Lime requests", str(spent))]


def run(quick: bool = False) -> list[SummaryRow]:
    with bench_stack("billecta-events", services=SERVICES, redis_index=REDIS_INDEX, worker_concurrency=4,
                     extra_env={"BILLECTA_SANDBOX_VALIDATE_RESPONSES": "0",
                                "LIME_RATE_LIMIT_REQUESTS": BENCH_LIME_BUDGET}) as stack:
        rows = run_payments(stack, quick)
        rows += run_expiry(stack, quick)
    return rows
