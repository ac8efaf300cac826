"""Collection controls from Lime on one invoice: dispute, pause, postpone, reminders, debt collection.

Every action follows the same steps: find the Lime invoice and its ``actionpublicid`` (404 otherwise, nothing
sent); read the invoice from Billecta and check the capability flag Billecta gives (``CanPause``,
``CanDispute``, ...); act; read the invoice again and write its new state into Lime, clearing
``billecta_error_message``. A refusal is written onto the Lime invoice at once; an outage only on the last
attempt (until then the task retries).

Nothing acts twice (docs/architecture.md, "Exactly once"):
* pause, resume, dispute and cancel-dispute are states: an invoice already in the wanted state is answered
  as done without a call;
* postpone, reminder and debt collection change something each time, so an outbound intent is recorded
  before the call, keyed by the request; a retry of the same request (a redelivered task, a worker killed
  after Billecta answered) first checks whether Billecta already shows the effect. A reminder for the
  same invoice with the same terms within ``REPEAT_WINDOW`` is the same click answered again; an invoice
  already in debt collection is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.billecta.values import amount
from billecta_sync.container import Services
from billecta_sync.errors import ActionRefused, InvalidRequest, ObjectNotFound
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases import intents
from billecta_sync.usecases.billecta_to_lime.debtcollections import sync_debt_collection_from_billecta
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.common import as_date, iso_day, text
from billecta_sync.usecases.invoice_lookup import billecta_invoice, lime_invoice
from billecta_sync.usecases.lime_to_billecta.actions import error_on, run_reported
from billecta_sync.usecases.lime_to_billecta.orders import DELIVERY_METHODS

REPEAT_WINDOW = timedelta(minutes=10)
MAX_POSTPONE_DAYS = 365


def _on_invoice(services: Services, invoice_id: int, act: Callable[[LimeRepo, str], Any], *,
                final_attempt: bool) -> Any:
    """Run ``act`` on the invoice (``actions.run_reported``), then read its fresh state into Lime."""
    repo, _, action_id = lime_invoice(services, invoice_id)
    result = run_reported(services, f"invoice:{action_id}", lambda: act(repo, action_id),
                          error_on(repo, "invoice", invoice_id), final_attempt=final_attempt)
    # Fresh state into Lime (clears billecta_error_message); outside the lock, which the sync takes itself.
    sync_invoice_from_billecta(services, action_id)
    return result


def _require(view: dict[str, Any], flag: str, action: str) -> None:
    if not view.get(flag):
        raise ActionRefused(f"Billecta does not allow to {action} this invoice now ({flag} is false)")


def _state(view: dict[str, Any]) -> dict[str, Any]:
    return view.get("State") or {}


def _toggle(services: Services, invoice_id: int, *, route: str, flag: str, action: str,
            done: Callable[[dict[str, Any]], bool], final_attempt: bool) -> dict[str, Any]:
    def act(repo: LimeRepo, action_id: str) -> dict[str, Any]:
        view = billecta_invoice(services, action_id)
        if done(view):
            return {"changed": False}
        _require(view, flag, action)
        services.billecta.call(route, {"action_public_id": action_id})
        return {"changed": True}

    return _on_invoice(services, invoice_id, act, final_attempt=final_attempt)  # type: ignore[no-any-return]


def dispute_invoice(services: Services, invoice_id: int, *, final_attempt: bool = True) -> dict[str, Any]:
    return _toggle(services, invoice_id, route="invoice.dispute", flag="CanDispute", action="dispute",
                   done=lambda v: bool(_state(v).get("DisputedDate")), final_attempt=final_attempt)


def cancel_dispute(services: Services, invoice_id: int, *, final_attempt: bool = True) -> dict[str, Any]:
    return _toggle(services, invoice_id, route="invoice.undispute", flag="CanUnDispute",
                   action="cancel the dispute of", done=lambda v: not _state(v).get("DisputedDate"),
                   final_attempt=final_attempt)


def pause_invoice(services: Services, invoice_id: int, *, final_attempt: bool = True) -> dict[str, Any]:
    return _toggle(services, invoice_id, route="invoice.pause", flag="CanPause", action="pause",
                   done=lambda v: bool(_state(v).get("IsPaused")), final_attempt=final_attempt)


def resume_invoice(services: Services, invoice_id: int, *, final_attempt: bool = True) -> dict[str, Any]:
    return _toggle(services, invoice_id, route="invoice.resume", flag="CanResume", action="resume",
                   done=lambda v: not _state(v).get("IsPaused"), final_attempt=final_attempt)


def invoice_next_event(services: Services, invoice_id: int) -> dict[str, Any]:
    """``{"next_event_date": "YYYY-MM-DD" | None}`` from Billecta's current state."""
    _, _, action_id = lime_invoice(services, invoice_id)
    view = billecta_invoice(services, action_id)
    return {"next_event_date": iso_day(as_date(_state(view).get("NextEventDate")))}


def positive_days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 < days <= MAX_POSTPONE_DAYS:
        raise InvalidRequest(f"postpone_days must be a positive integer of at most {MAX_POSTPONE_DAYS}",
                             "postpone_days")
    return days


def postpone_invoice(services: Services, invoice_id: int, postpone_days: int, request_key: str, *,
                     final_attempt: bool = True) -> dict[str, Any]:
    """Move the invoice's next event ``postpone_days`` later, once per request (``request_key``: the
    caller's Idempotency-Key, else one the gateway draws per request; a retried task keeps it)."""
    days = positive_days(postpone_days)
    kind = "postpone_invoice"
    key = intents.intent_key(kind, invoice_id, days, request_key)

    def act(repo: LimeRepo, action_id: str) -> dict[str, Any]:
        view = billecta_invoice(services, action_id)

        def send() -> str:
            _require(view, "CanPostpone", "postpone the next event of")
            services.billecta.call("invoice.postpone", {"action_public_id": action_id}, query={"days": days})
            return ""

        # Done before: the same request again, or Billecta moved the event after a call whose answer was lost.
        sent, _ = intents.once(services, kind, key, text(_state(view).get("NextEventDate")), send)
        return {"changed": sent}

    return _on_invoice(services, invoice_id, act, final_attempt=final_attempt)  # type: ignore[no-any-return]


def _to_minor(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidRequest(f"{field} must be a number", field) from None
    if not number.is_finite() or number < 0 or number != number.quantize(Decimal("0.01")):
        raise InvalidRequest(f"{field} must be a positive amount with at most two decimals", field)
    return number


def _delivery(method: Any) -> str:
    key = text(method).lower()
    if key not in DELIVERY_METHODS:
        raise InvalidRequest(f"delivery_method must be one of {', '.join(DELIVERY_METHODS)}", "delivery_method")
    return DELIVERY_METHODS[key]


def create_reminder_invoice(services: Services, action_public_id: str, delivery_method: str,
                            reminder_fee: Any, currency_code: str, payment_terms_in_days: int, *,
                            final_attempt: bool = True) -> dict[str, Any]:
    """Send a reminder invoice for a Billecta invoice (named by its ActionPublicId, as the seed does)."""
    fee = _to_minor(reminder_fee, "reminder_fee")
    method = _delivery(delivery_method)
    repo = LimeRepo(services.lime, services.mappings)
    invoice = repo.find_one("invoice", {"actionpublicid": action_public_id}) if action_public_id else None
    if invoice is None:
        raise ObjectNotFound("Invoice missing ActionPublicId")
    kind = "send_reminder"
    key = intents.intent_key(kind, action_public_id, method, str(fee), currency_code, payment_terms_in_days)

    def act(repo: LimeRepo, action_id: str) -> dict[str, Any]:
        view = billecta_invoice(services, action_id)
        body = {"InvoiceActionPublicId": action_id, "DeliveryMethod": method,
                "ReminderFee": amount(fee, currency_code), "PaymentTermsInDays": payment_terms_in_days}

        def send() -> str:
            _require(view, "CanSendManualReminderInvoice", "send a reminder for")
            created = services.billecta.call("invoice.send_reminder", body=body, idempotent=False)
            return text((created or {}).get("PublicId")) if isinstance(created, dict) else ""

        # The same click gets its first answer; a lost answer shows as the invoice's new reminder.
        _, reminder_id = intents.once(services, kind, key, text(view.get("ReminderInvoiceActionPublicId")), send,
                                      window=REPEAT_WINDOW)
        return {"reminder": reminder_id}

    return _on_invoice(services, int(invoice["_id"]), act,  # type: ignore[no-any-return]
                       final_attempt=final_attempt)


def send_to_debt_collection(services: Services, invoice_id: int, delivery_method: str, our_reference: str = "",
                            reason_description: str = "", reason_for_higher_interest: str = "", *,
                            final_attempt: bool = True) -> dict[str, Any]:
    """Start one debt-collection case for the invoice; an invoice already in debt collection is refused."""
    method = _delivery(delivery_method)
    kind = "send_to_debt_collection"

    def act(repo: LimeRepo, action_id: str) -> dict[str, Any]:
        view = billecta_invoice(services, action_id)
        case_id = text(view.get("DebtCollectionActionPublicId"))
        key = intents.intent_key(kind, action_id)
        earlier = intents.begin(services, kind, key, "")
        if case_id:
            if earlier is not None and earlier.status != "done":  # our own call went through; its answer was lost
                intents.complete(services, kind, key, case_id)
                return {"debtcollection": case_id}
            raise ActionRefused(f"the invoice is already in debt collection ({case_id})")
        _require(view, "CanSendToDebtCollection", "send to debt collection")
        body = {"SourcePublicId": action_id, "DeliveryMethod": method, "OurReference": our_reference or None,
                "ReasonDescription": reason_description or None,
                "ReasonForHigherInterest": reason_for_higher_interest or None}
        try:
            created = services.billecta.call("invoice.send_to_debt_collection", body=body, idempotent=False)
        except Exception as exc:
            if intents.refused_before_work(exc):
                intents.forget(services, kind, key)
            raise
        case_id = text((created or {}).get("PublicId")) if isinstance(created, dict) else ""
        if not case_id:
            case_id = text(billecta_invoice(services, action_id).get("DebtCollectionActionPublicId"))
        intents.complete(services, kind, key, case_id)
        return {"debtcollection": case_id}

    result = _on_invoice(services, invoice_id, act, final_attempt=final_attempt)
    if result.get("debtcollection"):
        sync_debt_collection_from_billecta(services, result["debtcollection"])
    return result  # type: ignore[no-any-return]


def update_invoice_from_billecta(services: Services, invoice_id: int) -> dict[str, Any]:
    """The seed's "update invoice with Billecta data" as a command: the ordinary invoice sync, for one invoice."""
    _, _, action_id = lime_invoice(services, invoice_id)
    try:
        outcome = sync_invoice_from_billecta(services, action_id, with_payments=True)
    except BillectaApiNotFoundException:
        raise ObjectNotFound(f"Billecta has no invoice {action_id}") from None
    return {"outcome": outcome}
