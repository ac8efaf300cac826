"""The Billecta sandbox's AR age analysis: remaining amounts at a date from its ledger, the rules of its query
parameters, the client route it stands in for, and the bulk seeding of the report benchmark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from billecta_sync.billecta.routes import get_route
from sandbox.billecta.app import DEFAULT_AUTHORIZATION, BillectaSandbox, BillectaSandboxConfig
from tests.billecta_day import billecta_today

TODAY = billecta_today()


@pytest.fixture
def sandbox() -> Iterator[BillectaSandbox]:
    fake = BillectaSandbox(BillectaSandboxConfig(auto_send_delay_s=-1))
    yield fake
    fake.sender.clear()


def _v1(sandbox: BillectaSandbox, method: str, path: str, body: Any = None) -> Any:
    resp = sandbox.app.test_client().open(f"/v1{path}", method=method, json=body,
                                          headers={"Authorization": DEFAULT_AUTHORIZATION})
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)
    return resp.get_json()


def _admin(sandbox: BillectaSandbox, path: str, body: dict[str, Any]) -> Any:
    resp = sandbox.app.test_client().post(f"/_sandbox{path}", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _book(sandbox: BillectaSandbox) -> tuple[str, str, str]:
    creditor = _v1(sandbox, "POST", "/creditors/creditor", {"Name": "Analys AB", "OrgNo": "556000-0004"})["PublicId"]
    debtor = _v1(sandbox, "POST", "/debtors/debtor", {"CreditorPublicId": creditor, "Name": "Kund", "OrgNo":
                                                      "556123-4567", "DebtorType": "Company", "CountryCode": "SE"})
    due = TODAY - timedelta(days=40)
    action = _v1(sandbox, "POST", "/invoice/action", {
        "CreditorPublicId": creditor, "DebtorPublicId": debtor["PublicId"], "DeliveryMethod": "Manually",
        "InvoiceDate": (due - timedelta(days=30)).isoformat(), "DueDate": due.isoformat(),
        "Records": [{"RecordType": "Standard", "ArticleDescription": "x", "Quantity": 1, "VAT": 0,
                     "UnitPrice": {"CurrencyCode": "SEK", "Value": 100000}}]})["PublicId"]
    _v1(sandbox, "PUT", f"/invoice/attest/{action}")
    return creditor, debtor["PublicId"], action


def _analysis(sandbox: BillectaSandbox, creditor: str, at: date) -> list[dict[str, Any]]:
    return _v1(sandbox, "GET", f"/Analysis/AgeAnalysisAccountReceivables/{creditor}?date={at.isoformat()}"
                                "&excludeInvoicesWithPeriodOutsideDate=false&showOnlyFinancedInvoices=false"
                                "&isPeriodSpecific=false")  # type: ignore[no-any-return]


def test_remaining_at_a_date_counts_only_what_was_booked_by_then(sandbox: BillectaSandbox) -> None:
    creditor, _debtor, action = _book(sandbox)
    _admin(sandbox, f"/invoices/{action}/payments",
           {"amount": "300.00", "date": (TODAY - timedelta(days=10)).isoformat()})
    _admin(sandbox, f"/invoices/{action}/writeoff", {"amount": "100.00"})
    (now,) = _analysis(sandbox, creditor, TODAY)
    assert now["ActionPublicId"] == action and now["RemainingAmountIncludingTax"]["Value"] == 60000
    assert now["InvoicedAmountIncludingTax"]["Value"] == 100000 and now["Debtor"]["Name"] == "Kund"
    assert set(now) == {"ActionPublicId", "InvoiceNumber", "Debtor", "InvoiceDate", "DueDate",
                        "InvoicedAmountIncludingTax", "RemainingAmountIncludingTax", "PeriodStart", "PeriodEnd",
                        "YourReference"}
    (before,) = _analysis(sandbox, creditor, TODAY - timedelta(days=20))
    assert before["RemainingAmountIncludingTax"]["Value"] == 100000
    assert _analysis(sandbox, creditor, TODAY - timedelta(days=200)) == []  # not invoiced yet
    _admin(sandbox, f"/invoices/{action}/payments", {"amount": "600.00"})
    assert _analysis(sandbox, creditor, TODAY) == []  # paid in full
    assert len(_analysis(sandbox, creditor, TODAY - timedelta(days=1))) == 1  # but open yesterday


def test_the_date_is_required_and_the_route_is_the_clients(sandbox: BillectaSandbox) -> None:
    creditor, _debtor, _action = _book(sandbox)
    resp = sandbox.app.test_client().get(f"/v1/Analysis/AgeAnalysisAccountReceivables/{creditor}",
                                         headers={"Authorization": DEFAULT_AUTHORIZATION})
    assert resp.status_code == 400 and "date" in resp.get_json()["Message"]
    served = {r.name: r for r in sandbox.routes()}["age_analysis_account_receivables"]
    theirs = get_route("analysis.age_receivables")
    assert (served.method, served.rule) == (theirs.method, "/v1" + theirs.path_template.replace(
        "{creditor_public_id}", "<creditor_id>"))
    assert served.status == "V" and theirs.status == "verified"


def test_bulk_seeding_makes_open_invoices_without_webhooks(sandbox: BillectaSandbox) -> None:
    creditor, debtor, _action = _book(sandbox)
    sent = len(sandbox.sender.deliveries())
    made = _admin(sandbox, "/analysis/bulk-invoices", {"creditor_public_id": creditor, "debtor_public_id": debtor,
                                                       "count": 300, "amount": "10.50", "days_overdue": [0, 100]})
    assert made["created"] == 300 and len(sandbox.sender.deliveries()) == sent
    rows = _analysis(sandbox, creditor, TODAY)
    assert len(rows) == 301 and sum(r["RemainingAmountIncludingTax"]["Value"] for r in rows) == 100000 + 300 * 1050
    bad = sandbox.app.test_client().post("/_sandbox/analysis/bulk-invoices", json={"count": 0})
    assert bad.status_code == 400
