"""Benchmark: pull 100,000 Fenxiang accounts through the connector, against the simulator on loopback.

What it prints (all measured in the same run):

- the simulator's own speed: server-side (planning, filtering, page assembly, no HTTP) and through a bare httpx
  loop doing the same keyset scan with no pacing (records/s; that figure is bounded by the client's parsing);
- the connector un-paced (records/s, and its ratio to the bare loop = the cost of auth, decoding, mapping and
  validation into canonical records);
- the connector paced to Fenxiang's limit — 100 calls / 20 s per path, scaled down by ``--scale`` on *both* sides
  (simulator window and connector window) so the run stays short — with its ratio to the ceiling that limit
  allows (``100 calls × 100 rows / window``);
- the bench process's peak RSS (the simulator runs in its own process, so this is the connector's).

The sink is pluggable (``--sink module:factory``; the factory returns an object with ``async write(page)`` and
``async close()``): the default counts and drops pages; the store adds "into the store" later.

    python bench/fxiaoke_pull.py                      # World of 240,000 clients ≈ 100,000 accounts
    python bench/fxiaoke_pull.py --source generated --accounts 100000 --scale 10
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import multiprocessing as mp
import os
import resource
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from crmhub.contract import Page, PluginContext
from crmhub_fxiaoke import FxiaokeConfig, FxiaokeConnector
from crmhub_fxiaoke.simulator import default_settings

PAGE = 100
CALLS = 100
WINDOW = 20.0


class Sink(Protocol):
    """Where pulled pages go."""

    async def write(self, page: Page) -> None: ...

    async def close(self) -> None: ...


@dataclass
class CountingSink:
    """Counts records and rejects; keeps nothing (measures the connector, not a store)."""

    records: int = 0
    rejected: int = 0

    async def write(self, page: Page) -> None:
        self.records += len(page.records)
        self.rejected += len(page.rejected)

    async def close(self) -> None:
        return None


def load_sink(spec: str | None) -> Sink:
    if not spec:
        return CountingSink()
    module, _, name = spec.partition(":")
    factory = getattr(importlib.import_module(module), name)
    sink: Sink = factory()
    return sink


def _serve(port: int, source: str, size: int, seed: int, info: Any) -> None:
    """Child process: build the simulator (the shared World, or generated views) and serve it."""
    import uvicorn

    from crmhub.contract import SandboxOptions
    from crmhub.sandbox.runner import server_config
    from crmhub_fxiaoke.simulator import build

    world: Any = None
    settings: dict[str, Any] = {"window_seconds": 3600.0, "calls_per_window": 10**9, "log_size": 100}
    if source == "world":
        from crmhub.sandbox.world import World

        world = World(seed, size)
    else:
        settings["generate"] = size
    app = build(SandboxOptions(base_url=f"http://127.0.0.1:{port}", world=world, seed=seed, settings=settings))
    info.put(
        {
            "records": app.simulator.stats()["records"],
            "server_side_records_per_s": round(_server_side_speed(app.simulator)),
        }
    )
    uvicorn.Server(server_config(app, "127.0.0.1", port)).run()


def _server_side_speed(sim: Any) -> float:
    """The simulator's own work for the keyset scan (plan, filter, assemble page bytes), without HTTP."""
    n, after, t0 = 0, "", time.perf_counter()
    while True:
        filters = [{"field_name": "_id", "operator": "GT", "field_values": [after]}] if after else []
        data = {
            "dataObjectApiName": "AccountObj",
            "find_explicit_total_num": False,
            "search_query_info": {
                "limit": PAGE,
                "offset": 0,
                "filters": filters,
                "orders": [{"fieldName": "_id", "isAsc": True}],
            },
        }
        page = sim.query(data, {})
        ids = page.count(b'"_id":"')
        n += ids
        if ids < PAGE:
            return n / (time.perf_counter() - t0)
        start = page.rfind(b'"_id":"') + 7
        after = page[start : page.index(b'"', start)].decode()


def start_simulator(source: str, size: int, seed: int) -> tuple[mp.Process, str, dict[str, Any]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    info = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(port, source, size, seed, info), daemon=True)
    proc.start()
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}", info.get(timeout=60)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("simulator did not start")


async def bare_loop(url: str) -> int:
    """The same scan as the connector, as plain httpx + json: token, then _id keyset pages."""
    creds = default_settings()
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        tok = (
            await http.post(
                "/cgi/corpAccessToken/get/V2",
                json={
                    "appId": creds["app_id"],
                    "appSecret": creds["app_secret"],
                    "permanentCode": creds["permanent_code"],
                },
            )
        ).json()
        auth = {
            "corpAccessToken": tok["corpAccessToken"],
            "corpId": tok["corpId"],
            "currentOpenUserId": creds["current_open_user_id"],
        }
        n, after = 0, ""
        while True:
            filters = [{"field_name": "_id", "operator": "GT", "field_values": [after]}] if after else []
            body = {
                **auth,
                "data": {
                    "dataObjectApiName": "AccountObj",
                    "find_explicit_total_num": False,
                    "search_query_info": {
                        "limit": PAGE,
                        "offset": 0,
                        "filters": filters,
                        "orders": [{"fieldName": "_id", "isAsc": True}],
                    },
                },
            }
            answer = await http.post("/cgi/crm/v2/data/query", json=body)
            rows = json.loads(answer.content.decode())["data"]["dataList"]
            n += len(rows)
            if len(rows) < PAGE:
                return n
            after = rows[-1]["_id"]


async def connector_pull(url: str, sink: Sink, window: float, calls: int) -> tuple[int, dict[str, float]]:
    cfg = FxiaokeConfig.model_validate(
        {
            "plugin": "fxiaoke",
            "base_url": url,
            "window_seconds": window,
            "calls_per_window": calls,
            **default_settings(),
        }
    )
    async with FxiaokeConnector(cfg, PluginContext(name="fxiaoke")) as conn:
        n = 0
        async for page in conn.pull("accounts", None):
            n += len(page.records) + len(page.rejected)
            await sink.write(page)
        await sink.close()
        return n, conn.context.metrics.as_dict()


def timed(coro: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = asyncio.run(coro)
    return out, time.perf_counter() - t0


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--source",
        choices=("world", "generated"),
        default="world",
        help="world = crmhub.sandbox.world.World (its Fenxiang views); generated = fakeworld views",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=240_000,
        help="World size (about 42 %% of the World's companies have a Fenxiang account)",
    )
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts for --source generated")
    parser.add_argument(
        "--scale", type=float, default=10.0, help="divide Fenxiang's 20 s window by this on both sides (1 = real time)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sink", default=None, help="module:factory returning a sink (default: count only)")
    args = parser.parse_args(argv)
    window = WINDOW / args.scale

    size = args.clients if args.source == "world" else args.accounts
    t0 = time.perf_counter()
    proc, url, info = start_simulator(args.source, size, args.seed)
    setup_s = time.perf_counter() - t0
    try:
        baseline = rss_mib()
        bare_n, bare_s = timed(bare_loop(url))
        (free_n, free_metrics), free_s = timed(connector_pull(url, load_sink(args.sink), 3600.0, 10**9))
        httpx.post(url + "/_sandbox/limits", json={"window_seconds": window, "calls_per_window": CALLS})
        (paced_n, paced_metrics), paced_s = timed(connector_pull(url, load_sink(args.sink), window, CALLS))
        peak = rss_mib()
    finally:
        proc.kill()
    ceiling = PAGE * CALLS / window
    result = {
        "source": f"{args.source} ({size:,} {'clients' if args.source == 'world' else 'accounts'}), "
        f"simulator ready in {setup_s:.0f} s",
        "accounts": bare_n,
        "window": f"{CALLS} calls / {window:g} s per path (Fenxiang's {CALLS} / {WINDOW:g} s scaled {args.scale:g}x "
        "on both sides)",
        "simulator_server_side_records_per_s": info["server_side_records_per_s"],
        "simulator_bare_httpx_records_per_s": round(bare_n / bare_s),
        "connector_unpaced_records_per_s": round(free_n / free_s),
        "connector_unpaced_vs_bare_loop": round((free_n / free_s) / (bare_n / bare_s), 3),
        "connector_paced_records_per_s": round(paced_n / paced_s),
        "ceiling_records_per_s": round(ceiling),
        "connector_paced_vs_ceiling": round((paced_n / paced_s) / ceiling, 3),
        "real_time_equivalent": f"{round(PAGE * CALLS / WINDOW)} records/s ceiling → "
        f"{bare_n / (PAGE * CALLS / WINDOW) / 60:.1f} min for {bare_n:,} "
        "accounts at the real limit",
        "peak_rss_mib": round(peak, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "rss_growth_mib": round(peak - baseline, 1),
        "records_read": {"bare": bare_n, "unpaced": free_n, "paced": paced_n},
        "metrics_paced": paced_metrics,
        "metrics_unpaced": free_metrics,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if bare_n == free_n == paced_n else 1


if __name__ == "__main__":
    sys.exit(main())
