"""The durable webhook inbox on a real SQLite file: storing, exclusive claims, outcomes, sweeping, replay."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import update

from billecta_sync import inbox
from billecta_sync.db import Database, InboxStatus, WebhookInbox, utcnow

BODY = '{"WebhookTriggerType": "InvoiceActionAttested",  "ActionPublicId": "a-1", "Note": "Räkning för ÅÄÖ"}\n'


def row(db: Database, inbox_id: int) -> WebhookInbox:
    with db.session() as session:
        found = session.get(WebhookInbox, inbox_id)
        assert found is not None
        return found


def add(db: Database, body: str = BODY, status: str = InboxStatus.RECEIVED, source: str = "billecta") -> int:
    return inbox.record(db, source, {"Content-Type": "application/json"}, body.encode("utf-8"), status=status)


def set_columns(db: Database, inbox_id: int, **values: object) -> None:
    with db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id).values(**values))


def test_record_keeps_the_body_byte_for_byte(db: Database) -> None:
    raw = BODY.encode("utf-8")

    inbox_id = inbox.record(db, "billecta", {"Content-Type": "application/json", "X-Request-Id": "r-7"}, raw,
                            "10.0.0.5", event_type="InvoiceActionAttested", object_key="action:a-1")

    stored = row(db, inbox_id)
    assert stored.body.encode("utf-8") == raw
    assert stored.body_sha256 == hashlib.sha256(raw).hexdigest()
    assert stored.headers == {"Content-Type": "application/json", "X-Request-Id": "r-7"}
    assert stored.remote_addr == "10.0.0.5"
    assert (stored.event_type, stored.object_key) == ("InvoiceActionAttested", "action:a-1")
    assert stored.status == InboxStatus.RECEIVED
    assert stored.attempts == 0


def test_redact_headers_hides_credentials_and_keeps_the_rest() -> None:
    headers = {"Authorization": "SecureToken abc", "x-api-key": "dev-webhook-key", "X-Custom-Key": "k-123",
               "Content-Type": "application/json", "User-Agent": "Billecta"}

    redacted = inbox.redact_headers(headers, extra_secret=["X-CUSTOM-KEY"])

    assert redacted == {"Authorization": "***", "x-api-key": "***", "X-Custom-Key": "***",
                        "Content-Type": "application/json", "User-Agent": "Billecta"}


def test_claim_is_exclusive_while_the_lease_lives_and_free_after_it(db: Database) -> None:
    inbox_id = add(db)
    start = utcnow()

    first = inbox.claim(db, inbox_id, lease_s=300, now=start)
    assert first is not None
    assert first.status == InboxStatus.PROCESSING
    assert first.attempts == 1
    assert first.locked_until == start + timedelta(seconds=300)

    assert inbox.claim(db, inbox_id, lease_s=300, now=start + timedelta(seconds=299)) is None

    # The first worker died: once the lease has run out another may take the row.
    second = inbox.claim(db, inbox_id, lease_s=300, now=start + timedelta(seconds=301))
    assert second is not None
    assert second.attempts == 2


def test_finished_rows_cannot_be_claimed(db: Database) -> None:
    inbox_id = add(db)
    assert inbox.claim(db, inbox_id) is not None
    inbox.finish(db, inbox_id, InboxStatus.PROCESSED, event_type="InvoiceActionAttested", object_key="action:a-1")

    assert inbox.claim(db, inbox_id, now=utcnow() + timedelta(days=1)) is None
    assert inbox.claim(db, 999_999) is None


def test_finish_records_the_outcome(db: Database) -> None:
    inbox_id = add(db)
    inbox.claim(db, inbox_id)

    inbox.finish(db, inbox_id, InboxStatus.PROCESSED, event_type="InvoiceActionStateChanged",
                 object_key="action:a-9")

    done = row(db, inbox_id)
    assert done.status == InboxStatus.PROCESSED
    assert done.processed_at is not None
    assert done.locked_until is None
    assert (done.event_type, done.object_key) == ("InvoiceActionStateChanged", "action:a-9")


def test_non_final_failure_is_retried_and_claimable_again(db: Database) -> None:
    inbox_id = add(db)
    inbox.claim(db, inbox_id)
    before = utcnow()

    inbox.fail(db, inbox_id, "BillectaApiServerError: down", final=False, retry_in_s=60)

    failed = row(db, inbox_id)
    assert failed.status == InboxStatus.FAILED
    assert failed.last_error == "BillectaApiServerError: down"
    assert failed.locked_until is None
    assert failed.next_attempt_at is not None
    assert before + timedelta(seconds=59) <= failed.next_attempt_at <= utcnow() + timedelta(seconds=61)
    again = inbox.claim(db, inbox_id)
    assert again is not None and again.attempts == 2


def test_final_failure_makes_the_row_dead(db: Database) -> None:
    inbox_id = add(db)
    inbox.claim(db, inbox_id)

    inbox.fail(db, inbox_id, "PermanentError: no creditor", final=True)

    dead = row(db, inbox_id)
    assert dead.status == InboxStatus.DEAD
    assert dead.last_error == "PermanentError: no creditor"
    assert dead.next_attempt_at is None
    assert inbox.claim(db, inbox_id) is None  # only an operator's replay brings it back


def test_earlier_twin_is_a_processed_delivery_with_the_same_body(db: Database) -> None:
    unprocessed = add(db)
    redelivered = add(db)
    other_body = add(db, body=BODY.replace("a-1", "a-2"))

    assert inbox.earlier_twin(db, row(db, redelivered)) is None  # the twin exists but was not processed

    inbox.finish(db, unprocessed, InboxStatus.PROCESSED)
    assert inbox.earlier_twin(db, row(db, redelivered)) == unprocessed
    assert inbox.earlier_twin(db, row(db, other_body)) is None
    assert inbox.earlier_twin(db, row(db, unprocessed)) is None  # a row is not its own twin


def test_same_body_from_another_source_is_no_twin(db: Database) -> None:
    processed = add(db, source="lime")
    inbox.finish(db, processed, InboxStatus.PROCESSED)

    assert inbox.earlier_twin(db, row(db, add(db, source="billecta"))) is None


def test_stuck_ids_picks_old_unqueued_rows_and_expired_leases_only(db: Database) -> None:
    now = utcnow()
    old = now - timedelta(minutes=10)
    old_received = add(db)
    old_queued = add(db, status=InboxStatus.QUEUED)
    fresh_received = add(db)
    fresh_queued = add(db, status=InboxStatus.QUEUED)
    expired_lease = add(db)
    live_lease = add(db)
    old_processed = add(db, status=InboxStatus.PROCESSED)
    old_dead = add(db, status=InboxStatus.DEAD)
    for inbox_id in (old_received, old_queued, old_processed, old_dead):
        set_columns(db, inbox_id, updated_at=old)
    assert inbox.claim(db, expired_lease, lease_s=60, now=old) is not None  # lease ended 9 minutes ago
    assert inbox.claim(db, live_lease, lease_s=300, now=now) is not None

    stuck = inbox.stuck_ids(db, older_than_s=120, now=now)

    assert stuck == [old_received, old_queued, expired_lease]
    assert fresh_received not in stuck and fresh_queued not in stuck


def test_stuck_ids_takes_failed_rows_whose_retry_is_long_overdue(db: Database) -> None:
    now = utcnow()
    overdue = add(db, status=InboxStatus.FAILED)
    waiting = add(db, status=InboxStatus.FAILED)
    set_columns(db, overdue, next_attempt_at=now - timedelta(minutes=5))
    set_columns(db, waiting, next_attempt_at=now + timedelta(minutes=5))

    assert inbox.stuck_ids(db, older_than_s=120, now=now) == [overdue]


def test_select_for_replay_requires_a_criterion(db: Database) -> None:
    add(db)
    with pytest.raises(ValueError, match="say which rows to replay"):
        inbox.select_for_replay(db)


def test_select_for_replay_by_status_ids_and_source(db: Database) -> None:
    dead_one = add(db, status=InboxStatus.DEAD)
    add(db, status=InboxStatus.PROCESSED)
    dead_lime = add(db, status=InboxStatus.DEAD, source="lime")

    assert inbox.select_for_replay(db, status=InboxStatus.DEAD) == [dead_one, dead_lime]
    assert inbox.select_for_replay(db, status=InboxStatus.DEAD, source="billecta") == [dead_one]
    assert inbox.select_for_replay(db, ids=[dead_lime, 424242]) == [dead_lime]
    assert inbox.select_for_replay(db, since=utcnow() + timedelta(hours=1)) == []


def test_reset_for_replay_puts_dead_rows_back_to_received(db: Database) -> None:
    dead = add(db)
    inbox.claim(db, dead)
    inbox.fail(db, dead, "gave up", final=True)
    busy = add(db)
    inbox.claim(db, busy)

    assert inbox.reset_for_replay(db, [dead, busy]) == 1

    replayed = row(db, dead)
    assert replayed.status == InboxStatus.RECEIVED
    assert replayed.attempts == 1  # history kept
    assert replayed.next_attempt_at is None
    assert row(db, busy).status == InboxStatus.PROCESSING  # a worker holds it: left alone
    assert inbox.claim(db, dead) is not None
    assert inbox.reset_for_replay(db, []) == 0
    assert inbox.counts_by_status(db) == {InboxStatus.PROCESSING: 2}
