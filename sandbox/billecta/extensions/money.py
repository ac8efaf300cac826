"""The money routes the service calls: registering a payment or a write-off on an invoice, the creditor's
payment means, deleting and matching unhandled payments (also the balance a free credit invoice leaves), and
Swish payment requests. The rules are in ``sandbox.billecta.state.money``.

Paths are spelled as in the client's route table (``billecta_sync/billecta/routes.py``) and carry its
provenance: V verified, P partly (the path is our guess). Like the other routes of the money after attest,
they are served but not in the default ``GET /_sandbox/routes`` listing (``?all=true`` shows them).

Admin (``/_sandbox``): add or remove a creditor's payment mean, and end a Swish request now. Settings
(``POST /_sandbox/config``): ``swish_delay_s``, ``swish_outcome``, and ``stall_after_routes`` /
``stall_after_s`` (the named routes run, then answer late: "Billecta applied it, then the answer was lost").
"""

from __future__ import annotations

from typing import Any

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, json_action, query, query_day
from sandbox.billecta.state.core import BillectaError
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors
from sandbox.billecta.state.money import ManualPayments, PaymentMeans, SwishRequests
from sandbox.billecta.state.payments import Payments

GUESS = "path guessed, as in the client's route table (partly verified)"


def register(host: Host) -> None:
    store = host.store
    invoices = store.get(Invoices)
    ledger = store.get(Ledger)
    payments = store.get(Payments)
    means = store.add(PaymentMeans(store, store.get(Creditors)))
    manual = store.add(ManualPayments(store, invoices, ledger, payments, means))
    swish = store.add(SwishRequests(store, invoices, ledger, payments, delay_s=lambda: host.config.swish_delay_s,
                                    outcome=lambda: host.config.swish_outcome))
    invoices.add_attest_hook(manual.balance_from_credit)
    invoices.add_view_hook(swish.latest_of)

    def register_payment(body: dict[str, Any]) -> Reply:
        manual.register(body)
        return 200, None

    def list_payment_means(_body: None, creditor_id: str) -> Reply:
        return 200, means.list(creditor_id)

    def create_payment_mean(body: dict[str, Any]) -> Reply:
        means.add(body)
        return 200, None

    def delete_unhandled_payment(_body: None, payment_id: str) -> Reply:
        manual.delete_unhandled(payment_id, query("bookkeepingaccount"), query_day("transactiondate"))
        return 200, None

    def match_payments(body: list[dict[str, Any]], creditor_id: str) -> Reply:
        return 200, manual.match(creditor_id, body)

    def create_swish_payment(_body: None, action_id: str) -> Reply:
        return 201, {"PublicId": swish.create(action_id, query("phone"), query("message"))}

    def swish_payment_status(_body: None, token: str) -> Reply:
        return 200, swish.status(token)

    def cancel_swish_payment(_body: None, token: str) -> Reply:
        swish.cancel(token)
        return 200, None

    host.add_routes(
        Route("register_invoice_payment", "POST", "/v1/invoice/payment", register_payment,
              "RegisterPaymentView", None, "P",
              f"client routes invoice.register_payment / invoice.write_off; RegisterPaymentView exists; {GUESS}",
              listed=False, client_names=("invoice.register_payment", "invoice.write_off")),
        Route("list_payment_means", "GET", "/v1/accounting/paymentmeans/<creditor_id>", list_payment_means,
              None, "AccountingPaymentMeansView", "P",
              f"client route accounting.payment_means.list; AccountingPaymentMeansView exists; {GUESS}",
              listed=False, client_names=("accounting.payment_means.list",)),
        Route("create_payment_mean", "POST", "/v1/accounting/paymentmeans", create_payment_mean,
              "AccountingPaymentMeanView", None, "V",
              "followup §7 (Billecta's old reference); its answer is not documented, empty here", listed=False),
        Route("delete_unhandled_payment", "DELETE", "/v1/payments/unhandledpayment/<payment_id>",
              delete_unhandled_payment, None, None, "P",
              f"client route payments.unhandled.delete; ?bookkeepingaccount=&transactiondate=; {GUESS}",
              listed=False, client_names=("payments.unhandled.delete",)),
        Route("match_payments", "POST", "/v1/payments/matchpayments/<creditor_id>", match_payments,
              "PaymentMatchesView", "PaymentMatchResultsView", "V",
              "notes 2.6 (S1 match_unhandled_payments); the path id as the CreditorPublicId is inferred",
              listed=False, client_names=("payments.match",)),
        Route("create_swish_payment", "POST", "/v1/payments/swish/<action_id>", create_swish_payment,
              None, "CreatedView", "V", "notes 2.6 (S2), followup §4; ?phone=&message=; the id is the invoice's",
              listed=False, client_names=("swish.create",)),
        Route("swish_payment_status", "GET", "/v1/payments/swish/<token>", swish_payment_status,
              None, "SwishPaymentStatusView", "P", f"client route swish.status; {GUESS}", listed=False,
              client_names=("swish.status",)),
        Route("cancel_swish_payment", "DELETE", "/v1/payments/swish/<token>", cancel_swish_payment,
              None, None, "V", "notes 2.6 (S2); not in the client's table; that the id is the token is inferred",
              listed=False),
    )

    def add_payment_mean(creditor_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        means.add({"CreditorPublicId": creditor_id, "PaymentCode": body.get("code"),
                   "Description": body.get("description"), "BookkeepingAccount": body.get("account")})
        return means.list(creditor_id)

    def remove_payment_mean(creditor_id: str, code: str) -> list[dict[str, Any]]:
        return means.remove(creditor_id, code)

    def complete_swish(token: str, body: dict[str, Any]) -> dict[str, Any]:
        status = body.get("status", "Paid")
        if not isinstance(status, str):
            raise BillectaError(400, 'Send {"status": "Paid" | "Declined" | "Error"}')
        return swish.complete(token, status)

    host.add_admin("/_sandbox/creditors/<creditor_id>/paymentmeans", "add_payment_mean",
                   json_action(add_payment_mean))
    host.add_admin("/_sandbox/creditors/<creditor_id>/paymentmeans/<code>", "remove_payment_mean",
                   json_action(remove_payment_mean, with_body=False), ["DELETE"])
    host.add_admin("/_sandbox/swish/<token>/complete", "complete_swish", json_action(complete_swish))
