"""Financial reports over real processes: gateway → reports worker → Billecta sandbox and Lime → a Lime document.

One creditor gets a known book in Billecta (invoices in every aging bucket, a partial payment, a credit, a
write-off, an overpayment, an advance payment) that reaches Lime by webhook; then Lime is made to disagree on
purpose (an invoice deleted, an amount and a status changed, a payment missing, an invoice only Lime has).
Each report is stored as a Lime document; the file is read back and every figure checked.
"""

from __future__ import annotations

import io
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from openpyxl import load_workbook
from pypdf import PdfReader

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from devstack.stack import Stack
from tests import debian_packages
from tests.billecta_day import billecta_today
from tests.e2e.support import settle, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.debian_packages("pdftoppm")]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
TODAY = billecta_today()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = stack_starter(tmp_path_factory.mktemp("stack-reports"), database_url=None, redis_index=2,
                            extra_env={"WORKER_MAX_RETRIES": "1", "WORKER_RETRY_BACKOFF_MAX_S": "1",
                                       "GATEWAY_COMMAND_WAIT_S": "60", "BILLECTA_SANDBOX_WEBHOOK_STYLE": "documented"})
    try:
        yield running
    finally:
        running.stop()


def call(stack: Stack, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.gateway_url}{stack.config.prefix}{path}", json=body,
                         headers={"X-API-Key": stack.config.commands_key}, timeout=120)


def admin(stack: Stack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(f"{stack.billecta_admin_url}{path}", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


class Book:
    """The known book. Amounts in öre; dates relative to today (write-offs and credits are dated today)."""

    def __init__(self, stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
        self.stack, self.billecta, self.lime = stack, billecta, lime
        tag = uuid.uuid4().hex[:6]
        self.name = f"Rapport AB {tag}"
        self.creditor = billecta.create_creditor({"Name": self.name, "OrgNo": "556000-0004"})
        self.creditor_id = int(lime.create("creditor", {"name": self.name, "creditorpublicid": self.creditor})["_id"])
        self.debtor_name = f"Kund {tag}"
        self.debtor = billecta.create_debtor({"CreditorPublicId": self.creditor, "Name": self.debtor_name,
                                              "OrgNo": "556123-4567", "DebtorType": "Company",
                                              "Email": "kund@example.se", "CountryCode": "SE"})
        # name -> (öre, days past due today)
        self.plan = {"A": (100000, -10), "B": (200000, 15), "C": (300000, 45), "E": (400000, 75),
                     "F": (500000, 120), "G": (60000, 5)}
        self.actions: dict[str, str] = {}
        for key, (ore, overdue) in self.plan.items():
            due = TODAY - timedelta(days=overdue)
            entry = {"CreditorPublicId": self.creditor, "DebtorPublicId": self.debtor, "DeliveryMethod": "Email",
                     "InvoiceDate": (due - timedelta(days=30)).isoformat(), "DueDate": due.isoformat(),
                     "Records": [{"RecordType": "Standard", "ArticleDescription": f"Konsult {key}", "Quantity": 1,
                                  "VAT": 0, "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}]}
            self.actions[key] = billecta.create_invoice(entry)
            billecta.attest_invoice(self.actions[key])
        self.lime_ids = {key: wait_for(lambda a=action: self.find("invoice", a), f"Lime invoice {key}")["_id"]
                         for key, action in self.actions.items()}
        settle(stack)
        b_payment = admin(stack, f"/invoices/{self.actions['B']}/payments",
                          {"amount": "500.00", "payment_mean_code": "BG",
                           "date": (TODAY - timedelta(days=5)).isoformat()})
        self.b_payment_ref = b_payment["payment"]["PaymentReferenceId"]
        admin(stack, f"/invoices/{self.actions['C']}/credit", {"amount": "1000.00"})
        admin(stack, f"/invoices/{self.actions['E']}/writeoff", {"amount": "1500.00"})
        admin(stack, f"/invoices/{self.actions['G']}/payments", {"amount": "700.00", "payment_mean_code": "BG"})
        admin(stack, "/unmatched-payments", {"creditor_public_id": self.creditor, "debtor_public_id": self.debtor,
                                             "amount": "250.00", "reference": "FORSKOTT-1"})
        settle(stack)
        self.numbers = {key: billecta.get_invoice(a)["InvoiceNumber"] for key, a in self.actions.items()}
        # Lime now disagrees on purpose.
        lime.delete("invoice", self.lime_ids["F"])
        lime.update("invoice", self.lime_ids["A"], {"currentamount": 900.0, "invoicestatus": "paid"})
        lime_payment = wait_for(lambda: next(iter(lime.query(
            "payment", ["_id"], filter={"key": "paymentbillectaid", "op": "=", "exp": self.b_payment_ref})), None),
            "B's payment in Lime")
        lime.delete("payment", lime_payment["_id"])
        lime.create("invoice", {"creditor": self.creditor_id, "invoicenumber": f"L-{tag}", "invoicedamount": 300.0,
                                "currentamount": 300.0, "invoicedate": (TODAY - timedelta(days=3)).isoformat(),
                                "actionpublicid": f"LIME-ONLY-{tag}"})
        self.lime_only = f"L-{tag}"

    def find(self, limetype: str, action: str) -> dict[str, Any] | None:
        rows = list(self.lime.query(limetype, ["_id"], filter={"key": "actionpublicid", "op": "=", "exp": action}))
        return self.lime.get(limetype, rows[0]["_id"]) if rows else None

    def documents(self) -> int:
        return len(list(self.lime.query("document", ["_id"])))

    def stored(self, resp: requests.Response) -> tuple[dict[str, Any], bytes, str]:
        assert resp.status_code == 200, resp.text
        document = self.lime.get("document", resp.json()["iddocument"])
        assert document["creditor"] == self.creditor_id
        content, content_type = self.lime.download_file(int(document["document"]))
        return document, content, content_type


@pytest.fixture(scope="module")
def book(stack: Stack, billecta: BillectaClient, lime: LimeClient) -> Book:
    return Book(stack, billecta, lime)


def money(ore: int) -> Decimal:
    return Decimal(ore) / 100


def sheet_rows(content: bytes, title: str, *, formulas: bool = False) -> list[tuple[Any, ...]]:
    book = load_workbook(io.BytesIO(content), data_only=not formulas)
    return [tuple(row) for row in book[title].iter_rows(values_only=True)]


def cached(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def pdf_text(content: bytes) -> str:
    """The text of every page, a table row per line with its cells joined by " | "."""
    lines = []
    for page in PdfReader(io.BytesIO(content)).pages:
        lines += [re.sub(r" {2,}", " | ", line.strip())
                  for line in page.extract_text(extraction_mode="layout").splitlines() if line.strip()]
    return "\n".join(lines)


def render_png(content: bytes, name: str) -> Path:
    """Page 1 as a PNG under var/test-artifacts (poppler's pdftoppm; installed when missing and root)."""
    debian_packages.require("pdftoppm")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / f"{name}.pdf"
    pdf.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(ARTIFACTS / name)], check=True, timeout=120)
    return ARTIFACTS / f"{name}.png"


def check_png(content: bytes, name: str) -> None:
    png = render_png(content, name)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


# ---- accounts receivable -------------------------------------------------------------------------------------
AR_EXPECTED = {  # key -> (invoiced, remaining, days overdue, bucket)
    "A": (100000, 100000, 0, "Not due"), "B": (200000, 150000, 15, "1-30 days"),
    "C": (300000, 200000, 45, "31-60 days"), "E": (400000, 250000, 75, "61-90 days"),
    "F": (500000, 500000, 120, "> 90 days"),
}


def test_accounts_receivable_xlsx_has_every_open_invoice_and_the_aging(stack: Stack, book: Book) -> None:
    resp = call(stack, "/billecta/account-receivables-report",
                {"idcreditor": book.creditor_id, "date": TODAY.isoformat()})
    document, content, content_type = book.stored(resp)
    assert content_type.startswith(XLSX)
    assert TODAY.isoformat() in document["title"] and "Accounts receivable" in document["title"]
    rows = sheet_rows(content, "Open invoices")
    assert rows[0] == ("Debtor", "Invoice number", "Invoice date", "Due date", "Invoiced", "Remaining",
                       "Days overdue", "Aging")
    body = {r[1]: r for r in rows[1:-1]}
    assert set(body) == {book.numbers[k] for k in AR_EXPECTED}  # G is paid; the credit note is no receivable
    for key, (invoiced, remaining, overdue, bucket) in AR_EXPECTED.items():
        row = body[book.numbers[key]]
        due = TODAY - timedelta(days=book.plan[key][1])
        assert row[0] == book.debtor_name
        assert row[2].date() == due - timedelta(days=30) and row[3].date() == due
        assert (cached(row[4]), cached(row[5]), row[6], row[7]) == (money(invoiced), money(remaining), overdue,
                                                                     bucket)
    total = rows[-1]
    assert total[0] == "Total" and cached(total[4]) == money(1500000) and cached(total[5]) == money(1200000)
    formulas = sheet_rows(content, "Open invoices", formulas=True)
    assert formulas[-1][4] == "=SUM(E2:E6)" and formulas[-1][5] == "=SUM(F2:F6)"
    aging = sheet_rows(content, "Aging summary")
    assert [(r[0], r[1], cached(r[2])) for r in aging[1:6]] == [
        ("Not due", 1, money(100000)), ("1-30 days", 1, money(150000)), ("31-60 days", 1, money(200000)),
        ("61-90 days", 1, money(250000)), ("> 90 days", 1, money(500000))]
    assert aging[6][0] == "Total" and aging[6][1] == 5 and cached(aging[6][2]) == money(1200000)
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook["Open invoices"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:H6"
    assert sheet["E2"].number_format == "#,##0.00"
    summary = {r[0]: r[1] for r in sheet_rows(content, "Summary") if r[0]}
    assert summary["Creditor"] == f"{book.name} ({book.creditor})" and summary["Period"] == f"at {TODAY}"
    assert cached(summary["Remaining"]) == money(1200000)
    assert cached(summary["Invoiced (open invoices)"]) == money(1500000)


def test_accounts_receivable_pdf_at_an_earlier_date_and_its_png(stack: Stack, book: Book) -> None:
    earlier = TODAY - timedelta(days=7)  # before B's payment (today - 5): B still owes 2000.00
    resp = call(stack, "/billecta/account-receivables-report",
                {"idcreditor": book.creditor_id, "date": earlier.isoformat(), "file_format": "pdf"})
    _document, content, content_type = book.stored(resp)
    assert content_type.startswith("application/pdf") and content.startswith(b"%PDF")
    text = pdf_text(content)
    assert "Accounts receivable" in text and f"Creditor: {book.name}" in text and f"Period: at {earlier}" in text
    assert "Generated: " in text and "Page 1" in text
    # At the earlier date: credit and write-off (today) not booked yet, B unpaid, G unpaid and not yet due.
    lines = text.splitlines()
    for key, figure in {"A": "1 000.00", "B": "2 000.00", "C": "3 000.00", "E": "4 000.00", "F": "5 000.00",
                        "G": "600.00"}.items():
        due = TODAY - timedelta(days=book.plan[key][1])
        overdue = max((earlier - due).days, 0)
        bucket = {0: "Not due"}.get(overdue) or next(label for low, high, label in (
            (1, 30, "1-30 days"), (31, 60, "31-60 days"), (61, 90, "61-90 days"), (91, 10**6, "> 90 days"))
            if low <= overdue <= high)
        row = (f"{book.debtor_name} | {book.numbers[key]} | {due - timedelta(days=30)} | {due} | {figure} | "
               f"{figure} | {overdue} | {bucket}")
        assert row in lines, (row, lines)
    for row in ("Not due | 2 | 1 600.00", "1-30 days | 1 | 2 000.00", "31-60 days | 1 | 3 000.00",
                "61-90 days | 1 | 4 000.00", "> 90 days | 1 | 5 000.00", "Total | 6 | 15 600.00",
                "Total | 15 600.00 | 15 600.00", "Remaining | 15 600.00", "Invoiced (open invoices) | 15 600.00"):
        assert row in lines, row
    check_png(content, "accounts-receivable")


# ---- reconciliation ------------------------------------------------------------------------------------------
def test_reconciliation_movements_balances_and_discrepancies(stack: Stack, book: Book) -> None:
    resp = call(stack, "/billecta/account-reconciliation-report", {
        "idcreditor": book.creditor_id, "from_date": (TODAY - timedelta(days=200)).isoformat(),
        "to_date": TODAY.isoformat(), "account": "1510", "date_selection_type": "invoice_date",
        "opening_balance": 10000.50})
    _document, content, _ = book.stored(resp)
    summary = {r[0]: r[1] for r in sheet_rows(content, "Summary") if r[0]}
    assert "account 1510" in summary["Period"]
    assert {k: cached(summary[k]) for k in ("Opening balance", "Invoiced", "Paid", "Credited", "Written off",
                                            "Closing balance")} == {
        "Opening balance": Decimal("10000.50"), "Invoiced": money(1560000), "Paid": money(110000),
        "Credited": money(100000), "Written off": money(150000), "Closing balance": Decimal("22000.50")}
    invoices = sheet_rows(content, "Invoices")
    by_number = {r[0]: r for r in invoices[1:-1]}
    expected = {"A": (100000, 0, 0, 0, 100000), "B": (200000, 50000, 0, 0, 150000),
                "C": (300000, 0, 100000, 0, 200000), "E": (400000, 0, 0, 150000, 250000),
                "F": (500000, 0, 0, 0, 500000), "G": (60000, 60000, 0, 0, 0)}
    for key, figures in expected.items():
        assert tuple(cached(v) for v in by_number[book.numbers[key]][4:9]) == tuple(money(v) for v in figures)
    assert len(invoices) == 2 + 7  # header, six invoices, the credit note, totals
    assert tuple(cached(v) for v in invoices[-1][4:9]) == tuple(money(v) for v in (1560000, 110000, 100000,
                                                                                    150000, 1200000))
    payments = sheet_rows(content, "Payments")
    assert sorted((r[1], cached(r[5])) for r in payments[1:-1]) == sorted(
        [(book.numbers["B"], money(50000)), (book.numbers["G"], money(60000))])
    assert cached(payments[-1][5]) == money(110000)
    found = sorted((r[0], r[1], None if r[3] is None else cached(r[3]), None if r[4] is None else cached(r[4]))
                   for r in sheet_rows(content, "Discrepancies")[1:-1])
    assert found == sorted([
        ("In Billecta, not in Lime", book.numbers["F"], money(500000), None),
        ("Remaining amount differs", book.numbers["A"], money(100000), Decimal("900.00")),
        ("Status differs", book.numbers["A"], None, None),
        ("In Lime, not in Billecta", book.lime_only, None, Decimal("300.00")),
        ("Payment not booked in Lime", book.numbers["B"], money(50000), None),
    ])


def test_reconciliation_by_payment_date_as_pdf(stack: Stack, book: Book) -> None:
    resp = call(stack, "/billecta/account-reconciliation-report", {
        "idcreditor": book.creditor_id, "from_date": (TODAY - timedelta(days=200)).isoformat(),
        "to_date": TODAY.isoformat(), "account": "1510", "date_selection_type": "payment_date",
        "opening_balance": "0", "file_format": "pdf"})
    _document, content, _ = book.stored(resp)
    text = pdf_text(content)
    for label, figure in (("Opening balance", "0.00"), ("Invoiced", "15 600.00"), ("Paid", "1 100.00"),
                          ("Credited", "1 000.00"), ("Written off", "1 500.00"), ("Closing balance", "12 000.00")):
        assert f"{label} | {figure}" in text.splitlines(), label
    assert "Payment not booked in Lime" in text and "In Billecta, not in Lime" in text
    check_png(content, "account-reconciliation")


# ---- prepaid payments ----------------------------------------------------------------------------------------
def test_prepaid_payments_per_debtor(stack: Stack, book: Book) -> None:
    resp = call(stack, "/billecta/prepaid-payments-report", {"idcreditor": book.creditor_id,
                                                            "date": TODAY.isoformat()})
    _document, content, _ = book.stored(resp)
    per_debtor = sheet_rows(content, "Per debtor")
    assert [(r[0], r[1], cached(r[2])) for r in per_debtor[1:]] == [
        (book.debtor_name, 2, money(35000)), ("Total", 2, money(35000))]
    payments = sorted((r[2], r[4], cached(r[5])) for r in sheet_rows(content, "Payments")[1:-1])
    assert payments == [("Advance payment", None, money(25000)), ("Overpayment", book.numbers["G"], money(10000))]
    summary = {r[0]: r[1] for r in sheet_rows(content, "Summary") if r[0]}
    assert (cached(summary["Overpayments"]), cached(summary["Advance payments"]),
            cached(summary["Total prepaid"])) == (money(10000), money(25000), money(35000))
    before = call(stack, "/billecta/prepaid-payments-report", {"idcreditor": book.creditor_id, "file_format": "pdf",
                                                              "date": (TODAY - timedelta(days=1)).isoformat()})
    _document, pdf, _ = book.stored(before)
    text = pdf_text(pdf)
    assert "Total prepaid | 0.00" in text.splitlines() and "(none)" in text
    check_png(pdf, "prepaid-payments")


# ---- report creator ------------------------------------------------------------------------------------------
def test_report_creator_configured_reports(stack: Stack, book: Book) -> None:
    resp = call(stack, "/billecta/report-creator", {
        "config_key": "accounts_receivable", "limetype": "creditor", "idlimeobject": book.creditor_id,
        "date_to": TODAY.isoformat(), "file_format": "pdf"})
    _document, content, _ = book.stored(resp)
    text = pdf_text(content)
    assert "Total remaining | 12 000.00" in text.splitlines()
    assert "Total | 12 000.00" in text.splitlines()
    check_png(content, "report-creator")
    resp = call(stack, "/billecta/report-creator", {
        "config_key": "invoices", "limetype": "creditor", "idlimeobject": book.creditor_id,
        "date_from": (TODAY - timedelta(days=200)).isoformat(), "date_to": TODAY.isoformat()})
    _document, content, _ = book.stored(resp)
    rows = sheet_rows(content, "Invoices in Lime")
    numbers = {r[0] for r in rows[1:-1]}
    assert {book.numbers[k] for k in "ABCEG"} | {book.lime_only} <= numbers
    assert book.numbers["F"] not in numbers
    assert cached(rows[-1][3]) == sum((cached(r[3]) for r in rows[1:-1]), Decimal("0.00"))


# ---- refusals ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, body, status, field", [
    ("/billecta/account-receivables-report", {"idcreditor": 999999999, "date": "2026-01-31"}, 404, "idcreditor"),
    ("/billecta/account-receivables-report", {"idcreditor": 1, "date": "2026-02-30"}, 400, "date"),
    ("/billecta/account-receivables-report", {"idcreditor": 1, "date": "31/01/2026"}, 400, "date"),
    ("/billecta/account-receivables-report", {"idcreditor": 1, "date": "2026-01-31", "file_format": "csv"}, 400,
     "file_format"),
    ("/billecta/account-reconciliation-report", {"idcreditor": 1, "from_date": "2026-02-01", "to_date": "2026-01-01",
                                                 "account": "1510", "date_selection_type": "invoice_date"}, 400,
     "from_date"),
    ("/billecta/account-reconciliation-report", {"idcreditor": 1, "from_date": "2026-01-01", "to_date": "2026-02-01",
                                                 "account": "1510", "date_selection_type": "due_date"}, 400,
     "date_selection_type"),
    ("/billecta/prepaid-payments-report", {"idcreditor": 999999999, "date": "2026-01-31"}, 404, "idcreditor"),
    ("/billecta/report-creator", {"config_key": "nope", "limetype": "creditor", "idlimeobject": 1}, 400,
     "config_key"),
])
def test_bad_parameters_name_the_field_and_create_nothing(stack: Stack, book: Book, path: str,
                                                         body: dict[str, Any], status: int, field: str) -> None:
    if body.get("idcreditor") == 1:
        body = {**body, "idcreditor": book.creditor_id}
    if body.get("idlimeobject") == 1:
        body = {**body, "idlimeobject": book.creditor_id}
    before = book.documents()
    resp = call(stack, path, body)
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field and resp.json()["error_message"]
    assert book.documents() == before


def test_cli_accounts_receivable_with_a_progress_bar(stack: Stack, book: Book) -> None:
    from click.testing import CliRunner

    from cli.main import main as cli

    result = CliRunner().invoke(cli, ["report", "accounts-receivable", "--creditor", str(book.creditor_id),
                                      "--date", TODAY.isoformat(), "--format", "xlsx"], env=stack.env())
    assert result.exit_code == 0, result.output
    assert "reading invoices" in result.output and "5 open invoices" in result.output
    document_id = int(result.output.rsplit("Lime document ", 1)[1].split()[0])
    content, _ = book.lime.download_file(int(book.lime.get("document", document_id)["document"]))
    assert cached(sheet_rows(content, "Open invoices")[-1][5]) == money(1200000)
    bad = CliRunner().invoke(cli, ["report", "accounts-receivable", "--creditor", "999999999", "--date",
                                   TODAY.isoformat()], env=stack.env())
    assert bad.exit_code != 0 and "idcreditor" in bad.output
