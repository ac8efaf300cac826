"""The accounts-receivable age analysis (``GET /v1/Analysis/AgeAnalysisAccountReceivables/{creditor}``) and
the bulk seeding of open invoices for the report benchmark. The answer's shape is documented in
``sandbox.billecta.state.analysis`` (Billecta publishes no view model for it, so it is not contract-checked).
"""

from __future__ import annotations

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, json_action, query_bool, required_query
from sandbox.billecta.state.analysis import Analysis, day_arg
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors, Debtors


def register(host: Host) -> None:
    store = host.store
    analysis = store.add(Analysis(store.get(Invoices), store.get(Ledger), store.get(Creditors), store.get(Debtors)))

    def age_analysis(_body: None, creditor_id: str) -> Reply:
        at = day_arg(required_query("date"), "date")
        assert at is not None
        query_bool("isPeriodSpecific")  # accepted; no effect in the sandbox
        return 200, analysis.outstanding(
            creditor_id, at, exclude_outside_period=query_bool("excludeInvoicesWithPeriodOutsideDate"),
            only_financed=query_bool("showOnlyFinancedInvoices"))

    host.add_routes(
        Route("age_analysis_account_receivables", "GET", "/v1/Analysis/AgeAnalysisAccountReceivables/<creditor_id>",
              age_analysis, None, None, "V", "notes: billecta-api-followup.md §7 (crate unstable.rs)", listed=False),
    )
    host.add_admin("/_sandbox/analysis/bulk-invoices", "bulk_invoices", json_action(analysis.bulk_invoices))
