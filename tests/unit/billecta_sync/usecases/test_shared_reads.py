"""Lookups that arrive together cost one read, and every caller gets the answer for its own key."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from billecta_sync.container import Services
from billecta_sync.usecases.shared_reads import read_together


def test_concurrent_lookups_share_a_read_and_each_gets_its_own_answer(services: Services) -> None:
    reads: list[list[str]] = []
    lock = threading.Lock()

    def read_many(keys: list[str]) -> Mapping[str, Any]:
        with lock:
            reads.append(keys)
        return {k: {"id": k} for k in keys if k != "k7"}  # k7 does not exist

    answers: dict[str, Any] = {}
    start = threading.Barrier(12)

    def caller(key: str) -> None:
        start.wait()
        answers[key] = read_together(services, "thing", key, read_many)

    threads = [threading.Thread(target=caller, args=(f"k{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == {f"k{n}": ({"id": f"k{n}"} if n != 7 else None) for n in range(12)}
    assert sorted(k for keys in reads for k in keys) == sorted(f"k{n}" for n in range(12))  # each key read once
    assert len(reads) < 12  # and in fewer reads than callers


def test_a_failed_shared_read_leaves_each_caller_to_read_alone(services: Services) -> None:
    calls: list[list[str]] = []

    def flaky(keys: list[str]) -> Mapping[str, Any]:
        calls.append(keys)
        if len(calls) == 1:
            raise ConnectionError("Lime is down")
        return {k: k.upper() for k in keys}

    assert read_together(services, "thing", "a", flaky) == "A"
    assert calls == [["a"], ["a"]]  # the shared read failed, the caller's own read answered
