"""The files API (``/v1/files``) and the PDF every attested invoice gets, named by its
``Invoices[].InvoiceFile.FilePublicId``.

Both paths were seen in the Rust crate's ``files`` module (docs: billecta-api-followup.md §1), so they are
labelled ``V``; what Billecta's PDF looks like is not known, the sandbox's is a one-page summary.
"""

from __future__ import annotations

from flask import Response

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, query_bool
from sandbox.billecta.state.files import Files, InvoicePdfs
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Creditors, Debtors

SOURCE = "notes follow-up §1 (R1 files.rs); client route {name}"


def register(host: Host) -> None:
    store = host.store
    invoices = store.get(Invoices)
    files = store.add(Files(store))
    invoices.add_attest_hook(InvoicePdfs(invoices, store.get(Creditors), store.get(Debtors), files).attested)

    def get_file(_body: None, file_id: str) -> Reply:
        content, content_type, name = files.content(file_id)
        resp = Response(content, status=200, content_type=content_type)
        resp.headers["Content-Disposition"] = f'inline; filename="{name}"'
        return 200, resp

    def get_file_object(_body: None, file_id: str) -> Reply:
        return 200, files.view(file_id, query_bool("includedata"))

    host.add_routes(
        Route("get_file", "GET", "/v1/files/file/<file_id>", get_file, None, None, "V",
              SOURCE.format(name="files.file.get") + "; the raw bytes with their content type", listed=False),
        Route("get_file_object", "GET", "/v1/files/fileobject/<file_id>", get_file_object, None, "FileView", "V",
              SOURCE.format(name="files.fileobject.get") + "; ?includedata=true adds base64 Data", listed=False),
    )
