"""Benchmark: the CPU the ingest phase spends storing pages (`Ingestor.store_page`), per record read.

The simulators serve a world of N companies (with the ledger's accounts, loans and transactions); every stream of
every connector is pulled once into memory (that CPU is not counted), then the pages are stored into a fresh
store three times, each pass in one transaction per page as the engine does:

- ``new``: every record inserted;
- ``same``: the same pages again (every record unchanged — the common incremental case);
- ``changed``: the same pages with every client/contact record's content changed (every record updated).

    python bench/ingest_store.py                      # 10,000 companies, SQLite
    python bench/ingest_store.py --clients 50000 --url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/ingest_store.py --sync               # also: a real sync's ingest-phase CPU per record read
    python bench/ingest_store.py --with-transactions  # also the ledger's transactions (~70 per company)
    python bench/ingest_store.py --pages var/bench/pages10k.pickle   # pull once, then re-use the pages

``--url`` must name an empty scratch database (its tables are dropped and re-created). ``--sync`` runs a full
`crmhub sync` against a fresh SQLite store and prints the CPU of the ingest phase (pull + map + store) per record.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pickle
import time
from pathlib import Path
from typing import Any

from sync_common import engine_for, env_note, records_read, start_sandbox


async def _pull_all(engine: Any) -> list[tuple[str, Any, list[Any]]]:
    """(connector, stream spec, pages) of every stream, from the stored cursor None."""
    from contextlib import AsyncExitStack

    from crmhub.contract import PluginContext
    from crmhub.sync.ingest_phase import STREAM_ORDER

    out: list[tuple[str, Any, list[Any]]] = []
    async with AsyncExitStack() as stack:
        for name, cfg in engine.settings.connectors.items():
            cls = engine.registry.connectors[cfg.plugin]
            conn = await stack.enter_async_context(cls(cfg, PluginContext(name=name, token_cache=None)))
            wanted = cfg.streams
            for spec in sorted(
                (s for s in conn.streams if wanted is None or s.name in wanted),
                key=lambda s: STREAM_ORDER.get(s.kind, 9),
            ):
                pages = [page async for page in conn.pull(spec.name, None)]
                out.append((name, spec, pages))
    return out


def _changed(pages: list[Any]) -> list[Any]:
    """The pages with every client/contact record's name changed (so its content hash changes)."""
    from crmhub.contract import Page

    result = []
    for page in pages:
        records = []
        for rec in page.records:
            data = rec.data
            if data is not None and hasattr(data, "name") and isinstance(data.name, str):
                records.append(rec.model_copy(update={"data": data.model_copy(update={"name": data.name + "X"})}))
            else:
                records.append(rec)
        result.append(Page(records=records, next_cursor=page.next_cursor, rejected=page.rejected))
    return result


def _store_pass(store: Any, streams: list[tuple[str, Any, list[Any]]], label: str) -> dict[str, Any]:
    from crmhub.sync.ingest import Ingestor, StreamStats

    read = 0
    per_stream: dict[str, float] = {}
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    for name, spec, pages in streams:
        ingestor = Ingestor(name, None)
        stats = StreamStats()
        t = time.process_time()
        for page in pages:
            with store.begin() as s:
                ingestor.store_page(s, spec, page, stats)
        if hasattr(ingestor, "analyze_after_bulk"):  # as the engine does after a connector's streams
            with store.begin() as s:
                ingestor.analyze_after_bulk(s)
        per_stream[f"{name}/{spec.name}"] = time.process_time() - t
        read += stats.read
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    print(
        f"{label:<8} {read:>8} records  {cpu:7.2f} s CPU  {wall:7.2f} s wall  "
        f"{cpu / max(read, 1) * 1e6:7.1f} µs CPU/record"
    )
    for key, secs in per_stream.items():
        n = sum(len(p.records) for c, sp, pages in streams if f"{c}/{sp.name}" == key for p in pages)
        print(f"           {key:<28} {n:>8} records {secs / max(n, 1) * 1e6:8.1f} µs/record")
    return {"pass": label, "records": read, "cpu_s": round(cpu, 3), "us_per_record": round(cpu / max(read, 1) * 1e6, 1)}


def _fresh_store(url: str) -> Any:
    from crmhub.store import Store
    from crmhub.store.tables import Base

    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
        eng.dispose()
    store = Store.open(url)
    assert Base.metadata.tables  # migrated by Store.open
    return store


class _PhaseClock:
    """A Progress that notes the CPU time at each phase switch (ingest runs first)."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: Any) -> None:
        return None

    def phase(self, name: str) -> None:
        self.marks.append((name, time.process_time()))


def _sync(sandbox: Any, workdir: Path, ledger: list[str] | None) -> None:
    (workdir / "sync").mkdir(exist_ok=True)
    engine = engine_for(sandbox, workdir / "sync", None, ledger)
    clock = _PhaseClock()
    engine.progress = clock
    report = asyncio.run(engine.run())
    end = time.process_time()
    marks = [*clock.marks, ("end", end)]
    read = records_read(report)
    cpu = {name: marks[i + 1][1] - t for i, (name, t) in enumerate(marks[:-1])}
    print(
        f"sync: {read} records read, status {report.status}; CPU per phase: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items())
    )
    print(f"sync: ingest {cpu.get('ingest', 0) / max(read, 1) * 1e6:.1f} µs CPU/record read (pull + map + store)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--speed", type=float, default=50.0)
    parser.add_argument("--url", default=None, help="scratch store (default: a fresh SQLite file)")
    parser.add_argument("--sync", action="store_true", help="also run a full sync and print ingest CPU/record")
    parser.add_argument(
        "--with-transactions",
        action="store_true",
        help="also pull the ledger's transactions (~70 per company; else clients, accounts, loans)",
    )
    parser.add_argument(
        "--pages",
        type=Path,
        default=None,
        help="pickle of the pulled pages: read if it exists (no simulators started), else written",
    )
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the store passes here")
    args = parser.parse_args()
    print(env_note())
    workdir = Path(f"var/bench/ingest_store_{args.clients}")
    ledger = None if args.with_transactions else ["clients", "accounts", "loans"]
    sandbox = None
    if args.pages is not None and args.pages.exists() and not args.sync:
        streams = pickle.loads(args.pages.read_bytes())
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        sandbox = start_sandbox(workdir, args.clients, args.seed, args.speed, ledger_detail=True)
        engine = engine_for(sandbox, workdir, None, ledger)
        t = time.process_time()
        streams = asyncio.run(_pull_all(engine))
        print(f"pulled in {time.process_time() - t:.1f} s CPU (not counted)")
        if args.pages is not None:
            args.pages.write_bytes(pickle.dumps(streams))
    gc.collect()
    gc.freeze()  # the pulled pages live all run: keep the collector from re-scanning them at every store pass
    try:
        print(
            f"{sum(len(p.records) for _, _, ps in streams for p in ps)} records in "
            f"{sum(len(ps) for _, _, ps in streams)} pages"
        )
        url = args.url or f"sqlite:///{(workdir / 'ingest.db').resolve()}"
        store = _fresh_store(url)
        print(f"store: {store.dialect}")
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        _store_pass(store, streams, "new")
        _store_pass(store, streams, "same")
        _store_pass(store, [(c, s, _changed(p)) for c, s, p in streams], "changed")
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        store.dispose()
        if args.sync and sandbox is not None:
            _sync(sandbox, workdir, ledger)
    finally:
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    main()
