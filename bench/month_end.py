"""(g) Month end: 2 000 orders of 3 rows for existing debtors, in one command, under Lime Cloud's budget.

Both sandboxes answer after 50 ms, and the service keeps to Lime Cloud's budget of 3000 requests per
5 minutes (``LIME_RATE_LIMIT_REQUESTS`` / ``LIME_RATE_LIMIT_PERIOD_S``), which it shares with every
other integration of a real customer. Timed from the command to the moment every invoice is in Lime as
sent; the requests are the sandboxes' counts of the service's calls. The baseline, measured in the same
run, is what the budget alone allows: the service's Lime requests spent at exactly 3000 per 5 minutes —
the closer the run comes to it, the less anything but Lime's budget holds it up.

The orders are bulk-inserted into the Lime sandbox (not through the service); the creditor's debtor
and articles are synced by one warm-up order first, as they are for a finance team at month end.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import SummaryRow, bench_stack, lime_bulk, machine_load, print_table, say
from bench.flow import SERVICES, Flow, FlowFailed
from devstack.demo import seed, start_command

REDIS_INDEX = 10
LATENCY_MS = 50
BUDGET = (3000, 300.0)  # Lime Cloud: requests per 5 minutes per IP
POLL_S = 5.0


def _bulk(flow: Flow, limetype: str, rows: list[dict[str, Any]]) -> list[int]:
    return lime_bulk(flow.http, flow.stack.lime_admin_url, limetype, rows)


def _seed_orders(flow: Flow, count: int) -> tuple[int, list[int]]:
    """A creditor whose debtor and two articles are in Billecta already, and ``count`` orders of 3 rows."""
    seeded = seed(flow.target, flow.billecta, flow.lime, orders=1)
    warm_up = flow.lime.query_ids("order", {"key": "creditor", "op": "=", "exp": seeded.creditor_id})
    flow.run_command(warm_up, "warm-up order (syncs the debtor and articles)")
    today = time.strftime("%Y-%m-%d")
    orders = _bulk(flow, "order", [{"creditor": seeded.creditor_id, "debtor": seeded.debtor_id,
                                    "orderstatus": "created", "invoicedate": today, "paymenttermsindays": 30,
                                    "deliverymethod": "email", "ourreference": "Anna Andersson"}
                                   for _ in range(count)])
    first, second = seeded.article_ids
    rows: list[dict[str, Any]] = []
    for order in orders:
        rows += [{"order": order, "article": first, "rowtype": "standard", "description": "Hyra",
                  "quantity": 1, "unitprice": 12500.0, "vat": 25, "position": 1},
                 {"order": order, "rowtype": "message", "description": "Avser lokal 4B", "position": 2},
                 {"order": order, "article": second, "rowtype": "standard", "description": "Städning",
                  "quantity": 2, "unitprice": 850.5, "vat": 25, "position": 3}]
    _bulk(flow, "orderrow", rows)
    return seeded.creditor_id, orders


def _sent(flow: Flow, creditor_id: int) -> int:
    """How many of the creditor's invoices Lime shows as sent (our own POST queries, not counted)."""
    sent, offset = 0, 0
    while True:
        spec = {"limetype": "invoice", "responseFormat": {"object": {"_id": "", "invoicestatus": ""}},
                "filter": {"key": "creditor", "op": "=", "exp": creditor_id},
                "orderBy": [{"_id": "ASC"}], "limit": 1000, "offset": offset}
        flow.own_lime_requests += 1
        resp = flow.http.post(f"{flow.stack.lime_url}query/", json=spec, timeout=60,
                              headers={"X-API-Key": flow.stack.config.lime_key, "Accept": "application/json"})
        resp.raise_for_status()
        objects = resp.json()["objects"]
        sent += sum(1 for o in objects if (o.get("invoicestatus") or {}).get("key") == "sent")
        if len(objects) < 1000:
            return sent
        offset += len(objects)


def run(quick: bool = False) -> list[SummaryRow]:
    count = 200 if quick else 2000
    timeout_s = 900.0 if quick else 3600.0
    say(f"month_end: {count} orders of 3 rows at {LATENCY_MS} ms sandbox latency, Lime budget "
        f"{BUDGET[0]} requests per {BUDGET[1]:.0f} s; {machine_load()}")
    env = {"BILLECTA_SANDBOX_VALIDATE_RESPONSES": "0", "LIME_RATE_LIMIT_REQUESTS": str(BUDGET[0]),
           "LIME_RATE_LIMIT_PERIOD_S": str(int(BUDGET[1]))}
    with bench_stack("month_end", services=SERVICES, redis_index=REDIS_INDEX, extra_env=env) as stack:
        flow = Flow(stack)
        try:
            creditor_id, orders = _seed_orders(flow, count)
            flow.settle()
            say(f"month_end: seeded {len(orders)} orders through the Lime sandbox's bulk endpoint")
            flow.set_latency(LATENCY_MS)
            flow.limiter.reset()
            flow.lime_reset()
            billecta_before = flow.billecta_counts()
            started = time.monotonic()
            batch_id = start_command(flow.target, orders, title="month end")
            sent, batch = 0, flow.batch(batch_id)
            last_report = started
            while True:
                batch = flow.batch(batch_id)
                sent = _sent(flow, creditor_id) - 1  # the warm-up order's invoice
                now = time.monotonic()
                if batch["status"] not in ("running", "ok"):
                    raise FlowFailed(f"month end: batch {batch_id} ended {batch['status']}: {batch.get('counts')}")
                if batch["status"] == "ok" and sent >= len(orders):
                    break
                if now - started > timeout_s:
                    raise FlowFailed(f"month end: after {timeout_s:.0f} s {sent}/{len(orders)} invoices are sent")
                if now - last_report >= 30:
                    say(f"  month_end: {sent}/{len(orders)} invoices sent in Lime, batch {batch['status']} "
                        f"({batch.get('counts')}), {(now - started) / 60:.1f} min")
                    last_report = now
                time.sleep(POLL_S)
            seconds = time.monotonic() - started
            flow.settle(timeout_s=300)
            lime = sum(flow.lime_counts().values())
            billecta = sum(v - billecta_before.get(k, 0) for k, v in flow.billecta_counts().items())
            failed = int((batch.get("counts") or {}).get("error", 0))
        finally:
            flow.set_latency(0)
            flow.close()

    floor_s = max(0.0, lime - BUDGET[0]) / BUDGET[0] * BUDGET[1]  # the first 3000 are granted at once
    print_table(f"month_end: {len(orders)} orders, 3 rows each, {LATENCY_MS} ms sandboxes, Lime budget "
                f"{BUDGET[0]}/{BUDGET[1]:.0f} s",
                ["figure", "value"],
                [["minutes to the last invoice in Lime", f"{seconds / 60:.1f}"],
                 ["orders/min", f"{len(orders) / seconds * 60:.1f}"],
                 ["Lime requests (per order)", f"{lime} ({lime / len(orders):.2f})"],
                 ["Billecta requests (per order)", f"{billecta} ({billecta / len(orders):.2f})"],
                 ["orders failed", str(failed)],
                 ["minutes the Lime budget alone needs for those requests", f"{floor_s / 60:.1f}"]])
    return [
        SummaryRow("month_end", f"minutes to the last of {len(orders)} invoices in Lime", f"{seconds / 60:.1f}",
                   f"{floor_s / 60:.1f} (Lime budget alone)", f"{seconds / floor_s:.2f}x" if floor_s else "-"),
        SummaryRow("month_end", "Lime requests per order", f"{lime / len(orders):.2f}"),
        SummaryRow("month_end", "orders failed", str(failed)),
    ]
