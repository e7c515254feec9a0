"""SIGTERM and SIGINT for a long-running process, handled by a thread of their own so the process always leaves.

Why not ``loop.add_signal_handler``: its callback runs *on* the event loop, so a loop that is blocked (a blocking
call where an await belonged, a CPU-bound step) or already closed never reacts, and a stop that fails half-way
(an exception in the callback) is logged by the loop and forgotten — the process then runs on until a SIGKILL.
A supervisor (systemd, Kubernetes, `crmhub worker --concurrency`) waits a bounded time, then kills: the promise
"``--grace`` seconds at most" must hold whatever the loop does.

How: `StopSignals` points the interpreter's signal wakeup fd (`signal.set_wakeup_fd`) at a socket that a watchdog
thread reads. The C-level signal handler writes the signal's number there from whichever thread the kernel
picked, so the watchdog learns of the signal without the main thread running a single bytecode. On the first
signal it posts the graceful stop to the loop (``call_soon_threadsafe``; nothing, if the loop has closed) and
starts counting; ``grace`` seconds later, or at a second signal, it logs why, flushes and ends the process with
`os._exit` — exactly a crash, which the engine is built for (committed pages are kept, a job is re-queued or
its locks expire). If even logging hangs (a full stdout pipe), a backstop exits two seconds later without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)
BACKSTOP = 2.0
"""Seconds the forced exit may spend logging before it leaves without finishing the line."""
_WAKE = 0
"""Not a signal number: `close` wakes the watchdog with it."""


def _noop(_signum: int, _frame: Any) -> None:
    """The Python-level handler: the watchdog does the work (a handler must exist for the wakeup fd to be used)."""


class StopSignals:
    """Installs SIGTERM/SIGINT handling for ``loop``: the first signal calls ``on_stop(name)`` on the loop; the
    process ends ``grace`` seconds later, or at the next signal, from a watchdog thread — see the module doc.

    ``on_force(why)`` logs the forced exit (it runs on the watchdog thread); the exit code is ``exit_code``
    (the caller's documented code, `crmhub.core.exit_codes.ExitCode`), or ``clean_code`` once the owner called
    `stopped_cleanly` (a clean stop whose interpreter shutdown lingers).
    Use as a context manager around the loop's work; leaving it restores the previous handlers, but a stop that
    has begun stays timed: the watchdog still ends the process if the rest of the shutdown hangs.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_stop: Callable[[str], object],
        *,
        grace: float,
        on_force: Callable[[str], object],
        exit_code: int,
        clean_code: int = 0,
        exit: Callable[[int], object] = os._exit,
    ) -> None:
        self.loop = loop
        self.on_stop = on_stop
        self.grace = grace
        self.on_force = on_force
        self.exit_code = exit_code
        self.clean_code = clean_code
        self.exit = exit
        self.asked: str | None = None
        """The name of the first signal, once one came."""
        self.clean = False
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1
        self._thread = threading.Thread(target=self._watch, name="crmhub-stop-watchdog", daemon=True)

    def __enter__(self) -> StopSignals:
        return self.install()

    def install(self) -> StopSignals:
        """Install the handlers (main thread only, like any signal handler) and start the watchdog."""
        self._thread.start()
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, _noop)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Restore the previous handlers; the watchdog ends unless a stop is under way (then it keeps timing)."""
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        with contextlib.suppress(OSError):
            self._write.send(bytes([_WAKE]))

    def stopped_cleanly(self) -> None:
        """The owner has finished its stop: should the watchdog still fire, the process exits 0."""
        self.clean = True

    def deliver(self, signum: int) -> None:
        """What the signal handler does, for tests: as if ``signum`` had arrived."""
        with contextlib.suppress(OSError):
            self._write.send(bytes([signum]))

    # --- the watchdog thread ---------------------------------------------------------------------------------

    def _watch(self) -> None:
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._read.settimeout(timeout)
            try:
                data = self._read.recv(64)
            except TimeoutError:
                return self._force(f"grace of {self.grace:g}s expired")
            except OSError:  # pragma: no cover - the socket was closed under us
                return None
            for signum in data:
                if signum == _WAKE:
                    if deadline is None:  # closed without a stop: nothing to time
                        self._read.close()
                        self._write.close()
                        return None
                    continue
                if signum not in SIGNALS:
                    continue  # another signal with a Python handler also writes to the wakeup fd
                name = signal.Signals(signum).name
                if self.asked is not None:
                    return self._force(f"{name} received again")
                self.asked = name
                deadline = time.monotonic() + self.grace
                # a closed loop raises: then only the deadline is left to keep, and it is kept whatever happens
                with contextlib.suppress(Exception):
                    self.loop.call_soon_threadsafe(self.on_stop, name)

    def _force(self, why: str) -> None:
        code = self.clean_code if self.clean else self.exit_code
        backstop = threading.Timer(BACKSTOP, self.exit, args=(code,))
        backstop.daemon = True
        backstop.start()
        try:
            with contextlib.suppress(Exception):  # leaving is all that matters now
                self.on_force(why)
                sys.stdout.flush()
                sys.stderr.flush()
        finally:
            backstop.cancel()
            self.exit(code)
