"""Lime's rate budget is shared by every integration of a customer: what one unit of work costs in Lime
requests is pinned here, as counts from the Lime sandbox, so a change that adds requests fails a test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.demo import DemoTarget, seed, start_command, wait_batch
from devstack.stack import Stack
from tests.e2e.support import settle, wait_for

pytestmark = pytest.mark.slow

ORDERS = 10


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The Billecta sandbox sends an attested invoice 0.2 s after attesting it: a window of 1 s (the default)
    # makes the whole burst one refresh, as it is in production.
    started = stack_starter(tmp_path_factory.mktemp("budget"), database_url=None, redis_index=4,
                            extra_env={"WORKER_COALESCE_WINDOW_S": "1.0"})
    yield started
    started.stop()


def lime_requests(stack: Stack) -> dict[str, int]:
    """The service's Lime requests since the last reset, by "METHOD kind limetype"."""
    stats = requests.get(f"{stack.lime_admin_url}/stats", timeout=10).json()
    counts: dict[str, int] = {}
    for line in stats["recent"]:
        counts[line] = counts.get(line, 0) + 1
    return counts


def reset_lime_requests(stack: Stack) -> None:
    requests.post(f"{stack.lime_admin_url}/stats/reset", timeout=10).raise_for_status()


def test_a_batch_of_orders_costs_at_most_eight_lime_requests_per_order(stack: Stack, target: DemoTarget,
                                                                      billecta: BillectaClient,
                                                                      lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime, orders=ORDERS + 1)
    orders = lime.query_ids("order", {"key": "creditor", "op": "=", "exp": seeded.creditor_id})
    wait_batch(target, start_command(target, orders[:1]))  # syncs the debtor and articles: not counted
    settle(stack)
    reset_lime_requests(stack)

    batch = wait_batch(target, start_command(target, orders[1:]))
    wait_for(lambda: len(sent_invoices(stack, orders[1:])) == ORDERS, "every invoice sent in Lime", 60)
    settle(stack)
    counts = lime_requests(stack)

    assert batch["status"] == "ok"
    # The writes are the floor: each invoice with its three rows, and the order's status once.
    assert counts.get("POST create invoice") == ORDERS
    assert counts.get("POST create invoicerow") == 3 * ORDERS
    assert counts.get("PUT update order") == ORDERS
    # Reads: the batch's orders once to start it, four queries per window of orders (tasks starting at the
    # same moment on the thread pool may each open one: a few windows at most), and for the invoices a
    # lookup of each and of its order, shared by the events handled at the same moment — at most two per
    # invoice; never a GET per related object.
    counts.pop("POST query invoice", None)  # sent_invoices() above
    assert not [k for k in counts if k.startswith("GET get")], counts
    windows = counts.get("GET query orderrow", 0)
    assert 1 <= windows <= 3, counts
    # (An event that arrives after its invoice's refresh began reading gets a refresh of its own.)
    assert 1 <= counts.get("GET query invoice", 0) <= 2 * ORDERS, counts
    assert 1 <= counts.get("GET query order", 0) - 1 - windows <= 2 * ORDERS, counts
    assert sum(n for k, n in counts.items() if "query" in k) <= 1 + 4 * windows + 3 * ORDERS, counts
    assert sum(counts.values()) <= 8 * ORDERS, counts


def sent_invoices(stack: Stack, order_ids: list[int]) -> list[dict[str, Any]]:
    """The orders' invoices shown as sent in Lime, asked by POST so the service's own (GET) queries stay apart."""
    spec = {"limetype": "invoice", "responseFormat": {"object": {"_id": "", "order": "", "invoicestatus": ""}},
            "filter": {"key": "order", "op": "IN", "exp": order_ids}, "limit": 1000}
    resp = requests.post(f"{stack.lime_url}query/", json=spec, timeout=30,
                         headers={"X-API-Key": stack.config.lime_key, "Accept": "application/json"})
    resp.raise_for_status()
    return [r for r in resp.json()["objects"] if option_key(r.get("invoicestatus")) == "sent"]


def test_a_payment_costs_at_most_three_lime_requests_and_a_burst_of_one_invoice_one_refresh(
        stack: Stack, target: DemoTarget, billecta: BillectaClient, lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime, orders=3)
    orders = lime.query_ids("order", {"key": "creditor", "op": "=", "exp": seeded.creditor_id})
    wait_batch(target, start_command(target, orders))
    wait_for(lambda: len(sent_invoices(stack, orders)) == 3, "every invoice sent in Lime", 60)
    settle(stack)
    actions = [lime.get("order", o)["actionpublicid"] for o in orders]
    reset_lime_requests(stack)

    for action in actions[:2]:  # one part payment each
        pay(stack, action, "40.00")
    # Three part payments of one invoice in a burst: one refresh reads and writes them all.
    for _ in range(3):
        pay(stack, actions[2], "10.00")
    settle(stack)
    counts = lime_requests(stack)

    payments = list(lime.query("payment", ["_id", "invoice", "paymentbillectaid"],
                               {"key": "paymentbillectaid", "op": "!", "exp": ""}))
    lime_invoices = {i["_id"] for i in lime.query("invoice", ["_id"], {"key": "order", "op": "IN", "exp": orders})}
    assert len([p for p in payments if p["invoice"] in lime_invoices]) == 5  # none lost, none doubled
    # Per first payment of an invoice: update it, create the payment — no query for the payments an
    # unpaid invoice cannot have — and find it, in one query with the invoices of the other events being
    # handled at the same moment. The burst of one invoice: one lookup, one update, three creates.
    assert counts.get("POST create payment") == 5
    assert counts.get("PUT update invoice") == 3
    lookups = counts.get("GET query invoice", 0)
    assert 1 <= lookups <= 3, counts
    assert sum(counts.values()) == 8 + lookups, counts


def pay(stack: Stack, action: str, amount: str) -> None:
    resp = requests.post(f"{stack.billecta_admin_url}/invoices/{action}/payments",
                         json={"amount": amount, "payment_mean_code": "BG"}, timeout=10)
    resp.raise_for_status()


def test_a_debtor_of_a_bulk_upsert_costs_about_one_lime_request(stack: Stack, target: DemoTarget,
                                                              billecta: BillectaClient, lime: LimeClient) -> None:
    tag = uuid.uuid4().hex[:6]
    public_id = billecta.create_creditor({"Name": f"Budget AB {tag}", "OrgNo": "556000-0001", "CountryCode": "SE",
                                          "IsEnabled": True})
    creditor = lime.create("creditor", {"name": f"Budget AB {tag}", "creditorpublicid": public_id})["_id"]
    debtors = []
    for n in range(20):
        debtor = lime.create("debtor", {"name": f"Kund {n} AB", "ssnregno": f"556{n:07d}", "debtortype": "company",
                                        "countrycode": "SE"})["_id"]
        lime.create("creditordebtor", {"creditor": creditor, "debtor": debtor})
        debtors.append(debtor)
    settle(stack)
    reset_lime_requests(stack)

    resp = requests.post(f"{target.gateway_url}{target.prefix}/task/upsert-debtors-in-billecta",
                         json={"integration_monitor_batch_title": "budget",
                               "query_filter": {"key": "_id", "op": "IN", "exp": debtors}},
                         headers={"X-API-Key": target.commands_key}, timeout=30)
    batch = wait_batch(target, int(resp.json()["integration_monitor_batch_id"]))
    settle(stack)
    counts = lime_requests(stack)

    assert batch["status"] == "ok"
    links = list(lime.query("creditordebtor", ["_id", "debtorpublicid"],
                            {"key": "creditor", "op": "=", "exp": creditor}))
    assert len(links) == 20 and all(link["debtorpublicid"] for link in links)
    # One write per debtor (its new Billecta id on the relation); the reads are shared by the batch: the
    # query that starts it, and two per window (debtors with their person, relations with their creditor).
    assert counts.get("PUT update creditordebtor") == 20
    windows = counts.get("GET query creditordebtor", 0)
    assert 1 <= windows <= 3, counts
    assert sum(counts.values()) == 20 + 1 + 2 * windows, counts
