"""The job catalogue: every job can be run as the workers call it, and the inbox and batches find their jobs.

A slip here shows up only when the job runs (a task that raises ``TypeError`` on every message, a batch whose
tasks no worker knows), so it is checked for every job at once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from billecta_sync import catalogue
from billecta_sync.catalogue import Job, Kind
from billecta_sync.inbound import delivery

ALL_JOBS = sorted(catalogue.JOBS.values(), key=lambda j: j.name)


def declared_jobs() -> list[Job]:
    """Every Job the catalogue module declares (``JOBS`` keeps one per name, so a repeated name would hide)."""
    seen: dict[int, Job] = {}
    for value in vars(catalogue).values():
        if isinstance(value, Job):
            seen[id(value)] = value
    return list(seen.values())


def takes(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("job", ALL_JOBS, ids=lambda j: j.name)
def test_every_use_case_resolves_to_a_function(job: Job) -> None:
    assert callable(job.resolve())
    if job.on_final_failure:
        give_up = job.resolve_final_failure()
        assert give_up is not None and callable(give_up)


def test_job_names_are_unique() -> None:
    names = [job.name for job in declared_jobs()]
    assert len(names) == len(set(names)) == len(catalogue.JOBS)


def test_every_job_runs_on_a_queue_the_workers_consume() -> None:
    assert {job.queue for job in ALL_JOBS} <= set(catalogue.QUEUES)


@pytest.mark.parametrize("operation", sorted(catalogue.OPERATIONS.values(), key=lambda o: o.name),
                         ids=lambda o: o.name)
def test_every_batch_operation_starts_a_per_object_job_that_takes_its_arguments(
        operation: catalogue.BatchOperation) -> None:
    job = operation.job
    assert catalogue.JOBS[job.name] is job
    assert job.kind is Kind.PER_OBJECT and job.limetype == operation.limetype
    extra = {"final_attempt": False} if job.takes_final_attempt else {}
    assert takes(job.resolve(), None, 4711, **operation.params, **extra)


@pytest.mark.parametrize("job", [j for j in ALL_JOBS if j.kind is Kind.PER_OBJECT], ids=lambda j: j.name)
def test_every_per_object_job_is_started_by_a_batch_operation(job: Job) -> None:
    assert job in [op.job for op in catalogue.OPERATIONS.values()]


@pytest.mark.parametrize("job", ALL_JOBS, ids=lambda j: j.name)
def test_every_job_accepts_the_arguments_the_workers_pass(job: Job) -> None:
    fn = job.resolve()
    if job.takes_final_attempt:
        assert "final_attempt" in inspect.signature(fn).parameters
    if job.kind is Kind.SCHEDULED:
        assert job.schedule is not None and takes(fn, None)
    if job.kind is Kind.INBOUND:
        assert takes(fn, None, 1, final_attempt=True)
    give_up = job.resolve_final_failure()
    if give_up is not None:
        assert takes(give_up, None, 1, RuntimeError("gave up"))


def test_only_scheduled_jobs_have_a_schedule() -> None:
    assert {j.name for j in catalogue.scheduled_jobs()} == {j.name for j in ALL_JOBS if j.kind is Kind.SCHEDULED}


@pytest.mark.parametrize("source", sorted(delivery.SOURCES))
def test_every_inbox_source_has_its_inbound_job(source: str) -> None:
    job = catalogue.inbound_job(source)

    assert (job.kind, job.inbox_source, job.queue) == (Kind.INBOUND, source, catalogue.QUEUE_WEBHOOKS)
    assert job.resolve() is delivery.process
    assert job.takes_final_attempt  # the last try marks the row dead instead of failed


def test_an_inbox_source_without_a_job_is_an_error_naming_it() -> None:
    with pytest.raises(KeyError, match="no inbound job for inbox source 'stripe'"):
        catalogue.inbound_job("stripe")
