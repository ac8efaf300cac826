"""Processing one stored Billecta webhook: claim the inbox row, route the event, record the outcome."""

from __future__ import annotations

import json
from collections.abc import Callable

from billecta_sync import inbox
from billecta_sync.container import Services
from billecta_sync.db import InboxStatus
from billecta_sync.retry import is_retryable
from billecta_sync.usecases.invoices import sync_invoice_from_billecta
from billecta_sync.webhooks.events import BillectaEvent, InvalidWebhook, parse_billecta_event

Handler = Callable[[Services, BillectaEvent], str]


def _invoice_from_billecta(services: Services, event: BillectaEvent) -> str:
    return sync_invoice_from_billecta(services, event.action_public_id)


# Event type -> handler. Supported events without an entry here are recorded as ignored, with the
# reason, so they can be replayed by status once their handler exists.
HANDLERS: dict[str, Handler] = {
    "InvoiceActionAttested": _invoice_from_billecta,
    "InvoiceActionStateChanged": _invoice_from_billecta,
}


def process_billecta_webhook(services: Services, inbox_id: int, *, final_attempt: bool = True) -> str:
    row = inbox.claim(services.db, inbox_id)
    if row is None:
        return f"inbox row {inbox_id} is finished or being processed elsewhere"
    twin = inbox.earlier_twin(services.db, row)
    if twin is not None:
        inbox.finish(services.db, inbox_id, InboxStatus.DUPLICATE, error=f"same delivery as inbox row {twin}")
        return f"duplicate of inbox row {twin}"
    try:
        event = parse_billecta_event(json.loads(row.body))
    except (InvalidWebhook, ValueError) as exc:
        inbox.finish(services.db, inbox_id, InboxStatus.IGNORED, error=f"unreadable: {exc}")
        return f"ignored: {exc}"
    handler = HANDLERS.get(event.type)
    if handler is None:
        inbox.finish(services.db, inbox_id, InboxStatus.IGNORED, event_type=event.type,
                     error=f"no handler for {event.type}")
        return f"ignored {event.type}"
    try:
        outcome = handler(services, event)
    except Exception as exc:
        final = final_attempt or not is_retryable(exc)
        inbox.fail(services.db, inbox_id, f"{type(exc).__name__}: {exc}", final=final,
                   retry_in_s=services.settings.worker.retry_backoff_max_s)
        raise
    inbox.finish(services.db, inbox_id, InboxStatus.PROCESSED, event_type=event.type, object_key=event.object_key)
    return outcome
