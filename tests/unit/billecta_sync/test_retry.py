"""The worker's retry policy: which failures are retried, and how long a task waits before the next go."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy.exc
from celery.exceptions import SoftTimeLimitExceeded

from billecta_sync.billecta.errors import (
    BillectaApiBadRequestException,
    BillectaApiConnectionError,
    BillectaApiNotFoundException,
    BillectaApiRateLimitedException,
    BillectaApiRequestException,
    BillectaApiServerError,
)
from billecta_sync.errors import ObjectBusy, PermanentError, RelatedObjectMissing, TransientError
from billecta_sync.lime.errors import (
    LimeBadRequest,
    LimeConnectionError,
    LimeNotFound,
    LimeRateLimited,
    LimeServerError,
)
from billecta_sync.ratelimit import RateLimitTimeout
from billecta_sync.retry import backoff_s, is_retryable
from billecta_sync.settings import load_settings

SAMPLES = 400


class PermanentButLooksTransient(PermanentError, TransientError):
    pass


@pytest.mark.parametrize("exc", [
    TransientError("try later"),
    ObjectBusy("order 7 is locked"),
    RelatedObjectMissing("no creditor yet"),
    ConnectionError("reset"),
    TimeoutError("slow"),
    BillectaApiServerError("Injected server error", status_code=503),
    BillectaApiRateLimitedException("Too many requests", status_code=429, retry_after_s=1),
    BillectaApiConnectionError("connection refused"),
    LimeServerError("boom", 502),
    LimeRateLimited("slow down", 429),
    LimeConnectionError("timed out"),
    SoftTimeLimitExceeded(),
    RateLimitTimeout("ratelimit:lime", 30, 4.5),
    sqlalchemy.exc.OperationalError("UPDATE webhook_inbox", {}, Exception("database is locked")),
    redis.exceptions.ConnectionError("redis went away"),
    redis.exceptions.TimeoutError("redis slow"),
], ids=lambda exc: type(exc).__name__)
def test_passing_failures_are_retried(exc: BaseException) -> None:
    assert is_retryable(exc) is True


@pytest.mark.parametrize("exc", [
    PermanentError("Order 7 has no rows."),
    PermanentButLooksTransient("a business rule"),
    BillectaApiBadRequestException("DueDate can't be before InvoiceDate", status_code=400),
    BillectaApiNotFoundException("no such invoice", status_code=404),
    BillectaApiRequestException("conflict", status_code=409),
    LimeBadRequest("bad property", 400),
    LimeNotFound("no such order", 404),
    ValueError("not a number"),
    KeyError("creditor"),
    sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")),
    redis.exceptions.ResponseError("WRONGTYPE"),
], ids=lambda exc: type(exc).__name__)
def test_failures_another_attempt_cannot_cure_are_not_retried(exc: BaseException) -> None:
    assert is_retryable(exc) is False


def test_backoff_grows_with_the_attempt_and_stays_between_one_second_and_the_cap() -> None:
    first = [backoff_s(0, 600) for _ in range(SAMPLES)]
    fourth = [backoff_s(3, 600) for _ in range(SAMPLES)]
    late = [backoff_s(20, 30) for _ in range(SAMPLES)]

    assert all(1.0 <= d <= 2.0 for d in first)
    assert all(1.0 <= d <= 16.0 for d in fourth)
    assert max(fourth) > 8.0  # grown past what the first retries can wait
    assert all(1.0 <= d <= 30.0 for d in late)
    assert max(late) > 16.0
    assert len(set(late)) > SAMPLES // 2  # jittered, so many workers do not retry in lockstep


@pytest.mark.parametrize("exc", [
    BillectaApiRateLimitedException("Too many requests", status_code=429, retry_after_s=20),
    LimeRateLimited("slow down", 429, retry_after_s=20),
], ids=lambda exc: type(exc).__name__)
def test_retry_after_of_a_rate_limit_is_a_floor(exc: BaseException) -> None:
    assert {backoff_s(0, 600, exc) for _ in range(SAMPLES)} == {20.0}


def test_retry_after_never_pushes_the_wait_past_the_cap() -> None:
    # The visibility timeout is only checked against the cap: a longer countdown would let Redis
    # hand the waiting task to a second worker.
    settings = load_settings(env={
        "BILLECTA_SYNC_ENV": "development",
        "BILLECTA_API_BASE_URL": "http://127.0.0.1:8100/v1", "BILLECTA_API_AUTHENTICATION": "SecureToken eA==",
        "LIME_BASE_URL": "http://127.0.0.1:8200/lime/api/v1/", "LIME_API_KEY": "k",
        "GATEWAY_API_KEYS_WEBHOOK": "webhook-key", "GATEWAY_API_KEYS_COMMANDS": "commands-key",
        "GATEWAY_API_KEYS_OPERATOR": "operator-key", "WORKER_RETRY_BACKOFF_MAX_S": "60",
        "WORKER_VISIBILITY_TIMEOUT_S": "300",
    })
    cap = settings.worker.retry_backoff_max_s
    exc = LimeRateLimited("slow down", 429, retry_after_s=3600)

    waits = {backoff_s(0, cap, exc) for _ in range(SAMPLES)}

    assert waits == {60.0}
    assert max(waits) + settings.worker.task_time_limit_s < settings.worker.visibility_timeout_s


def test_retry_after_on_other_errors_does_not_stretch_the_wait() -> None:
    exc = BillectaApiRequestException("odd", status_code=409, retry_after_s=120)

    assert all(1.0 <= backoff_s(0, 600, exc) <= 2.0 for _ in range(SAMPLES))
