"""Aging buckets, totals arithmetic (exact, in minor units), the report definitions and both renderers."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from billecta_sync.errors import InvalidRequest
from billecta_sync.reports import aging, render_pdf, render_xlsx
from billecta_sync.reports.accounts_receivable import rows_of
from billecta_sync.reports.common import check_format, check_period, parse_date
from billecta_sync.reports.definitions import DEFINITIONS, ReportDefinition, check_definitions
from billecta_sync.reports.model import Column, Report, Table, major, minor, minor_from_major, money_text

AT = date(2026, 3, 31)


@pytest.mark.parametrize("days, bucket", [
    (0, "not_due"), (1, "d1_30"), (30, "d1_30"), (31, "d31_60"), (60, "d31_60"), (61, "d61_90"), (90, "d61_90"),
    (91, "d90_plus"), (4000, "d90_plus"),
])
def test_bucket_edges(days: int, bucket: str) -> None:
    assert aging.bucket_of(days) == bucket


def test_days_overdue_is_zero_until_the_due_date_passes() -> None:
    assert aging.days_overdue(AT + timedelta(days=5), AT) == 0
    assert aging.days_overdue(AT, AT) == 0
    assert aging.days_overdue(AT - timedelta(days=1), AT) == 1
    assert aging.days_overdue(date(2026, 2, 28), AT) == 31


def test_summary_has_every_bucket_and_sums_exactly() -> None:
    rows = [{"days_overdue": 0, "remaining": 1}, {"days_overdue": 0, "remaining": 2},
            {"days_overdue": 45, "remaining": 10_000_001}, {"days_overdue": 400, "remaining": 99}]
    assert aging.summarize(rows) == {"not_due": (2, 3), "d1_30": (0, 0), "d31_60": (1, 10_000_001),
                                     "d61_90": (0, 0), "d90_plus": (1, 99)}


def test_rows_of_the_ar_analysis() -> None:
    answer = [{"ActionPublicId": "1", "InvoiceNumber": "7", "Debtor": {"Name": "Kund"}, "InvoiceDate": "2026-01-01",
               "DueDate": "2026-01-31", "InvoicedAmountIncludingTax": {"CurrencyCode": "SEK", "Value": 10010},
               "RemainingAmountIncludingTax": {"CurrencyCode": "SEK", "Value": 5005}}]
    seen: list[tuple[int, int]] = []
    (row,) = rows_of(answer, AT, lambda done, total: seen.append((done, total)))
    assert (row["invoiced"], row["remaining"], row["days_overdue"], row["bucket"]) == (10010, 5005, 59,
                                                                                        "31-60 days")
    assert seen == [(1, 1)]


def test_money_is_exact() -> None:
    # 0.1 + 0.2 in floats is not 0.3; in minor units it is.
    assert minor_from_major(0.1) + minor_from_major(0.2) == minor_from_major("0.3") == 30
    assert minor_from_major(10000.5) == 1_000_050 and minor_from_major(None) == 0
    assert minor({"Value": 125}) == 125 and minor(None) == 0
    assert major(1_000_050) == Decimal("10000.50") and money_text(123_456_789) == "1 234 567.89"
    assert money_text(-5) == "-0.05"


def test_table_totals_add_minor_units() -> None:
    table = Table("t", (Column("a", "A"), Column("m", "M", "money", total=True), Column("n", "N", "int", total=True)),
                  [{"a": "x", "m": 1, "n": 1}, {"a": "y", "m": 2, "n": None}, {"a": "z", "m": 999_999_999_97}])
    assert table.totals() == {"m": 100_000_000_000, "n": 1}


def test_parameters_are_checked_naming_the_field() -> None:
    assert parse_date("2026-02-28", "date") == date(2026, 2, 28)
    with pytest.raises(InvalidRequest) as bad:
        parse_date("2026-02-30", "date")
    assert bad.value.field == "date"
    with pytest.raises(InvalidRequest) as late:
        check_period("2026-02-01", "2026-01-01")
    assert late.value.field == "from_date"
    with pytest.raises(InvalidRequest) as fmt:
        check_format("csv")
    assert fmt.value.field == "file_format"


def test_the_definitions_are_sound_and_a_bad_one_is_named() -> None:
    assert check_definitions() == [] and {"accounts_receivable", "invoices", "payments"} <= set(DEFINITIONS)
    bad = ReportDefinition("x", "X", "lime", (Column("nope", "Nope", "text", total=True),), limetype="invoice",
                           relation="creditor")
    problems = check_definitions({"x": bad})
    assert any("no property 'nope'" in p for p in problems) and any("totalled" in p for p in problems)
    assert check_definitions({"y": ReportDefinition("y", "Y", "sql", ())}) != []


def _report(rows: int) -> Report:
    columns = (Column("debtor", "Debtor"), Column("due", "Due", "date"),
               Column("amount", "Amount", "money", total=True), Column("days", "Days", "int", total=True))
    data = [{"debtor": f"Kund {n}", "due": date(2026, 1, 1), "amount": 12_345 + n, "days": n} for n in range(rows)]
    return Report("test", "Test report", "Kreditor AB", "at 2026-03-31", datetime(2026, 3, 31, 12, 0, tzinfo=UTC),
                  summary=[("Total", sum(r["amount"] for r in data))], tables=[Table("Rows", columns, data)])


def test_xlsx_totals_are_formulas_with_the_exact_sums_cached() -> None:
    content = render_xlsx.render(_report(3))
    sheet = load_workbook(io.BytesIO(content))["Rows"]
    assert sheet["C5"].value == "=SUM(C2:C4)" and sheet["D5"].value == "=SUM(D2:D4)"
    cached = load_workbook(io.BytesIO(content), data_only=True)["Rows"]
    assert Decimal(str(cached["C5"].value)) == Decimal("370.38") and cached["D5"].value == 3
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:D4"
    empty = load_workbook(io.BytesIO(render_xlsx.render(_report(0))), data_only=True)["Rows"]
    assert empty["C2"].value == 0  # no rows: a 0, not a formula over the totals row itself


def test_pdf_repeats_the_header_on_every_page_and_numbers_them() -> None:
    seen: list[tuple[int, int]] = []
    reader = PdfReader(io.BytesIO(render_pdf.render(_report(120), lambda d, t: seen.append((d, t)))))
    assert len(reader.pages) >= 3 and seen[-1] == (120, 120)
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert f"Page {number}" in text
        if number > 1:
            assert "Debtor" in text and "Amount" in text  # the header row again
    last = reader.pages[-1].extract_text()
    assert "Total" in last and money_text(sum(12_345 + n for n in range(120))) in last
