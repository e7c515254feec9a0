"""A `crmhub worker` always leaves after SIGTERM: cleanly (exit 0) when it can, and ``--grace`` seconds after the
signal at the latest, even when its event loop cannot react (tests/jobs/fault_worker.py injects the faults)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from crmhub.core.exit_codes import ExitCode

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("fault_worker.py")
MARGIN = 10.0
"""Seconds a loaded machine (CI: 2 cores, tests in parallel) may add to the promised exit time."""


class Worker:
    """The fault worker as a subprocess whose stdout lines are read as they come."""

    def __init__(self, config: Path, fault: str, grace: float, cwd: Path) -> None:
        env = {**os.environ, "CRMHUB_LANG": "en", "PYTHONFAULTHANDLER": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(config), fault, str(grace)],
            cwd=cwd,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout], daemon=True).start()

    def wait_for_event(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith("{") and json.loads(line).get("event") == name:
                return
        self.proc.kill()
        raise AssertionError(f"no {name} line within {timeout}s:\n{''.join(self.seen)}\n{self.proc.stderr.read()}")

    def exit_after_sigterm(self, timeout: float) -> tuple[int, float, list[dict[str, Any]], str]:
        """SIGTERM, then wait: the exit code, seconds it took, the JSON lines, stderr."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack on stderr
            time.sleep(2)
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"still running {timeout}s after SIGTERM; stdout:\n{self._drain()}\nstderr:\n{self.proc.stderr.read()}"
            ) from None  # type: ignore[union-attr]
        took = time.monotonic() - sent
        out = self._drain()
        err = self.proc.stderr.read()  # type: ignore[union-attr]
        return code, took, [json.loads(x) for x in out.splitlines() if x.startswith("{")], err

    def _drain(self) -> str:
        time.sleep(0.2)  # the reader thread reaches EOF
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.seen)


def config(tmp_path: Path, store_url: str) -> Path:
    """A worker with no jobs: what matters here is how it stops."""
    path = tmp_path / "c.toml"
    path.write_text(
        tomli_w.dumps({"store": {"url": store_url}, "risk": {"enabled": False}, "notify": {"enabled": False}}),
        encoding="utf-8",
    )
    return path


def test_sigterm_stops_the_worker_despite_a_finished_jobs_token(tmp_path: Path, pg_only: str) -> None:
    """The stop token of a job whose thread and loop have ended is still listed as running when SIGTERM comes
    (its runner is recording the outcome). Its listener must not derail the stop: the worker stops cleanly, exit 0,
    well before the grace — it used to log "Event loop is closed" and run on."""
    grace = 60.0
    w = Worker(config(tmp_path, pg_only), "stale-token", grace, tmp_path)
    w.wait_for_event("worker_started", 60)
    code, took, lines, err = w.exit_after_sigterm(timeout=30)
    events = [line["event"] for line in lines]
    assert code == ExitCode.OK, err
    assert "worker_stopping" in events and events[-1] == "worker_stopped", events
    assert "worker_forced_exit" not in events and "Event loop is closed" not in json.dumps(lines)
    assert took < grace


def test_sigterm_ends_a_worker_whose_loop_is_blocked(tmp_path: Path, pg_only: str) -> None:
    """The event loop is blocked for good (a blocking call where an await belonged): nothing on it can react to
    SIGTERM, yet the process leaves ``--grace`` seconds after the signal, saying why, with exit code FAILED."""
    grace = 3.0
    w = Worker(config(tmp_path, pg_only), "blocked-loop", grace, tmp_path)
    w.wait_for_event("worker_started", 60)
    w.wait_for_event("loop_blocked", 30)
    code, took, lines, err = w.exit_after_sigterm(timeout=grace + MARGIN)
    assert code == ExitCode.FAILED, err
    assert took >= grace - 0.5  # the job had its grace
    forced = [line for line in lines if line.get("event") == "worker_forced_exit"]
    assert forced and "grace of 3s expired" in forced[0]["reason"], lines
