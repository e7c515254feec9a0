"""The ingest phase's page writer: pages commit in stream order on one thread, a failed page stops its stream,
memory is bounded, and the engine keeps the crash-safety contract with stores overlapped with fetching."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.config import parse_settings
from crmhub.plugins import load
from crmhub.store import Store
from crmhub.store.tables import GoldenClient, SyncCursor
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.engine import SyncEngine
from crmhub.sync.ingest import Ingestor
from crmhub.sync.page_writer import PageWriter

from .memory_connector import SYSTEMS, MemoryCrm, MemoryPlugin

# --- the writer alone ------------------------------------------------------------------------------------------


async def test_pages_commit_in_order_on_one_thread_off_the_loop() -> None:
    writer = PageWriter(depth=2)
    done: list[int] = []
    threads: set[int] = set()
    seen_after: list[int] = []
    pages = writer.stream(after=lambda: seen_after.append(len(done)))

    def store(i: int) -> None:
        threads.add(threading.get_ident())
        done.append(i)

    try:
        for i in range(20):
            await pages.submit(lambda i=i: store(i))
        await pages.drain()
    finally:
        writer.close()
    assert done == list(range(20))
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert len(seen_after) == 20  # one progress call per committed page, on the loop


async def test_a_failed_page_stops_its_stream_and_its_error_surfaces() -> None:
    writer = PageWriter(depth=2)
    done: list[int] = []
    release = threading.Event()

    def store(i: int) -> None:
        if i == 0:
            release.wait(5)  # pages 1 and 2 queue up behind page 0
        if i == 1:
            raise RuntimeError("the store refused page 1")
        done.append(i)

    pages = writer.stream()
    try:
        await pages.submit(lambda: store(0))
        await pages.submit(lambda: store(1))
        release.set()
        with pytest.raises(RuntimeError, match="page 1"):
            await pages.submit(lambda: store(2))
            await pages.submit(lambda: store(3))
            await pages.drain()
        await pages.drain()
    finally:
        writer.close()
    assert done == [0]  # nothing after the failed page committed


async def test_at_most_depth_pages_wait_for_the_writer() -> None:
    writer = PageWriter(depth=2)
    gate = threading.Event()
    waiting = 0
    most = 0
    lock = threading.Lock()

    def store() -> None:
        nonlocal waiting
        gate.wait(5)
        with lock:
            waiting -= 1

    pages = writer.stream()

    async def producer() -> None:
        nonlocal waiting, most
        for _ in range(10):
            with lock:
                waiting += 1
                most = max(most, waiting)
            await pages.submit(store)

    try:
        task = asyncio.create_task(producer())
        await asyncio.sleep(0.2)
        assert most == 3  # two handed over and blocked; the third waits in submit
        gate.set()
        await task
        await pages.drain()
    finally:
        writer.close()


async def test_a_cancelled_stream_skips_the_pages_not_started() -> None:
    writer = PageWriter(depth=2)
    started = threading.Event()
    gate = threading.Event()
    done: list[int] = []

    def store(i: int) -> None:
        started.set()
        gate.wait(5)
        done.append(i)

    pages = writer.stream()

    async def stream() -> None:
        try:
            for i in range(5):
                await pages.submit(lambda i=i: store(i))
        except asyncio.CancelledError:
            pages.stop()
            raise
        finally:
            await pages.drain()

    try:
        task = asyncio.create_task(stream())
        await asyncio.to_thread(started.wait, 5)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.05)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        writer.close()
    assert done == [0]  # the page inside its transaction finished; the queued ones never started


# --- the engine ------------------------------------------------------------------------------------------------


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("memory", MemoryPlugin())])


@pytest.fixture
def crm() -> MemoryCrm:
    SYSTEMS.clear()
    SYSTEMS["b"] = MemoryCrm()
    for i in range(9):
        SYSTEMS["b"].put(f"Z{i}", name=f"测试{i}号科技有限公司", phone=f"0108765432{i}")
    return SYSTEMS["b"]


def engine(store: Store, registry: Any) -> SyncEngine:
    data = {"connectors": {"crm": {"plugin": "memory", "system": "b", "write_back": {"enabled": False}}}}
    return SyncEngine(parse_settings(data, registry), registry, store)


def stored_ids(store: Store) -> set[str]:
    with store.begin() as s:
        return set(s.scalars(select(SourceRow.source_id).where(SourceRow.connector == "crm")))


async def test_a_page_the_store_fails_commits_nothing_after_it_and_the_rerun_completes(
    store: Store, registry: Any, crm: MemoryCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page 2 (of 5) fails to store while page 3 is already fetched: the stream stops with the error reported,
    pages 3-5 never commit, the cursor stays after page 1, and the next run stores everything exactly once."""
    original = Ingestor.store_page
    calls = 0

    def failing(self: Ingestor, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        original(self, *args, **kwargs)

    monkeypatch.setattr(Ingestor, "store_page", failing)
    report = await engine(store, registry).run(["crm"])
    stats = report.connectors["crm"].streams["accounts"]
    assert "disk full" in stats["error"]
    assert report.status == "partial"
    assert stored_ids(store) == {"Z0", "Z1"}
    with store.begin() as s:
        assert s.get(SyncCursor, ("crm", "accounts")).cursor == {"mod": 2}  # type: ignore[union-attr]
    monkeypatch.setattr(Ingestor, "store_page", original)
    report = await engine(store, registry).run(["crm"])
    assert report.connectors["crm"].streams["accounts"]["created"] == 7
    assert stored_ids(store) == {f"Z{i}" for i in range(9)}


async def test_a_run_cancelled_mid_pull_resumes_without_loss_or_duplicates(
    store: Store, registry: Any, crm: MemoryCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling the run while pages are in the writer leaves a committed prefix with its cursor; the rerun reads
    on from there."""
    original = Ingestor.store_page
    calls = 0
    third = threading.Event()

    def slow(self: Ingestor, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            third.set()
            threading.Event().wait(0.3)  # the cancel lands while page 3 is inside its transaction
        original(self, *args, **kwargs)

    monkeypatch.setattr(Ingestor, "store_page", slow)
    task = asyncio.create_task(engine(store, registry).run(["crm"]))
    await asyncio.to_thread(third.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ids = stored_ids(store)
    with store.begin() as s:
        cursor = s.get(SyncCursor, ("crm", "accounts")).cursor  # type: ignore[union-attr]
    assert ids == {f"Z{i}" for i in range(cursor["mod"])}  # records and cursor agree: a committed prefix
    assert len(ids) == 6  # page 3 finished its transaction; nothing queued behind it started
    monkeypatch.setattr(Ingestor, "store_page", original)
    report = await engine(store, registry).run(["crm"])
    assert report.connectors["crm"].streams["accounts"]["created"] == 3
    assert stored_ids(store) == {f"Z{i}" for i in range(9)}


async def test_a_cancel_stays_a_cancel_when_the_page_in_its_transaction_fails(
    store: Store, registry: Any, crm: MemoryCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page being written when the cancel lands fails: the run still ends as cancelled, in ingest, with nothing
    stored after the failed page (the stream drops that store error rather than turn the cancel into a stream
    error and go on with the connector's next stream)."""
    original = Ingestor.store_page
    calls = 0
    second = threading.Event()

    def failing(self: Ingestor, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            second.set()
            threading.Event().wait(0.3)
            raise RuntimeError("disk full")
        original(self, *args, **kwargs)

    monkeypatch.setattr(Ingestor, "store_page", failing)
    task = asyncio.create_task(engine(store, registry).run(["crm"]))
    await asyncio.to_thread(second.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stored_ids(store) == {"Z0", "Z1"}
    assert calls == 2  # nothing after the failed page was stored
    with store.begin() as s:  # the run stopped in ingest: no later phase ran
        assert s.scalar(select(func.count()).select_from(GoldenClient)) == 0
