"""Idempotency keys for the commands that move money or start a process in Billecta.

A request is identified by its ``Idempotency-Key`` header, or — when the caller sends none (Lime's buttons
don't) — by the digest of its route and body within ``AUTO_WINDOW``, so a double click is one request. The
same key with the same body gets the first answer again (``Idempotent-Replayed: true``); with another body,
a 409. While the first is still running, a repeat waits on the same task instead of starting a second. Only
final answers are kept (success and refusals); a failure that may pass is released so a retry runs.

The workers protect the Billecta call itself the same way (outbound intents keyed by the same key), so a
retried task or a worker killed mid-call cannot book twice either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from billecta_sync.db import Database, IdempotencyKey, utcnow

HEADER = "Idempotency-Key"
AUTO_WINDOW = timedelta(minutes=10)


def body_digest(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Claim:
    state: str  # new | replay | running | conflict
    answer_status: int = 0
    answer_body: Any = None
    task_id: str = ""


def claim(db: Database, scope: str, key: str, digest: str, *, window: timedelta | None = None) -> Claim:
    for _ in range(2):  # a second round only after losing an insert race
        try:
            with db.session() as session:
                row = session.query(IdempotencyKey).filter_by(scope=scope, key=key).one_or_none()
                if row is not None and window is not None and row.created_at < utcnow() - window:
                    session.delete(row)  # an old click: this one is a request of its own
                    session.flush()
                    row = None
                if row is None:
                    session.add(IdempotencyKey(scope=scope, key=key, body_sha256=digest))
                    session.flush()
                    return Claim("new")
                if row.body_sha256 != digest:
                    return Claim("conflict")
                if row.status == "done":
                    return Claim("replay", row.answer_status, json.loads(row.answer_body or "null"))
                return Claim("running", task_id=row.task_id)
        except IntegrityError:
            continue
    return Claim("running")


def set_task(db: Database, scope: str, key: str, task_id: str) -> None:
    with db.session() as session:
        session.query(IdempotencyKey).filter_by(scope=scope, key=key).update({"task_id": task_id[:64]})


def finish(db: Database, scope: str, key: str, status: int, body: Any) -> None:
    with db.session() as session:
        session.query(IdempotencyKey).filter_by(scope=scope, key=key).update(
            {"status": "done", "answer_status": status, "answer_body": json.dumps(body, default=str)})


def release(db: Database, scope: str, key: str) -> None:
    with db.session() as session:
        session.query(IdempotencyKey).filter_by(scope=scope, key=key, status="started").delete()
