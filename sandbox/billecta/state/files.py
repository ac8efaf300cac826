"""Files in the Billecta sandbox (``/v1/files``) and the invoice PDF made for every attested invoice.

Billecta's views name files by reference only (a FileView without ``Data``); the bytes are read through the
files API (docs: billecta-api-followup.md §1). An invoice's PDF is fixed when it is attested, like the
document Billecta sends the debtor: its text (number, OCR, dates, debtor, rows, total) is taken from the
invoice at attest, the bytes are rendered on first read and then kept, so every read answers the same bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox.billecta.state.core import BillectaError, Store, new_guid, now
from sandbox.billecta.state.invoice import PDF, Invoice
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Creditors, Debtors
from sandbox.billecta.state.pdf import Line, render

MAX_ROWS = 25  # what fits on the one page below the header


@dataclass
class StoredFile:
    file_public_id: str
    file_name: str
    content_type: str
    make: Callable[[], bytes]
    data: bytes | None = None

    def content(self) -> bytes:
        if self.data is None:
            self.data = self.make()
        return self.data


@dataclass(eq=False)
class Files:
    """Files by FilePublicId; not counted among the entities (``/_sandbox/health`` shows those)."""

    store: Store
    rows: dict[str, StoredFile] = field(default_factory=dict, init=False)

    def clear(self) -> None:
        self.rows = {}

    def add(self, file_name: str, content_type: str, make: Callable[[], bytes]) -> str:
        file_id = new_guid()
        with self.store.lock:
            self.rows[file_id] = StoredFile(file_id, file_name, content_type, make)
        return file_id

    def _find(self, file_public_id: str) -> StoredFile:
        stored = self.rows.get(file_public_id)
        if stored is None:
            raise BillectaError(404, f"File {file_public_id} not found")
        return stored

    def content(self, file_public_id: str) -> tuple[bytes, str, str]:
        """The file's bytes, content type and name (``GET /v1/files/file/{id}``)."""
        with self.store.lock:
            stored = self._find(file_public_id)
            return stored.content(), stored.content_type, stored.file_name

    def view(self, file_public_id: str, include_data: bool) -> dict[str, Any]:
        """The FileView of ``GET /v1/files/fileobject/{id}``; ``Data`` (base64) only when asked for."""
        with self.store.lock:
            stored = self._find(file_public_id)
            data = base64.b64encode(stored.content()).decode("ascii") if include_data else None
            return {"FilePublicId": stored.file_public_id, "ContentType": stored.content_type, "Data": data,
                    "FileName": stored.file_name}


def money(value: int, currency: str) -> str:
    """Minor units as printed on a Swedish invoice: ``4 790,18 SEK``."""
    text = f"{Decimal(value) / 100:,.2f}".replace(",", " ").replace(".", ",")
    return f"{text} {currency}"


@dataclass(eq=False)
class InvoicePdfs:
    """The attest hook (``Invoices.add_attest_hook``) that gives each booked invoice its PDF."""

    invoices: Invoices
    creditors: Creditors
    debtors: Debtors
    files: Files

    def attested(self, invoice: Invoice) -> None:
        lines = self.lines(invoice)
        title = f"{self.kind(invoice).capitalize()} {invoice.invoice_number}"
        created = invoice.attested or now()
        invoice.file_public_id = self.files.add(
            invoice.file_name, PDF, lambda: render(lines, title=title, created=created))

    @staticmethod
    def kind(invoice: Invoice) -> str:
        # A credit invoice is attested like any other and gets its document too.
        return "kreditfaktura" if invoice.entry.get("ActionType") == "CreditInvoiceAction" else "faktura"

    def lines(self, invoice: Invoice) -> list[Line]:
        """The document's text, taken now (at attest) so later changes to the debtor do not alter it."""
        creditor = self.creditors.rows.get(invoice.creditor_public_id) or {}
        debtor = self.debtors.rows.get(invoice.debtor_public_id) or {}
        sums = self.invoices.totals(invoice)
        cur = sums.currency
        address = [debtor.get("Address"), debtor.get("Address2"),
                   " ".join(p for p in (debtor.get("ZipCode"), debtor.get("City")) if p)]
        lines = [
            Line(self.kind(invoice).upper(), size=20, bold=True),
            Line(str(creditor.get("Name") or ""), size=11, bold=True, gap=10),
            Line(f"Org.nr {creditor.get('OrgNo')}" if creditor.get("OrgNo") else ""),
            Line(f"Fakturanummer: {invoice.invoice_number}", gap=14),
            Line(f"Fakturadatum: {invoice.invoice_date.isoformat()}"),
            Line(f"Förfallodatum: {invoice.due_date.isoformat()}"),
            Line(f"OCR: {invoice.ocr}"),
            Line("Kund", bold=True, gap=14),
            Line(str(debtor.get("Name") or "")),
            *(Line(str(part)) for part in address if part),
            Line("Beskrivning / antal / belopp inkl. moms", bold=True, gap=14),
        ]
        records = [r for r in sums.records if r.get("TotalIncVAT") is not None]
        for rec in records[:MAX_ROWS]:
            quantity = f"{rec.get('Quantity')} {rec.get('Units') or ''}".strip()
            total = money(int(rec["TotalIncVAT"]["Value"]), cur)
            lines.append(Line(f"{rec.get('ArticleDescription') or ''} / {quantity} / {total}"))
        if len(records) > MAX_ROWS:
            lines.append(Line(f"... och {len(records) - MAX_ROWS} rader till"))
        lines += [
            Line(f"Varav moms: {money(sums.vat, cur)}", gap=14),
            Line(f"Att betala: {money(sums.invoiced, cur)}", size=12, bold=True),
        ]
        return lines
