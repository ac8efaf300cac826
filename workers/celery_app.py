"""The Celery application: Redis broker, named queues, at-least-once delivery settings.

``celery -A workers.celery_app worker -Q webhooks,interactive`` runs a worker; the gateway builds its
own instance with ``make_celery`` only to publish tasks by name.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from kombu import Queue

from billecta_sync import tasknames
from billecta_sync.settings import Settings, get_settings

TASK_MODULES = ("workers.tasks.webhooks", "workers.tasks.orders", "workers.tasks.monitor", "workers.tasks.outbound",
                "workers.tasks.lime_webhooks",
                "workers.tasks.billecta_jobs")


def celery_config(settings: Settings) -> dict[str, object]:
    vt = settings.worker.visibility_timeout_s
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        # At-least-once: a task is acknowledged only after it ran, and put back if its worker died.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Redis redelivers unacknowledged tasks after this long; it must outlast any retry countdown.
        "broker_transport_options": {"visibility_timeout": vt},
        "result_backend_transport_options": {"visibility_timeout": vt},
        "visibility_timeout": vt,
        "task_ignore_result": True,  # interactive tasks opt back in; history lives in our own tables
        "result_expires": 600,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(name) for name in tasknames.QUEUES],
        "task_default_queue": tasknames.QUEUE_BULK,
        "task_routes": {name: {"queue": queue} for name, queue in tasknames.ROUTES.items()},
        "task_soft_time_limit": settings.worker.task_soft_time_limit_s,
        "task_time_limit": settings.worker.task_time_limit_s,
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5,
                                      "interval_max": 2},
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        "worker_soft_shutdown_timeout": 10.0,
        "worker_max_tasks_per_child": 1000,
        "worker_hijack_root_logger": False,
        # No "task-sent" event per publish: it doubled the cost of acknowledging a webhook; Flower still
        # sees every task through the workers' own events.
        "task_send_sent_event": False,
        "worker_send_task_events": True,
        "timezone": "UTC",
        "enable_utc": True,
    }


@signals.setup_logging.connect
def _setup_logging(**_kwargs: Any) -> None:
    # Connecting this signal stops Celery from configuring logging its own way.
    from billecta_sync.logs import configure_logging

    configure_logging(get_settings().log_level)


def make_celery(settings: Settings | None = None, *, include_tasks: bool = False) -> Celery:
    settings = settings or get_settings()
    app = Celery("billecta_sync", include=list(TASK_MODULES) if include_tasks else [])
    app.conf.update(celery_config(settings))
    if include_tasks:
        from beat_schedule import beat_schedule

        app.conf.beat_schedule = beat_schedule(settings.worker.sweep_interval_s)
    return app


_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    # ``celery -A workers.celery_app`` looks up ``app``; building it lazily keeps imports free of settings.
    global _app
    if name in {"app", "celery"}:
        if _app is None:
            _app = make_celery(include_tasks=True)
        return _app
    raise AttributeError(name)
