"""Money operations from Lime, exactly once: manual payments, write-offs, credit use, matching, deleting unhandled
payments, Swish requests.

Every operation records an outbound intent (keyed by the request: the caller's Idempotency-Key or the digest of
its body, see webhook_gateway/idempotency.py) before it calls Billecta, with a snapshot of the Billecta state the
call will change. A retry of the same request — a redelivered task after a worker died, a retry after a timeout
or a 5xx whose effect is unknown — reads that state again first: if Billecta shows the effect, the operation is
done and is not sent again. The HTTP client never retries these calls itself (``idempotent=False``).

The money then reaches Lime the way Billecta's own events bring it: the webhooks the operation causes update the
invoice amounts and ``payment`` rows. Only errors are written here (``billecta_error_message``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from billecta_sync import days
from billecta_sync.billecta.errors import (
    BillectaApiBadRequestException,
    BillectaApiNotFoundException,
)
from billecta_sync.billecta.values import amount
from billecta_sync.container import Services
from billecta_sync.errors import ActionRefused, InvalidRequest, ObjectNotFound
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.money import kronor, swedish_mobile
from billecta_sync.usecases import intents, invoice_lookup
from billecta_sync.usecases.billecta_to_lime.payments import incoming_payments
from billecta_sync.usecases.common import option_key, text
from billecta_sync.usecases.invoice_lookup import billecta_invoice, lime_invoice
from billecta_sync.usecases.lime_to_billecta.actions import Report, error_on, report_safely, run_reported

OPEN_STAGES_REFUSED = frozenset({"Created", "None", "Completed", "Cancelled"})


def _invoice(services: Services, invoice_id: int) -> tuple[str, dict[str, Any]]:
    """The invoice's ActionPublicId and Billecta's view of it (404 when Lime or Billecta lacks it)."""
    _, _, action_id = lime_invoice(services, invoice_id)
    return action_id, billecta_invoice(services, action_id)


def _open(view: dict[str, Any], what: str) -> None:
    stage = text((view.get("State") or {}).get("Stage"))
    if stage in OPEN_STAGES_REFUSED:
        raise ActionRefused(f"the invoice is {stage.lower() or 'not attested'}: {what} needs an open invoice")


def _currency(view: dict[str, Any], currency: str) -> None:
    has = text((view.get("InvoicedAmount") or {}).get("CurrencyCode")) or "SEK"
    if currency != has:
        raise InvalidRequest(f"payment_currencycode must be the invoice's currency {has}, got {currency}",
                             "payment_currencycode")


def _payment_mean(services: Services, creditor_public_id: str, code: str, field: str) -> str:
    """The creditor's payment mean ``code`` (Billecta's accounting payment means), or a 400 naming ``field``."""
    means = services.billecta.call("accounting.payment_means.list", {"creditor_public_id": creditor_public_id})
    known = {text(m.get("PaymentCode")).upper() for m in means or [] if isinstance(m, dict)}
    wanted = code.strip().upper()
    if wanted not in known:
        raise InvalidRequest(f"{field} {code!r} is not a payment mean of the creditor "
                             f"(known: {', '.join(sorted(known)) or 'none'})", field)
    return wanted


def _once(services: Services, kind: str, key: str, *, limetype: str, lock: str, state: Callable[[], str],
          send: Callable[[str], Any], changed: Callable[[str, str], bool], report: Report,
          final_attempt: bool) -> None:
    """Make one operation's call at most once for its request (see the module docstring): under ``lock``, read
    ``state`` (what the call changes), then ``intents.once``; errors reported through ``report``."""

    def act() -> None:
        now = state()

        def call() -> str:
            send(now)
            return ""

        intents.once(services, kind, key, now, call, changed=changed, limetype=limetype)

    run_reported(services, lock, act, report, final_attempt=final_attempt)


def _matching_payments(services: Services, view: dict[str, Any], ore: int, day: date, mean: str) -> int:
    return sum(1 for p in incoming_payments(services, view)
               if int((p.get("Amount") or {}).get("Value") or 0) == ore
               and text(p.get("PaymentDate"))[:10] == day.isoformat()
               and text(p.get("PaymentMeanCode")).upper() == mean)


def register_manual_payment(services: Services, invoice_id: int, amount_ore: int, currency: str, payment_date: str,
                            payment_mean_code: str, request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    repo = LimeRepo(services.lime, services.mappings)
    action_id, view = _invoice(services, invoice_id)
    day = date.fromisoformat(payment_date)
    _currency(view, currency)
    _open(view, "a payment")
    mean = _payment_mean(services, text(view.get("CreditorPublicId")), payment_mean_code, "payment_mean_code")
    body = {"ActionPublicId": action_id, "Amount": amount(kronor(amount_ore), currency), "Date": day.isoformat(),
            "PaymentMeanCode": mean, "OvershootingAmountHandling": "AsOverPayments",
            "PaymentReferenceText": f"Lime {request_key[:24]}"}

    # How many payments like this one the invoice has: one more than before means the call went through.
    _once(services, "register_payment", intents.intent_key("payment", request_key), limetype="invoice",
          lock=f"invoice:{action_id}", state=lambda: str(_matching_payments(services, view, amount_ore, day, mean)),
          changed=lambda before, now: int(now) > int(before or 0),
          send=lambda _: services.billecta.call("invoice.register_payment", body=body, idempotent=False),
          report=error_on(repo, "invoice", invoice_id), final_attempt=final_attempt)
    return {"status_code": 200}


def register_writeoff(services: Services, invoice_id: int, amount_ore: int, vat: Any, payment_date: str,
                      comment: str, request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    repo = LimeRepo(services.lime, services.mappings)
    action_id, view = _invoice(services, invoice_id)
    day = date.fromisoformat(payment_date)
    _open(view, "a write-off")
    currency = text((view.get("InvoicedAmount") or {}).get("CurrencyCode")) or "SEK"
    left = int((view.get("CurrentAmount") or {}).get("Value") or 0)
    if amount_ore > left:
        raise InvalidRequest(f"amount {kronor(amount_ore)} is more than the {kronor(left)} left on the invoice",
                             "amount")
    body = {"ActionPublicId": action_id, "Amount": amount(kronor(0), currency),
            "WriteOff": amount(kronor(amount_ore), currency), "WriteOffVat": float(vat), "Date": day.isoformat(),
            "Comment": comment or None, "PaymentMeanCode": None}

    def written_off() -> str:
        return str(int((services.billecta.get_invoice(action_id).get("WriteOffAmount") or {}).get("Value") or 0))

    _once(services, "write_off", intents.intent_key("writeoff", request_key), limetype="invoice",
          lock=f"invoice:{action_id}", state=written_off,
          changed=lambda before, now: int(now) >= int(before or 0) + amount_ore,
          send=lambda _: services.billecta.call("invoice.write_off", body=body, idempotent=False),
          report=error_on(repo, "invoice", invoice_id), final_attempt=final_attempt)
    return {"status_code": 200}


def _unhandled(services: Services, public_id: str) -> dict[str, Any]:
    try:
        return services.billecta.call("payments.unhandled.get",  # type: ignore[no-any-return]
                                      {"unhandled_payment_public_id": public_id})
    except BillectaApiNotFoundException:
        raise ObjectNotFound(f"Billecta has no unhandled payment {public_id}") from None


def _on_unhandled(services: Services, kind: str, key: str, public_id: str, call: Callable[[], Any], *,
                  done: Callable[[str], bool], refusal: str, report: Report, final_attempt: bool) -> None:
    """An operation on one unhandled payment, once: refused unless it is still unhandled; an earlier attempt
    whose answer was lost counts as done when the payment's state shows it (``done``)."""

    def send(state: str) -> None:
        if state != "Unhandled":
            raise ActionRefused(f"{refusal} ({state})")
        call()

    _once(services, kind, key, limetype="payment", lock=f"payment:{public_id}",
          state=lambda: text(_unhandled(services, public_id).get("State")), send=send,
          changed=lambda _before, now: done(now), report=report, final_attempt=final_attempt)


def _match(services: Services, creditor: str, unhandled_id: str, action_id: str) -> Any:
    results = services.billecta.call(
        "payments.match", {"creditor_public_id": creditor},
        body=[{"UnhandledPaymentPublicId": unhandled_id, "ActionPublicId": action_id,
               "PaymentDate": days.today().isoformat()}], idempotent=False)
    for result in results or []:
        if isinstance(result, dict) and not result.get("Successfull"):
            raise ActionRefused(f"Billecta did not match the payment: {text(result.get('ResponseMessage'))}")
    return None


def match_payment(services: Services, payment_billecta_id: str, invoice_id: int, request_key: str, *,
                  final_attempt: bool = True) -> dict[str, Any]:
    """Book an unhandled payment (unmatched or overpayment) on an invoice."""
    repo = LimeRepo(services.lime, services.mappings)
    action_id, view = _invoice(services, invoice_id)
    _open(view, "matching a payment")
    payment = _unhandled(services, payment_billecta_id)
    creditor = text(payment.get("CreditorPublicId")) or text(view.get("CreditorPublicId"))

    _on_unhandled(services, "match_payment", intents.intent_key("match", request_key), payment_billecta_id,
                  lambda: _match(services, creditor, payment_billecta_id, action_id),
                  done=lambda state: state != "Unhandled",
                  refusal=f"the payment {payment_billecta_id} is no longer unhandled",
                  report=error_on(repo, "invoice", invoice_id), final_attempt=final_attempt)
    return {"status_code": 200, "status": "The match was successful"}


def use_credit_on_invoice(services: Services, credit_invoice_id: int, invoice_to_credit_id: int,
                          payment_mean_code: str, request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    """Use the credit a credit invoice left (an unhandled payment of type BalanceFromInvoice) on another invoice."""
    repo = LimeRepo(services.lime, services.mappings)
    credit_action, credit_view = _invoice(services, credit_invoice_id)
    target_action, target_view = _invoice(services, invoice_to_credit_id)
    if text(credit_view.get("ActionType")) != "CreditInvoiceAction":
        raise InvalidRequest("creditinvoiceid must be a credit invoice", "creditinvoiceid")
    _open(target_view, "using a credit")
    creditor = text(target_view.get("CreditorPublicId"))
    _payment_mean(services, creditor, payment_mean_code, "paymentmeancode")
    balances = services.billecta.call("payments.unhandled.list", {"creditor_public_id": creditor}) or []
    credit = next((b for b in balances if isinstance(b, dict)
                   and text((b.get("OverpaymentDetails") or {}).get("ActionPublicId")) == credit_action), None)
    if credit is None:
        raise ActionRefused("the credit invoice has no credit left to use")
    credit_id = text(credit.get("UnhandledPaymentPublicId"))

    _on_unhandled(services, "use_credit", intents.intent_key("credit", request_key), credit_id,
                  lambda: _match(services, creditor, credit_id, target_action),
                  done=lambda state: state != "Unhandled",
                  refusal="the credit of the credit invoice is already used",
                  report=error_on(repo, "invoice", invoice_to_credit_id), final_attempt=final_attempt)
    return {}


def delete_unhandled_payment(services: Services, payment_id: int, bookkeeping_account: str, transaction_date: str,
                             request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    """Remove an unhandled payment in Billecta (booking it on ``bookkeeping_account``); the Lime row is marked."""
    repo = LimeRepo(services.lime, services.mappings)
    row = repo.get_or_none("payment", payment_id)
    public_id = text((row or {}).get("paymentbillectaid"))
    if row is None or not public_id or option_key(row.get("paymenttype")) not in ("unmatched", "overpayment"):
        raise ObjectNotFound("Payment not found or not an unhandled Billecta payment")

    _on_unhandled(services, "delete_unhandled", intents.intent_key("delete", request_key), public_id,
                  lambda: services.billecta.call("payments.unhandled.delete",
                                                 {"unhandled_payment_public_id": public_id},
                                                 query={"bookkeepingaccount": bookkeeping_account,
                                                        "transactiondate": transaction_date}, idempotent=False),
                  done=lambda state: state == "Deleted", refusal="the payment is no longer unhandled",
                  report=lambda _message: None, final_attempt=final_attempt)
    repo.update("payment", payment_id, {"paymentstatus": "deleted", "handled": True,
                                        "bookkeepingaccount": bookkeeping_account,
                                        "transactiondate": transaction_date})
    return {"status_code": 200}


def create_swish_request(services: Services, action_public_id: str, phone: str, message: str, request_key: str, *,
                         final_attempt: bool = True) -> dict[str, Any]:
    """Ask Billecta to send a Swish payment request for the invoice to the debtor's phone, once per request.

    Billecta has no list of an invoice's Swish requests to look in, so after a lost answer the request is not
    sent again (that would ring the debtor twice): it ends with an error saying so.
    """
    number = swedish_mobile(phone, "phone")
    repo = LimeRepo(services.lime, services.mappings)
    invoice = repo.find_one("invoice", {"actionpublicid": action_public_id})
    if invoice is None:
        raise ObjectNotFound(invoice_lookup.NOT_FOUND)
    kind, key = "swish", intents.intent_key("swish", request_key)
    earlier = intents.begin(services, kind, key, "", limetype="invoice")
    if earlier is not None:
        if earlier.status == "done":
            return {"requestid": earlier.billecta_public_id}
        raise ActionRefused("an earlier attempt of this Swish request may have reached Billecta; check the "
                            "debtor's phone before sending a new one")
    try:
        created = services.billecta.call("swish.create", {"action_public_id": action_public_id},
                                         query={"phone": number, "message": message}, idempotent=False)
    except BillectaApiBadRequestException as exc:
        intents.forget(services, kind, key, limetype="invoice")
        message_ = f"Billecta refused the Swish request: {getattr(exc, 'message', None) or exc}"
        report_safely(error_on(repo, "invoice", int(invoice["_id"])), message_)
        raise ActionRefused(message_) from None
    token = text((created or {}).get("PublicId")) if isinstance(created, dict) else ""
    intents.complete(services, kind, key, token, limetype="invoice")
    return {"requestid": token}


def swish_status(services: Services, request_id: str) -> dict[str, Any]:
    try:
        view = services.billecta.call("swish.status", {"payment_request_token": request_id})
    except BillectaApiNotFoundException:
        raise ObjectNotFound(f"no Swish request {request_id}") from None
    status = text((view or {}).get("Status")).upper() or "UNKNOWN"
    if status in ("ERROR", "DECLINED") and text((view or {}).get("ErrorMessage")):
        return {"requeststatus": status, "message": text(view.get("ErrorMessage"))}
    return {"requeststatus": status}
