"""Render a report and keep it in Lime: the file through Lime's file API, then a ``document`` with the file,
the creditor and the report's parameters in its title."""

from __future__ import annotations

from typing import Any

from billecta_sync.container import Services
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.reports import render_pdf, render_xlsx
from billecta_sync.reports.model import Progress, Report

CONTENT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "pdf": "application/pdf"}
MAX_TITLE = 250


def render(report: Report, file_format: str, progress: Progress | None = None) -> bytes:
    return (render_pdf if file_format == "pdf" else render_xlsx).render(report, progress)


def store(services: Services, report: Report, file_format: str, creditor_id: int, parameters: str,
          progress: Progress | None = None) -> dict[str, Any]:
    """``{"iddocument", "file_id", "filename", "size"}`` of the stored report."""
    content = render(report, file_format, progress)
    filename = report.filename(file_format)
    meta = services.lime.upload_file(filename, content, CONTENT_TYPES[file_format])
    file_id = int(meta["id"])
    title = f"{report.title} ({parameters})"[:MAX_TITLE]
    document = LimeRepo(services.lime, services.mappings).create(
        "document", {"title": title, "document": file_id, "creditor": creditor_id})
    return {"iddocument": int(document["_id"]), "file_id": file_id, "filename": filename, "size": len(content)}
