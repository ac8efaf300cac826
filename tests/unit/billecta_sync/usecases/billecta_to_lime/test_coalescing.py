"""A burst of events about one invoice costs one refresh, and no event is left without a refresh after it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from billecta_sync.container import Services
from billecta_sync.db import Database
from billecta_sync.usecases.billecta_to_lime.coalescing import refresh_coalesced
from tests.unit.fakes import FakeBillecta, FakeLime, QuickLockRedis, RecordingQueue, make_services, settings_for

ACTION = "inv-1"


def services_with_window(tmp_path: Path, db: Database, redis: QuickLockRedis, window_s: str) -> Services:
    return make_services(settings_for(tmp_path, WORKER_COALESCE_WINDOW_S=window_s), db, lime=FakeLime(),
                         billecta=FakeBillecta(), redis=redis, queue=RecordingQueue())


def test_events_arriving_while_a_refresh_waits_are_covered_by_its_one_read(tmp_path: Path, db: Database,
                                                                            fake_redis: QuickLockRedis) -> None:
    services = services_with_window(tmp_path, db, fake_redis, "0.5")
    refreshes: list[frozenset[str]] = []

    def refresh(extras: frozenset[str]) -> str:
        refreshes.append(extras)
        return f"refresh {len(refreshes)}"

    results: list[str] = []
    holder = threading.Thread(target=lambda: results.append(refresh_coalesced(services, ACTION, refresh)))
    holder.start()
    deadline = time.monotonic() + 5
    while not fake_redis.exists(f"lock:invoice:{ACTION}") and time.monotonic() < deadline:
        time.sleep(0.005)  # until the first event holds the invoice and waits for the rest of the burst
    # Two more events of the burst, one of them a payment: both arrive inside the first one's window.
    later = [refresh_coalesced(services, ACTION, refresh, extras={"payments"}),
             refresh_coalesced(services, ACTION, refresh)]
    holder.join()

    assert refreshes == [frozenset({"payments"})]  # one read, and it did what the payment event needed
    assert later == ["covered by the refresh of this invoice already running"] * 2
    assert results == ["refresh 1"]


def test_an_event_after_the_read_began_gets_a_refresh_of_its_own(services: Services) -> None:
    # Window 0: the holder reads at once; an event arriving during that read must not be swallowed by it.
    refreshes: list[frozenset[str]] = []
    in_read = threading.Event()
    release_read = threading.Event()

    def refresh(extras: frozenset[str]) -> str:
        refreshes.append(extras)
        if len(refreshes) == 1:
            in_read.set()
            release_read.wait(5)
        return "ok"

    holder = threading.Thread(target=refresh_coalesced, args=(services, ACTION, refresh))
    holder.start()
    in_read.wait(5)
    assert refresh_coalesced(services, ACTION, refresh, extras={"payments"}) == \
        "covered by the refresh of this invoice already running"
    release_read.set()
    holder.join()

    assert refreshes == [frozenset(), frozenset({"payments"})]  # the holder read again, with the payments


def test_a_failed_refresh_leaves_what_its_events_needed_for_the_next_one(services: Services) -> None:
    def failing(_extras: frozenset[str]) -> str:
        raise ConnectionError("Lime is down")

    with pytest.raises(ConnectionError):
        refresh_coalesced(services, ACTION, failing, extras={"payments"})

    seen: list[frozenset[str]] = []
    refresh_coalesced(services, ACTION, lambda extras: seen.append(extras) or "ok")
    refresh_coalesced(services, ACTION, lambda extras: seen.append(extras) or "ok")

    # The retry (or the next event) still reads the payments; once done, they are not read again.
    assert seen == [frozenset({"payments"}), frozenset()]


def test_other_invoices_are_never_coalesced_together(services: Services) -> None:
    seen: list[str] = []
    for action in ("inv-a", "inv-b", "inv-a"):
        refresh_coalesced(services, action, lambda _extras, a=action: seen.append(a) or "ok")
    assert seen == ["inv-a", "inv-b", "inv-a"]
