"""One read of Lime for a window of a batch's objects, shared by their per-object tasks.

A batch stays one task per object (its own lock, retries and monitor log). The first of a window's tasks
to run claims the next unfinished objects of its batch and reads for all of them at once; the tasks it
claimed wait for that read instead of reading themselves — on a thread pool they start together. What is
read ahead belongs to one task's first attempt (kept under its monitor log, used once, kept ``TTL_S`` at
most): a retry, or a task outside a batch, reads Lime fresh and alone. A reader that dies leaves its
window to read alone after ``WAIT_S``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select

from billecta_sync.container import Services
from billecta_sync.db import MonitorLog, MonitorStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
WINDOW = 50  # objects per shared read: a few queries of one or two pages each
TTL_S = 300
WAIT_S = 10
_DATA_KEY = "read-ahead:{}:data:{}"
_CLAIM_KEY = "read-ahead:{}:claim:{}"
_NONE = "null"


def read_for_batch(services: Services, kind: str, object_id: int, monitor_log_id: int | None,
                   read: Callable[[list[int]], Mapping[int, T]], *, encode: Callable[[T], Any],
                   decode: Callable[[Any], T]) -> T | None:
    """``object_id``'s data as ``read`` returns it (None: it does not exist), read once per window."""
    batch_id, attempts = _log_of(services, monitor_log_id)
    if batch_id is None or monitor_log_id is None or attempts > 1:
        return read([object_id]).get(object_id)
    client = services.redis
    if not client.set(_CLAIM_KEY.format(kind, monitor_log_id), "1", nx=True, ex=TTL_S):
        got = client.blpop([_DATA_KEY.format(kind, monitor_log_id)], timeout=WAIT_S)
        raw = got[1].decode() if got is not None and isinstance(got[1], bytes) else (got[1] if got else None)
        if raw is not None and raw != _NONE:
            return decode(json.loads(raw))
        return read([object_id]).get(object_id)  # its reader died or did not find it: read alone
    window = _claim_window(services, kind, batch_id, monitor_log_id)
    found = read([object_id, *(other for _, other in window)])
    if window:
        pipe = client.pipeline(transaction=False)
        for log_id, other in window:
            key = _DATA_KEY.format(kind, log_id)
            pipe.rpush(key, json.dumps(encode(found[other])) if other in found else _NONE)
            pipe.expire(key, TTL_S)
        pipe.execute()
        log.info("read ahead for %d more %s objects of batch %s", len(window), kind, batch_id)
    return found.get(object_id)


def _log_of(services: Services, monitor_log_id: int | None) -> tuple[int | None, int]:
    """The batch of the task's monitor log and the attempt it is on."""
    if monitor_log_id is None:
        return None, 0
    with services.db.session() as session:
        row = session.execute(select(MonitorLog.batch_id, MonitorLog.attempts)
                              .where(MonitorLog.id == monitor_log_id)).first()
    return (None, 0) if row is None else (row[0], int(row[1] or 0))


def _claim_window(services: Services, kind: str, batch_id: int, monitor_log_id: int) -> list[tuple[int, int]]:
    """(log, object) of the next unfinished tasks of the batch that no other task reads for yet."""
    with services.db.session() as session:
        rows = session.execute(
            select(MonitorLog.id, MonitorLog.object_id)
            .where(MonitorLog.batch_id == batch_id, MonitorLog.id > monitor_log_id,
                   MonitorLog.status == MonitorStatus.RUNNING)
            .order_by(MonitorLog.id).limit(WINDOW - 1)).all()
    candidates = [(int(log_id), int(o)) for log_id, o in rows if str(o).isdigit()]
    if not candidates:
        return []
    pipe = services.redis.pipeline(transaction=False)
    for log_id, _ in candidates:
        pipe.set(_CLAIM_KEY.format(kind, log_id), "1", nx=True, ex=TTL_S)
    return [pair for pair, won in zip(candidates, pipe.execute(), strict=True) if won]
