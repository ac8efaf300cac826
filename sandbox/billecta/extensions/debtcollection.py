"""Debt collection: a case made from an invoice (``/v1`` and ``/_sandbox``), read with its events, its
controls (postpone, cancel, long-term surveillance, bailiff, assistance with bailiff), and the case advanced
through its stages (``/_sandbox``).

Only reading a case is verified; the create path is the client's guess and the four stage changes come from
the original Lime package's docs, not Billecta's (all ``partly`` in the client's route table, ``P`` here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sandbox.billecta.extension import Host
from sandbox.billecta.outbox import DataObject
from sandbox.billecta.routing import Handler, Reply, Route, json_action, query
from sandbox.billecta.state.debtcollection import DebtCollections
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Debtors

GUESSED = "path guessed, as in the client's route table (partly verified)"
FROM_LIME = "method and path from the original Lime package's docs, not Billecta's (partly verified)"


def register(host: Host) -> None:
    store = host.store
    cases = store.add(DebtCollections(store, store.get(Invoices), store.get(Debtors), store.get(Ledger)))

    def get_debt_collection(_body: None, action_id: str) -> Reply:
        return 200, cases.view(action_id)

    def debt_collection_events(_body: None, action_id: str) -> Reply:
        return 200, cases.view(action_id)["Events"]

    def debt_collection_from_invoice(body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": cases.create_from_invoice(body)}

    def postpone(_body: None, action_id: str) -> Reply:
        cases.postpone(action_id, query("days"))
        return 200, None

    def control(act: Callable[[str], None]) -> Handler:
        def handler(_body: None, action_id: str) -> Reply:
            act(action_id)
            return 200, None

        return handler

    host.add_routes(
        Route("get_debt_collection", "GET", "/v1/debtcollection/action/<action_id>", get_debt_collection,
              None, "DebtCollectionActionView", "V", "notes: debt collection", listed=False),
        Route("debt_collection_events", "GET", "/v1/debtcollection/events/<action_id>", debt_collection_events,
              None, "CommonActionEventsView", "P", "notes: debt collection", listed=False),
        Route("debt_collection_from_invoice", "POST", "/v1/debtcollection/actionfrominvoice",
              debt_collection_from_invoice, "DebtCollectionFromInvoiceEntryView", "CreatedView", "P",
              f"client route invoice.send_to_debt_collection; the crate documents the operation; {GUESSED}; "
              "answer CreatedView is the sandbox's choice", listed=False),
        Route("postpone_debt_collection", "PUT", "/v1/debtcollection/postpone/<action_id>", postpone, None, None,
              "P", f"client route debtcollection.postpone; CanPostpone exists; ?days=<n>; {GUESSED}", listed=False),
        Route("cancel_debt_collection", "PUT", "/v1/debtcollection/cancel/<action_id>", control(cases.cancel),
              None, None, "P", f"client route debtcollection.cancel; CanCancel exists; {FROM_LIME}", listed=False),
        Route("debt_collection_long_term_surveillance", "PUT",
              "/v1/debtcollection/SendToLongTermSurveillance/<action_id>", control(cases.long_term_surveillance),
              None, None, "P", f"client route debtcollection.long_term_surveillance; {FROM_LIME}", listed=False),
        Route("debt_collection_bailiff", "PUT", "/v1/debtcollection/SendToBailiff/<action_id>",
              control(cases.bailiff), None, None, "P", f"client route debtcollection.bailiff; {FROM_LIME}",
              listed=False),
        Route("debt_collection_assistance_with_bailiff", "PUT",
              "/v1/debtcollection/SendToAssistanceWithBailiff/<action_id>", control(cases.assistance_with_bailiff),
              None, None, "P", f"client route debtcollection.assistance_with_bailiff; {FROM_LIME}", listed=False),
    )
    host.add_admin("/_sandbox/invoices/<action_id>/debtcollection", "debtcollection",
                   json_action(cases.send, with_body=False))
    host.add_admin("/_sandbox/debtcollection/<dc_id>/advance", "debtcollection_advance", json_action(cases.advance))

    def case_view(ids: Mapping[str, str], _context: Mapping[str, Any]) -> tuple[Any, Any]:
        return cases.view(ids["ActionPublicId"]), None

    # Its data is in the part of Billecta's webhook table that is not stored: the case's view, by analogy.
    host.outbox.add_data_object(["DebtCollectionActionStateChanged"],
                                DataObject("DebtCollectionActionView", case_view, False))
