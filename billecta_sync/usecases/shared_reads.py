"""Lookups that arrive together share one Lime query: a burst of payment events for 300 invoices finds the
300 Lime invoices in a few ``IN`` queries instead of 300 single ones.

Every caller queues its key and waits; whoever holds the leader key (taken with ``SET NX``) drains the
queue, reads every queued key in one ``read_many`` and hands each caller its answer. The read starts after
every answer's caller had queued its key, so an answer is never older than a read of its own would have
been; callers hold their own object's lock meanwhile, as before. A leader that dies or fails leaves its
callers to read alone (at once on a failure, after ``WAIT_S`` on a death), so nothing waits forever.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from billecta_sync.container import Services

GATHER_S = 0.02  # how long a leader lets the others of a burst join before it reads
MAX_KEYS = 200  # one page of Lime's query API
WAIT_S = 10.0
_POLL_S = 0.05
_FAILED = "\x00failed"
_SEP = "\x1f"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

ReadMany = Callable[[list[str]], Mapping[str, Any]]


def read_together(services: Services, kind: str, key: str, read_many: ReadMany) -> Any:
    """``read_many([key]).get(key)``, read in one query with the other callers of ``kind`` waiting now."""
    client = services.redis
    token = f"{key}{_SEP}{uuid.uuid4().hex}"
    queue, leader = f"shared-read:{kind}:queue", f"shared-read:{kind}:leader"
    client.rpush(queue, token)
    deadline = time.monotonic() + WAIT_S
    while True:
        me = uuid.uuid4().hex
        if client.set(leader, me, nx=True, px=int(WAIT_S * 1000)):
            try:
                _lead(client, kind, queue, read_many)
            finally:
                client.eval(_RELEASE, 1, leader, me)
        got = client.blpop([_result_key(kind, token)], timeout=_POLL_S)
        if got is not None:
            raw = got[1].decode() if isinstance(got[1], bytes) else str(got[1])
            if raw == _FAILED:
                return read_many([key]).get(key)  # the shared read failed: this caller's own read says why
            return json.loads(raw)
        if time.monotonic() > deadline:
            return read_many([key]).get(key)


def _lead(client: Any, kind: str, queue: str, read_many: ReadMany) -> None:
    time.sleep(GATHER_S)
    pipe = client.pipeline(transaction=True)
    pipe.lrange(queue, 0, MAX_KEYS - 1)
    pipe.ltrim(queue, MAX_KEYS, -1)
    raw_tokens, _ = pipe.execute()
    tokens = [t.decode() if isinstance(t, bytes) else str(t) for t in raw_tokens]
    if not tokens:
        return
    keys = sorted({t.split(_SEP, 1)[0] for t in tokens})
    try:
        found = read_many(keys)
        answers = {t: json.dumps(found.get(t.split(_SEP, 1)[0])) for t in tokens}
    except Exception:
        answers = dict.fromkeys(tokens, _FAILED)
    pipe = client.pipeline(transaction=False)
    for token, answer in answers.items():
        pipe.rpush(_result_key(kind, token), answer)
        pipe.expire(_result_key(kind, token), int(WAIT_S * 6))
    pipe.execute()


def _result_key(kind: str, token: str) -> str:
    return f"shared-read:{kind}:answer:{token}"
