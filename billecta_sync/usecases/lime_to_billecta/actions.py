"""Running an action a Lime user started on one object: under the object's lock, its errors reported on it.

A refusal (Billecta's 400, or one of our own checks) is reported at once and raised as ``ActionRefused``;
any other failure only on the last attempt, while the task still retries it. Reporting never hides the
original failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billecta_sync.billecta.errors import BillectaApiBadRequestException
from billecta_sync.container import Services
from billecta_sync.errors import ActionRefused
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.retry import is_retryable

Report = Callable[[str], None]


def error_on(repo: LimeRepo, limetype: str, object_id: int) -> Report:
    """A ``Report`` writing the message into the object's ``billecta_error_message``."""

    def report(message: str) -> None:
        repo.update(limetype, object_id, {"billecta_error_message": message[:2000]})

    return report


def run_reported(services: Services, lock_key: str, act: Callable[[], Any], report: Report, *,
                 final_attempt: bool) -> Any:
    try:
        with object_lock(services.redis, lock_key, timeout_s=services.settings.worker.lock_timeout_s):
            return act()
    except BillectaApiBadRequestException as exc:
        message = f"Billecta refused: {getattr(exc, 'message', None) or exc}"
        report_safely(report, message)
        raise ActionRefused(message) from None
    except ActionRefused as exc:
        report_safely(report, str(exc))
        raise
    except Exception as exc:
        if final_attempt or not is_retryable(exc):
            report_safely(report, f"{type(exc).__name__}: {exc}")
        raise


def report_safely(report: Report, message: str) -> None:
    try:
        report(message)
    except Exception:  # reporting must not hide the original failure
        pass
