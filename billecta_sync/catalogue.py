"""The job catalogue: every job the service runs, declared once.

A job is a name (the Celery task name, stable across releases because queued messages carry it), a kind,
a queue, the use-case it calls and how it is run (time limits, retries, whether a caller waits for its
answer, a schedule). Everything else is derived from here: ``workers`` registers one Celery task per job,
beat reads the schedules, the sweeper and both replays look up the job of an inbox source, batch starts
look up the job of a monitor operation, and the gateway's command routes (``billecta_sync.commands``) name
the job they publish.

Use-cases are referred to by dotted path and resolved on first use, so this module imports no use-case:
the gateway can read the catalogue without loading the sync code, and use-cases that start other jobs
(a batch start publishing per-object jobs) can import the catalogue without a cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any

# Queues, by what waits on them.
QUEUE_WEBHOOKS = "webhooks"  # inbound Billecta and Lime events
QUEUE_INTERACTIVE = "interactive"  # a user or a gateway request is waiting
QUEUE_BULK = "bulk"  # one task per object of a batch
QUEUE_SCHEDULED = "scheduled"  # beat jobs
QUEUE_REPORTS = "reports"  # financial reports: long reads and rendering, kept off the interactive queue
QUEUES = (QUEUE_WEBHOOKS, QUEUE_INTERACTIVE, QUEUE_BULK, QUEUE_SCHEDULED, QUEUE_REPORTS)

# The nightly jobs may run far longer than one webhook; still well inside the visibility timeout.
LONG_SOFT_LIMIT_S = 1500
LONG_LIMIT_S = 1800


class Kind(StrEnum):
    PER_OBJECT = "per_object"  # one Lime object of a monitor batch; reports to its monitor log
    INTERACTIVE = "interactive"  # the caller waits for the answer; a refusal is an answer, not a failure
    INBOUND = "inbound"  # processes one stored webhook (inbox row) of a source
    SCHEDULED = "scheduled"  # started by beat (or by an operator), takes no arguments


@dataclass(frozen=True)
class Schedule:
    """When beat starts a job: a crontab (UTC) or every ``interval_setting`` seconds."""

    description: str
    minute: str = "0"
    hour: str = "*"
    #: dotted attribute of Settings holding an interval in seconds, instead of the crontab
    interval_setting: str = ""
    #: a run still waiting when the next is due is dropped, so runs never pile up
    expires_before_next: bool = False


@dataclass(frozen=True)
class Job:
    name: str
    kind: Kind
    queue: str
    #: "module:function"; called as ``fn(services, *args, **kwargs)``
    use_case: str
    summary: str
    #: PER_OBJECT: the logical limetype of the id the job takes
    limetype: str = ""
    #: the use-case takes ``final_attempt`` (it writes the error into Lime on the last try only)
    takes_final_attempt: bool = False
    soft_time_limit_s: int | None = None
    time_limit_s: int | None = None
    #: "module:function" called as ``fn(services, *args, exc)`` when the job gives up for good
    on_final_failure: str = ""
    #: INBOUND: the inbox source whose rows this job processes
    inbox_source: str = ""
    schedule: Schedule | None = None

    @property
    def wants_result(self) -> bool:
        return self.kind is Kind.INTERACTIVE

    def resolve(self) -> Callable[..., Any]:
        return resolve_path(self.use_case)

    def resolve_final_failure(self) -> Callable[..., Any] | None:
        return resolve_path(self.on_final_failure) if self.on_final_failure else None


@cache
def resolve_path(path: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` path names (imported on first use)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class BatchOperation:
    """A monitor-batch operation: which objects a batch selects and the per-object job each one gets."""

    name: str
    job: Job
    limetype: str
    #: fixed keyword arguments of every task of the batch
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_L2B = "billecta_sync.usecases.lime_to_billecta"
_B2L = "billecta_sync.usecases.billecta_to_lime"
_JOBS = "billecta_sync.usecases.jobs"

# ---- inbound webhooks (billecta_sync.inbound.delivery runs them)
PROCESS_BILLECTA_WEBHOOK = Job(
    "billecta_sync.webhooks.process_billecta_webhook", Kind.INBOUND, QUEUE_WEBHOOKS,
    "billecta_sync.inbound.delivery:process", "Apply one stored Billecta event to Lime",
    inbox_source="billecta", takes_final_attempt=True)
PROCESS_LIME_WEBHOOK = Job(
    "billecta_sync.webhooks.process_lime_webhook", Kind.INBOUND, QUEUE_WEBHOOKS,
    "billecta_sync.inbound.delivery:process", "Apply one stored Lime change to Billecta",
    inbox_source="lime", takes_final_attempt=True)

# ---- batches
START_BATCH = Job(
    "billecta_sync.batches.start_batch", Kind.INTERACTIVE, QUEUE_INTERACTIVE,
    f"{_JOBS}.batches:start_batch", "Resolve a batch's query filter and queue one task per object",
    on_final_failure=f"{_JOBS}.batches:give_up_start")

# ---- Lime → Billecta, one object per task
UPSERT_ATTEST_ORDER = Job(
    "billecta_sync.orders.upsert_attest_order", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.orders:upsert_attest_order", "Create or update an order's invoice in Billecta (and attest it)",
    limetype="order", takes_final_attempt=True)
ATTEST_ORDER = Job(
    "billecta_sync.orders.attest_order", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.orders:attest_order", "Attest an order's invoice in Billecta (never twice)",
    limetype="order", takes_final_attempt=True)
UPSERT_ARTICLE = Job(
    "billecta_sync.articles.upsert_article", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.articles:upsert_article", "Create or update an article's Billecta products", limetype="article")
DELETE_ARTICLE = Job(
    "billecta_sync.articles.delete_article", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.articles:delete_article", "Delete (or deactivate) an article's Billecta products", limetype="article")
UPSERT_DEBTOR = Job(
    "billecta_sync.debtors.upsert_debtor", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.debtors:upsert_debtor", "Create or update a debtor in Billecta per creditor", limetype="debtor")
ANONYMIZE_DEBTOR = Job(
    "billecta_sync.debtors.anonymize_debtor", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.debtors:anonymize_debtor", "Anonymise a synced debtor in Billecta", limetype="debtor")
CREDIT_INVOICE = Job(
    "billecta_sync.invoices.credit_invoice", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.credits:credit_invoice", "Credit an invoice in full in Billecta", limetype="invoice")
UPDATE_CREDITOR = Job(
    "billecta_sync.creditors.update_creditor", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_L2B}.creditors:update_creditor", "Update a creditor and its action config in Billecta",
    limetype="creditor")
RETRIGGER_FAILED_WEBHOOKS = Job(
    "billecta_sync.webhooks.retrigger_failed_webhooks", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_JOBS}.retrigger:retrigger_failed_webhooks", "Ask Billecta to resend a creditor's failed webhooks",
    limetype="creditor")

# ---- interactive answers
ADD_MESSAGE_TO_ORDERROW = Job(
    "billecta_sync.orders.add_message_to_orderrow", Kind.INTERACTIVE, QUEUE_INTERACTIVE,
    f"{_L2B}.orderrows:add_message_to_orderrow", "Insert a message row after an order row")
EVENT_LOG = Job(
    "billecta_sync.events.event_log", Kind.INTERACTIVE, QUEUE_INTERACTIVE,
    f"{_B2L}.event_log:event_log", "Billecta's event log of an invoice or debt collection case")

# ---- collection controls from Lime (interactive: the user waits; a refusal is the answer)
_COLL = f"{_L2B}.collection"
_DCA = f"{_L2B}.debtcollection_actions"
_PDF = f"{_B2L}.invoice_pdf"


def _interactive(name: str, use_case: str, summary: str, *, writes: bool = True) -> Job:
    # Actions that write into Billecta retry outages and write the error into Lime on their last attempt.
    return Job(f"billecta_sync.collection.{name}", Kind.INTERACTIVE, QUEUE_INTERACTIVE, use_case, summary,
               takes_final_attempt=writes)


DISPUTE_INVOICE = _interactive("dispute_invoice", f"{_COLL}:dispute_invoice", "Mark an invoice as disputed")
CANCEL_INVOICE_DISPUTE = _interactive("cancel_invoice_dispute", f"{_COLL}:cancel_dispute",
                                      "Remove an invoice's dispute")
PAUSE_INVOICE = _interactive("pause_invoice", f"{_COLL}:pause_invoice", "Pause an invoice's collection")
RESUME_INVOICE = _interactive("resume_invoice", f"{_COLL}:resume_invoice", "Resume a paused invoice")
INVOICE_NEXT_EVENT = _interactive("invoice_next_event", f"{_COLL}:invoice_next_event",
                                  "The date of an invoice's next event", writes=False)
POSTPONE_INVOICE = _interactive("postpone_invoice", f"{_COLL}:postpone_invoice",
                                "Postpone an invoice's next event by some days")
CREATE_REMINDER_INVOICE = _interactive("create_reminder_invoice", f"{_COLL}:create_reminder_invoice",
                                       "Send a reminder invoice with a fee and new terms")
SEND_TO_DEBT_COLLECTION = _interactive("send_to_debt_collection", f"{_COLL}:send_to_debt_collection",
                                       "Start a debt-collection case for an invoice")
UPDATE_INVOICE_FROM_BILLECTA = _interactive("update_invoice_from_billecta",
                                            f"{_COLL}:update_invoice_from_billecta",
                                            "Read one invoice from Billecta into Lime", writes=False)
FETCH_INVOICE_PDF = _interactive("fetch_invoice_pdf", f"{_PDF}:fetch_invoice_pdf", "An invoice's PDF",
                                 writes=False)
SAVE_INVOICE_PDF = _interactive("save_invoice_pdf", f"{_PDF}:fetch_and_save_invoice_pdf",
                                "Store an invoice's PDF on the Lime invoice", writes=False)
DEBTCOLLECTION_NEXT_EVENT = _interactive("debtcollection_next_event", f"{_DCA}:debtcollection_next_event",
                                         "The date of a debt-collection case's next event", writes=False)
POSTPONE_DEBTCOLLECTION = _interactive("postpone_debtcollection", f"{_DCA}:postpone_debtcollection",
                                       "Postpone a debt-collection case's next event")
CANCEL_DEBTCOLLECTION = _interactive("cancel_debtcollection", f"{_DCA}:cancel_debtcollection",
                                     "Cancel a debt-collection case")
SEND_TO_LONG_TERM_SURVEILLANCE = _interactive("send_to_long_term_surveillance",
                                              f"{_DCA}:send_to_long_term_surveillance",
                                              "Move a debt-collection case to long-term surveillance")
SEND_TO_BAILIFF = _interactive("send_to_bailiff", f"{_DCA}:send_to_bailiff",
                               "Send a debt-collection case to the bailiff (Kronofogden)")

# ---- money operations from Lime (interactive; exactly once, see usecases/lime_to_billecta/money.py)
_MONEY = f"{_L2B}.money"
REGISTER_MANUAL_PAYMENT = _interactive("register_manual_payment", f"{_MONEY}:register_manual_payment",
                                       "Register a payment made outside Billecta")
REGISTER_WRITEOFF = _interactive("register_writeoff", f"{_MONEY}:register_writeoff", "Write off part of an invoice")
USE_CREDIT_ON_INVOICE = _interactive("use_credit_on_invoice", f"{_MONEY}:use_credit_on_invoice",
                                     "Use a credit invoice's credit on another invoice")
MATCH_PAYMENT = _interactive("match_payment", f"{_MONEY}:match_payment", "Book an unhandled payment on an invoice")
DELETE_UNHANDLED_PAYMENT = _interactive("delete_unhandled_payment", f"{_MONEY}:delete_unhandled_payment",
                                        "Remove an unhandled payment in Billecta")
CREATE_SWISH_REQUEST = _interactive("create_swish_request", f"{_MONEY}:create_swish_request",
                                    "Send a Swish payment request for an invoice")
SWISH_STATUS = _interactive("swish_status", f"{_MONEY}:swish_status", "The status of a Swish payment request",
                            writes=False)

# ---- financial reports (interactive: the caller waits for the document id; on a queue of their own)
_REP = "billecta_sync.reports"


def _report(name: str, use_case: str, summary: str) -> Job:
    return Job(f"billecta_sync.reports.{name}", Kind.INTERACTIVE, QUEUE_REPORTS, use_case, summary,
               soft_time_limit_s=LONG_SOFT_LIMIT_S, time_limit_s=LONG_LIMIT_S)


ACCOUNT_RECEIVABLES_REPORT = _report("account_receivables_report",
                                     f"{_REP}.accounts_receivable:account_receivables_report",
                                     "Accounts receivable with aging at a date, stored as a Lime document")
ACCOUNT_RECONCILIATION_REPORT = _report("account_reconciliation_report",
                                        f"{_REP}.reconciliation:account_reconciliation_report",
                                        "Reconciliation of a period between Lime and Billecta, as a Lime document")
PREPAID_PAYMENTS_REPORT = _report("prepaid_payments_report", f"{_REP}.prepaid:prepaid_payments_report",
                                  "Overpayments and advance payments per debtor, as a Lime document")
REPORT_CREATOR = _report("report_creator", f"{_REP}.creator:report_creator",
                         "A configured report (billecta_sync.reports.definitions), as a Lime document")

# ---- Billecta → Lime, one object per task
REFRESH_INVOICE = Job(
    "billecta_sync.invoices.refresh_invoice", Kind.PER_OBJECT, QUEUE_BULK,
    f"{_B2L}.invoices:refresh_invoice", "Read one Lime invoice's state from Billecta again (backfill)",
    limetype="invoice")

# ---- scheduled
FINISH_RUNNING_BATCHES = Job(
    "billecta_sync.monitor.finish_running_batches", Kind.SCHEDULED, QUEUE_SCHEDULED,
    f"{_JOBS}.settling:settle_finished_batches", "Settle monitor batches whose logs have all finished",
    schedule=Schedule("06:00-23:00 UTC, every 5 minutes", minute="*/5", hour="6-22"))
FINISH_RUNNING_BATCHES_NIGHTLY = Job(
    "billecta_sync.monitor.finish_running_batches_nightly", Kind.SCHEDULED, QUEUE_SCHEDULED,
    f"{_JOBS}.settling:settle_stale_batches", "Force-complete batches whose tasks were lost",
    schedule=Schedule("03:00 UTC", minute="0", hour="3"))
MIRROR_MONITOR_TO_LIME = Job(
    "billecta_sync.monitor.mirror_to_lime", Kind.SCHEDULED, QUEUE_SCHEDULED,
    f"{_JOBS}.lime_monitor:mirror_to_lime",
    "Copy new and settled monitor batches and finished logs into Lime's integration monitor (LIME_MONITOR_MIRROR)",
    schedule=Schedule("every WORKER_SWEEP_INTERVAL_S", interval_setting="worker.sweep_interval_s",
                      expires_before_next=True))
SWEEP_INBOX = Job(
    "billecta_sync.webhooks.sweep_inbox", Kind.SCHEDULED, QUEUE_SCHEDULED,
    "billecta_sync.inbound.delivery:sweep", "Re-publish inbox rows and batches that never reached a worker",
    schedule=Schedule("every WORKER_SWEEP_INTERVAL_S", interval_setting="worker.sweep_interval_s",
                      expires_before_next=True))
RETRIGGER_FAILED_WEBHOOKS_NIGHTLY = Job(
    "billecta_sync.webhooks.retrigger_failed_webhooks_nightly", Kind.SCHEDULED, QUEUE_SCHEDULED,
    f"{_JOBS}.retrigger:start_nightly_batch", "A batch asking Billecta to resend each creditor's failed webhooks",
    schedule=Schedule("03:00 UTC", minute="0", hour="3"))
SET_INVOICES_AS_EXPIRED = Job(
    "billecta_sync.invoices.set_invoices_as_expired", Kind.SCHEDULED, QUEUE_SCHEDULED,
    f"{_JOBS}.expiry:set_invoices_as_expired", "Sent or partly paid invoices past their due date become expired",
    soft_time_limit_s=LONG_SOFT_LIMIT_S, time_limit_s=LONG_LIMIT_S,
    schedule=Schedule("00:30 UTC", minute="30", hour="0"))
CLEANUP_OLD_RECORDS = Job(
    "billecta_sync.maintenance.cleanup_old_records", Kind.SCHEDULED, QUEUE_SCHEDULED,
    f"{_JOBS}.cleanup:cleanup_expired_records", "Delete finished inbox rows and monitor history past RETENTION_DAYS",
    soft_time_limit_s=LONG_SOFT_LIMIT_S, time_limit_s=LONG_LIMIT_S,
    schedule=Schedule("02:15 UTC", minute="15", hour="2"))


JOBS: Mapping[str, Job] = MappingProxyType({
    job.name: job for job in globals().copy().values() if isinstance(job, Job)
})

# Monitor-batch operations; the gateway's batch commands name one each.
OPERATIONS: Mapping[str, BatchOperation] = MappingProxyType({op.name: op for op in (
    BatchOperation("upsert_attest_orders", UPSERT_ATTEST_ORDER, "order", MappingProxyType({"attest": True})),
    BatchOperation("upsert_orders", UPSERT_ATTEST_ORDER, "order", MappingProxyType({"attest": False})),
    BatchOperation("attest_orders", ATTEST_ORDER, "order"),
    BatchOperation("upsert_debtors", UPSERT_DEBTOR, "debtor"),
    BatchOperation("anonymize_debtors", ANONYMIZE_DEBTOR, "debtor"),
    BatchOperation("upsert_articles", UPSERT_ARTICLE, "article"),
    BatchOperation("delete_articles", DELETE_ARTICLE, "article"),
    BatchOperation("credit_invoices", CREDIT_INVOICE, "invoice"),
    BatchOperation("update_creditor", UPDATE_CREDITOR, "creditor"),
    BatchOperation("retrigger_failed_webhooks", RETRIGGER_FAILED_WEBHOOKS, "creditor"),
    BatchOperation("refresh_invoices_from_billecta", REFRESH_INVOICE, "invoice"),
)})


def job(name: str) -> Job:
    try:
        return JOBS[name]
    except KeyError:
        raise KeyError(f"no job named {name!r} in the catalogue") from None


def inbound_job(source: str) -> Job:
    """The job that processes stored webhooks of ``source`` (``billecta`` or ``lime``)."""
    for candidate in JOBS.values():
        if candidate.kind is Kind.INBOUND and candidate.inbox_source == source:
            return candidate
    raise KeyError(f"no inbound job for inbox source {source!r}")


def scheduled_jobs() -> list[Job]:
    return [j for j in JOBS.values() if j.schedule is not None]
