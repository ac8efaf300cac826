"""Debt collection: an invoice sent to collection (``/_sandbox``), the case read and its events (``/v1``), and
the case advanced through its stages (``/_sandbox``)."""

from __future__ import annotations

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, json_action
from sandbox.billecta.state.debtcollection import DebtCollections
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Debtors


def register(host: Host) -> None:
    store = host.store
    cases = store.add(DebtCollections(store, store.get(Invoices), store.get(Debtors), store.get(Ledger)))

    def get_debt_collection(_body: None, action_id: str) -> Reply:
        return 200, cases.view(action_id)

    def debt_collection_events(_body: None, action_id: str) -> Reply:
        return 200, cases.view(action_id)["Events"]

    host.add_routes(
        Route("get_debt_collection", "GET", "/v1/debtcollection/action/<action_id>", get_debt_collection,
              None, "DebtCollectionActionView", "V", "notes: debt collection", listed=False),
        Route("debt_collection_events", "GET", "/v1/debtcollection/events/<action_id>", debt_collection_events,
              None, "CommonActionEventsView", "P", "notes: debt collection", listed=False),
    )
    host.add_admin("/_sandbox/invoices/<action_id>/debtcollection", "debtcollection",
                   json_action(cases.send, with_body=False))
    host.add_admin("/_sandbox/debtcollection/<dc_id>/advance", "debtcollection_advance", json_action(cases.advance))
