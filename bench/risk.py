"""Benchmark: assess a large book — by default 100,000 clients with 10,000,000 transactions — on SQLite.

Two processes, so each one's peak memory is its own:

1. **generate** bulk-inserts a synthetic book straight into a migrated SQLite store (``executemany`` in chunks,
   rows in index order): golden clients cross-referenced to ledger clients, 1-2 accounts each, ~100 transactions
   per client over 120 days (balances consistent with them), loans for a quarter of the clients, and a few planted
   patterns (large transfers, structuring, fan-in, overdue loans) so the alert rules do real work.
2. **assess** runs ``crmhub.risk.runner.assess(all=True)`` and prints clients/s, transactions/s and the peak RSS,
   with the RSS sampled as the run progresses and the RSS before the first batch — a flat line is the proof that
   memory is bounded by the batch, not by the book (no transaction list is ever materialised).

The baseline, measured in the same run: one bare ``SELECT SUM(amount_minor) … GROUP BY client_source_id`` over the
whole transaction table (the cheapest full pass SQLite can make over the same rows) — the ratio says what the
engine costs on top of reading its input once.

    python bench/risk.py --clients 100000 --transactions 10000000
    python bench/risk.py --clients 10000 --transactions 1000000 --db /tmp/risk-small.db
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import sqlite3
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

TODAY = date(2026, 11, 30)
CHUNK = 50_000
STAMP = "2026-11-30 01:00:00.000000"


def _rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- generate -------------------------------------------------------------------------------------------------


def generate(db: str, clients: int, transactions: int, seed: int) -> dict[str, Any]:
    """Create the store and bulk-insert the synthetic book; returns counts and timings."""
    from crmhub.model import uscc as uscc_mod
    from crmhub.store import Store

    Path(db).unlink(missing_ok=True)
    Store.open(f"sqlite:///{db}").dispose()  # the real schema, by the real migrations
    started = time.monotonic()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    con.execute("BEGIN")
    rng = random.Random(seed)
    per_client = transactions / clients
    sections = "ABCDEFGHIJKLMNOPQRS"
    goldens, sources, xrefs, accounts, loans, txs = [], [], [], [], [], []
    tx_id = 0
    counts = {"transactions": 0, "accounts": 0, "loans": 0, "planted": 0}

    def flush(force: bool = False) -> None:
        for sql, rows in (
            (
                "INSERT INTO golden_client (id, uscc, name, name_key, status, data, version, needs_merge, needs_risk, "
                "needs_plan, created_at, updated_at) VALUES (?, ?, ?, NULL, 'active', ?, 1, 0, 1, 0, ?, ?)",
                goldens,
            ),
            (
                "INSERT INTO source_record (id, connector, stream, source_id, kind, raw, data, content_hash, "
                "first_seen_at, last_seen_at, deleted, dirty) VALUES (?, 'ledger', 'clients', ?, 'client', '{}', "
                "'{}', 'h', ?, ?, 0, 0)",
                sources,
            ),
            ("INSERT INTO xref (source_record_id, client_id, method, linked_at) VALUES (?, ?, 'uscc', ?)", xrefs),
            (
                "INSERT INTO ledger_account (connector, source_id, client_source_id, account_no, currency, "
                "balance_minor, sub_status, allow_overdraft, overdraft_limit_minor, data, content_hash, updated_at) "
                "VALUES ('ledger', ?, ?, ?, 'CNY', ?, 'none', 0, NULL, ?, 'h', ?)",
                accounts,
            ),
            (
                "INSERT INTO credit_facility (connector, source_id, client_source_id, currency, principal_minor, "
                "outstanding_minor, days_past_due, classification, status, data, content_hash, updated_at) "
                "VALUES ('ledger', ?, ?, 'CNY', ?, ?, ?, ?, 'active', '{}', 'h', ?)",
                loans,
            ),
            (
                "INSERT INTO ledger_transaction (connector, source_id, account_source_id, client_source_id, "
                "booking_date, value_date, amount_minor, currency, direction, kind, is_cash, cross_border, "
                "counterparty_account, counterparty_name, reversed, is_manual, content_hash) "
                "VALUES ('ledger', ?, ?, ?, ?, ?, ?, 'CNY', ?, ?, ?, 0, ?, ?, ?, 0, 'h')",
                txs,
            ),
        ):
            if rows and (force or len(rows) >= CHUNK):
                con.executemany(sql, rows)
                rows.clear()

    days = [(TODAY - timedelta(days=d)).isoformat() for d in range(0, 130)]
    for n in range(1, clients + 1):
        cid = f"C{n:08d}"
        code = uscc_mod.make("91310000", f"{n:08d}")
        data = {
            "name": f"基准客户{n}有限公司",
            "uscc": code,
            "industry": {"code": rng.choice(sections)},
            "established_on": (TODAY - timedelta(days=rng.randrange(200, 9000))).isoformat(),
            "registered_capital": {
                "amount": str(rng.choice((500_000, 3_000_000, 10_000_000, 50_000_000))),
                "currency": "CNY",
            },
        }
        goldens.append((n, code, data["name"], json.dumps(data, ensure_ascii=False), STAMP, STAMP))
        sources.append((n, cid, STAMP, STAMP))
        xrefs.append((n, n, STAMP))
        n_accounts = 2 if rng.random() < 0.2 else 1
        k = max(1, int(rng.gauss(per_client, per_client / 5)))
        cps = [f"交易对手{rng.randrange(10**6)}有限公司" for _ in range(8)]
        plant = rng.random()
        for a in range(n_accounts):
            aid = f"{cid}-{a}"
            net = 0
            share = k if n_accounts == 1 else (k * 3 // 4 if a == 0 else k - k * 3 // 4)
            rows = []
            for _ in range(share):
                d = rng.randrange(1, 121)
                credit = rng.random() < 0.52
                amount = rng.randrange(1_000_00, 300_000_00)
                cash = rng.random() < 0.03
                if cash:
                    amount //= 20
                rev = rng.random() < 0.005
                rows.append((d, amount, credit, cash, rev, rng.choice(cps)))
            if a == 0 and plant < 0.01:  # a large transfer
                rows.append((rng.randrange(1, 100), 2_500_000_00, True, False, False, "某投资有限公司"))
            elif a == 0 and plant < 0.015:  # structuring
                d0 = rng.randrange(5, 100)
                rows += [(d0 - i, 1_950_000_00, False, False, False, cps[0]) for i in range(3)]
            elif a == 0 and plant < 0.02:  # fan-in
                d0 = rng.randrange(5, 100)
                rows += [(d0 - i % 2, 30_000_00, True, False, False, f"付款人{i}") for i in range(12)]
            counts["planted"] += int(a == 0 and plant < 0.02)
            rows.sort(key=lambda r: -r[0])
            for d, amount, credit, cash, rev, cp in rows:
                tx_id += 1
                day = days[d]
                if not rev:
                    net += amount if credit else -amount
                txs.append(
                    (
                        f"{tx_id:010d}",
                        aid,
                        cid,
                        day,
                        day,
                        amount,
                        "credit" if credit else "debit",
                        ("deposit" if credit else "withdrawal") if cash else "transfer",
                        int(cash),
                        None if cash else f"6222{tx_id % 10**12:012d}",
                        None if cash else cp,
                        int(rev),
                    )
                )
            counts["transactions"] += len(rows)
            opening = rng.randrange(50_000_00, 2_000_000_00)
            accounts.append(
                (aid, cid, f"6222{n:08d}{a:04d}", opening + net, json.dumps({"opened_on": "2015-01-05"}), STAMP)
            )
            counts["accounts"] += 1
        if rng.random() < 0.25:
            dpd = rng.choice((0, 0, 0, 0, 0, 0, 15, 45, 120, 400))
            cls = ("pass", "special_mention", "substandard", "doubtful", "loss")[
                0 if dpd == 0 else 1 if dpd <= 90 else 2 if dpd <= 270 else 3 if dpd <= 360 else 4
            ]
            principal = rng.randrange(500_000_00, 20_000_000_00)
            loans.append((f"{cid}-L", cid, principal, principal * 3 // 4, dpd, cls, STAMP))
            counts["loans"] += 1
        flush()
    flush(force=True)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    counts["seconds"] = round(time.monotonic() - started, 1)
    counts["peak_mib"] = round(_peak_mib(), 1)
    return counts


# --- assess ---------------------------------------------------------------------------------------------------


def reset(db: str) -> None:
    """Forget earlier assessments and alerts, so the run scores every client from scratch."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("DELETE FROM risk_assessment")
    con.execute("DELETE FROM alert")
    con.execute("UPDATE golden_client SET needs_risk = 1, rating = NULL, segment = NULL")
    con.close()


def baseline(db: str) -> tuple[int, float]:
    """One bare aggregate pass over every transaction (rows, seconds)."""
    con = sqlite3.connect(db)
    t = time.monotonic()
    rows = sum(
        n
        for _, n, _ in con.execute(
            "SELECT client_source_id, COUNT(*), SUM(amount_minor) FROM ledger_transaction GROUP BY client_source_id"
        )
    )
    seconds = time.monotonic() - t
    con.close()
    return rows, seconds


def run_assess(db: str, batch: int, samples: int) -> dict[str, Any]:
    """Assess every client; RSS sampled ``samples`` times along the run."""
    from crmhub.config import Settings
    from crmhub.plugins import load
    from crmhub.risk.runner import AssessOutcome, assess
    from crmhub.store import Store

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load()
    settings = Settings.model_validate({"risk": {"today": TODAY.isoformat(), "batch_size": batch}})
    store = Store.open(f"sqlite:///{db}")
    with store.begin() as s:
        from sqlalchemy import func, select

        from crmhub.store.tables import GoldenClient, LedgerTransaction

        clients = s.scalar(select(func.count()).select_from(GoldenClient)) or 0
        transactions = s.scalar(select(func.count()).select_from(LedgerTransaction)) or 0
    before = _rss_mib()
    trace: list[tuple[int, float]] = []
    step = max(1, clients // samples)
    started = time.monotonic()

    def progress(o: AssessOutcome) -> None:
        if o.clients // step > len(trace) - 1 or o.clients == clients:
            trace.append((o.clients, round(_rss_mib(), 1)))
            rate = o.clients / (time.monotonic() - started)
            print(f"  {o.clients:>8,} clients  {rate:8,.0f}/s  RSS {trace[-1][1]:7.1f} MiB", file=sys.stderr)

    outcome = assess(store, settings, registry, all=True, fire=False, progress=progress)
    seconds = time.monotonic() - started
    store.dispose()
    return {
        "clients": clients,
        "transactions": transactions,
        "seconds": round(seconds, 1),
        "clients_per_s": round(clients / seconds),
        "transactions_per_s": round(transactions / seconds),
        "rss_before_mib": round(before, 1),
        "peak_mib": round(_peak_mib(), 1),
        "rss_trace": trace,
        "assessed": outcome.assessed,
        "alerts": outcome.alerts_raised,
    }


def _in_child(fn: Any, *args: Any) -> Any:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=100_000)
    ap.add_argument("--transactions", type=int, default=10_000_000)
    ap.add_argument("--db", default="/tmp/crmhub-risk-bench.db")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--skip-generate",
        action="store_true",
        help="Reuse the book already in --db (its assessments and alerts are cleared first).",
    )
    args = ap.parse_args()
    if not args.skip_generate:
        print(
            f"generating {args.clients:,} clients / {args.transactions:,} transactions into {args.db} …",
            file=sys.stderr,
        )
        g = _in_child(generate, args.db, args.clients, args.transactions, args.seed)
        rate = g["transactions"] / g["seconds"]
        print(
            f"generate: {g['transactions']:,} transactions, {g['accounts']:,} accounts, {g['loans']:,} loans, "
            f"{g['planted']:,} planted patterns in {g['seconds']} s ({rate:,.0f} rows/s), peak {g['peak_mib']} MiB"
        )
    else:
        reset(args.db)
    rows, base_s = baseline(args.db)
    print(f"baseline: one GROUP BY pass over {rows:,} transactions in {base_s:.1f} s ({rows / base_s:,.0f}/s)")
    r = _in_child(run_assess, args.db, args.batch, 10)
    print(
        f"assess:   {r['clients']:,} clients, {r['transactions']:,} transactions in {r['seconds']} s — "
        f"{r['clients_per_s']:,} clients/s, {r['transactions_per_s']:,} transactions/s "
        f"({r['transactions_per_s'] / (rows / base_s):.2f}× the bare pass), {r['assessed']:,} assessments, "
        f"{r['alerts']:,} alerts"
    )
    trace = ", ".join(f"{c:,}: {m}" for c, m in r["rss_trace"])
    print(
        f"memory:   RSS {r['rss_before_mib']} MiB before the first batch, peak {r['peak_mib']} MiB; "
        f"along the run (clients: MiB) {trace}"
    )


if __name__ == "__main__":
    main()
