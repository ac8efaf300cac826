"""Invoice actions: the CRUD row of ``/v1/invoice/action``, attest, the open and closed lists, the events,
and the admin endpoints that show an invoice's stored state and advance it as Billecta's processes would.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from sandbox.billecta.crud import Resource, crud_routes
from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, error_response, page, query_day
from sandbox.billecta.state.core import BillectaError
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Creditors, Debtors, Products

INVOICE = Resource(
    "invoice", "/v1/invoice/action", "action_id", "InvoiceActionEntryView", "InvoiceActionView",
    update_by_key=True,
    notes={
        "create": ("V", "notes 2.4 (S4)"),
        "update": ("V", "notes 2.4 (S4 only)"),
        "get": ("V", "notes 2.4 (S4, S1)"),
        "delete": ("U", "notes 2.4: path guessed by analogy; only unattested"),
    },
)


def register(host: Host) -> None:
    store = host.store
    invoices = store.add(
        Invoices(store, store.get(Creditors), store.get(Debtors), store.get(Products),
                 auto_send_delay_s=lambda: host.config.auto_send_delay_s),
        counted_as="invoices",
    )

    def attest_invoice(_body: None, action_id: str) -> Reply:
        invoices.attest(action_id)
        return 200, None

    def open_invoices(_body: None, creditor_id: str) -> Reply:
        return 200, page(invoices.open_invoices(creditor_public_id=creditor_id))

    def open_invoices_by_debtor(_body: None, debtor_id: str) -> Reply:
        return 200, page(invoices.open_invoices(debtor_public_id=debtor_id))

    def closed_invoices(_body: None, creditor_id: str) -> Reply:
        rows = invoices.closed_invoices(creditor_public_id=creditor_id, start=query_day("from"), end=query_day("to"))
        return 200, page(rows)

    def closed_invoices_by_debtor(_body: None, debtor_id: str) -> Reply:
        rows = invoices.closed_invoices(debtor_public_id=debtor_id, start=query_day("from"), end=query_day("to"))
        return 200, page(rows)

    def invoice_events(_body: None, action_id: str) -> Reply:
        return 200, invoices.get(action_id)["Events"]

    host.add_routes(
        *crud_routes(INVOICE, invoices),
        Route("attest_invoice", "PUT", "/v1/invoice/attest/<action_id>", attest_invoice,
              None, None, "V", "notes 2.4 (S2, S4, S9); empty body, empty answer"),
        Route("open_invoices", "GET", "/v1/invoice/open/<creditor_id>", open_invoices,
              None, "InvoiceActionSubsView", "V", "notes 2.4 (S4)"),
        Route("open_invoices_by_debtor", "GET", "/v1/invoice/openbydebtor/<debtor_id>", open_invoices_by_debtor,
              None, "InvoiceActionSubsView", "V", "notes 2.4 (S4)"),
        Route("closed_invoices", "GET", "/v1/invoice/closed/<creditor_id>", closed_invoices,
              None, "InvoiceActionSubsView", "V", "notes 2.4 (S4); ?from=&to="),
        Route("closed_invoices_by_debtor", "GET", "/v1/invoice/closedbydebtor/<debtor_id>", closed_invoices_by_debtor,
              None, "InvoiceActionSubsView", "V", "notes 2.4 (S4); ?from=&to="),
        Route("invoice_events", "GET", "/v1/invoice/events/<action_id>", invoice_events,
              None, "CommonActionEventsView", "P", "notes: invoice events", listed=False),
    )

    def state_invoice(action_id: str) -> Response:
        try:
            return jsonify(invoices.raw(action_id))
        except BillectaError as exc:
            return error_response(exc.status, exc.message)

    def advance_invoice(action_id: str) -> Response:
        values = request.get_json(force=True, silent=True)
        stage = values.get("stage") if isinstance(values, dict) else None
        if not isinstance(stage, str):
            return error_response(400, 'Send {"stage": "<InvoiceActionStageType name>"}')
        try:
            invoices.advance(action_id, stage)
            return jsonify(invoices.raw(action_id))
        except BillectaError as exc:
            return error_response(exc.status, exc.message)

    host.add_admin("/_sandbox/state/invoices/<action_id>", "state_invoice", state_invoice, ["GET"])
    host.add_admin("/_sandbox/invoices/<action_id>/advance", "advance_invoice", advance_invoice)
