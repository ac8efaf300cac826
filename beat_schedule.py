"""The periodic jobs (Celery beat). Times are UTC.

Only jobs that are implemented are scheduled; each entry names the task and its queue.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from billecta_sync import tasknames


def beat_schedule(sweep_interval_s: float = 60.0) -> dict[str, dict[str, Any]]:
    """``sweep_interval_s`` is WORKER_SWEEP_INTERVAL_S."""
    return {
        # Settle monitor batches whose logs have all finished (06:00-23:00, every 5 minutes).
        "finish-running-batches": {
            "task": tasknames.FINISH_RUNNING_BATCHES,
            "schedule": crontab(minute="*/5", hour="6-22"),
            "options": {"queue": tasknames.QUEUE_SCHEDULED},
        },
        # Force-complete batches whose tasks were lost, so nothing stays running (03:00).
        "finish-running-batches-nightly": {
            "task": tasknames.FINISH_RUNNING_BATCHES_NIGHTLY,
            "schedule": crontab(minute=0, hour=3),
            "options": {"queue": tasknames.QUEUE_SCHEDULED},
        },
        # Re-publish inbox rows and batches that never reached a worker (every minute by default).
        "sweep-inbox": {
            "task": tasknames.SWEEP_INBOX,
            "schedule": float(sweep_interval_s),
            # A sweep still waiting when the next one is due is dropped, so they never pile up.
            "options": {"queue": tasknames.QUEUE_SCHEDULED, "expires": max(1.0, sweep_interval_s - 5)},
        },
        # Ask Billecta to resend each creditor's failed webhooks of the last 48 hours (03:00).
        "retrigger-failed-webhooks": {
            "task": tasknames.RETRIGGER_FAILED_WEBHOOKS_NIGHTLY,
            "schedule": crontab(minute=0, hour=3),
            "options": {"queue": tasknames.QUEUE_SCHEDULED},
        },
        # Sent or partly paid invoices past their due date become expired (00:30; once a day).
        "set-invoices-as-expired": {
            "task": tasknames.SET_INVOICES_AS_EXPIRED,
            "schedule": crontab(minute=30, hour=0),
            "options": {"queue": tasknames.QUEUE_SCHEDULED},
        },
        # Delete finished inbox rows and monitor history older than RETENTION_DAYS (02:15).
        "cleanup-old-records": {
            "task": tasknames.CLEANUP_OLD_RECORDS,
            "schedule": crontab(minute=15, hour=2),
            "options": {"queue": tasknames.QUEUE_SCHEDULED},
        },
    }
