"""The Lime → Billecta operations beyond the order flow: credit invoices (written through the invoice routes,
with ActionType ``CreditInvoiceAction``), anonymising a debtor and a creditor's default action config.

Anonymisation (GDPR) has no known endpoint at all, and the default action config's path is guessed; the
routes below are placeholders the client shares (docs: billecta-api.md).
"""

from __future__ import annotations

from typing import Any

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route
from sandbox.billecta.state.credits import CREDIT_ACTION, CreditInvoices
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Creditors, Debtors, DefaultActionConfigs


def register(host: Host) -> None:
    store = host.store
    invoices = store.get(Invoices)
    debtors = store.get(Debtors)
    credits = CreditInvoices(invoices)
    invoices.add_action_type(CREDIT_ACTION, credits)
    invoices.add_view_hook(credits.decorate)
    configs = store.add(DefaultActionConfigs(store, store.get(Creditors)))

    def anonymize_debtor(_body: None, debtor_id: str) -> Reply:
        debtors.anonymize(debtor_id)
        return 200, None

    def get_default_action_config(_body: None, creditor_id: str) -> Reply:
        return 200, configs.get(creditor_id)

    def update_default_action_config(body: dict[str, Any]) -> Reply:
        configs.update(body)
        return 200, None

    host.add_routes(
        # The source names the module that used to hold these rules; kept as the route listing shows it.
        Route("anonymize_debtor", "PUT", "/v1/debtors/anonymize/<debtor_id>", anonymize_debtor, None, None, "U",
              "notes 2.2: no source names a GDPR call; placeholder path (sandbox/billecta/outbound.py)"),
        Route("get_default_action_config", "GET", "/v1/creditors/defaultactionconfig/<creditor_id>",
              get_default_action_config, None, "DefaultActionConfigView", "P", "notes 2.1: view known, path guessed"),
        Route("update_default_action_config", "PUT", "/v1/creditors/defaultactionconfig",
              update_default_action_config, "DefaultActionConfigView", None, "P",
              "notes 2.1: view known, path guessed"),
    )
