"""``python -m bench [--only ingest,flow] [--quick]``: run the benchmarks and print a summary table."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
import traceback

from bench.common import SummaryRow, format_table, git_describe, machine_load, say

BENCHES = {
    "ingest": "bench.ingest",  # webhook ingest vs a bare Flask endpoint
    "flow": "bench.flow",  # order -> invoice sent in Lime, batch vs one at a time
    "debtors": "bench.debtors",  # bulk debtor upsert: prefork vs thread-pool workers, 1 vs 2 processes, memory
    "billecta_events": "bench.billecta_events",  # payment webhooks -> Lime; the nightly expiry job
    "interactive": "bench.interactive",  # a collection control, gateway -> worker -> Billecta -> Lime -> answer
    "reports": "bench.reports",  # the AR report for 10 000 open invoices: seconds, requests, peak memory
    "monitor_mirror": "bench.monitor_mirror",  # Lime requests per object for the integration monitor mirror
    "month_end": "bench.month_end",  # 2 000 orders under Lime Cloud's budget: minutes to the last invoice
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default="", metavar="NAME,...",
                        help=f"comma-separated subset of: {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="smaller runs: a smoke test of the benchmarks")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")

    say(f"billecta-sync benchmarks ({'quick' if args.quick else 'full'}): {', '.join(names)}; "
        f"commit {git_describe()}, Python {platform.python_version()}, {machine_load()}")
    started = time.monotonic()
    rows: list[SummaryRow] = []
    failed: list[str] = []
    for name in names:
        say(f"=== {name} ===")
        t0 = time.monotonic()
        try:
            rows.extend(importlib.import_module(BENCHES[name]).run(quick=args.quick))
        except Exception:
            traceback.print_exc()
            failed.append(name)
            rows.append(SummaryRow(name, "FAILED (see above)", "-"))
        say(f"=== {name} took {time.monotonic() - t0:.0f} s; {machine_load()} ===")

    print(f"\nSummary ({'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s in all; "
          "ratios are against baselines measured in this run)")
    print(format_table(["bench", "figure", "value", "baseline", "ratio"],
                       [[r.bench, r.figure, r.value, r.baseline, r.ratio] for r in rows]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
