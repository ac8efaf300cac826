"""The single table of Billecta API operations the service calls (now or in planned features).

Billecta's public docs could not be read in full, so several paths below are educated guesses. Keeping
every method and path in this one table means a guess is fixed in one place once it has been checked
against apitest, and ``unverified_routes()`` lists what still needs checking (the README shows it).

Status markers follow the research notes:

* ``verified``   - method and path were seen in working client code or docs.
* ``partly``     - the operation or its view model is known to exist, but the path is our guess (or comes
                   only from the original Lime package's docs, not from Billecta).
* ``unverified`` - nothing confirms the operation; the path is a placeholder.

Paths are relative to the configured base URL, which already ends in ``/v1``. Placeholders are
snake_case names in braces; the client URL-quotes their values.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

__all__ = [
    "ROUTES",
    "ROUTE_STATUSES",
    "Route",
    "RouteStatus",
    "get_route",
    "routes_markdown",
    "unverified_routes",
]

RouteStatus = Literal["verified", "partly", "unverified"]
ROUTE_STATUSES: tuple[RouteStatus, ...] = ("verified", "partly", "unverified")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path_template: str
    status: RouteStatus
    request_view: str | None
    response_view: str | None
    note: str

    @property
    def path_params(self) -> tuple[str, ...]:
        """Placeholder names in ``path_template``, in order."""
        return tuple(field for _, field, _, _ in string.Formatter().parse(self.path_template) if field)

    def render_path(self, params: Mapping[str, object] | None = None) -> str:
        """Fill the placeholders, URL-quoting each value so ids cannot inject path segments."""
        params = params or {}
        wanted = self.path_params
        missing = [p for p in wanted if params.get(p) in (None, "")]
        if missing:
            raise ValueError(f"route {self.name} needs path parameter(s) {missing}")
        extra = sorted(set(params) - set(wanted))
        if extra:
            raise ValueError(f"route {self.name} has no path parameter(s) {extra}; known: {list(wanted)}")
        return self.path_template.format(**{p: quote(str(params[p]), safe="") for p in wanted})


_V: RouteStatus = "verified"
_P: RouteStatus = "partly"
_U: RouteStatus = "unverified"

_GUESS = "Path is our guess; check it on apitest before relying on it."

ROUTES: tuple[Route, ...] = (
    # --- creditor -----------------------------------------------------------------------------------
    Route("creditor.get", "GET", "/creditors/creditor/{creditor_public_id}", _V, None, "CreditorView",
          "Seen in the Rust crate (get_a_creditor)."),
    Route("creditor.update", "PUT", "/creditors/creditor", _V, "CreditorView", None,
          "Seen in the Rust crate; the body carries CreditorPublicId. Answers with an empty body."),
    Route("creditor.create", "POST", "/creditors/creditor", _V, "CreditorView", "CreatedView",
          "Seen in the Rust crate; PublicId of the answer is the new CreditorPublicId."),
    Route("creditor.default_action_config.get", "GET", "/creditors/defaultactionconfig/{creditor_public_id}", _P,
          None, "DefaultActionConfigView",
          "The crate's docs describe the operation and the view model exists, but no source shows the path. "
          + _GUESS),
    Route("creditor.default_action_config.update", "PUT", "/creditors/defaultactionconfig", _P,
          "DefaultActionConfigView", None,
          "Operation and view model exist (the body carries CreditorPublicId); path not seen. " + _GUESS),
    # --- debtors ------------------------------------------------------------------------------------
    Route("debtor.create", "POST", "/debtors/debtor", _V, "DebtorView", "CreatedView",
          "Seen in the PHP client and JS snippets. Set CreditorPublicId, leave DebtorPublicId out."),
    Route("debtor.update", "PUT", "/debtors/debtor", _V, "DebtorView", None,
          "Seen in the PHP client; DebtorPublicId in the body is required. The answer may be empty or the "
          "debtor, so it is not contract-checked."),
    Route("debtor.get", "GET", "/debtors/debtor/{debtor_public_id}", _V, None, "DebtorView",
          "Seen in the PHP client and a crate example."),
    Route("debtor.by_external_id", "GET", "/debtors/debtorbyexternalid/{creditor_public_id}", _V, None,
          "DebtorView",
          "Seen in the PHP client; query parameter externalid=<DebtorExternalId>. Answers 400 when several "
          "debtors share the external id, 404 when none has it."),
    Route("debtor.delete", "DELETE", "/debtors/debtor/{debtor_public_id}", _V, None, None,
          "Seen in the PHP client."),
    Route("debtor.list", "GET", "/debtors/debtors/{creditor_public_id}", _V, None, "DebtorsView",
          "Seen in the PHP client; used by reconciliation."),
    Route("debtor.events", "GET", "/debtors/debtorevents/{debtor_public_id}", _V, None, "DebtorEventsView",
          "Seen in the PHP client."),
    Route("debtor.anonymize", "PUT", "/debtors/anonymize/{debtor_public_id}", _U, None, None,
          "No source mentions a GDPR anonymisation call; the original Lime package has the feature but does "
          "not say how it calls Billecta. Placeholder path."),
    # --- products -----------------------------------------------------------------------------------
    Route("product.create", "POST", "/products/product", _V, "ProductView", "CreatedView",
          "Seen in the Rust crate and PHP client. Set CreditorPublicId, leave ProductPublicId out."),
    Route("product.update", "PUT", "/products/product", _V, "ProductView", None,
          "Seen in the Rust crate and PHP client; ProductPublicId in the body is required."),
    Route("product.get", "GET", "/products/product/{product_public_id}", _V, None, "ProductView",
          "Seen in the Rust crate (an older PHP client used a different form; the crate's is preferred)."),
    Route("product.by_external_id", "GET", "/products/productbyexternalid/{creditor_public_id}", _V, None,
          "ProductView",
          "Seen in the PHP client; query parameter externalid=<ProductExternalId>; 400 when ambiguous."),
    Route("product.delete", "DELETE", "/products/product/{product_public_id}", _V, None, None,
          "Seen in the PHP client. Billecta refuses to delete a product used on any invoice; set "
          "IsActive=false instead."),
    Route("product.list", "GET", "/products/products/{creditor_public_id}", _V, None, "ProductsView",
          "Seen in the PHP client and the crate."),
    # --- invoices -----------------------------------------------------------------------------------
    Route("invoice.create", "POST", "/invoice/action", _V, "InvoiceActionEntryView", "CreatedView",
          "Seen in the PHP client. Creates an unattested draft; PublicId is the ActionPublicId."),
    Route("invoice.update", "PUT", "/invoice/action/{action_public_id}", _V, "InvoiceActionEntryView", None,
          "Seen only in the PHP client; only possible before attest. The answer may be empty or the invoice."),
    Route("invoice.get", "GET", "/invoice/action/{action_public_id}", _V, None, "InvoiceActionView",
          "Seen in the PHP client and a crate example."),
    Route("invoice.attest", "PUT", "/invoice/attest/{action_public_id}", _V, None, None,
          "Seen in the crate, the PHP client and a PHP script; sent with no body. Books and locks the "
          "invoice and sends it if a delivery method is set."),
    Route("invoice.delete", "DELETE", "/invoice/action/{action_public_id}", _U, None, None,
          "Not seen anywhere; by analogy with creditor and product deletes. Only for unattested drafts."),
    Route("invoice.open_by_creditor", "GET", "/invoice/open/{creditor_public_id}", _V, None,
          "InvoiceActionSubsView", "Seen in the PHP client: drafts plus attested, unpaid invoices."),
    Route("invoice.open_by_debtor", "GET", "/invoice/openbydebtor/{debtor_public_id}", _V, None,
          "InvoiceActionSubsView", "Seen in the PHP client."),
    Route("invoice.closed", "GET", "/invoice/closed/{creditor_public_id}", _V, None, "InvoiceActionSubsView",
          "Seen in the PHP client; query parameters from and to (YYYY-MM-DD) bound the closing date."),
    Route("invoice.closed_by_debtor", "GET", "/invoice/closedbydebtor/{debtor_public_id}", _V, None,
          "InvoiceActionSubsView", "Seen in the PHP client; query parameters from and to."),
    Route("invoice.credit", "POST", "/invoice/credit", _P, "CreditActionView", None,
          "The CreditActionView model and the CanCreateCreditInvoice flag exist; the path was not seen. A "
          "credit invoice might instead be an InvoiceActionEntry with ActionType=CreditInvoiceAction. "
          + _GUESS),
    Route("invoice.cancel", "PUT", "/invoice/cancel/{action_public_id}", _U, None, None,
          "Only the Cancelled stage and event codes hint that cancelling exists. Placeholder path."),
    Route("invoice.pause", "PUT", "/invoice/pause/{action_public_id}", _P, None, None,
          "CanPause, State.IsPaused and the Paused event exist; path not seen. " + _GUESS),
    Route("invoice.resume", "PUT", "/invoice/resume/{action_public_id}", _P, None, None,
          "CanResume and the Resumed event exist; path not seen. " + _GUESS),
    Route("invoice.dispute", "PUT", "/invoice/dispute/{action_public_id}", _P, None, None,
          "CanDispute and the Disputed event exist; path not seen. " + _GUESS),
    Route("invoice.undispute", "PUT", "/invoice/undispute/{action_public_id}", _P, None, None,
          "The crate's docs describe removing the dispute flag; CanUnDispute exists; path not seen. " + _GUESS),
    Route("invoice.postpone", "PUT", "/invoice/postpone/{action_public_id}", _P, None, None,
          "CanPostpone exists; path and parameters not seen. We send query parameter days=<n> (the Lime "
          "package postpones the next event by a number of days). " + _GUESS),
    Route("accounting.payment_means.list", "GET", "/accounting/paymentmeans/{creditor_public_id}", _P, None,
          "AccountingPaymentMeansView",
          "AccountingPaymentMeansView exists and the old docs show POST accounting/paymentmeans (create); reading "
          "a creditor's means by this path is our guess by analogy. " + _GUESS),
    # --- files ------------------------------------------------------------------------------------
    Route("files.file.get", "GET", "/files/file/{file_public_id}", _V, None, None,
          "Seen in the Rust crate (files module): the file's raw bytes. File references in other views (an "
          "invoice's Invoices[].InvoiceFile.FilePublicId) come without data and are read here; no dedicated "
          "invoice PDF endpoint was found."),
    Route("files.fileobject.get", "GET", "/files/fileobject/{file_public_id}", _V, None, "FileView",
          "Seen in the Rust crate: FileView with base64 Data when query parameter includedata=true."),
    Route("invoice.register_payment", "POST", "/invoice/payment", _P, "RegisterPaymentView", None,
          "RegisterPaymentView and CanRegisterPayment exist; the crate's invoice module imports the view; "
          "path not seen. " + _GUESS),
    Route("invoice.write_off", "POST", "/invoice/payment", _P, "RegisterPaymentView", None,
          "Same endpoint as invoice.register_payment with the WriteOff amount set (inferred from the "
          "WriteOff/WriteOffVat fields). " + _GUESS),
    Route("invoice.send_reminder", "POST", "/invoice/sendreminderinvoice", _P, "SendReminderInvoiceView", None,
          "SendReminderInvoiceView exists and the crate's invoice module imports the reminder views; path "
          "and answer not seen. " + _GUESS),
    Route("invoice.reminder.get", "GET", "/invoice/reminderinvoice/{action_public_id}", _P, None,
          "ReminderInvoiceActionView",
          "The view model exists and InvoiceActionView.ReminderInvoiceActionPublicId names a reminder, but no "
          "call reading one was seen; the path is our guess by analogy with invoice.get."),
    Route("invoice.send_to_debt_collection", "POST", "/debtcollection/actionfrominvoice", _P,
          "DebtCollectionFromInvoiceEntryView", None,
          "The crate documents creating a debt collection action from a Billecta invoice (SourcePublicId = "
          "the invoice's ActionPublicId) but its path was cut off. Read the new case id back from "
          "InvoiceActionView.DebtCollectionActionPublicId. " + _GUESS),
    Route("invoice.events", "GET", "/invoice/events/{action_public_id}", _P, None, "CommonActionEventsView",
          "The events are certainly embedded in invoice.get (Events[]); a separate endpoint is implied by "
          "the crate importing CommonActionEventsView, path not seen. " + _GUESS),
    # --- debt collection ----------------------------------------------------------------------------
    Route("debtcollection.get", "GET", "/debtcollection/action/{action_public_id}", _V, None,
          "DebtCollectionActionView", "Seen in the Rust crate (get_a_debt_collection_action)."),
    Route("debtcollection.events", "GET", "/debtcollection/events/{action_public_id}", _P, None,
          "CommonActionEventsView",
          "Events are embedded in debtcollection.get; a separate endpoint was not seen. " + _GUESS),
    Route("debtcollection.cancel", "PUT", "/debtcollection/cancel/{action_public_id}", _P, None, None,
          "Method and path come from the original Lime package's docs (not Billecta's); CanCancel exists."),
    Route("debtcollection.postpone", "PUT", "/debtcollection/postpone/{action_public_id}", _P, None, None,
          "CanPostpone exists and the Lime package postpones by days, but no source names the path. We send "
          "query parameter days=<n>. " + _GUESS),
    Route("debtcollection.long_term_surveillance", "PUT",
          "/debtcollection/SendToLongTermSurveillance/{action_public_id}", _P, None, None,
          "Method and path come from the original Lime package's docs; CanSendToLongTermSurveilance exists."),
    Route("debtcollection.bailiff", "PUT", "/debtcollection/SendToBailiff/{action_public_id}", _P, None, None,
          "Method and path come from the original Lime package's docs; CanSendToBailiff exists."),
    Route("debtcollection.assistance_with_bailiff", "PUT",
          "/debtcollection/SendToAssistanceWithBailiff/{action_public_id}", _P, None, None,
          "Method and path come from the original Lime package's docs (eviction cases)."),
    # --- payments -----------------------------------------------------------------------------------
    Route("payments.unhandled.list", "GET", "/payments/unhandledpayments/{creditor_public_id}", _P, None,
          "UnhandledPaymentsView",
          "The crate's payments index describes listing unhandled payments; path not seen. " + _GUESS),
    Route("payments.unhandled.get", "GET", "/payments/unhandledpayment/{unhandled_payment_public_id}", _P, None,
          "UnhandledPaymentView", "Described in the crate's payments index; path not seen. " + _GUESS),
    Route("payments.unhandled.delete", "DELETE", "/payments/unhandledpayment/{unhandled_payment_public_id}", _P,
          None, None, "Described in the crate's payments index; path not seen. " + _GUESS),
    Route("payments.match", "POST", "/payments/matchpayments/{creditor_public_id}", _V, "PaymentMatchesView",
          "PaymentMatchResultsView",
          "Seen in the Rust crate (match_unhandled_payments). That the path id is the CreditorPublicId is "
          "inferred, not seen."),
    Route("payments.incoming", "PUT", "/payments/incomingpayments", _V, "IncomingPaymentRequestView",
          "IncomingPaymentsView", "Seen in the Rust crate (get_incoming_payments); used for reconciliation."),
    Route("swish.create", "POST", "/payments/swish/{action_public_id}", _V, None, "CreatedView",
          "Seen in the crate; query parameters phone and message; no body. PublicId of the answer is the "
          "payment request token. That the path id is the invoice's ActionPublicId is inferred."),
    Route("swish.status", "GET", "/payments/swish/{payment_request_token}", _P, None, "SwishPaymentStatusView",
          "The crate's docs describe polling the status with the token; path not seen (the guess mirrors the "
          "verified create and cancel paths). " + _GUESS),
    # --- analysis (reports) -------------------------------------------------------------------------
    Route("analysis.age_receivables", "GET", "/Analysis/AgeAnalysisAccountReceivables/{creditor_public_id}", _V,
          None, None,
          "Seen in the Rust crate (unstable module, get_outstanding_invoices); query date, "
          "excludeInvoicesWithPeriodOutsideDate, showOnlyFinancedInvoices, isPeriodSpecific. Answers an array "
          "of OutstandingInvoice, a model not among Billecta's published views, so it is not contract-checked."),
    # --- webhooks, accounting -----------------------------------------------------------------------
    Route("webhooks.retrigger_failed", "POST", "/notifications/retriggerfailedwebhooks/{creditor_public_id}", _U,
          None, None,
          "Nothing found: the crate has a notifications module whose contents were unreadable, and every "
          "source configures webhooks in the portal. The Lime package re-sends a creditor's failed webhooks "
          "nightly, so some call exists. Placeholder path."),
    Route("accounting.export", "POST", "/accounting/export", _P, "AccountingExportCreationView",
          "AccountingExportView",
          "The crate has an accounting module and these view models exist; path not seen. " + _GUESS),
)

_BY_NAME: dict[str, Route] = {r.name: r for r in ROUTES}


def get_route(name: str) -> Route:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown Billecta route {name!r}") from None


def unverified_routes(include_partly: bool = True) -> list[Route]:
    """Routes whose path has not been confirmed (``partly`` ones too unless told otherwise)."""
    skip: set[str] = {"verified"} if include_partly else {"verified", "partly"}
    return [r for r in ROUTES if r.status not in skip]


def _cell(text: str | None) -> str:
    return (text or "-").replace("|", "\\|").replace("\n", " ")


def routes_markdown(routes: Iterable[Route] = ROUTES) -> str:
    """The route table as a Markdown table (for the README)."""
    lines = [
        "| Operation | Method | Path | Status | Request | Response | Note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in routes:
        lines.append(
            f"| `{r.name}` | {r.method} | `{r.path_template}` | {r.status} | {_cell(r.request_view)} | "
            f"{_cell(r.response_view)} | {_cell(r.note)} |"
        )
    return "\n".join(lines) + "\n"
