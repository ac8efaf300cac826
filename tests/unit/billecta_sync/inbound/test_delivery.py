"""The life cycle of a stored webhook, for both sources: what each outcome leaves on the inbox row (what an
operator sees in the inbox and replays from), and what is put on the queue again."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from billecta_sync import catalogue, inbox, monitor
from billecta_sync.container import Services
from billecta_sync.db import Database, DeadLetter, InboxStatus, MonitorBatch, WebhookInbox, utcnow
from billecta_sync.errors import PermanentError
from billecta_sync.inbound import delivery
from billecta_sync.usecases.billecta_to_lime import events
from billecta_sync.usecases.lime_to_billecta import changes
from tests.unit.fakes import RecordingQueue

ACTION = "0c3e8f0a-9d4b-4f7e-8e2c-6f1d2a3b4c5d"
CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"

# One supported delivery per source, with the event type and object the row is described by.
DELIVERIES: dict[str, tuple[dict[str, Any], str, str]] = {
    "billecta": ({"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": ACTION,
                  "CreditorPublicId": CREDITOR}, "InvoiceActionAttested", f"action:{ACTION}"),
    "lime": ({"event": "debtor.update", "body": {"id": 5, "limetype": "debtor", "values": {"city": "Malmö"},
                                                 "original_values": {"city": "Lund"}}}, "debtor.update", "debtor:5"),
}


@dataclass
class FakeHandler:
    """Stands in for the source's handler: records the events it gets, and fails when told to."""

    raises: BaseException | None = None
    events: list[Any] = field(default_factory=list)

    def __call__(self, _services: Services, event: Any) -> str:
        self.events.append(event)
        if self.raises is not None:
            raise self.raises
        return "applied"


@dataclass(frozen=True)
class Row:
    status: str
    last_error: str
    event_type: str
    object_key: str
    attempts: int
    next_attempt_at: datetime | None


@pytest.fixture(params=sorted(DELIVERIES))
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, source: str) -> FakeHandler:
    fake = FakeHandler()
    if source == "billecta":
        monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested", fake)
    else:
        monkeypatch.setattr(changes, "plan", fake)  # every Lime change goes through plan
    return fake


def store(db: Database, source: str, body: Any = None, *, raw: bytes | None = None,
          status: str = InboxStatus.QUEUED) -> int:
    data = raw if raw is not None else json.dumps(DELIVERIES[source][0] if body is None else body).encode()
    return inbox.record(db, source, {"Content-Type": "application/json"}, data, "127.0.0.1", status=status)


def row(db: Database, inbox_id: int) -> Row:
    with db.session() as session:
        stored = session.get(WebhookInbox, inbox_id)
        assert stored is not None
        return Row(stored.status, stored.last_error, stored.event_type, stored.object_key, stored.attempts,
                   stored.next_attempt_at)


def statuses(db: Database, *ids: int) -> list[str]:
    return [row(db, i).status for i in ids]


# ---- processing ----------------------------------------------------------------------------------------


def test_a_delivery_is_applied_and_its_row_marked_processed(services: Services, source: str,
                                                            handler: FakeHandler) -> None:
    inbox_id = store(services.db, source)

    assert delivery.process(services, inbox_id, final_attempt=False) == "applied"

    _body, event_type, object_key = DELIVERIES[source]
    assert len(handler.events) == 1
    assert row(services.db, inbox_id) == Row(InboxStatus.PROCESSED, "", event_type, object_key, 1, None)


@pytest.mark.parametrize("raw", [b"not json", b"[]"])
def test_an_unreadable_body_is_ignored_without_calling_the_handler(services: Services, source: str,
                                                                   handler: FakeHandler, raw: bytes) -> None:
    inbox_id = store(services.db, source, raw=raw)

    assert delivery.process(services, inbox_id).startswith("ignored: ")

    stored = row(services.db, inbox_id)
    assert (stored.status, stored.last_error.startswith("unreadable: ")) == (InboxStatus.IGNORED, True)
    assert handler.events == []


def test_a_billecta_event_without_a_handler_is_ignored_naming_it(services: Services) -> None:
    inbox_id = store(services.db, "billecta", {"WebhookTriggerType": "SomethingBillectaAddsLater",
                                               "ActionPublicId": ACTION})

    assert delivery.process(services, inbox_id) == "ignored SomethingBillectaAddsLater"

    stored = row(services.db, inbox_id)
    assert (stored.status, stored.event_type, stored.last_error) == (
        InboxStatus.IGNORED, "SomethingBillectaAddsLater", "no handler for SomethingBillectaAddsLater")


def test_a_row_of_a_source_without_processing_is_ignored(services: Services) -> None:
    inbox_id = store(services.db, "lime", raw=b"{}")
    with services.db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == inbox_id).values(source="stripe"))

    assert delivery.process(services, inbox_id) == "ignored: source stripe"
    assert row(services.db, inbox_id).last_error == "no processing for source 'stripe'"


def test_the_same_body_delivered_twice_is_applied_once(services: Services, source: str,
                                                       handler: FakeHandler) -> None:
    first, again = store(services.db, source), store(services.db, source)

    delivery.process(services, first)
    assert delivery.process(services, again) == f"duplicate of inbox row {first}"

    assert len(handler.events) == 1
    assert (row(services.db, again).status, row(services.db, again).last_error) == (
        InboxStatus.DUPLICATE, f"same delivery as inbox row {first}")


def test_a_row_another_worker_is_processing_is_left_to_it(services: Services, source: str,
                                                          handler: FakeHandler) -> None:
    inbox_id = store(services.db, source)
    assert inbox.claim(services.db, inbox_id, lease_s=300) is not None  # a worker holds it

    assert delivery.process(services, inbox_id) == f"inbox row {inbox_id} is finished or being processed elsewhere"
    assert handler.events == [] and row(services.db, inbox_id).status == InboxStatus.PROCESSING


def test_a_retryable_failure_before_the_last_attempt_is_failed_raised_and_processed_on_retry(
        services: Services, source: str, handler: FakeHandler) -> None:
    inbox_id = store(services.db, source)
    handler.raises = ConnectionError("Lime did not answer")

    with pytest.raises(ConnectionError):
        delivery.process(services, inbox_id, final_attempt=False)

    failed = row(services.db, inbox_id)
    assert (failed.status, failed.last_error) == (InboxStatus.FAILED, "ConnectionError: Lime did not answer")
    assert failed.next_attempt_at is not None  # the sweeper republishes it if the retry gets lost

    handler.raises = None
    delivery.process(services, inbox_id, final_attempt=False)
    retried = row(services.db, inbox_id)
    assert (retried.status, retried.last_error, retried.attempts) == (InboxStatus.PROCESSED, "", 2)


def test_a_retryable_failure_on_the_last_attempt_is_dead(services: Services, source: str,
                                                         handler: FakeHandler) -> None:
    inbox_id = store(services.db, source)
    handler.raises = ConnectionError("Lime did not answer")

    with pytest.raises(ConnectionError):
        delivery.process(services, inbox_id, final_attempt=True)

    dead = row(services.db, inbox_id)
    assert (dead.status, dead.last_error, dead.next_attempt_at) == (
        InboxStatus.DEAD, "ConnectionError: Lime did not answer", None)


@pytest.mark.parametrize("error", [PermanentError("invoice 0c3e8f0a is not in Lime"), KeyError("ActionPublicId")],
                         ids=["permanent", "not-retryable"])
def test_an_error_retrying_cannot_help_is_dead_at_once(services: Services, source: str, handler: FakeHandler,
                                                       error: Exception) -> None:
    inbox_id = store(services.db, source)
    handler.raises = error

    with pytest.raises(type(error)):
        delivery.process(services, inbox_id, final_attempt=False)

    dead = row(services.db, inbox_id)
    assert (dead.status, dead.last_error) == (InboxStatus.DEAD, f"{type(error).__name__}: {error}")


# ---- putting stored rows on the queue again -------------------------------------------------------------


def test_republish_queues_each_sources_job_with_the_row_id(db: Database, task_queue: RecordingQueue) -> None:
    billecta_row = store(db, "billecta", status=InboxStatus.RECEIVED)
    lime_row = store(db, "lime", status=InboxStatus.RECEIVED)

    result = delivery.republish(db, task_queue, {lime_row: "lime", billecta_row: "billecta"})

    assert (result.queued, result.unpublished) == ([billecta_row, lime_row], [])
    assert [(p.task, p.args, p.queue) for p in task_queue.published] == [
        (catalogue.inbound_job("billecta").name, [billecta_row], catalogue.QUEUE_WEBHOOKS),
        (catalogue.inbound_job("lime").name, [lime_row], catalogue.QUEUE_WEBHOOKS)]
    assert statuses(db, billecta_row, lime_row) == [InboxStatus.QUEUED, InboxStatus.QUEUED]


def test_after_a_broker_failure_the_rest_stay_received_and_are_reported_unpublished(db: Database) -> None:
    ids = [store(db, source, status=InboxStatus.RECEIVED) for source in ("billecta", "lime", "billecta")]
    queue = RecordingQueue(broker_up_for=1)

    result = delivery.republish(db, queue, inbox.sources_of(db, ids))

    assert (result.queued, result.unpublished) == (ids[:1], ids[1:])
    assert statuses(db, *ids) == [InboxStatus.QUEUED, InboxStatus.RECEIVED, InboxStatus.RECEIVED]
    assert queue.attempts == 2  # no waiting on a dead broker once per row


@pytest.mark.parametrize("broker_up", [True, False])
def test_an_accepted_delivery_is_queued_or_left_received_for_the_sweeper(db: Database, source: str,
                                                                         broker_up: bool) -> None:
    queue = RecordingQueue(broker_up_for=None if broker_up else 0)
    body, event_type, object_key = DELIVERIES[source]

    accepted = delivery.accept(db, queue, source, {}, json.dumps(body).encode(), "127.0.0.1",
                               event_type=event_type, object_key=object_key)

    expected = InboxStatus.QUEUED if broker_up else InboxStatus.RECEIVED
    assert accepted == delivery.Accepted(expected, accepted.inbox_id)
    assert statuses(db, accepted.inbox_id) == [expected]
    assert queue.tasks() == ([(catalogue.inbound_job(source).name, [accepted.inbox_id])] if broker_up else [])
    if not broker_up:
        assert inbox.stuck_ids(db, older_than_s=-60) == [accepted.inbox_id]  # the sweeper will publish it


def test_replay_requeues_finished_rows_marks_their_dead_letters_and_skips_rows_in_progress(
        db: Database, task_queue: RecordingQueue) -> None:
    dead, processed = store(db, "billecta"), store(db, "lime", {"event": "person.update", "body": {"id": 3}})
    in_progress, foreign = store(db, "lime"), store(db, "lime", raw=b"{}")
    inbox.fail(db, dead, "ConnectionError: Lime did not answer", final=True)
    inbox.finish(db, processed, InboxStatus.PROCESSED)
    assert inbox.claim(db, in_progress) is not None
    with db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == foreign).values(source="stripe"))
        session.add(DeadLetter(task_name=catalogue.inbound_job("billecta").name, args=[dead], inbox_id=dead))

    result = delivery.replay(db, task_queue, [dead, processed, in_progress, foreign])

    assert (result.replayed, result.skipped, result.unpublished) == ([dead, processed], [in_progress, foreign], [])
    assert task_queue.tasks() == [(catalogue.inbound_job("billecta").name, [dead]),
                                  (catalogue.inbound_job("lime").name, [processed])]
    assert statuses(db, dead, processed, in_progress) == [InboxStatus.QUEUED, InboxStatus.QUEUED,
                                                          InboxStatus.PROCESSING]
    with db.session() as session:
        assert session.scalar(select(DeadLetter.replayed_at).where(DeadLetter.inbox_id == dead)) is not None


def test_a_replay_while_the_broker_is_down_leaves_the_rows_received_and_says_so(db: Database) -> None:
    ids = [store(db, "billecta"), store(db, "lime")]
    for inbox_id in ids:
        inbox.fail(db, inbox_id, "PermanentError: invoice is not in Lime", final=True)

    result = delivery.replay(db, RecordingQueue(broker_up_for=0), ids)

    assert (result.replayed, result.unpublished) == (ids, ids)
    assert statuses(db, *ids) == [InboxStatus.RECEIVED, InboxStatus.RECEIVED]


def test_the_sweeper_republishes_rows_and_batches_that_never_reached_a_worker(services: Services,
                                                                             task_queue: RecordingQueue) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    stuck, fresh = store(services.db, "lime", status=InboxStatus.RECEIVED), store(services.db, "billecta")
    unstarted = monitor.create_batch(services.db, "Upsert debtors", "upsert_debtors")
    started = monitor.create_batch(services.db, "Upsert articles", "upsert_articles")
    monitor.mark_batch_started(services.db, started, 0)
    with services.db.session() as session:
        session.execute(update(WebhookInbox).where(WebhookInbox.id == stuck).values(updated_at=long_ago))
        session.execute(update(MonitorBatch).values(created_at=long_ago))

    assert delivery.sweep(services) == {"inbox_rows": 1, "batches": 1}

    assert task_queue.tasks() == [(catalogue.inbound_job("lime").name, [stuck]),
                                  (catalogue.START_BATCH.name, [unstarted])]
    assert statuses(services.db, stuck, fresh) == [InboxStatus.QUEUED, InboxStatus.QUEUED]
