"""Orders: a Lime order becomes a Billecta invoice action, optionally attested.

Order status machine (Lime ``order.orderstatus``): created → processing → attested, or
errorupsert / errorattest with ``billecta_error_message``; credited and cancelled come back from
Billecta. An order that is attested (or later) is never sent or attested again.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from billecta_sync import days, logs
from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.billecta.values import amount
from billecta_sync.container import Services
from billecta_sync.db import OutboundIntent
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.retry import is_retryable
from billecta_sync.usecases.common import as_date, as_decimal, differs, option_key, relation_id, text
from billecta_sync.usecases.lime_to_billecta.articles import ensure_product
from billecta_sync.usecases.lime_to_billecta.debtors import ensure_debtor
from billecta_sync.usecases.lime_to_billecta.order_reads import OrderData, is_message_row, order_data

EDITABLE = frozenset({"created", "processing", "errorupsert", "errorattest", ""})
FINAL = frozenset({"attested", "credited", "cancelled"})
DELIVERY_METHODS = {"email": "Email", "mail": "Mail", "manually": "Manually", "sms": "SMS",
                    "einvoice": "EInvoice", "kivra": "Kivra"}
RECORD_TYPES = {"standard": "Standard", "package": "Package", "message": "Message"}
DEFAULT_PAYMENT_TERMS_DAYS = 30
INTENT_CREATE_INVOICE = "create_invoice"


def external_reference(order_id: int) -> str:
    return f"lime-order-{order_id}"


def invoice_entry(order: dict[str, Any], rows: list[dict[str, Any]], products: dict[int, str],
                  articles: dict[int, dict[str, Any]], creditor_public_id: str,
                  debtor_public_id: str) -> dict[str, Any]:
    """Billecta's InvoiceActionEntryView for an order and its rows (rows already sorted)."""
    invoice_date = as_date(order.get("invoicedate")) or days.today()
    terms = order.get("paymenttermsindays")
    terms_days = int(terms) if terms not in (None, "") else DEFAULT_PAYMENT_TERMS_DAYS
    records: list[dict[str, Any]] = []
    for sequence, row in enumerate(rows, start=1):
        row_type = option_key(row.get("rowtype")) or "standard"
        if row_type == "message":
            # Message rows carry text only: no product, no amount.
            records.append({"SequenceNo": sequence, "RecordType": "Message",
                            "ArticleDescription": text(row.get("description"))})
            continue
        article_id = relation_id(row.get("article"))
        assert article_id is not None  # checked by the caller
        article = articles[article_id]
        unit_price = as_decimal(row.get("unitprice"), as_decimal(article.get("unitprice"), Decimal(0)))
        vat = as_decimal(row.get("vat"), as_decimal(article.get("vat"), Decimal(25)))
        quantity = as_decimal(row.get("quantity"), Decimal(1))
        record: dict[str, Any] = {
            "SequenceNo": sequence,
            "RecordType": RECORD_TYPES.get(row_type, "Standard"),
            "ProductPublicId": products[article_id],
            "ArticleNumber": text(article.get("articlenumber")) or None,
            "ArticleDescription": text(row.get("description")) or text(article.get("name")),
            "Units": text(article.get("unit")) or None,
            "Quantity": float(quantity or 0),
            "UnitPrice": amount(unit_price),
            "VAT": float(vat or 0),
        }
        discount = as_decimal(row.get("discountpercentage"))
        if discount:
            record["DiscountPercentage"] = float(discount)
            record["DiscountType"] = "Percentage"
        records.append(record)
    entry: dict[str, Any] = {
        "ActionType": "InvoiceAction",
        "CreditorPublicId": creditor_public_id,
        "DebtorPublicId": debtor_public_id,
        "InvoiceDate": f"{invoice_date.isoformat()}T00:00:00",
        "DueDate": f"{(invoice_date + timedelta(days=terms_days)).isoformat()}T00:00:00",
        "OurReference": text(order.get("ourreference")) or None,
        "YourReference": text(order.get("yourreference")) or None,
        "Message": text(order.get("message")) or None,
        "CommunicationLanguage": "SV",
        "VatIsIncluded": False,
        "ExternalReference": external_reference(int(order["_id"])),
        "Records": records,
    }
    method = DELIVERY_METHODS.get(option_key(order.get("deliverymethod")) or "")
    if method:
        entry["DeliveryMethod"] = method
    return entry


def _find_created_invoice(services: Services, debtor_public_id: str, reference: str) -> str | None:
    """After an interrupted create: look for the invoice among the debtor's open ones."""
    for sub in services.billecta.open_invoices_by_debtor(debtor_public_id):
        action_id = sub.get("ActionPublicId")
        if not action_id:
            continue
        invoice = services.billecta.get_invoice(str(action_id))
        if invoice.get("ExternalReference") == reference:
            return str(action_id)
    return None


def create_invoice_once(services: Services, order_id: int, entry: dict[str, Any], *,
                         kind: str = INTENT_CREATE_INVOICE, limetype: str = "order") -> str:
    """Create the invoice action, at most once per Lime object even across crashes and retries."""
    reference = entry["ExternalReference"]
    with services.db.session() as session:
        intent = session.query(OutboundIntent).filter_by(
            kind=kind, limetype=limetype, object_id=str(order_id)).one_or_none()
        if intent is not None and intent.billecta_public_id:
            return intent.billecta_public_id
        recovering = intent is not None
        if intent is None:
            session.add(OutboundIntent(kind=kind, limetype=limetype, object_id=str(order_id),
                                       external_reference=reference))
    if recovering:
        found = _find_created_invoice(services, entry["DebtorPublicId"], reference)
        if found:
            _complete_intent(services, order_id, found, kind=kind, limetype=limetype)
            return found
    action_id = services.billecta.create_invoice(entry)
    _complete_intent(services, order_id, action_id, kind=kind, limetype=limetype)
    return action_id


def _complete_intent(services: Services, order_id: int, action_id: str, *,
                     kind: str = INTENT_CREATE_INVOICE, limetype: str = "order") -> None:
    with services.db.session() as session:
        session.query(OutboundIntent).filter_by(
            kind=kind, limetype=limetype, object_id=str(order_id)
        ).update({"billecta_public_id": action_id, "status": "done"})


def forget_invoice_intent(services: Services, order_id: int) -> None:
    with services.db.session() as session:
        session.query(OutboundIntent).filter_by(
            kind=INTENT_CREATE_INVOICE, limetype="order", object_id=str(order_id)).delete()


def _upsert(services: Services, repo: LimeRepo, data: OrderData) -> tuple[str, dict[str, Any] | None, bool]:
    """Create or update the invoice action; returns its id, the current Billecta invoice if fetched, and
    whether the id is new to the order (it is written with the order's final status, in one update)."""
    order = data.order
    order_id = int(order["_id"])
    creditor = order.get("creditor")
    creditor_id = relation_id(creditor)
    debtor_id = relation_id(order.get("debtor"))
    if creditor_id is None:
        raise PermanentError(f"Order {order_id} has no creditor.")
    if debtor_id is None:
        raise PermanentError(f"Order {order_id} has no debtor.")
    creditor_public_id = text(creditor.get("creditorpublicid")) if isinstance(creditor, dict) else ""
    if not creditor_public_id:
        raise PermanentError(f"Creditor {creditor_id} is not linked to Billecta (creditorpublicid is empty).")

    rows = data.rows
    if not rows:
        raise PermanentError(f"Order {order_id} has no rows.")
    articles: dict[int, dict[str, Any]] = {}
    products: dict[int, str] = {}
    for row in rows:
        if is_message_row(row):
            continue
        article_id = relation_id(row.get("article"))
        if article_id is None:
            raise PermanentError(f"Order row {row['_id']} has no article.")
        if article_id not in articles:
            articles[article_id] = row["article"]
            products[article_id] = ensure_product(services, repo, creditor_id, creditor_public_id, article_id,
                                                  article=articles[article_id], link=data.link_of(article_id))
    debtor_public_id = ensure_debtor(services, repo, creditor_id, creditor_public_id, debtor_id,
                                     link=data.debtor_link)
    entry = invoice_entry(order, rows, products, articles, creditor_public_id, debtor_public_id)

    action_id = text(order.get("actionpublicid"))
    if action_id:
        try:
            current = services.billecta.get_invoice(action_id)
        except BillectaApiNotFoundException:
            current = None  # deleted in Billecta: make a new one
            forget_invoice_intent(services, order_id)
        if current is not None:
            if _stage(current) == "Created":
                services.billecta.update_invoice(action_id, entry)
                current = None  # changed; fetch again if needed
            return action_id, current, False
    return create_invoice_once(services, order_id, entry), None, True


def _stage(invoice: dict[str, Any]) -> str:
    stage = (invoice.get("State") or {}).get("Stage")
    return str(stage) if stage is not None else ""


def _attest(services: Services, action_id: str, current: dict[str, Any] | None) -> None:
    invoice = current or services.billecta.get_invoice(action_id)
    if _stage(invoice) not in ("Created", "", "None"):
        return  # attested by an earlier attempt (or in Billecta's UI): never attest twice
    services.billecta.attest_invoice(action_id)


def upsert_attest_order(services: Services, order_id: int, *, attest: bool, final_attempt: bool = True) -> str:
    """Send one order to Billecta (and attest it). Returns a short description for the monitor log.

    Lime sees one write per order, at the end: the invoice id with the final status (or the error).
    The order is not marked ``processing`` in Lime while it is sent — that write was a third of the
    order's Lime writes; the monitor shows which orders are still running.
    """
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"order:{order_id}", timeout_s=services.settings.worker.lock_timeout_s):
        data = order_data(services, repo, order_id, logs.monitor_log_id())
        if data is None:
            raise PermanentError(f"order {order_id} does not exist in Lime")
        order = data.order
        status = option_key(order.get("orderstatus")) or ""
        if status in FINAL:
            return f"Order {order_id} is already {status}; nothing sent."
        if status not in EDITABLE:
            raise PermanentError(f"Order {order_id} has status {status!r} and cannot be sent to Billecta.")
        phase = "errorupsert"
        new_id: dict[str, Any] = {}
        try:
            action_id, current, is_new = _upsert(services, repo, data)
            if is_new:
                new_id["actionpublicid"] = action_id
            if attest:
                phase = "errorattest"
                _attest(services, action_id, current)
        except Exception as exc:
            if not isinstance(exc, PermanentError) and is_retryable(exc):
                # Outages may pass; show the error on the order only when no retry is coming.
                if final_attempt:
                    try:
                        repo.update("order", order_id, {**new_id, "orderstatus": phase,
                                                        "billecta_error_message": str(exc)[:2000]})
                    except Exception:  # Lime itself may be what is failing; the monitor log still tells
                        pass
                raise
            message = str(exc)
            repo.update("order", order_id, {**new_id, "orderstatus": phase, "billecta_error_message": message[:2000]})
            if isinstance(exc, PermanentError):
                raise
            raise PermanentError(f"Billecta refused order {order_id}: {message}") from exc
        final = {**new_id, "orderstatus": "attested" if attest else "created", "billecta_error_message": ""}
        if any(differs(order.get(k), v) for k, v in final.items()):
            repo.update("order", order_id, final)
        return f"Order {order_id} → Billecta invoice {action_id}" + (" (attested)" if attest else "")


def attest_order(services: Services, order_id: int, *, final_attempt: bool = True) -> str:
    """Attest an order already sent to Billecta (it has an ``actionpublicid``); never attests twice."""
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"order:{order_id}", timeout_s=services.settings.worker.lock_timeout_s):
        order = repo.get("order", order_id)
        status = option_key(order.get("orderstatus")) or ""
        if status in FINAL:
            return f"Order {order_id} is already {status}; nothing sent."
        action_id = text(order.get("actionpublicid"))
        if not action_id:
            message = f"Order {order_id} has not been sent to Billecta yet (no actionpublicid); upsert it first."
            repo.update("order", order_id, {"orderstatus": "errorattest", "billecta_error_message": message})
            raise PermanentError(message)
        try:
            try:
                current = services.billecta.get_invoice(action_id)
            except BillectaApiNotFoundException:
                raise PermanentError(f"Billecta invoice {action_id} of order {order_id} no longer exists; "
                                     "upsert the order again.") from None
            _attest(services, action_id, current)
        except Exception as exc:
            if not isinstance(exc, PermanentError) and is_retryable(exc):
                if final_attempt:
                    try:
                        repo.update("order", order_id, {"orderstatus": "errorattest",
                                                        "billecta_error_message": str(exc)[:2000]})
                    except Exception:  # Lime itself may be what is failing; the monitor log still tells
                        pass
                raise
            repo.update("order", order_id, {"orderstatus": "errorattest", "billecta_error_message": str(exc)[:2000]})
            if isinstance(exc, PermanentError):
                raise
            raise PermanentError(f"Billecta refused to attest order {order_id}: {exc}") from exc
        repo.update("order", order_id, {"orderstatus": "attested", "billecta_error_message": ""})
        return f"Order {order_id}: Billecta invoice {action_id} attested"
