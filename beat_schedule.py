"""The periodic jobs (Celery beat), derived from the schedules in the job catalogue. Times are UTC."""

from __future__ import annotations

import operator
from typing import Any

from celery.schedules import crontab

from billecta_sync import catalogue
from billecta_sync.settings import Settings
from taskqueue import broker_queue


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    # The broker's queue names carry BROKER_NAMESPACE (the docs' check passes a bare stand-in without it).
    namespace = getattr(settings, "broker_namespace", "")
    for job in catalogue.scheduled_jobs():
        schedule = job.schedule
        assert schedule is not None
        options: dict[str, Any] = {"queue": broker_queue(job.queue, namespace)}
        if schedule.interval_setting:
            every = float(operator.attrgetter(schedule.interval_setting)(settings))
            when: Any = every
            if schedule.expires_before_next:
                options["expires"] = max(1.0, every - 5)
        else:
            when = crontab(minute=schedule.minute, hour=schedule.hour)
        entries[job.name.rsplit(".", 1)[-1].replace("_", "-")] = {"task": job.name, "schedule": when,
                                                                  "options": options}
    return entries
