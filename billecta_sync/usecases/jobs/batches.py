"""Starting a monitor batch: resolve the command's query filter in Lime, one log and one task per object."""

from __future__ import annotations

from sqlalchemy import update

from billecta_sync import catalogue, monitor
from billecta_sync.container import Services
from billecta_sync.db import MonitorBatch, MonitorLog
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.queueing import publish_job

PUBLISH_CHUNK = 200


def start_batch(services: Services, batch_id: int) -> dict[str, int]:
    """Create the batch's logs (once) and publish a task for every object not yet published."""
    with services.db.session() as session:
        batch = session.get(MonitorBatch, batch_id)
        if batch is None:
            raise PermanentError(f"monitor batch {batch_id} does not exist")
        operation_name, query_filter = batch.operation, batch.query_filter
    operation = catalogue.OPERATIONS.get(operation_name)
    if operation is None:
        monitor.fail_batch(services.db, batch_id, f"unknown operation {operation_name!r}")
        raise PermanentError(f"unknown operation {operation_name!r}")

    kwargs = dict(operation.params)  # the same for every object of the batch
    queue = services.task_queue()
    logs = monitor.existing_logs(services.db, batch_id)
    if not logs:
        ids = LimeRepo(services.lime, services.mappings).find_ids(operation.limetype, query_filter)
        logs = monitor.add_logs(services.db, batch_id, operation.name, operation.limetype, ids)
    with services.db.session() as session:
        published = {i for (i,) in session.query(MonitorLog.id).filter(
            MonitorLog.batch_id == batch_id, MonitorLog.task_id != "")}
    pending = [(log_id, object_id) for log_id, object_id in logs if log_id not in published]
    for start in range(0, len(pending), PUBLISH_CHUNK):
        chunk = pending[start:start + PUBLISH_CHUNK]
        task_ids = {log_id: publish_job(queue, operation.job, int(object_id), monitor_log_id=log_id, **kwargs)
                    for log_id, object_id in chunk}
        # One commit per chunk, not per task: a 10 000-object batch used to spend most of its start on
        # commits. A start that dies inside a chunk publishes at most that chunk again on retry, and
        # every operation is idempotent, so the repeat only costs requests.
        with services.db.session() as session:
            session.execute(update(MonitorLog), [{"id": log_id, "task_id": task_id[:64]}
                                                 for log_id, task_id in task_ids.items()])
    monitor.mark_batch_started(services.db, batch_id, len(logs))
    if not logs:
        monitor.settle_batches(services.db)
    return {"batch_id": batch_id, "total": len(logs)}


def give_up_start(services: Services, batch_id: int, exc: BaseException) -> None:
    """The start failed for good: the batch says so instead of staying ``running``."""
    monitor.fail_batch(services.db, batch_id, f"Could not start: {exc}")
