"""One life cycle for every inbound webhook, whatever its source: accept, republish, process.

* ``accept`` (the gateway): persist the delivery, then publish its job; a broker failure leaves the row
  ``received`` for the sweeper, so an acknowledged delivery is never lost.
* ``republish`` (accept, the sweeper, CLI replay, operator replay): the only code that puts stored rows
  on the queue again.
* ``process`` (the worker): claim the row (a lease), drop a repeat of a delivery already handled, parse,
  dispatch to the source's handler and record the outcome.

What each outcome means, for both sources (docs/operations.md):
``processed`` the handler ran to the end; ``ignored`` nothing to do (unreadable body, unsupported event,
unsynced change); ``duplicate`` the same body was already handled; ``failed`` a retryable error, retried
with backoff; ``dead`` it could not be applied and will not be retried by itself (a permanent error, or
retries used up) — fix the cause, then replay it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from billecta_sync import catalogue, inbox, monitor
from billecta_sync.container import Services
from billecta_sync.db import Database, DeadLetter, InboxStatus, WebhookInbox, utcnow
from billecta_sync.errors import PermanentError
from billecta_sync.inbound.billecta_events import InvalidWebhook, parse_billecta_event
from billecta_sync.inbound.lime_events import InvalidLimeWebhook, parse_lime_event
from billecta_sync.queueing import TaskQueue, publish_job
from billecta_sync.retry import is_retryable

log = logging.getLogger("billecta_sync.inbound")


@dataclass(frozen=True)
class Source:
    """An inbound source: how its bodies are read and which handler applies an event."""

    name: str
    parse: Callable[[Any], Any]
    unreadable: tuple[type[Exception], ...]
    #: "module:function" returning the handler of an event, or ``None`` when none applies
    handler_for: str
    #: the event's name and the object it concerns, as stored on the row
    describe: Callable[[Any], tuple[str, str]]


SOURCES: Mapping[str, Source] = {
    "billecta": Source("billecta", parse_billecta_event, (InvalidWebhook, ValueError),
                       "billecta_sync.usecases.billecta_to_lime.events:handler_for",
                       lambda event: (event.type, event.object_key)),
    "lime": Source("lime", parse_lime_event, (InvalidLimeWebhook, ValueError),
                   "billecta_sync.usecases.lime_to_billecta.changes:handler_for",
                   lambda event: (event.event, event.object_key)),
}


@dataclass(frozen=True)
class Accepted:
    status: str  # queued | received | ignored
    inbox_id: int


def accept(db: Database, queue: TaskQueue, source: str, headers: Mapping[str, str], raw: bytes,
           remote_addr: str, *, event_type: str, object_key: str, ignore_reason: str = "",
           correlation_id: str = "") -> Accepted:
    """Store one delivery and queue it; ``ignore_reason`` stores it as ignored instead.

    Raises the database's error when the row could not be stored: nothing was acknowledged then, and the
    caller answers so that the sender delivers again.
    """
    # Stored as queued up front so the common path costs one commit; if publishing fails the row is put
    # back to received, and even a crash in between is safe: the sweeper re-publishes old queued rows.
    inbox_id = inbox.record(db, source, headers, raw, remote_addr, event_type=event_type, object_key=object_key,
                            status=InboxStatus.IGNORED if ignore_reason else InboxStatus.QUEUED,
                            last_error=ignore_reason, correlation_id=correlation_id)
    if ignore_reason:
        return Accepted(InboxStatus.IGNORED, inbox_id)
    published = republish(db, queue, {inbox_id: source}, already_queued=True)
    return Accepted(InboxStatus.QUEUED if published.queued else InboxStatus.RECEIVED, inbox_id)


@dataclass
class Republished:
    queued: list[int] = field(default_factory=list)
    #: left ``received`` because the broker would not take them; the sweeper publishes them later
    unpublished: list[int] = field(default_factory=list)


def republish(db: Database, queue: TaskQueue, rows: Mapping[int, str], *, already_queued: bool = False) -> Republished:
    """Publish the processing job of each stored row (id -> source), in id order.

    After the first broker failure the rest are not tried (each try would wait on the dead broker) and
    stay ``received``. ``already_queued``: the rows were stored as ``queued``; a failure puts them back.
    """
    result = Republished()
    for inbox_id in sorted(rows):
        if result.unpublished:
            result.unpublished.append(inbox_id)
            continue
        try:
            publish_job(queue, catalogue.inbound_job(rows[inbox_id]), inbox_id)
        except Exception as exc:  # any broker failure: the row is durable
            log.warning("could not queue inbox %s (%s); left for the sweeper", inbox_id, type(exc).__name__)
            result.unpublished.append(inbox_id)
            continue
        result.queued.append(inbox_id)
        if not already_queued:
            inbox.mark_queued(db, inbox_id)
    if already_queued:
        for inbox_id in result.unpublished:
            try:
                inbox.mark_received(db, inbox_id)
            except Exception:  # still "queued": the sweeper re-publishes queued rows nobody processed
                log.warning("could not mark inbox %s received", inbox_id)
    return result


@dataclass
class Replayed:
    replayed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    unpublished: list[int] = field(default_factory=list)


def select_for_replay(db: Database, *, ids: Iterable[int] = (), status: str | None = None,
                      since: datetime | None = None, until: datetime | None = None, source: str | None = None,
                      limit: int = 10_000) -> list[int]:
    """Rows a replay with this selection would take (a dry run)."""
    return inbox.select_for_replay(db, ids=ids, status=status, since=since, until=until, source=source,
                                   limit=limit)


def replay(db: Database, queue: TaskQueue, selected: Iterable[int]) -> Replayed:
    """Reset the selected rows to ``received`` and publish them again (their dead letters marked replayed).

    Rows being processed right now, and rows of a source without a job, are skipped; the worker's claim
    makes a replay of a row published twice harmless.
    """
    selected = list(selected)
    with db.session() as session:
        rows = session.execute(select(WebhookInbox.id, WebhookInbox.source, WebhookInbox.status)
                               .where(WebhookInbox.id.in_(selected))).all()
    replayable = [i for i, source, status in rows if source in SOURCES and status != InboxStatus.PROCESSING]
    inbox.reset_for_replay(db, replayable)
    with db.session() as session:
        # A worker may have claimed a row in between; only rows that are received now were reset.
        reset = {i: s for i, s in session.execute(select(WebhookInbox.id, WebhookInbox.source).where(
            WebhookInbox.id.in_(replayable), WebhookInbox.status == InboxStatus.RECEIVED))}
        session.execute(update(DeadLetter).where(DeadLetter.inbox_id.in_(list(reset)),
                                                 DeadLetter.replayed_at.is_(None)).values(replayed_at=utcnow()))
    published = republish(db, queue, reset)
    return Replayed(replayed=sorted(reset), skipped=sorted(set(selected) - set(reset)),
                    unpublished=published.unpublished)


def process(services: Services, inbox_id: int, *, final_attempt: bool = True) -> str:
    """Apply one stored delivery; returns what was done. Raises (after recording it) when it failed."""
    db = services.db
    row, skipped = inbox.claim_unique(db, inbox_id, services.settings.worker.inbox_lease_s)
    if row is None:
        return skipped
    source = SOURCES.get(row.source)
    if source is None:
        inbox.finish(db, inbox_id, InboxStatus.IGNORED, error=f"no processing for source {row.source!r}")
        return f"ignored: source {row.source}"
    try:
        event = source.parse(json.loads(row.body))
    except source.unreadable as exc:
        inbox.finish(db, inbox_id, InboxStatus.IGNORED, error=f"unreadable: {exc}")
        return f"ignored: {exc}"
    event_type, object_key = source.describe(event)
    handler = catalogue.resolve_path(source.handler_for)(event)
    if handler is None:
        inbox.finish(db, inbox_id, InboxStatus.IGNORED, event_type=event_type, error=f"no handler for {event_type}")
        return f"ignored {event_type}"
    try:
        outcome = handler(services, event)
    except Exception as exc:
        # A permanent error is dead at once: retrying the same delivery cannot help until its cause is fixed.
        final = final_attempt or isinstance(exc, PermanentError) or not is_retryable(exc)
        inbox.fail(db, inbox_id, f"{type(exc).__name__}: {exc}", final=final,
                   retry_in_s=services.settings.worker.retry_backoff_max_s)
        raise
    inbox.finish(db, inbox_id, InboxStatus.PROCESSED, event_type=event_type, object_key=object_key)
    return str(outcome)


def sweep(services: Services) -> dict[str, int]:
    """Re-publish inbox rows and batches that should be queued but may not be (the broker was down...)."""
    db, queue = services.db, services.task_queue()
    rows = inbox.stuck_ids(db, older_than_s=services.settings.worker.stuck_after_s)
    republish(db, queue, inbox.sources_of(db, rows))
    batches = monitor.unstarted_batches(db)
    for batch_id in batches:
        publish_job(queue, catalogue.START_BATCH, batch_id)
    return {"inbox_rows": len(rows), "batches": len(batches)}
