"""The task queue as the core sees it: put a job on its queue, wait briefly for an answer.

The core only depends on this interface; ``taskqueue`` implements it on Celery, and unit tests pass
recording fakes, so orchestration (batch start, sweeper, replay) is tested without a broker.
"""

from __future__ import annotations

from typing import Any, Protocol

from billecta_sync.catalogue import Job


class TaskFailed(Exception):
    """The task ran and reported an error; the message is the task's own."""


class TaskQueue(Protocol):
    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False,
                **options: Any) -> str:
        """Put one task on ``queue``; return its id. Raises when the broker cannot take it.

        ``options`` may hold ``kwargs`` (the task's keyword arguments)."""
        ...

    def wait(self, task_id: str, timeout: float) -> Any | None:
        """The task's return value, or ``None`` when it is not there within ``timeout`` seconds.

        Raises ``TaskFailed`` when the task itself failed."""
        ...


def publish_job(queue: TaskQueue, job: Job, *args: Any, want_result: bool = False, **kwargs: Any) -> str:
    """Publish ``job`` with positional ids and keyword arguments, on the job's own queue."""
    if kwargs:
        return queue.publish(job.name, list(args), job.queue, want_result=want_result, kwargs=kwargs)
    return queue.publish(job.name, list(args), job.queue, want_result=want_result)
