"""The interactive round trip of a collection control: gateway → interactive worker → Billecta → Lime → answer.

For each sandbox latency (0 ms and 50 ms on both sandboxes), a dispute and its cancellation are sent
alternately for one invoice through the gateway (each: the Lime invoice read, the Billecta invoice read, the
Billecta action, the invoice read again and written into Lime, the answer back through the result store),
and the same number of direct ``GET invoice/action/{id}`` calls to the Billecta sandbox are the baseline:
what one Billecta request costs at that latency. Printed: p50 and p95 of each, and requests per action.
"""

from __future__ import annotations

import time
import uuid

import requests

from bench.common import SummaryRow, bench_stack, fmt_ratio, percentile, print_table, ratio, say, wait_for
from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret

SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker")
REDIS_INDEX = 4
LATENCIES_MS = (0, 50)


def run(quick: bool = False) -> list[SummaryRow]:
    rounds = 10 if quick else 40
    summary: list[SummaryRow] = []
    rows: list[list[str]] = []
    with bench_stack("interactive", services=SERVICES, redis_index=REDIS_INDEX,
                     extra_env={"GATEWAY_COMMAND_WAIT_S": "30"}) as stack:
        c = stack.config
        billecta = BillectaClient(BillectaSettings(base_url=stack.billecta_url, authentication=Secret(c.billecta_auth)))
        lime = LimeClient(LimeSettings(base_url=stack.lime_url, api_key=Secret(c.lime_key)))
        http = requests.Session()
        http.headers["X-API-Key"] = c.commands_key
        try:
            tag = uuid.uuid4().hex[:6]
            creditor = billecta.create_creditor({"Name": f"Bench AB {tag}", "OrgNo": "556000-0004"})
            lime.create("creditor", {"name": f"Bench AB {tag}", "creditorpublicid": creditor})
            debtor = billecta.create_debtor({"CreditorPublicId": creditor, "Name": f"Kund {tag}",
                                             "OrgNo": "556123-4567", "DebtorType": "Company", "CountryCode": "SE"})
            action = billecta.create_invoice({
                "CreditorPublicId": creditor, "DebtorPublicId": debtor, "DeliveryMethod": "Email",
                "Records": [{"RecordType": "Standard", "ArticleDescription": "Konsult", "Quantity": 1, "VAT": 0,
                             "UnitPrice": {"CurrencyCode": "SEK", "Value": 100000}}]})
            billecta.attest_invoice(action)

            def lime_invoice() -> int | None:
                found = list(lime.query("invoice", ["_id"],
                                        filter={"key": "actionpublicid", "op": "=", "exp": action}))
                return int(found[0]["_id"]) if found else None

            invoice_id = wait_for("the Lime invoice", lime_invoice, 60)
            url = f"{stack.gateway_url}{c.prefix}/billecta"
            for ms in LATENCIES_MS:
                for admin in (stack.billecta_admin_url, stack.lime_admin_url):
                    http.post(f"{admin}/config", json={"latency_ms": ms}, timeout=10).raise_for_status()
                direct: list[float] = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    billecta.get_invoice(action)
                    direct.append(time.perf_counter() - t0)
                before_b = _count(http, f"{stack.billecta_admin_url}/stats", "requests_by_route")
                before_l = _count(http, f"{stack.lime_admin_url}/stats", "by_method_kind")
                trips: list[float] = []
                for n in range(rounds):
                    path = "dispute-invoice" if n % 2 == 0 else "cancel-disputed-invoice"
                    t0 = time.perf_counter()
                    resp = http.put(f"{url}/{path}", json={"invoice_id": invoice_id}, timeout=60)
                    trips.append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        raise RuntimeError(f"{path} answered {resp.status_code}: {resp.text[:200]}")
                billecta_per = (_count(http, f"{stack.billecta_admin_url}/stats", "requests_by_route")
                                - before_b) / rounds
                lime_per = (_count(http, f"{stack.lime_admin_url}/stats", "by_method_kind") - before_l) / rounds
                p50, p95 = percentile(trips, 50) * 1000, percentile(trips, 95) * 1000
                b50, b95 = percentile(direct, 50) * 1000, percentile(direct, 95) * 1000
                say(f"interactive: {ms} ms: round trip p50 {p50:.0f} ms p95 {p95:.0f} ms; direct Billecta GET "
                    f"p50 {b50:.0f} ms p95 {b95:.0f} ms; {billecta_per:.1f} Billecta + {lime_per:.1f} Lime requests")
                rows.append([f"{ms} ms", f"{p50:.0f}", f"{p95:.0f}", f"{b50:.0f}", f"{b95:.0f}",
                             f"{billecta_per:.1f}", f"{lime_per:.1f}"])
                summary.append(SummaryRow("interactive", f"dispute/undispute round trip p50, {ms} ms",
                                          f"{p50:.0f} ms", f"{b50:.0f} ms direct GET", fmt_ratio(ratio(p50, b50))))
                summary.append(SummaryRow("interactive", f"dispute/undispute round trip p95, {ms} ms",
                                          f"{p95:.0f} ms", f"{b95:.0f} ms direct GET", fmt_ratio(ratio(p95, b95))))
                summary.append(SummaryRow("interactive", f"requests per action, {ms} ms",
                                          f"{billecta_per:.1f} Billecta + {lime_per:.1f} Lime"))
            summary.extend(_manual_payments(stack, billecta, lime, http, creditor, debtor, rounds, rows_money := []))
            rows.extend(rows_money)
        finally:
            billecta.close()
            http.close()
    print_table(f"interactive round trip ({rounds} actions per latency)",
                ["latency", "p50 ms", "p95 ms", "direct p50", "direct p95", "Billecta req", "Lime req"], rows)
    return summary


def _count(http: requests.Session, url: str, key: str) -> int:
    stats = http.get(url, timeout=10).json()
    return sum(int(v) for v in stats[key].values())


def _manual_payments(stack: object, billecta: BillectaClient, lime: LimeClient, http: requests.Session,
                     creditor: str, debtor: str, count: int, rows: list[list[str]]) -> list[SummaryRow]:
    """Manual payments end to end: the command, then until Lime shows the invoice's new paid amount."""
    c = stack.config  # type: ignore[attr-defined]
    for admin in (stack.billecta_admin_url, stack.lime_admin_url):  # type: ignore[attr-defined]
        http.post(f"{admin}/config", json={"latency_ms": 0}, timeout=10).raise_for_status()
    invoices = []
    for _ in range(count):
        action = billecta.create_invoice({
            "CreditorPublicId": creditor, "DebtorPublicId": debtor, "DeliveryMethod": "Email",
            "Records": [{"RecordType": "Standard", "ArticleDescription": "Konsult", "Quantity": 1, "VAT": 0,
                         "UnitPrice": {"CurrencyCode": "SEK", "Value": 100000}}]})
        billecta.attest_invoice(action)
        invoices.append(action)

    def lime_id(action: str) -> int | None:
        found = list(lime.query("invoice", ["_id"], filter={"key": "actionpublicid", "op": "=", "exp": action}))
        return int(found[0]["_id"]) if found else None

    ids = [wait_for("the Lime invoices", lambda a=a: lime_id(a), 60) for a in invoices]
    time.sleep(2)  # let the attest/sent events of the seeding settle before counting
    billecta_stats, lime_stats = f"{stack.billecta_admin_url}/stats", f"{stack.lime_admin_url}/stats"  # type: ignore[attr-defined]
    before_b, before_l = _count(http, billecta_stats, "requests_by_route"), _count(http, lime_stats, "by_method_kind")
    polls = 0
    seconds: list[float] = []
    url = f"{stack.gateway_url}{c.prefix}/billecta/register-manual-payment"  # type: ignore[attr-defined]
    for invoice_id in ids:
        t0 = time.perf_counter()
        resp = http.post(url, json={"invoice_id": invoice_id, "payment_amount": 100.0, "payment_currencycode": "SEK",
                                    "payment_date": "2026-11-30", "payment_mean_code": "BG"}, timeout=60)
        if resp.status_code != 200:
            raise RuntimeError(f"register-manual-payment answered {resp.status_code}: {resp.text[:200]}")
        while True:
            polls += 1
            if float(lime.get("invoice", invoice_id).get("paidamount") or 0) == 100.0:
                break
            time.sleep(0.05)
        seconds.append(time.perf_counter() - t0)
    billecta_per = (_count(http, billecta_stats, "requests_by_route") - before_b) / count
    lime_per = (_count(http, lime_stats, "by_method_kind") - before_l - polls) / count
    p50 = percentile(seconds, 50) * 1000
    say(f"interactive: manual payment until Lime shows it: p50 {p50:.0f} ms; {billecta_per:.1f} Billecta + "
        f"{lime_per:.1f} Lime requests per payment (our own polls taken out)")
    rows.append(["payment", f"{p50:.0f}", f"{percentile(seconds, 95) * 1000:.0f}", "-", "-", f"{billecta_per:.1f}",
                 f"{lime_per:.1f}"])
    return [SummaryRow("interactive", "manual payment until Lime shows it, p50", f"{p50:.0f} ms"),
            SummaryRow("interactive", "requests per manual payment (command + its webhooks)",
                       f"{billecta_per:.1f} Billecta + {lime_per:.1f} Lime")]
