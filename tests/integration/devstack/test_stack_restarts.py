"""The development stack starts again a service that ended itself asking for it, as compose does in
production: a thread-pool worker exits with ``HARD_LIMIT_EXIT_CODE`` when a task runs past its hard time limit,
and without a restart every webhook after it would wait for nobody."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devstack.stack import Ports, Stack, StackConfig
from workers.timelimits import HARD_LIMIT_EXIT_CODE


def wait_until(probe: object, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_a_service_that_exits_asking_for_a_restart_runs_again_and_one_stopped_on_purpose_stays_stopped(
        tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # The first run ends itself as a worker past a task's hard limit does; the second keeps running.
    script = (f"import pathlib, sys, time\np = pathlib.Path({str(runs)!r})\n"
              "n = len(p.read_text()) if p.exists() else 0\n"
              f"p.write_text('x' * (n + 1))\nif n == 0: sys.exit({HARD_LIMIT_EXIT_CODE})\ntime.sleep(120)\n")
    stack = Stack(StackConfig(var_dir=tmp_path / "var", ports=Ports.free(), services=(), quiet=True))
    stack.start(timeout_s=30)
    try:
        stack.extra_commands["job"] = [sys.executable, "-c", script]
        first = stack.start_service("job")
        assert wait_until(lambda: stack.restarts == ["job"]), "the service was not started again"
        assert first.poll() == HARD_LIMIT_EXIT_CODE
        second = stack.processes["job"]
        assert second is not first and second.poll() is None
        assert wait_until(lambda: runs.exists() and runs.read_text() == "xx")
        stack.kill_service("job")  # a crash a test causes on purpose is left for the test to mend
        time.sleep(1.5)
        assert "job" not in stack.processes and stack.restarts == ["job"]
    finally:
        stack.stop()
