"""(a) Webhook ingest: the gateway's Billecta webhook receiver under concurrent load, against a bare
Flask endpoint served by the very same gunicorn command line, in the same run.

Only what the receiver needs runs: Redis and the database. No worker consumes the published tasks,
so they pile up in the bench's Redis DB (flushed afterwards).
"""

from __future__ import annotations

import json
import statistics
import uuid
from datetime import UTC, datetime

import redis
import requests

from bench.common import (
    LoadResult,
    SummaryRow,
    bench_stack,
    fmt_ratio,
    http_load,
    machine_load,
    print_table,
    ratio,
    say,
)
from billecta_sync import catalogue

REDIS_INDEX = 10
CONCURRENCY = 16


def webhook_bodies(count: int, creditor: str) -> list[bytes]:
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        json.dumps({"WebhookTriggerType": "InvoiceActionStateChanged", "CreditorPublicId": creditor,
                    "ActionPublicId": str(n), "Created": created, "EventId": str(uuid.uuid4())}).encode()
        for n in range(1, count + 1)
    ]


def _row(name: str, r: LoadResult) -> list[str]:
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()) if not k.startswith("2")) or "-"
    return [name, str(r.sent), f"{r.seconds:.1f}", f"{r.rps:.0f}", f"{r.ms(50):.1f}", f"{r.ms(99):.1f}",
            f"{max(r.latencies_s, default=0) * 1000:.1f}", errors]


def run(quick: bool = False) -> list[SummaryRow]:
    measured = 1000 if quick else 5000
    warmup = 100 if quick else 500
    rounds = 2 if quick else 4
    per_round_n = measured // rounds
    creditor = str(uuid.uuid4())
    say(f"ingest: {per_round_n * rounds} measured requests per side in {rounds} alternating rounds "
        f"(+{warmup} warm-up each), {CONCURRENCY} concurrent clients; {machine_load()}")

    with bench_stack("ingest", services=("gateway",), redis_index=REDIS_INDEX, start=False) as stack:
        path = f"{stack.config.prefix}/billecta-webhook-receiver"
        headers = {"X-API-Key": stack.config.webhook_key}
        say(f"ingest: both served by: {' '.join(stack.commands()['gateway'][1:])}")
        stack.start_bare()
        stack.start_service("gateway")
        stack.wait_ready(60)
        urls = {"bare": f"{stack.bare_url}{path}", "gateway": f"{stack.gateway_url}{path}"}
        say(f"ingest: bare app at {stack.bare_url}, gateway at {stack.gateway_url}; warming up both")
        warm = {name: http_load(url, webhook_bodies(warmup, creditor), concurrency=CONCURRENCY, headers=headers)
                for name, url in urls.items()}

        # Rounds alternate which side goes first, so drift in the machine's other load hits both alike.
        results = {name: LoadResult() for name in urls}
        per_round: dict[str, list[LoadResult]] = {name: [] for name in urls}
        for number in range(1, rounds + 1):
            order = list(urls) if number % 2 else list(reversed(urls))
            for name in order:
                r = http_load(urls[name], webhook_bodies(per_round_n, creditor), concurrency=CONCURRENCY,
                              headers=headers, label=f"{name} round {number}/{rounds}")
                say(f"ingest: {name} round {number}/{rounds}: {r.rps:.0f} req/s, p50 {r.ms(50):.1f} ms, "
                    f"p99 {r.ms(99):.1f} ms")
                results[name].add(r)
                per_round[name].append(r)
        bare, gateway = results["bare"], results["gateway"]

        stats = requests.get(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox-stats",
                             headers={"X-API-Key": stack.config.operator_key}, timeout=30).json()
        client = redis.Redis.from_url(stack.redis_url)
        try:
            waiting = int(client.llen(catalogue.QUEUE_WEBHOOKS))
        finally:
            client.close()

    sent = warm["gateway"].sent + gateway.sent
    accepted = warm["gateway"].ok + gateway.ok
    rows_stored = int(stats.get("total", 0))
    rps_ratio = ratio(gateway.rps, bare.rps)
    p50_ratio = ratio(gateway.ms(50), bare.ms(50))
    p99_ratio = ratio(gateway.ms(99), bare.ms(99))

    print_table(
        f"ingest: POST {path}, {CONCURRENCY} concurrent clients, keep-alive, same gunicorn line",
        ["endpoint", "requests", "seconds", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx"],
        [_row("bare Flask (baseline)", bare), _row("gateway", gateway),
         ["gateway / bare", "", "", fmt_ratio(rps_ratio), fmt_ratio(p50_ratio), fmt_ratio(p99_ratio), "", ""]],
    )
    # Each round's gateway against the bare round next to it: on a busy machine a burst of other load skews
    # one pair, and the median of the pairs shows it less than the totals do.
    pairs = list(zip(per_round["gateway"], per_round["bare"], strict=True))
    rps_pairs = [ratio(g.rps, b.rps) for g, b in pairs]
    p99_pairs = [ratio(g.ms(99), b.ms(99)) for g, b in pairs]
    print(f"per round, gateway / bare: req/s {' '.join(fmt_ratio(x) for x in rps_pairs)} "
          f"(median {fmt_ratio(statistics.median(rps_pairs))}); p99 {' '.join(fmt_ratio(x) for x in p99_pairs)} "
          f"(median {fmt_ratio(statistics.median(p99_pairs))})")
    match = "equal" if rows_stored == sent else "DIFFERENT"
    print(f"inbox rows persisted: {rows_stored} for {sent} requests sent to the gateway "
          f"({warm['gateway'].sent} warm-up + {gateway.sent} measured; {accepted} answered 2xx) -> {match}")
    print(f"inbox rows by status: {json.dumps(stats.get('counts', {}), sort_keys=True)}")
    print(f"tasks waiting in Redis queue '{catalogue.QUEUE_WEBHOOKS}' (no worker ran): {waiting}\n", flush=True)

    return [
        SummaryRow("ingest", "gateway webhooks req/s", f"{gateway.rps:.0f}", f"{bare.rps:.0f} (bare)",
                   fmt_ratio(rps_ratio)),
        SummaryRow("ingest", "gateway webhook p50 ms", f"{gateway.ms(50):.1f}", f"{bare.ms(50):.1f} (bare)",
                   fmt_ratio(p50_ratio)),
        SummaryRow("ingest", "gateway webhook p99 ms", f"{gateway.ms(99):.1f}", f"{bare.ms(99):.1f} (bare)",
                   fmt_ratio(p99_ratio)),
        SummaryRow("ingest", "inbox rows / requests sent", f"{rows_stored}/{sent}", "", match),
    ]
