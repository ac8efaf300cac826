"""A ``Report`` as an xlsx workbook (XlsxWriter): one sheet per table, the summary on the first.

Money cells hold numbers with a two-decimal number format, dates real dates; each table sheet has a frozen
header row and an autofilter, and its totals row holds SUM formulas (with the exact sums as cached values, so
a reader that does not recalculate still shows them).
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from billecta_sync.reports.model import Progress, Report, Table, day, major

MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
WIDTH = {"text": 28, "date": 12, "money": 16, "int": 10}


def _sheet_name(title: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet"
    base, n = name, 2
    while name.lower() in used:
        name = f"{base[:28]} {n}"
        n += 1
    used.add(name.lower())
    return name


def render(report: Report, progress: Progress | None = None) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False})
    bold = book.add_format({"bold": True})
    title_fmt = book.add_format({"bold": True, "font_size": 14})
    header = book.add_format({"bold": True, "bg_color": "#DDE4EE", "bottom": 1})
    money = book.add_format({"num_format": MONEY_FORMAT})
    money_bold = book.add_format({"num_format": MONEY_FORMAT, "bold": True, "top": 1})
    dates = book.add_format({"num_format": DATE_FORMAT})
    total_label = book.add_format({"bold": True, "top": 1})
    used: set[str] = set()

    summary = book.add_worksheet(_sheet_name("Summary", used))
    summary.set_column(0, 0, 34)
    summary.set_column(1, 1, 18)
    summary.write(0, 0, report.title, title_fmt)
    for row, (label, value) in enumerate((("Creditor", report.creditor), ("Period", report.period),
                                          ("Generated", report.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
                                          ("Currency", report.currency)), start=2):
        summary.write(row, 0, label, bold)
        summary.write(row, 1, value)
    for row, (label, value) in enumerate(report.summary, start=7):
        summary.write(row, 0, label)
        summary.write_number(row, 1, float(major(value)), money)

    done, total = 0, sum(len(t.rows) for t in report.tables)
    for table in report.tables:
        sheet = book.add_worksheet(_sheet_name(table.title, used))
        done = _table(sheet, table, header, money, money_bold, dates, total_label, done, total, progress)
    book.close()
    if progress is not None:
        progress(total, total)
    return out.getvalue()


def _table(sheet: Any, table: Table, header: Any, money: Any, money_bold: Any, dates: Any, total_label: Any,
           done: int, total: int, progress: Progress | None) -> int:
    for col, column in enumerate(table.columns):
        sheet.write(0, col, column.title, header)
        sheet.set_column(col, col, WIDTH[column.kind])
    sheet.freeze_panes(1, 0)
    for r, row in enumerate(table.rows, start=1):
        for col, column in enumerate(table.columns):
            value = row.get(column.key)
            if value is None or value == "":
                continue
            if column.kind == "money":
                sheet.write_number(r, col, float(major(int(value))), money)
            elif column.kind == "int":
                sheet.write_number(r, col, int(value))
            elif column.kind == "date":
                sheet.write_datetime(r, col, _as_datetime(value), dates)
            else:
                sheet.write_string(r, col, str(value))
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(done, total)
    last = len(table.rows)
    sheet.autofilter(0, 0, max(last, 1), len(table.columns) - 1)
    if table.has_totals:
        sums = table.totals()
        totals_row = last + 1
        sheet.write(totals_row, 0, "Total", total_label)
        for col, column in enumerate(table.columns):
            if not column.total:
                continue
            cached: Any = float(major(sums[column.key])) if column.kind == "money" else sums[column.key]
            fmt = money_bold if column.kind == "money" else total_label
            if last == 0:
                sheet.write_number(totals_row, col, 0, fmt)
                continue
            first_cell, last_cell = xl_rowcol_to_cell(1, col), xl_rowcol_to_cell(last, col)
            sheet.write_formula(totals_row, col, f"=SUM({first_cell}:{last_cell})", fmt, cached)
    return done


def _as_datetime(value: Any) -> Any:
    parsed = day(value)
    return datetime(parsed.year, parsed.month, parsed.day) if parsed else value
