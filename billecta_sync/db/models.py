"""The service's own tables: webhook inbox, integration monitor, dead letters, outbound intents, job runs.

Money data lives in Lime and Billecta; these tables hold what the service needs to never lose or
repeat work: every inbound request as received, what each task did, and what failed for good.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class InboxStatus:
    RECEIVED = "received"  # persisted, not yet handed to the queue
    QUEUED = "queued"  # task published
    PROCESSING = "processing"  # claimed by a worker (lease in locked_until)
    PROCESSED = "processed"
    IGNORED = "ignored"  # unsupported event: recorded and acknowledged, not processed
    DUPLICATE = "duplicate"  # same delivery already processed; no second effect
    FAILED = "failed"  # last attempt failed; a retry is scheduled
    DEAD = "dead"  # retries exhausted; waits for an operator to replay

    OPEN = (RECEIVED, QUEUED, PROCESSING, FAILED)
    CLAIMABLE = (RECEIVED, QUEUED, FAILED)
    #: a delivery with this status was handled: a later one with the same body is its duplicate
    HANDLED = (PROCESSED, IGNORED)
    ALL = (RECEIVED, QUEUED, PROCESSING, PROCESSED, IGNORED, DUPLICATE, FAILED, DEAD)


#: The rows ``ix_inbox_handled_sha256`` holds, as literal SQL: a query finds its rows through that partial
#: index only when its WHERE clause states this very condition (``inbox.earlier_twin`` does).
INBOX_HANDLED = text(f"status IN ({', '.join(repr(status) for status in InboxStatus.HANDLED)})")


class WebhookInbox(Base):
    __tablename__ = "webhook_inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # billecta | lime
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(100), default="")
    object_key: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    #: the request's correlation id (X-Request-ID, or one the gateway drew), followed into worker logs
    correlation_id: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        Index("ix_inbox_status_received", "status", "received_at"),
        # Only handled rows are ever looked up by digest, so only they are in this index: the gateway's insert
        # of a queued row writes no page of it (an index on a random digest cost a third of the insert).
        Index("ix_inbox_handled_sha256", "source", "body_sha256", sqlite_where=INBOX_HANDLED,
              postgresql_where=INBOX_HANDLED),
        Index("ix_inbox_object_key", "object_key"),
    )


class MonitorStatus:
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    DONE_WITH_ERROR = "donewitherror"


class LimeMirror:
    """What ``lime_id`` and ``lime_synced_at`` of a monitor batch or log say about its copy in Lime.

    * ``lime_synced_at`` NULL: Lime lacks the row's latest change (``billecta_sync.monitor`` clears it on every
      change worth mirroring: a log finishing, a batch settling); set: Lime has it.
    * ``lime_id``: the Lime object; NULL before it is created; ``IN_FLIGHT`` while a create is sent and its
      answer not yet recorded, so after a crash it is looked up in Lime before being created a second time.
    * ``lime_synced_at`` set without ``lime_id``: finished before the mirror existed (migration 0003), never sent.
    """

    IN_FLIGHT = 0


class MonitorBatch(Base):
    """A user-started bulk operation (one Lime command), like the seed's integration_monitor_batch."""

    __tablename__ = "monitor_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=MonitorStatus.RUNNING)
    query_filter: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started: Mapped[bool] = mapped_column(Boolean, default=False)  # true once its per-object tasks are published
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    #: the mirror in Lime's integration_monitor_batch (usecases/jobs/lime_monitor.py): see LimeMirror
    lime_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lime_synced_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    # Never loaded with the batch: settling a 10 000-object batch after each finished object used to build
    # every log as an object each time. Query MonitorLog by batch_id instead.
    logs: Mapped[list[MonitorLog]] = relationship(back_populates="batch", lazy="raise")

    __table_args__ = (Index("ix_batch_status", "status"), Index("ix_batch_lime_pending", "lime_synced_at", "id"))


class MonitorLog(Base):
    """What happened to one object in one operation (the seed's integration_monitor_log)."""

    __tablename__ = "monitor_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("monitor_batch.id"), nullable=True)
    operation: Mapped[str] = mapped_column(String(64))
    limetype: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=MonitorStatus.RUNNING)
    message: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    #: the mirror in Lime's integration_monitor_log, as on MonitorBatch (see LimeMirror)
    lime_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lime_synced_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    batch: Mapped[MonitorBatch | None] = relationship(back_populates="logs")

    __table_args__ = (
        Index("ix_log_batch_status", "batch_id", "status"),
        Index("ix_log_object", "limetype", "object_id"),
        Index("ix_log_updated", "updated_at"),
        Index("ix_log_lime_pending", "lime_synced_at", "id"),
    )


class DeadLetter(Base):
    """A task that failed for good, with what is needed to replay it."""

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(64), default="")
    queue: Mapped[str] = mapped_column(String(64), default="")
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    exception: Mapped[str] = mapped_column(Text, default="")
    traceback: Mapped[str] = mapped_column(Text, default="")
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_inbox.id"), nullable=True)
    monitor_log_id: Mapped[int | None] = mapped_column(ForeignKey("monitor_log.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OutboundIntent(Base):
    """A non-idempotent Billecta call (creating an invoice) recorded before it is made.

    If a worker dies between Billecta's answer and saving the id in Lime, the retry finds the
    intent and looks the invoice up by its ExternalReference instead of creating a second one.
    """

    __tablename__ = "outbound_intent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    limetype: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    external_reference: Mapped[str] = mapped_column(String(100))
    billecta_public_id: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="started")  # started | done
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("kind", "limetype", "object_id", name="uq_intent_object"),)


class JobRun(Base):
    """One run of a scheduled job; (job, run_key) is unique so a double-fired schedule runs once."""

    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    run_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | error
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (UniqueConstraint("job", "run_key", name="uq_job_run"),)


class IdempotencyKey(Base):
    """A request that moves money, remembered by the caller's Idempotency-Key (or the request's own digest).

    The same key with the same body gets the first answer again; with another body, a 409. ``status`` is
    ``started`` until the first answer is known.
    """

    __tablename__ = "idempotency_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(100))  # the route
    key: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="started")  # started | done
    answer_status: Mapped[int] = mapped_column(Integer, default=0)
    answer_body: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)


class ReplayAudit(Base):
    """Who replayed which inbox rows, and with what selection (operator console and API)."""

    __tablename__ = "replay_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))
    selection: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    replayed: Mapped[int] = mapped_column(Integer, default=0)
    inbox_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
