"""Helpers shared by the benchmarks: a stack in a temp dir, an HTTP load generator, percentiles, tables."""

from __future__ import annotations

import http.client
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from devstack.stack import Ports, Stack, StackConfig, free_port, redis_answers

REDIS_BASE_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
GATEWAY_APP = "webhook_gateway.wsgi:app"
BARE_APP = "bench.bare_app:app"

_T0 = time.monotonic()


def say(message: str) -> None:
    """Progress output, stamped with the seconds since the benchmarks started."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", flush=True)


# --- figures ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")


def fmt_ratio(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}x"  # NaN check without math


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table; the first column is left-aligned, others right-aligned when all look numeric."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [i > 0 and len(cells) > 1 and all(not row[i] or row[i][0] in "0123456789-." for row in cells[1:])
               for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if right else c.ljust(w)
                         for c, w, right in zip(row, widths, numeric, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(f"\n{title}\n{format_table(headers, rows)}\n", flush=True)


@dataclass
class SummaryRow:
    """One line of the final table: a figure, its same-run baseline and their ratio."""

    bench: str
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""


# --- the stack -------------------------------------------------------------------------------------


@dataclass
class BenchStack(Stack):
    """The project's ``Stack`` plus a ``bare`` service: ``bench.bare_app`` on the gateway's gunicorn line."""

    bare_port: int = 0

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.bare_port}"

    def commands(self) -> dict[str, list[str]]:
        commands = super().commands()
        gateway = commands["gateway"]
        bind = f"127.0.0.1:{self.config.ports.gateway}"
        if GATEWAY_APP not in gateway or bind not in gateway:
            raise RuntimeError(f"the gateway command line changed shape, cannot derive the bare one: {gateway}")
        self.bare_port = self.bare_port or free_port()
        swap = {GATEWAY_APP: BARE_APP, bind: f"127.0.0.1:{self.bare_port}"}
        commands["bare"] = [swap.get(arg, arg) for arg in gateway]
        return commands

    def start_bare(self, timeout_s: float = 30.0) -> None:
        process = self.start_service("bare")
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the bare app exited with {process.returncode}:\n{self.log_tail('bare')}")
            try:
                if requests.get(f"{self.bare_url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare app did not answer in {timeout_s:.0f} s:\n{self.log_tail('bare')}")
            time.sleep(0.1)

    def dump_logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {name} ({path})\n{self.log_tail(name, lines)}" for name, path in self.logs.items())


def lime_bulk(http: Any, admin_url: str, limetype: str, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows through the Lime sandbox's bulk endpoint (seeding, not part of any figure); their ids."""
    ids: list[int] = []
    for start in range(0, len(rows), 2000):
        resp = http.post(f"{admin_url}/bulk/{limetype}", params={"ids": "1"}, json=rows[start:start + 2000],
                         timeout=120)
        resp.raise_for_status()
        ids += resp.json()["ids"]
    return ids


def flush_redis(url: str) -> None:
    if redis_answers(url):
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()


@contextmanager
def bench_stack(name: str, *, services: tuple[str, ...], redis_index: int, start: bool = True,
                **overrides: Any) -> Iterator[BenchStack]:
    """A stack on free ports in a temp dir with a Redis DB of its own (flushed before and after).

    ``start=False`` only prepares it (Redis, schema): the caller starts the services it wants.
    On failure the temp dir is kept and the log tails are printed.
    """
    var_dir = Path(tempfile.mkdtemp(prefix=f"billecta-bench-{name}-"))
    redis_url = f"{REDIS_BASE_URL}/{redis_index}"
    flush_redis(redis_url)
    config = StackConfig(var_dir=var_dir, ports=Ports.free(), redis_url=redis_url, services=services,
                         quiet=True, **overrides)
    stack = BenchStack(config)
    ok = False
    try:
        if start:
            stack.start(timeout_s=90)
        else:
            stack.prepare()
        yield stack
        ok = True
    finally:
        if not ok:
            print(f"\n!! {name}: something failed; logs kept in {var_dir / 'logs'}\n{stack.dump_logs()}\n",
                  flush=True)
        stack.stop()
        flush_redis(stack.redis_url or redis_url)
        if ok:
            shutil.rmtree(var_dir, ignore_errors=True)


# --- the load generator ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    sent: int = 0
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)  # successful (2xx) requests only
    statuses: Counter[str] = field(default_factory=Counter)  # "200", "503", "error:ConnectionResetError"...

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def ms(self, p: float) -> float:
        return percentile(self.latencies_s, p) * 1000.0

    def add(self, other: LoadResult) -> None:
        """Fold another run into this one (busy seconds add up: rounds are run one after another)."""
        self.sent += other.sent
        self.seconds += other.seconds
        self.latencies_s.extend(other.latencies_s)
        self.statuses.update(other.statuses)


def http_load(url: str, bodies: Sequence[bytes], *, concurrency: int = 16, headers: dict[str, str] | None = None,
              method: str = "POST", label: str = "", progress_every_s: float = 3.0,
              timeout_s: float = 30.0) -> LoadResult:
    """Send every body once from ``concurrency`` threads, each with its own keep-alive connection.

    ``http.client`` rather than ``requests`` keeps the client's own CPU cost low, which matters when
    the client shares two cores with the server it measures. A connection error is counted, the
    request is not retried (so ``sent`` is exact), and the thread reconnects.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    send_headers = {"Content-Type": "application/json", "Connection": "keep-alive", **(headers or {})}
    total = len(bodies)
    counter = itertools.count()
    lock = threading.Lock()
    result = LoadResult()
    done = [0]
    stop_progress = threading.Event()

    def worker() -> None:
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
        try:
            while True:
                index = next(counter)
                if index >= total:
                    break
                started = time.perf_counter()
                try:
                    conn.request(method, path, body=bodies[index], headers=send_headers)
                    resp = conn.getresponse()
                    resp.read()
                    elapsed = time.perf_counter() - started
                    status = str(resp.status)
                    if status.startswith("2"):
                        latencies.append(elapsed)
                    if resp.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    status = f"error:{type(exc).__name__}"
                    conn.close()
                statuses[status] += 1
                with lock:
                    done[0] += 1
        finally:
            conn.close()
            with lock:
                result.latencies_s.extend(latencies)
                result.statuses.update(statuses)

    def progress() -> None:
        last_done, last_t = 0, time.monotonic()
        while not stop_progress.wait(progress_every_s):
            now = time.monotonic()
            current = done[0]
            say(f"  {label}: {current}/{total} requests ({(current - last_done) / (now - last_t):.0f} req/s)")
            last_done, last_t = current, now

    threads = [threading.Thread(target=worker, name=f"load-{i}", daemon=True) for i in range(concurrency)]
    reporter = threading.Thread(target=progress, daemon=True) if label else None
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    if reporter:
        reporter.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    stop_progress.set()
    result.sent = sum(result.statuses.values())
    return result


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def machine_load() -> str:
    """The 1-minute load average against the CPU count: other work on the box skews every figure."""
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return f"{os.cpu_count()} CPUs"


def git_describe() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent.parent)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"
