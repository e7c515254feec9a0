"""A store as big as a bank's book, built in minutes: the data behind bench/console_pages.py.

`build` fills an empty, migrated store with ``clients`` golden clients and everything the console lists about
them, by bulk inserts straight into the tables (a real 100,000-company sync takes about 20 minutes and is measured
by bench/sync_full.py; this measures the pages, not the sync):

- golden clients from the sandbox world generator (bench/console_golden.py), ≈ 10 `field_lineage` rows each,
  1–3 `source_record` rows with their `xref`;
- a current `risk_assessment` per client scored by the real scorecard (plus a superseded one for a tenth),
  the segment and rating on the golden row (bench/console_rows.py);
- ≈ 2 % of clients with an alert, ≈ 1 % with a dead letter, ≈ 0.5 % with a review item, ≈ 5 % with a write-back,
  a ledger book (accounts, transactions, loans) for ≈ 8 % of the ledger clients;
- 60 `sync_run` rows with reports shaped like `crmhub sync --json` (one full sync, then nightly runs; one partial,
  one failed) and their `sync_run_stream` rows;
- the audit trail through `crmhub.sync.audit.append` (so the keyed chain verifies): a ``client.create`` per
  client in the full sync, ≈ 1.05 ``client.update`` per client over the nightly runs, alert, review and dead-letter
  decisions, console logins, reveals, and four-eyes proposals through `crmhub.security.approvals.propose` —
  more than 200,000 entries at 100,000 clients;
- operators with passwords (`OPERATORS`, `PASSWORD`); ``bench`` has every role.

Everything derives from ``seed``, so two builds of one size hold the same companies.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
import warnings
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update

from console_golden import Golden, golden_of, sources_of
from console_rows import (
    ALERT_RATE,
    DEAD_LETTER_RATE,
    LEDGER_BOOK_RATE,
    REVIEW_RATE,
    RUNS,
    WRITE_BACK_RATE,
    Scorer,
    alert_row,
    dead_letter_row,
    ledger_book,
    ledger_inputs,
    outbox_row,
    review_row,
    run_report,
    stream_stats,
)
from crmhub.config import Settings
from crmhub.core.hashing import content_hash
from crmhub.masking import mask_fields
from crmhub.model.client import RiskSummary
from crmhub.sandbox.world import World
from crmhub.security import approvals, operators
from crmhub.security.guard import Actor
from crmhub.security.roles import ROLES
from crmhub.store import Store
from crmhub.store.golden_keys import keys_of
from crmhub.store.tables import (
    Alert,
    Approval,
    AuditLog,
    CreditFacilityRow,
    DeadLetter,
    FieldLineage,
    GoldenClient,
    JobState,
    LedgerAccount,
    LedgerTransaction,
    Outbox,
    ReviewItem,
    RiskAssessmentRow,
    SourceRecord,
    SyncRun,
    SyncRunStream,
    Xref,
)
from crmhub.sync import audit

SEED = 16
PASSWORD = "bench-console-2026"
BENCH_USER = "bench"
OPERATORS: dict[str, list[str]] = {
    BENCH_USER: list(ROLES),
    "root": ["admin"],
    "alice": ["operator"],
    "olga": ["operator"],
    "bob": ["approver"],
    "carol": ["aml_officer"],
    "victor": ["viewer"],
}
AUDIT_CHUNK = 20_000
_UPDATABLE = ("phone", "relationship_manager", "registered_address", "annual_revenue", "website", "email")


@dataclass
class Built:
    """What `build` made: sizes per table and the time it took."""

    clients: int
    seconds: float
    counts: dict[str, int]


@dataclass
class Timeline:
    """When each of the 60 runs started and how long it took (run 1: the full sync)."""

    starts: list[datetime]
    durations: list[float]

    @classmethod
    def ending_now(cls, now: datetime, clients: int) -> Timeline:
        base = (now - timedelta(days=RUNS)).replace(hour=18, minute=0, second=0, microsecond=0)
        starts = [base + timedelta(days=k) for k in range(RUNS)]
        durations = [max(60.0, clients * 0.0128)] + [60.0 + 40.0 * ((k * 7919) % 100) / 100 for k in range(1, RUNS)]
        return cls(starts, durations)

    def at(self, run_id: int, fraction: float) -> datetime:
        """A moment ``fraction`` (0–1) of the way through run ``run_id``."""
        return self.starts[run_id - 1] + timedelta(seconds=self.durations[run_id - 1] * fraction)

    def end(self, run_id: int) -> datetime:
        return self.at(run_id, 1.0)


def config_doc(store_url: str) -> dict[str, Any]:
    """A crmhub configuration over the bench store: the sandbox's three connectors (pointing at a closed port:
    GET pages never call them), the nightly jobs, and a console on loopback without the Secure cookie flag."""
    closed = "http://127.0.0.1:9"
    return {
        "lang": "en",
        "store": {"url": store_url},
        "connectors": {
            "zoho": {
                "plugin": "zoho_crm",
                "accounts_url": closed,
                "client_id": "1000.SANDBOXZOHOCRMCLIENT",
                "client_secret": "sandbox-zoho-client-secret",
                "refresh_token": "1000.sandbox0refresh0token.zoho0crm0simulator",
            },
            "fxiaoke": {
                "plugin": "fxiaoke",
                "base_url": closed,
                "app_id": "FSAID_sandbox",
                "app_secret": "sandbox-app-secret",
                "permanent_code": "sandbox-permanent-code",
                "current_open_user_id": "FSUID_SANDBOX",
            },
            "ledger": {
                "plugin": "core_ledger",
                "base_url": f"{closed}/fineract-provider/api/v1",
                "username": "mifos",
                "password": "password",
                "tenant_id": "default",
            },
        },
        "notify": {"enabled": False},
        "jobs": {
            "nightly_sync": {
                "cron": "0 2 * * *",
                "timezone": "Asia/Shanghai",
                "command": "sync",
                "connectors": ["zoho", "fxiaoke", "ledger"],
                "timeout": "30m",
            },
            "morning_notifications": {"cron": "30 8 * * 1-5", "command": "notify run", "timeout": "10m"},
        },
        "console": {"secure_cookie": False},
    }


def _before(name: str, after: Any, rng: random.Random) -> Any:
    """A plausible previous value of a field (masked like the audit trail stores it)."""
    if name == "phone":
        return f"1{rng.randrange(30, 99)}****{rng.randrange(10000):04d}"
    if isinstance(after, dict) and name == "registered_address":
        return {**after, "street": f"人民路{rng.randrange(1, 900)}号"}
    if isinstance(after, dict) and name == "annual_revenue" and str(after.get("amount", "")).isdigit():
        return {**after, "amount": str(int(after["amount"]) * 4 // 5)}
    if isinstance(after, dict) and name == "relationship_manager":
        return {"name": "周婷", "email": "zhouting@bank.example"}
    return None


@dataclass
class Batch:
    """The rows of one range of clients, made in a worker process and inserted by the parent (which alone
    writes the audit chain, in order)."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    creates: list[tuple[int, datetime, dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[datetime, int, int, str, Any, Any]] = field(default_factory=list)
    events: list[tuple[datetime, str, str, str, str, int | None, dict[str, Any]]] = field(default_factory=list)
    per_run: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    open_reviews: list[int] = field(default_factory=list)
    new_alerts: list[int] = field(default_factory=list)


class Generator:
    """Makes the rows of any range of clients; every draw is seeded by the client's key, so the result does not
    depend on how the keys are split between processes. Ids derive from the client's id (``key + 1``)."""

    def __init__(self, clients: int, seed: int, now: datetime) -> None:
        self.clients, self.seed, self.now, self.today = clients, seed, now, now.date()
        self.time = Timeline.ending_now(now, clients)
        self.world = World(seed=seed, clients=clients, today=self.today)
        self.scorer = Scorer(Settings(), self.today)
        self.counterparties = [self.world.identity(k).name for k in range(0, clients, max(1, clients // 300))]

    def rows(self, keys: range) -> Batch:
        out = Batch()
        for key in keys:
            self._client(key, out)
        out.tables = dict(out.tables)
        out.per_run = dict(out.per_run)
        return out

    def _client(self, key: int, out: Batch) -> None:
        rng = random.Random(self.seed * 1_000_003 + key)
        cid = key + 1
        tables = out.tables
        company = self.world.company(key, ledger_detail=False)
        created = self.time.at(1, 0.05 + 0.9 * key / max(1, self.clients))
        sources = sources_of(company, rng, created)
        golden: Golden = golden_of(company, sources, cid, created)
        data = golden.data
        risk_run = rng.randrange(2, RUNS + 1)
        risk_at = self.time.at(risk_run, rng.random())
        inputs = ledger_inputs(company, rng)
        if rng.random() < 0.1:  # re-scored later: the first assessment is kept as history
            tables["risk_assessment"].append(
                self.scorer.row(
                    cid, company.uscc, data, ledger_inputs(company, rng), self.time.at(1, 0.99), 1, current=False
                )
            )
        risk = self.scorer.row(cid, company.uscc, data, inputs, risk_at, risk_run)
        tables["risk_assessment"].append(risk)
        data["risk"] = RiskSummary(
            rating=risk["rating"],
            segment=risk["segment"],
            assessed_at=risk_at,
            score=risk["data"]["assessment"]["score"],
        ).model_dump(mode="json")
        runs = sorted({rng.randrange(2, RUNS + 1) for _ in range(2 if rng.random() < 0.05 else 1)})
        for run in runs:
            name = rng.choice([f for f in _UPDATABLE if f in data] or ["name"])
            at = self.time.at(run, 0.05 + 0.9 * key / max(1, self.clients))
            after = mask_fields(data[name], name)
            out.updates.append((at, cid, run, name, _before(name, after, rng), after))
            out.per_run[run]["updated"] += 1
        rm = data.get("relationship_manager") or {}
        tables["golden_client"].append(
            {
                "id": cid,
                "uscc": data["uscc"],
                "name": data["name"],
                "name_key": golden.name_key,
                "status": "active",
                "data": data,
                "version": 1 + len(runs),
                "rm_user_id": rm.get("user_id"),
                "segment": risk["segment"],
                "rating": risk["rating"],
                "needs_merge": False,
                "needs_risk": False,
                "needs_plan": False,
                "created_at": created,
                "updated_at": max(self.time.at(runs[-1], 0.5), risk_at),
                **keys_of(data),
            }
        )
        tables["field_lineage"].extend(golden.lineage)
        for i, src in enumerate(sources):
            sid = 3 * key + i + 1  # 1–3 records per client: parallel batches need no shared counter
            tables["source_record"].append(
                {
                    "id": sid,
                    "connector": src.connector,
                    "stream": src.ref.split("/")[0],
                    "source_id": src.source_id,
                    "kind": "client",
                    "raw": src.raw,
                    "data": src.data,
                    "content_hash": content_hash(src.data),
                    "parent_source_id": None,
                    "modified_at": src.observed_at,
                    "first_seen_at": created,
                    "last_seen_at": self.time.at(RUNS, 0.1),
                    "deleted": False,
                    "dirty": False,
                    "last_run_id": RUNS,
                }
            )
            method = "new" if i == 0 else ("uscc" if src.data.get("uscc") == data["uscc"] else "fuzzy")
            tables["xref"].append(
                {
                    "source_record_id": sid,
                    "client_id": cid,
                    "method": method,
                    "score": None if i == 0 else (1.0 if method == "uscc" else rng.uniform(0.93, 1)),
                    "linked_at": created,
                }
            )
            out.per_run[1][f"{src.connector}:read"] += 1
            out.per_run[1][f"{src.connector}:merged"] += int(i > 0)
        out.creates.append((cid, created, golden.create_changes))
        self._extras(company, cid, data, rng, out)

    def _extras(self, company: Any, cid: int, data: dict[str, Any], rng: random.Random, out: Batch) -> None:
        tables = out.tables
        if company.ledger is not None and rng.random() < LEDGER_BOOK_RATE:
            accounts, txs, loans = ledger_book(company, cid, rng, self.now, self.today, self.counterparties)
            tables["ledger_account"].extend(accounts)
            tables["ledger_transaction"].extend(txs)
            tables["credit_facility"].extend(loans)
        if rng.random() < ALERT_RATE:
            run = rng.randrange(1, RUNS + 1)
            row = alert_row(company, cid, rng, self.time.at(run, rng.random()), run, self.today)
            if row["status"] == "new":
                out.new_alerts.append(row["id"])
            else:
                at = self._later(row["created_at"], rng)
                row["evidence"]["history"] = [
                    {
                        "at": at.isoformat(),
                        "by": "carol",
                        "from": "new",
                        "to": row["status"],
                        "note": "reviewed with the RM",
                    }
                ]
                row["updated_at"] = at
                out.events.append(
                    (
                        at,
                        "carol",
                        f"alert.{row['status']}",
                        "alert",
                        str(row["id"]),
                        None,
                        {
                            "from": "new",
                            "to": row["status"],
                            "note": "reviewed with the RM",
                            "kind": row["kind"],
                            "uscc": row["uscc"],
                        },
                    )
                )
            tables["alert"].append(row)
            out.per_run[run]["alerts"] += 1
        if rng.random() < DEAD_LETTER_RATE:
            run = rng.choice((37, 37, *range(2, RUNS + 1)))
            row = dead_letter_row(company, cid, rng, self.time.at(run, rng.random()), run)
            tables["dead_letter"].append(row)
            out.per_run[run][f"{row['connector']}:rejected"] += 1
            if row["status"] == "retried":
                out.events.append(
                    (
                        self._later(row["created_at"], rng),
                        "alice",
                        "deadletter.retry",
                        "dead_letter",
                        str(row["id"]),
                        None,
                        {"ok": [row["id"]], "failed": []},
                    )
                )
        if rng.random() < REVIEW_RATE:
            run = rng.randrange(1, RUNS + 1)
            row = review_row(
                cid, rng.randrange(1, cid) if cid > 1 else None, data, rng, self.time.at(run, rng.random())
            )
            if row["decided_at"] is not None:
                row["decided_at"] = min(row["decided_at"], self.now - timedelta(minutes=5))
                out.events.append(
                    (
                        row["decided_at"],
                        row["decided_by"],
                        f"review.{row['status'][:-2]}",
                        "review_item",
                        str(row["id"]),
                        None,
                        {"kind": row["kind"], "note": None},
                    )
                )
            else:
                out.open_reviews.append(row["id"])
            tables["review_item"].append(row)
            out.per_run[run]["reviews"] += 1
        if rng.random() < WRITE_BACK_RATE:
            run = rng.randrange(1, RUNS + 1)
            row = outbox_row(company, cid, data, rng, self.time.at(run, 0.95), run)
            if row is not None:
                tables["outbox"].append(row)
                out.per_run[run]["written_back"] += 1

    def _later(self, at: datetime, rng: random.Random) -> datetime:
        return min(at + timedelta(hours=rng.randrange(1, 240)), self.now - timedelta(minutes=10))


_GENERATOR: Generator | None = None


def _start_worker(clients: int, seed: int, now: datetime) -> None:
    global _GENERATOR  # noqa: PLW0603 - one generator per worker process
    warnings.simplefilter("ignore")
    _GENERATOR = Generator(clients, seed, now)


def _make_rows(keys: range) -> Batch:
    assert _GENERATOR is not None
    return _GENERATOR.rows(keys)


TABLES = (
    GoldenClient,
    SourceRecord,
    Xref,
    FieldLineage,
    RiskAssessmentRow,
    LedgerAccount,
    LedgerTransaction,
    CreditFacilityRow,
    Alert,
    DeadLetter,
    ReviewItem,
    Outbox,
)
"""Insert order (foreign keys first)."""


class _Builder:
    """The parent's side of a build: inserts each batch, keeps the audit chain, and writes what comes after."""

    def __init__(self, store: Store, clients: int, now: datetime) -> None:
        self.store, self.clients, self.now = store, clients, now
        self.time = Timeline.ending_now(now, clients)
        self.rows: Counter[str] = Counter()
        self.per_run: dict[int, Counter[str]] = defaultdict(Counter)
        self.events: list[tuple[datetime, str, str, str, str, int | None, dict[str, Any]]] = []
        self.updates: list[tuple[datetime, int, int, str, Any, Any]] = []
        self.open_reviews: list[int] = []
        self.new_alerts: list[int] = []

    def insert(self, batch: Batch) -> None:
        with self.store.begin() as s:
            connection = s.connection()  # Core executemany: no ORM bookkeeping for rows nobody reads back
            for table in TABLES:
                rows = batch.tables.get(table.__tablename__)
                if rows:
                    connection.execute(insert(table.__table__), rows)
                    self.rows[table.__tablename__] += len(rows)
            for client_id, at, changes in batch.creates:
                audit.append(
                    s,
                    actor="sync",
                    action="client.create",
                    entity="client",
                    entity_id=client_id,
                    run_id=1,
                    at=at,
                    details={"changes": changes},
                )
        self.updates.extend(batch.updates)
        self.events.extend(batch.events)
        for run, counts in batch.per_run.items():
            self.per_run[run].update(counts)
        self.open_reviews.extend(batch.open_reviews)
        self.new_alerts.extend(batch.new_alerts)

    # --- the rest of the trail, the runs, operators and proposals -----------------------------------------------
    def people(self, rng: random.Random) -> None:
        """Logins (and a few failures) every day, and reveals of personal data with their reasons."""
        for day in range(RUNS):
            start = self.time.starts[day] - timedelta(hours=9)
            for n in range(rng.randrange(3, 8)):
                who = rng.choice(list(OPERATORS))
                at = start + timedelta(minutes=30 * n + rng.randrange(30))
                failed = rng.random() < 0.08
                self.events.append(
                    (
                        at,
                        who,
                        "console.login_failed" if failed else "console.login",
                        "operator",
                        who,
                        None,
                        {"client": f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}"},
                    )
                )
        for _ in range(max(20, self.clients // 500)):
            at = self.time.starts[rng.randrange(RUNS)] - timedelta(hours=rng.randrange(1, 9))
            cid = rng.randrange(1, self.clients + 1)
            self.events.append(
                (
                    at,
                    rng.choice(("alice", "bob", "carol")),
                    audit.REVEAL_ACTION,
                    "client",
                    str(cid),
                    None,
                    {
                        "command": "clients show",
                        "reason": f"KYC-2026-{rng.randrange(10000):04d}",
                        "masking": "revealed",
                    },
                )
            )

    def trail(self) -> None:
        """Every audit entry after the full sync's creates, in time order, in transactions of `AUDIT_CHUNK`."""
        entries: list[tuple[Any, ...]] = [
            (at, "sync", "client.update", "client", str(cid), run, (name, before, after))
            for at, cid, run, name, before, after in self.updates
        ]
        entries.extend(self.events)
        entries.sort(key=lambda e: e[0])
        self.updates, self.events = [], []
        for i in range(0, len(entries), AUDIT_CHUNK):
            with self.store.begin() as s:
                for at, actor, action, entity, entity_id, run_id, what in entries[i : i + AUDIT_CHUNK]:
                    if action == "client.update":
                        name, before, after = what
                        what = {"changes": {name: {"before": before, "after": after}}}  # noqa: PLW2901
                    audit.append(
                        s,
                        actor=actor,
                        action=action,
                        entity=entity,
                        entity_id=entity_id,
                        run_id=run_id,
                        at=at,
                        details=what,
                    )

    def runs(self) -> None:
        """The 60 runs with their reports (numbers from what the build made) and their stream rows."""
        runs, streams = [], []
        for run_id in range(1, RUNS + 1):
            c = self.per_run[run_id]
            full = run_id == 1
            status, error = "succeeded", None
            if run_id == 37:
                status, error = "partial", "ledger: HTTP 503 from the core ledger (after 5 retries)"
            stats: dict[str, dict[str, Any]] = {}
            for conn, names in (
                ("zoho", ("accounts", "contacts", "deleted")),
                ("fxiaoke", ("accounts", "contacts", "deleted")),
                ("ledger", ("clients", "accounts", "loans", "transactions")),
            ):
                read = c[f"{conn}:read"] if full else c["updated"] // 3 + c[f"{conn}:rejected"]
                if error and conn == "ledger":
                    read = 0
                stats[conn] = {}
                for i, stream in enumerate(names):
                    if i == 0:
                        stats[conn][stream] = stream_stats(
                            read, read if full else 0, 0 if full else read, c[f"{conn}:rejected"], c[f"{conn}:merged"]
                        )
                    else:
                        n = read * (2 if stream == "contacts" else 1) if stream != "deleted" else 0
                        stats[conn][stream] = stream_stats(n, n if full else 0, 0 if full else n, 0)
            totals = {
                "clients_created": self.clients if full else 0,
                "clients_updated": c["updated"],
                "records_linked": sum(c[f"{k}:merged"] for k in ("zoho", "fxiaoke", "ledger")),
                "conflicts": 0,
                "conflicts_queued": 0,
                "review_items": c["reviews"],
                "dead_letters": sum(c[f"{k}:rejected"] for k in ("zoho", "fxiaoke", "ledger")),
                "data_quality": 0,
                "planned_writes": c["written_back"],
                "written_back": c["written_back"],
                "write_failed": 0,
                "risk_assessed": self.clients if full else c["updated"],
                "rating_changes": 0 if full else c["updated"] // 20,
                "alerts_raised": c["alerts"],
                "interactions_linked": 0,
                "interactions_removed": 0,
                "interactions_pending": 0,
            }
            started, finished = self.time.starts[run_id - 1], self.time.end(run_id)
            report = run_report(run_id, started, finished, status, stats, totals, error)
            runs.append(
                {
                    "id": run_id,
                    "kind": "sync",
                    "trigger": report["trigger"],
                    "job": report["job"],
                    "status": status,
                    "dry_run": False,
                    "connectors": ["zoho", "fxiaoke", "ledger"],
                    "report": report,
                    "error": error,
                    "started_at": started,
                    "finished_at": finished,
                    "heartbeat_at": finished,
                    "holder": "bench:1",
                }
            )
            for conn, conn_streams in stats.items():
                for stream, st in conn_streams.items():
                    streams.append(
                        {
                            "run_id": run_id,
                            "connector": conn,
                            "stream": stream,
                            "stats": {**st, **report["connectors"][conn]["api"]},
                            "error": error if error and conn == "ledger" else None,
                        }
                    )
        with self.store.begin() as s:
            s.execute(insert(SyncRun), runs)
            s.execute(insert(SyncRunStream), streams)
            s.execute(
                insert(JobState),
                [
                    {
                        "name": "nightly_sync",
                        "last_tick": self.time.starts[-1],
                        "last_run_id": RUNS,
                        "last_status": "succeeded",
                        "last_started_at": self.time.starts[-1],
                        "last_finished_at": self.time.end(RUNS),
                        "details": {},
                    },
                    {
                        "name": "morning_notifications",
                        "last_tick": self.time.starts[-1] + timedelta(hours=6, minutes=30),
                        "last_run_id": None,
                        "last_status": "succeeded",
                        "last_started_at": None,
                        "last_finished_at": None,
                        "details": {},
                    },
                ],
            )
        self.rows["sync_run"], self.rows["sync_run_stream"] = len(runs), len(streams)

    def operators_and_proposals(self, rng: random.Random) -> None:
        with self.store.begin() as s:
            for name, roles in OPERATORS.items():
                operators.add(s, name, roles, display_name=name.title(), actor="bench")
                operators.set_password(s, name, PASSWORD, actor="bench")
        alice = Actor("alice", frozenset({"operator"}))
        carol = Actor("carol", frozenset({"aml_officer"}))
        with self.store.begin() as s:
            wanted = max(20, self.clients // 1000)
            for item in self.open_reviews[: wanted // 2]:
                approvals.propose(
                    s,
                    "review.decide",
                    {"item_id": item, "accept": rng.random() < 0.6, "note": "same company, branch office"},
                    alice,
                )
            for alert_id in self.new_alerts[: wanted - wanted // 2]:
                approvals.propose(
                    s,
                    "alert.close",
                    {
                        "alert_id": alert_id,
                        "disposition": "not_suspicious",
                        "note": "explained by the client's payroll cycle",
                    },
                    carol,
                )
            s.flush()
            pending = list(s.scalars(select(Approval.id).order_by(Approval.id)))
            for approval_id in pending[: len(pending) // 4]:
                s.execute(
                    update(Approval)
                    .where(Approval.id == approval_id)
                    .values(status="rejected", decided_by="bob", decided_at=self.now, note="needs the KYC file first")
                )
            self.rows["approval"] = len(pending)


def _fix_sequences(store: Store) -> None:
    """PostgreSQL: move each identity past the explicit ids the build inserted (SQLite needs nothing)."""
    if store.dialect != "postgresql":
        return
    tables = (
        "golden_client",
        "source_record",
        "alert",
        "dead_letter",
        "review_item",
        "outbox",
        "sync_run",
        "ledger_account",
        "ledger_transaction",
        "credit_facility",
        "risk_assessment",
    )
    with store.begin() as s:
        for table in tables:
            s.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
                )
            )
        s.execute(text("ANALYZE"))  # autovacuum would, a minute after a bulk load; SQLite is left as crmhub runs it


def _batches(clients: int, seed: int, now: datetime, batch: int, jobs: int) -> Iterator[Batch]:
    """The batches in key order; with ``jobs`` > 1 made by worker processes, at most 2 × jobs ahead of the
    inserts (so memory stays bounded whatever the store's size)."""
    ranges = [range(first, min(clients, first + batch)) for first in range(0, clients, batch)]
    if jobs <= 1:
        _start_worker(clients, seed, now)
        yield from map(_make_rows, ranges)
        return
    with mp.get_context("fork").Pool(jobs, _start_worker, (clients, seed, now)) as pool:
        pending: deque[Any] = deque()
        for keys in ranges:
            pending.append(pool.apply_async(_make_rows, (keys,)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def build(
    store: Store, clients: int, *, seed: int = SEED, batch: int = 500, jobs: int = 1, log: Callable[[str], None] = print
) -> Built:
    """Fill the empty, migrated ``store`` with ``clients`` golden clients and their surroundings; ``jobs``
    worker processes make the rows (the parent inserts them and writes the audit chain)."""
    with store.begin() as s:
        if s.scalar(select(func.count()).select_from(GoldenClient)):
            raise SystemExit("the store already holds golden clients: give an empty one (or --reuse it)")
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    b = _Builder(store, clients, now)
    rng = random.Random(seed)
    last, done = started, 0
    for rows in _batches(clients, seed, now, batch, jobs):
        b.insert(rows)
        done += len(rows.creates)
        if time.perf_counter() - last > 15 or done >= clients:
            last = time.perf_counter()
            log(f"  {done:>9,} clients  {last - started:7.1f} s  ({done / (last - started):,.0f} clients/s)")
    b.people(rng)
    log(f"  audit trail: {len(b.updates) + len(b.events):,} entries after the creates …")
    b.trail()
    b.runs()
    b.operators_and_proposals(rng)
    _fix_sequences(store)
    with store.begin() as s:
        b.rows["audit_log"] = s.scalar(select(func.count()).select_from(AuditLog)) or 0
    return Built(clients, time.perf_counter() - started, dict(sorted(b.rows.items())))
