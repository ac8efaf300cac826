"""Payments after attest: the ledger of attested invoices, booked payments and overpayments, unmatched
payments and their use on an invoice, write-offs and crediting an open balance.

``/v1`` answers the read routes; ``/_sandbox`` makes Billecta's own processes happen (a payment comes in, a
clerk writes off), each raising the webhook Billecta would raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.billecta.extension import Host
from sandbox.billecta.outbox import DataObject
from sandbox.billecta.routing import Reply, Route, json_action
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors, Debtors
from sandbox.billecta.state.payments import Payments


def register(host: Host) -> None:
    store = host.store
    invoices = store.get(Invoices)
    ledger = store.add(Ledger(invoices))
    invoices.add_view_hook(ledger.decorate)
    payments = store.add(Payments(store, invoices, store.get(Creditors), store.get(Debtors), ledger))

    def incoming_payments(body: dict[str, Any]) -> Reply:
        return 200, payments.incoming_payments(body)

    def get_unhandled_payment(_body: None, payment_id: str) -> Reply:
        return 200, payments.get_unhandled(payment_id)

    def list_unhandled_payments(_body: None, creditor_id: str) -> Reply:
        return 200, payments.list_unhandled(creditor_id)

    host.add_routes(
        Route("incoming_payments", "PUT", "/v1/payments/incomingpayments", incoming_payments,
              "IncomingPaymentRequestView", "IncomingPaymentsView", "V", "notes: payments", listed=False,
              client_names=("payments.incoming",)),
        Route("get_unhandled_payment", "GET", "/v1/payments/unhandledpayment/<payment_id>", get_unhandled_payment,
              None, "UnhandledPaymentView", "P", "notes: payments", listed=False,
              client_names=("payments.unhandled.get",)),
        Route("list_unhandled_payments", "GET", "/v1/payments/unhandledpayments/<creditor_id>",
              list_unhandled_payments, None, "UnhandledPaymentsView", "P", "notes: payments", listed=False,
              client_names=("payments.unhandled.list",)),
    )
    host.add_admin("/_sandbox/invoices/<action_id>/payments", "payments", json_action(payments.register_payment))
    host.add_admin("/_sandbox/invoices/<action_id>/credit", "credit", json_action(payments.credit))
    host.add_admin("/_sandbox/invoices/<action_id>/writeoff", "writeoff", json_action(payments.write_off))
    host.add_admin("/_sandbox/unmatched-payments", "unmatched_payments", json_action(payments.unmatched_payment))
    host.add_admin("/_sandbox/unhandled-payments/<payment_id>/match", "match_overpayment",
                   json_action(payments.match_overpayment))

    def payment_record(_ids: Mapping[str, str], context: Mapping[str, Any]) -> tuple[Any, Any]:
        return dict(context["payment"]), None

    def unhandled(ids: Mapping[str, str], _context: Mapping[str, Any]) -> tuple[Any, Any]:
        return payments.get_unhandled(ids["UnhandledPaymentPublicId"]), None

    # Billecta's webhook table gives these three an IncomingPaymentView (docs: billecta-api-followup.md §6.2).
    host.outbox.add_data_object(["InvoicePaymentReceived", "AmountCreditedOnInvoice", "AmountWrittenOffOnInvoice"],
                                DataObject("IncomingPaymentsView", payment_record, True, item_of_list=True))
    # Not in the readable part of the table: the unhandled payment's view, by analogy.
    host.outbox.add_data_object(["UnmatchedPayment", "Overpayment", "OverpaymentMatchedToInvoice"],
                                DataObject("UnhandledPaymentView", unhandled, False))
