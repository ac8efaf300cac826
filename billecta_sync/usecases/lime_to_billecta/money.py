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

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from billecta_sync.billecta.errors import (
    BillectaApiBadRequestException,
    BillectaApiNotFoundException,
    BillectaApiRateLimitedException,
)
from billecta_sync.billecta.values import amount
from billecta_sync.container import Services
from billecta_sync.errors import ActionRefused, InvalidRequest, ObjectNotFound
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.money import kronor, swedish_mobile
from billecta_sync.retry import is_retryable
from billecta_sync.usecases import intents
from billecta_sync.usecases.billecta_to_lime.payments import incoming_payments
from billecta_sync.usecases.common import option_key, text

NOT_FOUND = "Invoice not found or missing Billecta invoice ID"
OPEN_STAGES_REFUSED = frozenset({"Created", "None", "Completed", "Cancelled"})


def _invoice(services: Services, repo: LimeRepo, invoice_id: int) -> tuple[dict[str, Any], str, dict[str, Any]]:
    invoice = repo.get_or_none("invoice", invoice_id)
    action_id = text((invoice or {}).get("actionpublicid"))
    if invoice is None or not action_id:
        raise ObjectNotFound(NOT_FOUND)
    try:
        view = services.billecta.get_invoice(action_id)
    except BillectaApiNotFoundException:
        raise ObjectNotFound(f"Billecta has no invoice {action_id}") from None
    return invoice, action_id, view


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


def _record_error(repo: LimeRepo, limetype: str, object_id: int, message: str) -> None:
    try:
        repo.update(limetype, object_id, {"billecta_error_message": message[:2000]})
    except Exception:  # reporting must not hide the original failure
        pass


def _once(services: Services, kind: str, key: str, *, limetype: str, lock: str,
          snapshot: Callable[[], str], applied: Callable[[str], bool], send: Callable[[], Any],
          on_error: Callable[[str], None], final_attempt: bool) -> Any:
    """Run ``send`` at most once for this request (see the module docstring); returns what it returned, or
    ``None`` when an earlier attempt already did it."""
    try:
        with object_lock(services.redis, lock, timeout_s=services.settings.worker.lock_timeout_s):
            before = snapshot()
            earlier = intents.begin(services, kind, key, before, limetype=limetype)
            if earlier is not None:
                if earlier.status == "done":
                    return json.loads(earlier.billecta_public_id or "null")
                if applied(earlier.external_reference):  # sent, the answer was lost: do not send again
                    intents.complete(services, kind, key, "null", limetype=limetype)
                    return None
            try:
                result = send()
            except Exception as exc:
                # Refused before anything was done: the same request may be made again once fixed.
                if isinstance(exc, BillectaApiBadRequestException | BillectaApiRateLimitedException | ActionRefused):
                    intents.forget(services, kind, key, limetype=limetype)
                raise
            intents.complete(services, kind, key, json.dumps(result, default=str)[:100], limetype=limetype)
            return result
    except BillectaApiBadRequestException as exc:
        message = f"Billecta refused: {getattr(exc, 'message', None) or exc}"
        on_error(message)
        raise ActionRefused(message) from None
    except (ActionRefused, InvalidRequest, ObjectNotFound) as exc:
        on_error(str(exc))
        raise
    except Exception as exc:
        if final_attempt or not is_retryable(exc):
            on_error(f"{type(exc).__name__}: {exc}")
        raise


def _matching_payments(services: Services, view: dict[str, Any], ore: int, day: date, mean: str) -> int:
    return sum(1 for p in incoming_payments(services, view)
               if int((p.get("Amount") or {}).get("Value") or 0) == ore
               and text(p.get("PaymentDate"))[:10] == day.isoformat()
               and text(p.get("PaymentMeanCode")).upper() == mean)


def register_manual_payment(services: Services, invoice_id: int, amount_ore: int, currency: str, payment_date: str,
                            payment_mean_code: str, request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    repo = LimeRepo(services.lime, services.mappings)
    _, action_id, view = _invoice(services, repo, invoice_id)
    day = date.fromisoformat(payment_date)
    _currency(view, currency)
    _open(view, "a payment")
    mean = _payment_mean(services, text(view.get("CreditorPublicId")), payment_mean_code, "payment_mean_code")
    body = {"ActionPublicId": action_id, "Amount": amount(kronor(amount_ore), currency), "Date": day.isoformat(),
            "PaymentMeanCode": mean, "OvershootingAmountHandling": "AsOverPayments",
            "PaymentReferenceText": f"Lime {request_key[:24]}"}

    def count() -> str:
        return str(_matching_payments(services, services.billecta.get_invoice(action_id), amount_ore, day, mean))

    _once(services, "register_payment", intents.intent_key("payment", request_key), limetype="invoice",
          lock=f"invoice:{action_id}", snapshot=count, applied=lambda before: int(count()) > int(before or 0),
          send=lambda: services.billecta.call("invoice.register_payment", body=body, idempotent=False),
          on_error=lambda m: _record_error(repo, "invoice", invoice_id, m), final_attempt=final_attempt)
    return {"status_code": 200}


def register_writeoff(services: Services, invoice_id: int, amount_ore: int, vat: Any, payment_date: str,
                      comment: str, request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    repo = LimeRepo(services.lime, services.mappings)
    _, action_id, view = _invoice(services, repo, invoice_id)
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
          lock=f"invoice:{action_id}", snapshot=written_off,
          applied=lambda before: int(written_off()) >= int(before or 0) + amount_ore,
          send=lambda: services.billecta.call("invoice.write_off", body=body, idempotent=False),
          on_error=lambda m: _record_error(repo, "invoice", invoice_id, m), final_attempt=final_attempt)
    return {"status_code": 200}


def _unhandled(services: Services, public_id: str) -> dict[str, Any]:
    try:
        return services.billecta.call("payments.unhandled.get",  # type: ignore[no-any-return]
                                      {"unhandled_payment_public_id": public_id})
    except BillectaApiNotFoundException:
        raise ObjectNotFound(f"Billecta has no unhandled payment {public_id}") from None


def _match(services: Services, creditor: str, unhandled_id: str, action_id: str) -> Any:
    results = services.billecta.call(
        "payments.match", {"creditor_public_id": creditor},
        body=[{"UnhandledPaymentPublicId": unhandled_id, "ActionPublicId": action_id,
               "PaymentDate": date.today().isoformat()}], idempotent=False)
    for result in results or []:
        if isinstance(result, dict) and not result.get("Successfull"):
            raise ActionRefused(f"Billecta did not match the payment: {text(result.get('ResponseMessage'))}")
    return None


def match_payment(services: Services, payment_billecta_id: str, invoice_id: int, request_key: str, *,
                  final_attempt: bool = True) -> dict[str, Any]:
    """Book an unhandled payment (unmatched or overpayment) on an invoice."""
    repo = LimeRepo(services.lime, services.mappings)
    _, action_id, view = _invoice(services, repo, invoice_id)
    _open(view, "matching a payment")
    payment = _unhandled(services, payment_billecta_id)
    creditor = text(payment.get("CreditorPublicId")) or text(view.get("CreditorPublicId"))

    def state() -> str:
        return text(_unhandled(services, payment_billecta_id).get("State"))

    def send() -> Any:
        if state() != "Unhandled":
            raise ActionRefused(f"the payment {payment_billecta_id} is no longer unhandled ({state()})")
        return _match(services, creditor, payment_billecta_id, action_id)

    _once(services, "match_payment", intents.intent_key("match", request_key), limetype="payment",
          lock=f"payment:{payment_billecta_id}", snapshot=state, applied=lambda before: state() != "Unhandled",
          send=send, on_error=lambda m: _record_error(repo, "invoice", invoice_id, m), final_attempt=final_attempt)
    return {"status_code": 200, "status": "The match was successful"}


def use_credit_on_invoice(services: Services, credit_invoice_id: int, invoice_to_credit_id: int,
                          payment_mean_code: str, request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    """Use the credit a credit invoice left (an unhandled payment of type BalanceFromInvoice) on another invoice."""
    repo = LimeRepo(services.lime, services.mappings)
    _, credit_action, credit_view = _invoice(services, repo, credit_invoice_id)
    _, target_action, target_view = _invoice(services, repo, invoice_to_credit_id)
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

    def state() -> str:
        return text(_unhandled(services, credit_id).get("State"))

    def send() -> Any:
        if state() != "Unhandled":
            raise ActionRefused(f"the credit of the credit invoice is already used ({state()})")
        return _match(services, creditor, credit_id, target_action)

    _once(services, "use_credit", intents.intent_key("credit", request_key), limetype="payment",
          lock=f"payment:{credit_id}", snapshot=state, applied=lambda before: state() != "Unhandled", send=send,
          on_error=lambda m: _record_error(repo, "invoice", invoice_to_credit_id, m), final_attempt=final_attempt)
    return {}


def delete_unhandled_payment(services: Services, payment_id: int, bookkeeping_account: str, transaction_date: str,
                             request_key: str, *, final_attempt: bool = True) -> dict[str, Any]:
    """Remove an unhandled payment in Billecta (booking it on ``bookkeeping_account``); the Lime row is marked."""
    repo = LimeRepo(services.lime, services.mappings)
    row = repo.get_or_none("payment", payment_id)
    public_id = text((row or {}).get("paymentbillectaid"))
    if row is None or not public_id or option_key(row.get("paymenttype")) not in ("unmatched", "overpayment"):
        raise ObjectNotFound("Payment not found or not an unhandled Billecta payment")

    def state() -> str:
        return text(_unhandled(services, public_id).get("State"))

    def send() -> Any:
        if state() != "Unhandled":
            raise ActionRefused(f"the payment is no longer unhandled ({state()})")
        return services.billecta.call("payments.unhandled.delete", {"unhandled_payment_public_id": public_id},
                                      query={"bookkeepingaccount": bookkeeping_account,
                                             "transactiondate": transaction_date}, idempotent=False)

    _once(services, "delete_unhandled", intents.intent_key("delete", request_key), limetype="payment",
          lock=f"payment:{public_id}", snapshot=state, applied=lambda before: state() == "Deleted", send=send,
          on_error=lambda m: None, final_attempt=final_attempt)
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
        raise ObjectNotFound(NOT_FOUND)
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
        _record_error(repo, "invoice", int(invoice["_id"]), message_)
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
