"""A ``Report`` as a PDF (ReportLab): title, creditor, period and generation time, the summary, then each
table with its header row repeated on every page and a totals row; page numbers in the footer."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billecta_sync.reports import model
from billecta_sync.reports.model import Progress, Report, money_text


def _cell(value: Any, kind: str) -> str:
    if value is None or value == "":
        return ""
    if kind == "money":
        return money_text(int(value))
    if kind == "date":
        parsed = model.day(value)
        return parsed.isoformat() if parsed else str(value)
    return str(value)


def render(report: Report, progress: Progress | None = None) -> bytes:
    out = io.BytesIO()
    pagesize = landscape(A4)
    doc = SimpleDocTemplate(out, pagesize=pagesize, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                            bottomMargin=14 * mm, title=report.title, author="billecta-sync")
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    small_right = small.clone("small_right", alignment=TA_RIGHT)
    story: list[Any] = [
        Paragraph(report.title, styles["Title"]),
        Paragraph(f"Creditor: {report.creditor}", styles["BodyText"]),
        Paragraph(f"Period: {report.period}", styles["BodyText"]),
        Paragraph(f"Generated: {report.generated_at.strftime('%Y-%m-%d %H:%M:%S UTC')} · "
                  f"amounts in {report.currency}", styles["BodyText"]),
        Spacer(1, 4 * mm),
    ]
    if report.summary:
        rows = [[label, money_text(value)] for label, value in report.summary]
        summary = Table(rows, hAlign="LEFT", colWidths=[80 * mm, 40 * mm])
        summary.setStyle(TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT"), ("FONTSIZE", (0, 0), (-1, -1), 9),
                                     ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey)]))
        story += [summary, Spacer(1, 5 * mm)]
    done, total = 0, sum(len(t.rows) for t in report.tables)
    width = pagesize[0] - doc.leftMargin - doc.rightMargin
    for table in report.tables:
        story.append(Paragraph(table.title, styles["Heading2"]))
        data: list[list[Any]] = [[Paragraph(f"<b>{c.title}</b>", small_right if c.kind in ("money", "int") else small)
                                  for c in table.columns]]
        for row in table.rows:
            data.append([_cell(row.get(c.key), c.kind) for c in table.columns])
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(done, total)
        if not table.rows:
            data.append(["(none)"] + [""] * (len(table.columns) - 1))
        if table.has_totals:
            sums = table.totals()
            data.append(["Total"] + [_cell(sums[c.key], c.kind) if c.total else "" for c in table.columns[1:]])
        weights = [c.weight or {"text": 3, "date": 1.6, "money": 2, "int": 1}[c.kind] for c in table.columns]
        # A narrow table (a summary) is not stretched across the page.
        table_width = min(width, 22 * mm * sum(weights))
        grid = LongTable(data, repeatRows=1, hAlign="LEFT", colWidths=[table_width * w / sum(weights) for w in weights])
        style = [("FONTSIZE", (0, 0), (-1, -1), 8), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDE4EE")),
                 ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                 ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F5F7FA")])]
        for col, column in enumerate(table.columns):
            if column.kind in ("money", "int"):
                style.append(("ALIGN", (col, 1), (col, -1), "RIGHT"))
        if table.has_totals:
            style += [("LINEABOVE", (0, -1), (-1, -1), 0.75, colors.black),
                      ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold")]
        grid.setStyle(TableStyle(style))
        story += [grid, Spacer(1, 5 * mm)]

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(doc.leftMargin, 7 * mm, f"{report.title} · {report.creditor}")
        canvas.drawRightString(pagesize[0] - doc.rightMargin, 7 * mm, f"Page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    if progress is not None:
        progress(total, total)
    return out.getvalue()
