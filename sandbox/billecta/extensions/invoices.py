"""Invoice actions: the CRUD row of ``/v1/invoice/action``, attest, the open and closed lists, the events, the
collection controls (pause, resume, dispute, undispute, postpone), the data objects of the invoice webhooks,
and the admin endpoints that show an invoice's stored state and advance it as Billecta's processes would.

The controls' paths are the client's guesses (its route table marks them ``partly``: the flags and events
exist, the paths were never seen); they are labelled ``P`` here so nobody takes them for Billecta's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

from sandbox.billecta.crud import Resource, crud_routes
from sandbox.billecta.extension import Host
from sandbox.billecta.outbox import DataObject
from sandbox.billecta.routing import Reply, Route, error_response, json_action, page, query, query_day
from sandbox.billecta.state.controls import InvoiceControls
from sandbox.billecta.state.core import BillectaError
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Creditors, Debtors, Products

# Billecta's webhook table (docs: billecta-api-followup.md §6.2) gives these an InvoiceActionView.
INVOICE_VIEW_TRIGGERS = ("InvoiceActionCreated", "InvoiceActionAttested", "InvoiceActionStateChanged",
                         "InvoiceActionPaid")
# Not in the readable part of the table; an InvoiceActionView by analogy.
INVOICE_VIEW_BY_ANALOGY = ("AutogiroWithdrawalFailedOnInvoice", "AutogiroWithdrawalRenewedOnInvoice")
PARTLY = "path guessed, as in the client's route table (partly verified)"

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

    controls = InvoiceControls(invoices)

    def pause_invoice(_body: None, action_id: str) -> Reply:
        controls.pause(action_id)
        return 200, None

    def resume_invoice(_body: None, action_id: str) -> Reply:
        controls.resume(action_id)
        return 200, None

    def dispute_invoice(_body: None, action_id: str) -> Reply:
        controls.dispute(action_id)
        return 200, None

    def undispute_invoice(_body: None, action_id: str) -> Reply:
        controls.undispute(action_id)
        return 200, None

    def postpone_invoice(_body: None, action_id: str) -> Reply:
        controls.postpone(action_id, query("days"))
        return 200, None

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
        # Served but not listed: GET /_sandbox/routes keeps the listing the tests froze (?all=true shows them).
        Route("pause_invoice", "PUT", "/v1/invoice/pause/<action_id>", pause_invoice, None, None, "P",
              f"client route invoice.pause; CanPause, State.IsPaused, event Paused exist; {PARTLY}", listed=False),
        Route("resume_invoice", "PUT", "/v1/invoice/resume/<action_id>", resume_invoice, None, None, "P",
              f"client route invoice.resume; CanResume, event Resumed exist; {PARTLY}", listed=False),
        Route("dispute_invoice", "PUT", "/v1/invoice/dispute/<action_id>", dispute_invoice, None, None, "P",
              f"client route invoice.dispute; CanDispute, event Disputed exist; {PARTLY}", listed=False),
        Route("undispute_invoice", "PUT", "/v1/invoice/undispute/<action_id>", undispute_invoice, None, None, "P",
              f"client route invoice.undispute; CanUnDispute, event UnDisputed exist; {PARTLY}", listed=False),
        Route("postpone_invoice", "PUT", "/v1/invoice/postpone/<action_id>", postpone_invoice, None, None, "P",
              f"client route invoice.postpone; CanPostpone exists; ?days=<n> is the client's choice; {PARTLY}",
              listed=False),
    )

    def invoice_view(ids: Mapping[str, str], _context: Mapping[str, Any]) -> tuple[Any, Any]:
        return invoices.get(ids["ActionPublicId"]), None

    def deleted(ids: Mapping[str, str], context: Mapping[str, Any]) -> tuple[Any, Any]:
        return ids["ActionPublicId"], context.get("DebtorPublicId")

    host.outbox.add_data_object(INVOICE_VIEW_TRIGGERS, DataObject("InvoiceActionView", invoice_view, True))
    host.outbox.add_data_object(INVOICE_VIEW_BY_ANALOGY, DataObject("InvoiceActionView", invoice_view, False))
    host.outbox.add_data_object(["InvoiceActionDeleted"], DataObject(None, deleted, True))

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

    def shift_next_event(action_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Move the invoice's schedule by ``days`` (negative = earlier), as if time had passed the other way."""
        days = body.get("days")
        if isinstance(days, bool) or not isinstance(days, int):
            raise BillectaError(400, 'Send {"days": <whole number, negative = earlier>}')
        controls.shift(action_id, days)
        return invoices.get(action_id)["State"]

    host.add_admin("/_sandbox/state/invoices/<action_id>", "state_invoice", state_invoice, ["GET"])
    host.add_admin("/_sandbox/invoices/<action_id>/advance", "advance_invoice", advance_invoice)
    host.add_admin("/_sandbox/invoices/<action_id>/next-event", "invoice_next_event", json_action(shift_next_event))
