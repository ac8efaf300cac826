"""The worker's Celery application: the shared broker configuration, every catalogue job as a task, and
beat's schedule.

``celery -A workers.celery_app worker -Q webhooks,interactive`` runs a worker; the gateway and the CLI
publish through ``taskqueue`` and never import this module.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from billecta_sync.settings import Settings, get_settings
from taskqueue import make_celery
from workers.tasks import register_tasks


@signals.setup_logging.connect
def _setup_logging(**_kwargs: Any) -> None:
    # Connecting this signal stops Celery from configuring logging its own way.
    from billecta_sync.logs import configure_logging

    configure_logging(get_settings().log_level)


@signals.worker_init.connect
def _start_metrics(**_kwargs: Any) -> None:
    # In the worker's main process, once: its exporter serves the values of all its pool processes when
    # PROMETHEUS_MULTIPROC_DIR is set (devstack sets it; see docs/operations.md, Metrics).
    from billecta_sync.metrics import start_worker_exporter

    settings = get_settings()
    start_worker_exporter(settings.worker.metrics_port, settings.worker.metrics_addr)


def uses_threads(pool_cls: Any) -> bool:
    """Whether a worker's pool (``--pool``: a name or a class) is Celery's thread pool."""
    from celery.concurrency import get_implementation
    from celery.concurrency.thread import TaskPool as ThreadPool

    pool = get_implementation(pool_cls)
    return isinstance(pool, type) and issubclass(pool, ThreadPool)


@signals.worker_init.connect
def _prepare_pool(sender: Any = None, **_kwargs: Any) -> None:
    # The thread pool runs every task in this process: size the shared database pool to its threads and
    # enforce the time limits the pool does not (workers.timelimits). Prefork needs neither.
    if sender is None or not uses_threads(sender.pool_cls):
        return
    import logging

    from billecta_sync.container import set_concurrency
    from workers import timelimits

    threads = sender.concurrency if isinstance(sender.concurrency, int) else (os.cpu_count() or 1)
    set_concurrency(threads)
    timelimits.enable()
    logging.getLogger("billecta_sync.tasks").info(
        "thread pool of %s: soft time limits at each task's next outbound request, hard ones end this process",
        threads)


@signals.worker_process_shutdown.connect
def _forget_process(pid: int | None = None, **_kwargs: Any) -> None:
    from billecta_sync.metrics import mark_process_dead

    mark_process_dead(pid or os.getpid())


def make_worker_app(settings: Settings | None = None) -> Celery:
    from beat_schedule import beat_schedule

    settings = settings or get_settings()
    app = make_celery(settings)
    # Reconnects after a broker outage on the thread pool too (see workers.consumer).
    app.conf.worker_consumer = "workers.consumer:Consumer"
    register_tasks(app)
    app.conf.beat_schedule = beat_schedule(settings)
    return app


_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    # ``celery -A workers.celery_app`` looks up ``app``; building it lazily keeps imports free of settings.
    global _app
    if name in {"app", "celery"}:
        if _app is None:
            _app = make_worker_app()
        return _app
    raise AttributeError(name)
