"""The Billecta sandbox's log of the ``/v1`` requests it received, read by ``/_sandbox/requests`` and
``/_sandbox/stats``."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any


class RequestLog:
    """Bounded ring buffer of the API requests received, plus counters for ``/_sandbox/stats``."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            self.by_route[f"{entry['method']} {entry['route'] or 'unmatched'}"] += 1
            self.by_status[str(entry["status"])] += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def counters(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"by_route": dict(self.by_route), "by_status": dict(self.by_status)}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.by_route.clear()
            self.by_status.clear()
