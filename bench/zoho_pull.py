"""Benchmark: pull every Zoho account through the ``zoho_crm`` connector, against same-run baselines.

The simulator runs in its own process (one core for it, one for the client), holding ``--accounts`` synthetic
companies (``crmhub_zoho.simulator.seed.synthetic_companies``; ``--world`` uses the shared `crmhub.sandbox.world.World`
instead, whose Zoho share is about 40 % of its clients). For each added latency (0 ms and 50 ms by default) and a
concurrency limit of 10 (Standard edition, enforced by the simulator) it measures:

* **connector**: `ZohoConnector.pull("accounts")` from scratch, every page committed to a sink (default: SQLite via
  stdlib ``sqlite3``, one transaction per page with its cursor; ``--sink null`` to measure the pull alone). The sink
  is pluggable: any object with ``open()``, ``write(stream, page)`` and ``close()``. The pages go to the sink as
  the engine's ingest stores them: through `crmhub.sync.page_writer.PageWriter`, one writer thread in stream order,
  so the next page is fetched and mapped while one commits.
* **connector, page by page**: the same, each page's commit awaited before the next page is mapped (how ingest
  stored pages before the page writer), for the before/after ratio in one run.
* **bare loop**: one ``page_token`` chain with plain httpx, same fields and page size, each page committed to SQLite.
* **dlt**: the same chain as a ``dlt`` resource loaded into SQLite (``pip install -e '.[bench]'``; skipped if absent).
* **ceiling**: what the simulated limits allow, concurrency × 200 records per round trip, the round trip being the
  added latency plus the simulator's median service time for one page.
* **simulator**: records served per second of the simulator's own busy time.

Prints records/s, CPU seconds and µs per record of the client process (simulator CPU excluded: it runs in its own
process), peak RSS MiB per run and the ratios; no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx

CONCURRENCY = 10


def _read_fields() -> str:
    """The fields the connector asks for, so every run fetches the same pages."""
    from crmhub_zoho.config import ZohoConfig
    from crmhub_zoho.mapping import ZohoMapper

    cfg = ZohoConfig(
        plugin="zoho_crm",
        accounts_url="https://accounts.zoho.com.cn",
        client_id="x",  # type: ignore[arg-type]
        client_secret="x",
        refresh_token="x",
    )  # type: ignore[arg-type]
    return ",".join(ZohoMapper(cfg).read_fields("accounts"))


FIELDS = _read_fields()


# --- the simulator in its own process ------------------------------------------------------------------------


def _serve(port: int, accounts: int, latency_ms: float, use_world: bool, ready: Any) -> None:
    import uvicorn

    from crmhub.contract import SandboxOptions
    from crmhub.sandbox.faults import FaultProfile
    from crmhub.sandbox.runner import server_config
    from crmhub_zoho.simulator import build
    from crmhub_zoho.simulator.seed import synthetic_companies

    if use_world:
        from crmhub.sandbox.world import World

        world: Any = World(seed=1, clients=accounts)
    else:
        world = list(synthetic_companies(accounts, 1, contacts_per_company=0))
    app = build(
        SandboxOptions(
            base_url=f"http://127.0.0.1:{port}",
            world=world,
            faults=FaultProfile(latency_ms=latency_ms),
            settings={"concurrency": CONCURRENCY, "daily_credits": None},
        )
    )
    # Warm-up: render every record once for the benchmark's fields (the simulator caches rendered records), so all
    # measured runs meet the same, warm simulator whatever their order.
    from crmhub_zoho.simulator.records import encoded_page

    store = app.simulator.modules["Accounts"]
    ids = [e[2] for e in store.by_id]
    for i in range(0, len(ids), 1000):
        encoded_page(store, ids[i : i + 1000], FIELDS.split(","), {})
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    threading.Thread(target=lambda: (time.sleep(0.2), ready.set()), daemon=True).start()
    asyncio.run(server.serve())


@contextmanager
def simulator(accounts: int, latency_ms: float, use_world: bool) -> Iterator[str]:
    from crmhub.sandbox.runner import free_port

    port = free_port()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve, args=(port, accounts, latency_ms, use_world, ready), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if ready.is_set() and httpx.get(url + "/_sandbox/stats", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.join(10)


def settings_of(url: str) -> dict[str, Any]:
    from crmhub_zoho.plugin import _config

    return _config(url)


def token(url: str) -> str:
    s = settings_of(url)
    body = httpx.post(
        url + "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": s["client_id"],
            "client_secret": s["client_secret"],
            "refresh_token": s["refresh_token"],
        },
    ).json()
    return str(body["access_token"])


# --- memory -------------------------------------------------------------------------------------------------


class PeakRss:
    """Samples this process's resident set every 20 ms; ``peak`` in MiB."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


# --- sinks --------------------------------------------------------------------------------------------------


class Sink(Protocol):
    """Where the connector's pages go (the lead's store plugs in here)."""

    def open(self) -> None: ...
    def write(self, stream: str, page: Any) -> None: ...
    def close(self) -> None: ...


class NullSink:
    """Counts records only."""

    def open(self) -> None:
        return None

    def write(self, stream: str, page: Any) -> None:
        return None

    def close(self) -> None:
        return None


class SqliteSink:
    """One transaction per page: the mapped records (JSON) and the stream's cursor, as the engine commits them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def open(self) -> None:
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("pragma journal_mode=wal")
        self.db.execute(
            "create table if not exists record (stream text, source_id text, modified_at text, "
            "payload text, primary key (stream, source_id))"
        )
        self.db.execute("create table if not exists cursor (stream text primary key, cursor text)")

    def write(self, stream: str, page: Any) -> None:
        assert self.db is not None
        rows = [
            (stream, r.source_id, r.modified_at.isoformat() if r.modified_at else None, r.data.model_dump_json())
            for r in page.records
        ]
        with self.db:
            self.db.executemany("insert or replace into record values (?, ?, ?, ?)", rows)
            self.db.execute("insert or replace into cursor values (?, ?)", (stream, json.dumps(page.next_cursor)))

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


# --- the runs -----------------------------------------------------------------------------------------------


async def run_connector(url: str, sink: Sink, *, map_records: bool = True, overlap: bool = True) -> dict[str, Any]:
    """The connector's full pull; ``map_records=False`` swaps the canonical mapping for a no-op, to show how much
    of the transport ceiling the reader reaches when CPU is not the limit (a diagnostic, not a product mode);
    ``overlap=False`` awaits each page's commit before the next page is mapped."""
    from crmhub.contract import PluginContext, SourceRecord
    from crmhub.sync.page_writer import PageWriter
    from crmhub_zoho.config import ZohoConfig
    from crmhub_zoho.connector import ZohoConnector

    cfg = ZohoConfig.model_validate({**settings_of(url), "bulk_threshold": 0, "concurrency": CONCURRENCY})
    conn = ZohoConnector(cfg, PluginContext(name="zoho"))
    if not map_records:
        conn.mapper.account = lambda rec: SourceRecord.model_construct(  # type: ignore[method-assign]
            stream="accounts", source_id=rec["id"], raw=rec
        )
    count = 0
    sink.open()
    started = time.perf_counter()
    writer = PageWriter()
    pages = writer.stream()
    async with conn:
        async for page in conn.pull("accounts", None):
            if overlap:
                await pages.submit(functools.partial(sink.write, "accounts", page))
            else:
                await asyncio.to_thread(sink.write, "accounts", page)  # the commit's fsync must not stall fetching
            count += len(page.records) + len(page.rejected)
        await pages.drain()
        writer.close()
        metrics = conn.context.metrics.as_dict()
        mode = conn.last_read_mode
    elapsed = time.perf_counter() - started
    sink.close()
    return {"records": count, "seconds": elapsed, "metrics": metrics, "mode": mode}


def run_bare(url: str, db_path: Path) -> dict[str, Any]:
    db = sqlite3.connect(db_path)
    db.execute("pragma journal_mode=wal")
    db.execute("create table if not exists raw (id text primary key, payload text)")
    headers = {"Authorization": f"Zoho-oauthtoken {token(url)}"}
    count = 0
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        page_token = None
        while True:
            params: dict[str, Any] = {
                "fields": FIELDS,
                "per_page": 200,
                "sort_by": "Modified_Time",
                "sort_order": "asc",
            }
            if page_token:
                params["page_token"] = page_token
            body = client.get("/crm/v8/Accounts", params=params).json()
            rows = [(r["id"], json.dumps(r, ensure_ascii=False)) for r in body["data"]]
            with db:
                db.executemany("insert or replace into raw values (?, ?)", rows)
            count += len(rows)
            page_token = body["info"].get("next_page_token")
            if not body["info"]["more_records"]:
                break
    db.close()
    return {"records": count, "seconds": time.perf_counter() - started}


def run_dlt(url: str, workdir: Path) -> dict[str, Any] | str:
    try:
        import dlt
    except ImportError:
        return "dlt is not installed (pip install -e '.[bench]'); baseline skipped"
    headers = {"Authorization": f"Zoho-oauthtoken {token(url)}"}

    @dlt.resource(name="accounts", write_disposition="replace", primary_key="id")  # type: ignore[misc]
    def accounts() -> Iterator[list[dict[str, Any]]]:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            page_token = None
            while True:
                params: dict[str, Any] = {
                    "fields": FIELDS,
                    "per_page": 200,
                    "sort_by": "Modified_Time",
                    "sort_order": "asc",
                }
                if page_token:
                    params["page_token"] = page_token
                body = client.get("/crm/v8/Accounts", params=params).json()
                yield body["data"]
                page_token = body["info"].get("next_page_token")
                if not body["info"]["more_records"]:
                    break

    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    pipeline = dlt.pipeline(
        pipeline_name="zoho_bench",
        pipelines_dir=str(workdir / "dlt"),
        destination=dlt.destinations.sqlalchemy(credentials=f"sqlite:///{workdir / 'dlt.db'}"),
        dataset_name="zoho",
    )
    started = time.perf_counter()
    pipeline.run(accounts())
    elapsed = time.perf_counter() - started
    normalized = pipeline.last_trace.last_normalize_info
    count = int(normalized.row_counts.get("accounts", 0)) if normalized is not None else 0
    return {"records": count, "seconds": elapsed}


def _dlt_child(url: str, workdir: str, out: Any) -> None:
    with PeakRss() as rss:
        result = run_dlt(url, Path(workdir))
    out.put((result, rss.peak))


def run_dlt_isolated(url: str, workdir: Path) -> tuple[dict[str, Any] | str, float]:
    """dlt in its own process, so its imports (~90 MiB) do not inflate the other runs' memory figures."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_dlt_child, args=(url, str(workdir), out))
    proc.start()
    result, peak = out.get(timeout=1800)
    proc.join(60)
    return result, float(peak)


def service_time(url: str, latency_ms: float) -> float:
    """Median seconds the simulator spent on one 200-record page, injected latency excluded (from its log)."""
    log = httpx.get(
        url + "/_sandbox/requests", params={"path": "/crm/v8/Accounts", "method": "GET"}, timeout=60
    ).json()["requests"]
    ms = [e["ms"] - latency_ms for e in log if e["status"] == 200 and "per_page=200" in e["query"]]
    return max(statistics.median(ms), 0.0) / 1000 if ms else 0.0


def simulator_speed(url: str, seconds: float = 4.0) -> float:
    """Records per second the simulator serves: 4 clients walking disjoint page-number ranges of the 100k world."""
    headers = {"Authorization": f"Zoho-oauthtoken {token(url)}"}
    served = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        nonlocal served
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            n = offset
            while time.perf_counter() < stop:
                body = client.get(
                    "/crm/v8/Accounts", params={"fields": FIELDS, "per_page": 200, "page": n % 10 + 1}
                ).json()
                with lock:
                    served += len(body["data"])
                n += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return served / (time.perf_counter() - started)


def measure(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result (with ``cpu``: CPU seconds of this process, threads included) and its peak RSS."""
    cpu = time.process_time()
    with PeakRss() as rss:
        result = fn()
    result["cpu"] = time.process_time() - cpu
    return result, rss.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--latencies", default="0,50", help="added latency per call, ms, comma-separated")
    parser.add_argument("--sink", choices=("sqlite", "null"), default="sqlite")
    parser.add_argument("--world", action="store_true", help="use crmhub.sandbox.world.World (accounts = clients)")
    parser.add_argument("--skip-dlt", action="store_true")
    args = parser.parse_args(argv)
    # Every runner (connector, bare loop, dlt) allocates many short-lived objects; freezing the import-time heap
    # keeps full GC passes cheap for all of them alike.
    gc.freeze()
    print(
        f"zoho_pull: {args.accounts:,} {'world clients' if args.world else 'accounts'}, concurrency "
        f"{CONCURRENCY}, sink {args.sink}, python {sys.version.split()[0]}"
    )
    for latency in (float(x) for x in args.latencies.split(",")):
        with simulator(args.accounts, latency, args.world) as url, tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sink: Sink = SqliteSink(work / "connector.db") if args.sink == "sqlite" else NullSink()
            serial, serial_mib = measure("serial", lambda s=sink: asyncio.run(run_connector(url, s, overlap=False)))
            conn, conn_mib = measure("connector", lambda s=sink: asyncio.run(run_connector(url, s)))
            stats = httpx.get(url + "/_sandbox/stats", timeout=60).json()
            t_service = service_time(url, latency)
            raw_cpu = time.process_time()
            raw = asyncio.run(run_connector(url, NullSink(), map_records=False))
            raw["cpu"] = time.process_time() - raw_cpu
            bare, bare_mib = measure("bare", lambda w=work: run_bare(url, w / "bare.db"))
            dlt_result: Any = "skipped (--skip-dlt)" if args.skip_dlt else None
            if dlt_result is None:
                dlt_result, dlt_mib = run_dlt_isolated(url, work)
            sim_rate = simulator_speed(url) if latency == 0 else None
        rate = conn["records"] / conn["seconds"]
        bare_rate = bare["records"] / bare["seconds"]
        ceiling = CONCURRENCY * 200 / (latency / 1000 + t_service) if (latency / 1000 + t_service) else float("inf")
        print(f"\n-- added latency {latency:g} ms --")
        print(
            f"connector   {conn['records']:>8,} records {conn['seconds']:7.2f} s {rate:>9,.0f} rec/s "
            f"peak {conn_mib:6.1f} MiB  mode={conn['mode']} calls={conn['metrics']['api_calls']} "
            f"429s={conn['metrics']['throttled']} retries={conn['metrics']['retries']}  "
            f"cpu {conn['cpu']:.2f} s = {conn['cpu'] / max(1, conn['records']) * 1e6:.0f} µs/record"
        )
        print(
            f"page by page{serial['records']:>8,} records {serial['seconds']:7.2f} s "
            f"{serial['records'] / serial['seconds']:>9,.0f} rec/s peak {serial_mib:6.1f} MiB  "
            f"cpu {serial['cpu']:.2f} s = {serial['cpu'] / max(1, serial['records']) * 1e6:.0f} µs/record  "
            "(each commit awaited before the next page is mapped)"
        )
        print(
            f"reader only {raw['records']:>8,} records {raw['seconds']:7.2f} s "
            f"{raw['records'] / raw['seconds']:>9,.0f} rec/s  cpu {raw['cpu'] / max(1, raw['records']) * 1e6:.0f} "
            "µs/record  (no mapping, null sink: transport diagnostic)"
        )
        print(
            f"bare loop   {bare['records']:>8,} records {bare['seconds']:7.2f} s {bare_rate:>9,.0f} rec/s "
            f"peak {bare_mib:6.1f} MiB  cpu {bare['cpu']:.2f} s = "
            f"{bare['cpu'] / max(1, bare['records']) * 1e6:.0f} µs/record"
        )
        if isinstance(dlt_result, dict):
            dlt_rate = dlt_result["records"] / dlt_result["seconds"]
            print(
                f"dlt         {dlt_result['records']:>8,} records {dlt_result['seconds']:7.2f} s "
                f"{dlt_rate:>9,.0f} rec/s peak {dlt_mib:6.1f} MiB"
            )
        else:
            dlt_rate = None
            print(f"dlt         {dlt_result}")
        print(
            f"ceiling     {ceiling:>27,.0f} rec/s  (= {CONCURRENCY} × 200 / ({latency:g} ms + "
            f"{t_service * 1000:.1f} ms service))"
        )
        print(
            f"simulator   429s sent={stats['rejected_concurrency']} peak in flight={stats['peak_in_flight']}"
            + (
                f"  own speed {sim_rate:,.0f} rec/s (4 clients, pages of the {args.accounts:,} world)"
                if sim_rate
                else ""
            )
        )
        serial_rate = serial["records"] / serial["seconds"]
        print(
            f"ratios      connector/bare {rate / bare_rate:.2f}  connector/ceiling {rate / ceiling:.2f}"
            f"  page-by-page/bare {serial_rate / bare_rate:.2f}  overlapped/page-by-page {rate / serial_rate:.2f}"
            + (f"  connector/dlt {rate / dlt_rate:.2f}" if dlt_rate else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
