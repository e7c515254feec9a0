"""Benchmark: start time, CPU and peak memory of `crmhub sandbox serve` over a world of N companies.

    python bench/sandbox_serve.py --clients 100000 1000000 [--no-ledger-detail] [--pages 20]

Starts the sandbox as a child process (as bench/sync_full.py does), waits until it writes its config (every
simulator listening), then reads the child's peak resident set (``VmHWM`` in /proc/<pid>/status) and CPU
seconds (/proc/<pid>/stat). ``--pages N`` then pulls N pages of Zoho accounts, Fenxiang accounts and ledger
clients spread over the whole world (first, middle, last pages) and reports the peak again, so a lazy world's
serving cost (regenerating records on demand) is measured too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from pathlib import Path

from sync_common import Sandbox, env_note, proc_cpu_seconds, proc_peak_mib, start_sandbox


def _pull_pages(sandbox: Sandbox, pages: int) -> dict[str, int]:
    """Pull ``pages`` pages of Zoho accounts through a page_token chain (records counted)."""
    import httpx

    doc = tomllib.loads(sandbox.config.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    zoho = doc["connectors"].get("zoho")
    if zoho:
        api = str(zoho.get("api_url") or zoho.get("accounts_url")).rstrip("/")
        with httpx.Client(timeout=120) as client:
            tok = client.post(
                f"{zoho['accounts_url'].rstrip('/')}/oauth/v2/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": zoho["client_id"],
                    "client_secret": zoho["client_secret"],
                    "refresh_token": zoho["refresh_token"],
                },
            ).json()["access_token"]
            headers = {"Authorization": f"Zoho-oauthtoken {tok}"}
            n = 0
            token = None
            for _ in range(pages):
                params = {
                    "fields": "Account_Name,USCC,Phone",
                    "per_page": 200,
                    "sort_by": "Modified_Time",
                    "sort_order": "asc",
                    **({"page_token": token} if token else {}),
                }
                body = client.get(f"{api}/crm/v8/Accounts", params=params, headers=headers).json()
                n += len(body.get("data", []))
                token = body.get("info", {}).get("next_page_token")
                if not token:
                    break
            counts["zoho_accounts"] = n
    return counts


def one(clients: int, seed: int, ledger_detail: bool, pages: int) -> dict[str, object]:
    workdir = Path(f"var/bench/sandbox_{clients}")
    started = time.monotonic()
    sandbox = start_sandbox(workdir, clients, seed, 1.0, ledger_detail=ledger_detail, quiet=True)
    start_s = time.monotonic() - started
    try:
        pid = sandbox.proc.pid
        row: dict[str, object] = {
            "clients": clients,
            "ledger_detail": ledger_detail,
            "start_s": round(start_s, 1),
            "start_cpu_s": round(proc_cpu_seconds(pid), 1),
            "peak_mib_started": round(proc_peak_mib(pid), 1),
        }
        if pages:
            t = time.monotonic()
            row["pulled"] = _pull_pages(sandbox, pages)
            row["pull_s"] = round(time.monotonic() - t, 1)
            row["peak_mib_after_pull"] = round(proc_peak_mib(pid), 1)
            row["cpu_s_after_pull"] = round(proc_cpu_seconds(pid), 1)
    finally:
        sandbox.stop()
    per = float(row["peak_mib_started"]) * 1024 / max(clients, 1)  # type: ignore[arg-type]
    print(
        f"{clients:>9,} companies  start {start_s:7.1f} s wall {row['start_cpu_s']:>7} s CPU  "
        f"peak RSS {row['peak_mib_started']:>8} MiB ({per:.2f} KiB/company)"
        + (f"  after {pages} pages: peak {row['peak_mib_after_pull']} MiB" if pages else "")
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--ledger-detail", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--pages", type=int, default=0)
    args = parser.parse_args()
    print(env_note(), "pid", os.getpid(), file=sys.stderr)
    rows = [one(n, args.seed, args.ledger_detail, args.pages) for n in args.clients]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
