"""The demo flow, run against a running stack: an order in Lime becomes an attested Billecta invoice,
and Billecta's webhooks bring the invoice back into Lime.

It seeds the sandboxes through their public APIs only (Billecta's creditor endpoint, Lime's REST API),
starts the batch exactly as a Lime button would, then follows what happens.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret


@dataclass
class DemoTarget:
    gateway_url: str = "http://127.0.0.1:8000"
    prefix: str = "/limepkg-billecta-integration"
    commands_key: str = "dev-commands-key"
    billecta_url: str = "http://127.0.0.1:8100/v1"
    billecta_auth: str = "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu"
    lime_url: str = "http://127.0.0.1:8200/lime/api/v1/"
    lime_key: str = "dev-lime-key"


@dataclass
class DemoResult:
    creditor_id: int = 0
    creditor_public_id: str = ""
    debtor_id: int = 0
    article_ids: list[int] = field(default_factory=list)
    order_id: int = 0
    batch_id: int = 0
    batch: dict[str, Any] = field(default_factory=dict)
    order: dict[str, Any] = field(default_factory=dict)
    invoice: dict[str, Any] | None = None
    invoice_rows: list[dict[str, Any]] = field(default_factory=list)
    second_batch: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class DemoFailed(RuntimeError):
    pass


def _wait(what: str, probe: Callable[[], Any], timeout_s: float, interval_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def seed(target: DemoTarget, billecta: BillectaClient, lime: LimeClient, *, orders: int = 1,
         tag: str | None = None) -> DemoResult:
    """Creditor (in Billecta and Lime), company debtor with its creditordebtor, two articles, orders."""
    tag = tag or uuid.uuid4().hex[:6]
    result = DemoResult()
    result.creditor_public_id = billecta.create_creditor({
        "Name": f"Demo Fastigheter AB {tag}", "OrgNo": "556000-0001", "Address": "Storgatan 1",
        "ZipCode": "11122", "City": "Stockholm", "CountryCode": "SE", "IsEnabled": True,
    })
    creditor = lime.create("creditor", {"name": f"Demo Fastigheter AB {tag}", "orgno": "556000-0001",
                                        "city": "Stockholm", "creditorpublicid": result.creditor_public_id})
    result.creditor_id = int(creditor["_id"])
    debtor = lime.create("debtor", {"name": f"Kund {tag} AB", "ssnregno": "556677-8899", "email": "ekonomi@kund.se",
                                    "address": "Lillgatan 2", "zipcode": "41101", "city": "Göteborg",
                                    "countrycode": "SE", "debtortype": "company"})
    result.debtor_id = int(debtor["_id"])
    lime.create("creditordebtor", {"creditor": result.creditor_id, "debtor": result.debtor_id})
    for number, name, price in (("HYRA-1", "Hyra lokal", 12500.00), ("STAD-1", "Städning", 850.50)):
        article = lime.create("article", {"articlenumber": f"{number}-{tag}", "name": name, "unit": "st",
                                          "unitprice": price, "vat": 25, "articletype": "standard",
                                          "isactive": True})
        result.article_ids.append(int(article["_id"]))
    for _ in range(orders):
        order = lime.create("order", {"creditor": result.creditor_id, "debtor": result.debtor_id,
                                      "orderstatus": "created", "invoicedate": date.today().isoformat(),
                                      "paymenttermsindays": 30, "deliverymethod": "email",
                                      "ourreference": "Anna Andersson", "yourreference": "Bo Berg",
                                      "message": "Tack för att ni är kund hos oss."})
        order_id = int(order["_id"])
        result.order_id = result.order_id or order_id
        lime.create("orderrow", {"order": order_id, "article": result.article_ids[0], "rowtype": "standard",
                                 "description": "Hyra december", "quantity": 1, "unitprice": 12500.00, "vat": 25,
                                 "position": 1})
        lime.create("orderrow", {"order": order_id, "rowtype": "message", "description": "Avser lokal 4B",
                                 "position": 2})
        lime.create("orderrow", {"order": order_id, "article": result.article_ids[1], "rowtype": "standard",
                                 "description": "Städning", "quantity": 2, "unitprice": 850.50, "vat": 25,
                                 "position": 3})
    return result


def start_command(target: DemoTarget, order_ids: list[int], title: str = "Upsert & attest orders (demo)",
                  timeout_s: float = 60.0) -> int:
    resp = requests.post(
        f"{target.gateway_url}{target.prefix}/task/upsert-attest-orders-in-billecta",
        json={"integration_monitor_batch_title": title,
              "query_filter": {"key": "_id", "op": "IN", "exp": order_ids}},
        headers={"X-API-Key": target.commands_key}, timeout=timeout_s,
    )
    if resp.status_code not in (200, 202):
        raise DemoFailed(f"the command was refused: HTTP {resp.status_code} {resp.text}")
    return int(resp.json()["integration_monitor_batch_id"])


def wait_batch(target: DemoTarget, batch_id: int, timeout_s: float = 120.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        resp = requests.get(f"{target.gateway_url}{target.prefix}/monitor/batches/{batch_id}",
                            headers={"X-API-Key": target.commands_key}, timeout=10)
        resp.raise_for_status()
        batch = resp.json()
        return batch if batch["status"] != "running" else None

    return _wait(f"monitor batch {batch_id} to finish", probe, timeout_s)


def find_invoice(lime: LimeClient, action_public_id: str) -> dict[str, Any] | None:
    found = list(lime.query("invoice", ["_id", "invoicenumber", "ocr", "invoicestatus", "invoicedamount",
                                        "currentamount", "invoicedate", "invoice_expires", "order", "debtor",
                                        "creditor", "actionpublicid", "currencycode"],
                            filter={"key": "actionpublicid", "op": "=", "exp": action_public_id}))
    if len(found) > 1:
        raise DemoFailed(f"{len(found)} Lime invoices carry actionpublicid {action_public_id}")
    return found[0] if found else None


def run_demo(target: DemoTarget | None = None, *, out: Callable[[str], None] = print,
             timeout_s: float = 120.0) -> DemoResult:
    target = target or DemoTarget()
    started = time.monotonic()
    billecta = BillectaClient(
        BillectaSettings(base_url=target.billecta_url, authentication=Secret(target.billecta_auth)))
    lime = LimeClient(LimeSettings(base_url=target.lime_url, api_key=Secret(target.lime_key)))
    try:
        out("1. Seeding: creditor in Billecta and Lime, a debtor, two articles, an order with three rows")
        result = seed(target, billecta, lime)
        out(f"   creditor {result.creditor_id} (Billecta {result.creditor_public_id}), debtor {result.debtor_id}, "
            f"articles {result.article_ids}, order {result.order_id}")

        out("2. Lime button 'Upsert & attest orders in Billecta' → gateway")
        result.batch_id = start_command(target, [result.order_id])
        result.batch = wait_batch(target, result.batch_id, timeout_s)
        out(f"   monitor batch {result.batch_id}: {result.batch['status']} "
            f"({result.batch['counts']['ok']} ok, {result.batch['counts']['error']} error)")
        for log in result.batch["logs"]:
            out(f"     order {log['object_id']}: {log['status']} — {log['message']}")

        result.order = lime.get("order", result.order_id)
        action_id = result.order.get("actionpublicid") or ""
        out(f"3. Order {result.order_id}: status {option_key(result.order.get('orderstatus'))}, "
            f"Billecta invoice {action_id or '-'}")
        if not action_id:
            raise DemoFailed(f"the order was not sent: {result.order.get('billecta_error_message')}")

        out("4. Waiting for Billecta's webhooks to bring the invoice into Lime")

        def invoice_sent() -> dict[str, Any] | None:
            invoice = find_invoice(lime, action_id)
            return invoice if invoice and option_key(invoice.get("invoicestatus")) == "sent" else None

        result.invoice = _wait("the invoice to reach Lime as sent", invoice_sent, timeout_s)
        invoice = result.invoice
        result.invoice_rows = list(lime.query(
            "invoicerow", ["_id", "position", "rowtype", "description", "quantity", "unitprice", "vat"],
            filter={"key": "invoice", "op": "=", "exp": invoice["_id"]}, order_by=[{"position": "ASC"}]))
        out(f"   invoice {invoice['_id']}: number {invoice['invoicenumber']}, OCR {invoice['ocr']}, "
            f"status {option_key(invoice['invoicestatus'])}, amount {invoice['invoicedamount']} "
            f"{invoice.get('currencycode')}, due {invoice['invoice_expires']}")
        for row in result.invoice_rows:
            out(f"     row {row['position']}: {option_key(row['rowtype'])} {row['description']!r} "
                f"{row['quantity']} x {row['unitprice']}")

        out("5. Running the same command again (nothing may be created twice)")
        second = start_command(target, [result.order_id], title="Upsert & attest orders (demo, again)")
        result.second_batch = wait_batch(target, second, timeout_s)
        again = find_invoice(lime, action_id)
        out(f"   batch {second}: {result.second_batch['status']}; "
            f"{result.second_batch['logs'][0]['message'] if result.second_batch['logs'] else ''}")
        out(f"   still exactly one Lime invoice for {action_id}: {again is not None}")
        result.seconds = time.monotonic() - started
        out(f"Done in {result.seconds:.1f} s.")
        return result
    finally:
        billecta.close()
