"""Stopping on a signal, whatever the event loop does (`crmhub.jobs.stopping`), and stop tokens that outlive the
loop of the job they belonged to (`crmhub.jobs.guard`). Real signals to this process: the handlers installed here
swallow them (the watchdog's ``exit`` is a recorder), and every test restores the previous handlers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from crmhub.jobs.guard import SafePoints, StopReason, StopToken, post
from crmhub.jobs.stopping import StopSignals


class Exits:
    """Records the watchdog's exit instead of leaving."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.forced: list[str] = []
        self.done = threading.Event()
        self.at = 0.0

    def exit(self, code: int) -> None:
        self.codes.append(code)
        self.at = time.monotonic()
        self.done.set()


@pytest.fixture
def exits() -> Iterator[Exits]:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    yield Exits()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # restored


def watch(loop: asyncio.AbstractEventLoop, exits: Exits, stopped: list[str], grace: float) -> StopSignals:
    return StopSignals(loop, stopped.append, grace=grace, on_force=exits.forced.append, exit_code=1, exit=exits.exit)


async def test_first_signal_stops_on_the_loop_and_the_grace_is_kept(exits: Exits) -> None:
    stopped: list[str] = []
    with watch(asyncio.get_running_loop(), exits, stopped, grace=0.5):
        sent = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(200):
            if stopped:
                break
            await asyncio.sleep(0.01)
        assert stopped == ["SIGTERM"] and exits.codes == []  # graceful first
        assert await asyncio.to_thread(exits.done.wait, 10)
    assert exits.forced == ["grace of 0.5s expired"] and exits.codes == [1]
    assert exits.at - sent >= 0.45


def test_a_blocked_loop_cannot_keep_the_process(exits: Exits) -> None:
    """The loop never runs (this thread is stuck in blocking calls): the signal is seen all the same, and the
    process leaves once the grace has passed."""
    loop = asyncio.new_event_loop()
    stopped: list[str] = []
    try:
        with watch(loop, exits, stopped, grace=0.3):
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 10
            while not exits.done.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)  # "blocked": no event loop iteration ever happens here
    finally:
        loop.close()
    assert stopped == [] and exits.codes == [1] and exits.forced == ["grace of 0.3s expired"]


def test_a_closed_loop_cannot_keep_the_process(exits: Exits) -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with watch(loop, exits, [], grace=0.2):
        os.kill(os.getpid(), signal.SIGINT)
        assert exits.done.wait(10)
    assert exits.codes == [1] and exits.forced == ["grace of 0.2s expired"]


def test_a_second_signal_exits_at_once(exits: Exits) -> None:
    loop = asyncio.new_event_loop()
    try:
        with watch(loop, exits, [], grace=60):
            sent = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGTERM)
            assert exits.done.wait(10)
    finally:
        loop.close()
    assert exits.forced == ["SIGTERM received again"] and exits.at - sent < 5


def test_a_clean_stop_that_lingers_exits_zero(exits: Exits) -> None:
    """The owner finished its stop (worker_stopped logged) but the interpreter's shutdown hangs: exit 0."""
    loop = asyncio.new_event_loop()
    loop.close()
    w = watch(loop, exits, [], grace=0.3).install()
    w.deliver(signal.SIGTERM)
    w.close()  # handlers restored, the stop under way stays timed
    w.stopped_cleanly()
    assert exits.done.wait(10)
    assert exits.codes == [0]


def test_closing_without_a_stop_ends_the_watchdog(exits: Exits) -> None:
    loop = asyncio.new_event_loop()
    try:
        w = watch(loop, exits, [], grace=0.1).install()
        w.close()
        w._thread.join(5)
        assert not w._thread.is_alive()
    finally:
        loop.close()
    time.sleep(0.3)
    assert exits.codes == []


# --- stop tokens ----------------------------------------------------------------------------------------------


def test_a_listener_on_a_closed_loop_does_not_break_the_request() -> None:
    """The token of a job whose loop has ended is still listed while its runner records the outcome; asking it to
    stop then must neither raise (it aborted the worker's SIGTERM handling) nor skip the other listeners."""
    finished = asyncio.new_event_loop()
    token = StopToken()
    SafePoints(finished, token)
    finished.close()
    token.subscribe(lambda _r: (_ for _ in ()).throw(RuntimeError("a broken listener")))
    heard: list[str] = []
    token.subscribe(lambda r: heard.append(r.text))
    token.request("shutdown", "stop")
    assert heard == ["stop"] and token.reason == StopReason("shutdown", "stop")
    assert post(finished, print) is False


def test_unsubscribed_listeners_are_not_called() -> None:
    token = StopToken()
    heard: list[str] = []
    unsubscribe = token.subscribe(lambda r: heard.append(r.text))
    unsubscribe()
    unsubscribe()  # idempotent
    token.request("timeout", "late")
    assert heard == []
    assert token.subscribe(lambda r: heard.append(r.text)) is not None and heard == ["late"]  # at once
