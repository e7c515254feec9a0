"""Benchmark: a Zoho write-back of N records through the record API (``/upsert`` and ``PUT``, 100 per call) and
through Bulk Write (zipped CSV, job, poll, result file), against the simulator at its real limits.

The simulator runs in its own process (``bench/zoho_pull.py``'s launcher) with ``--latency`` ms added per call and
the Standard edition's limits (10 in flight, 10 heavy). Half the records update existing accounts by id, half are
new (upsert on USCC). Prints wall seconds, client CPU seconds, API calls and credits per path; no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from zoho_pull import settings_of, simulator, token


def _records(url: str, count: int) -> list[Any]:
    from crmhub.contract import OutboundRecord
    from crmhub.model import CorporateClient, Rating, RiskSummary, Segment
    from crmhub.model.uscc import make

    risk = RiskSummary(
        rating=Rating.A, score=Decimal(700), segment=Segment.LOW, assessed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    headers = {"Authorization": f"Zoho-oauthtoken {token(url)}"}
    ids: list[str] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        page_token = None
        while len(ids) < count // 2:
            params: dict[str, Any] = {"fields": "Account_Name", "per_page": 200}
            if page_token:
                params["page_token"] = page_token
            body = http.get("/crm/v8/Accounts", params=params).json()
            ids += [r["id"] for r in body["data"]]
            page_token = body["info"].get("next_page_token")
            if not body["info"]["more_records"]:
                break
    known = [
        OutboundRecord(
            key=f"u{i}", source_id=rid, data=CorporateClient(name=f"更新客户{i}", risk=risk), fields=("risk",)
        )
        for i, rid in enumerate(ids[: count // 2])
    ]
    new = [
        OutboundRecord(
            key=f"n{i}",
            data=CorporateClient(name=f"新客户{i}有限公司", uscc=make("91440300", f"PB{i:06d}"), risk=risk),
            fields=("name", "uscc", "risk"),
        )
        for i in range(count - len(known))
    ]
    return known + new


async def _push(url: str, records: list[Any], threshold: int) -> dict[str, Any]:
    from crmhub.contract import PluginContext
    from crmhub_zoho.config import ZohoConfig
    from crmhub_zoho.connector import ZohoConnector

    cfg = ZohoConfig.model_validate(
        {
            **settings_of(url),
            "write_back": {
                "fields": ["name", "uscc", "risk"],
                "bulk_threshold": threshold,
                "bulk_poll_interval": 0.5,
                "bulk_poll_max": 2.0,
            },
        }
    )
    conn = ZohoConnector(cfg, PluginContext(name="zoho"))
    batch = conn.push_batch_size or 100
    cpu, wall = time.process_time(), time.perf_counter()
    results = []
    async with conn:
        for i in range(0, len(records), batch):  # as the deliverer hands them over
            results += await conn.push("accounts", records[i : i + batch])
        metrics = conn.context.metrics.as_dict()
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "calls": metrics["api_calls"],
        "ok": sum(r.status == "ok" for r in results),
        "429s": metrics["throttled"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=50.0, help="added latency per call, ms")
    args = parser.parse_args(argv)
    print(f"zoho_push: {args.records:,} records (half updates by id, half new), {args.latency:g} ms added latency")
    for label, threshold in (("record API", 0), ("Bulk Write", 1000)):
        with simulator(args.records, args.latency, False) as url:
            records = _records(url, args.records)
            out = asyncio.run(_push(url, records, threshold))
            stats = httpx.get(url + "/_sandbox/stats", timeout=60).json()
        print(
            f"{label:<11} {out['ok']:>7,} ok  {out['wall']:7.2f} s wall  {out['ok'] / out['wall']:>8,.0f} rec/s  "
            f"cpu {out['cpu']:.2f} s = {out['cpu'] / max(1, out['ok']) * 1e6:.0f} µs/record  calls={out['calls']} "
            f"429s={out['429s']}  credits used {stats['credits_used']:,} (simulator, reads included)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
