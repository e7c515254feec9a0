"""Read-side queries over sync runs for screens: the filtered run list, trends, a run's report and headline counts.

The numbers come from where the sync put them: ``sync_run.report`` (the `RunReport` JSON — totals, connectors,
phases) and ``sync_run_stream`` (per connector and stream counts). Everything is aggregated in SQL with the
portable JSON accessors (``report[("totals", "clients_created")].as_integer()``), so a screen reads a few numbers
per run, never whole reports; a dry run's report can hold a plan of every planned write (100,000 on a large
store), so `load_report` reads the report key by key and leaves the plan out (`load_plan` reads it alone).
The records *behind* a run's counts (which clients, which dead letters) are in `crmhub.sync.run_records`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session, defer

from crmhub.core.report import PlannedChange, RunReport
from crmhub.display import current_timezone
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.store.tables import Alert, Approval, DeadLetter, ReviewItem, SyncRun, SyncRunStream

_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")

RUN_STATUSES = ("running", "succeeded", "partial", "failed", "interrupted")
ALERT_OPEN = ("new", "acknowledged")
"""Alert statuses that still need an AML officer (`crmhub alerts list --status open`)."""
ALERT_AGE_BUCKETS = (("0-1", 0, 1), ("2-5", 2, 5), ("6-10", 6, 10), (">10", 11, None))
"""(name, first day, last day) of the open-alert age buckets; the age is whole days since the alert was raised."""
_REPORT_KEYS = (
    "run_id",
    "status",
    "dry_run",
    "trigger",
    "job",
    "started_at",
    "finished_at",
    "duration_s",
    "connectors",
    "totals",
    "phases",
    "phase_cpu",
    "error",
    "notifications",
)
"""Every `RunReport` key but ``plan``."""


def total(key: str) -> ColumnElement[int]:
    """A run-wide count from the stored report (0 when the report has none yet, e.g. a run still going)."""
    return func.coalesce(SyncRun.report[("totals", key)].as_integer(), 0)


def duration() -> ColumnElement[float]:
    """The run's duration in seconds from its report (NULL while it runs)."""
    value: ColumnElement[float] = SyncRun.report["duration_s"].as_float()
    return value


@dataclass(frozen=True, slots=True)
class RunFilters:
    """The run list's filters (all optional); ``started_to`` includes that whole day, in the screens' zone."""

    status: str = ""
    kind: str = ""
    trigger: str = ""
    job: str = ""
    started_from: date | None = None
    started_to: date | None = None

    @classmethod
    def parse(
        cls,
        *,
        status: str = "",
        kind: str = "",
        trigger: str = "",
        job: str = "",
        started_from: str = "",
        started_to: str = "",
    ) -> RunFilters:
        """Filters from text (a form); a bad status or date is an `InputError` saying what is expected."""
        if status and status not in RUN_STATUSES:
            raise InputError(
                bilingual(
                    f"未知的运行状态 {status!r}；可选：{'、'.join(RUN_STATUSES)}",
                    f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}",
                )
            )
        return cls(status, kind, trigger, job, _day(started_from, "from"), _day(started_to, "to"))

    def apply(self, query: _Q) -> _Q:
        """``query`` (over `SyncRun`) narrowed by these filters."""
        if self.status:
            query = query.where(SyncRun.status == self.status)
        if self.kind:
            query = query.where(SyncRun.kind == self.kind)
        if self.trigger:
            query = query.where(SyncRun.trigger == self.trigger)
        if self.job:
            query = query.where(SyncRun.job == self.job)
        if self.started_from:
            query = query.where(SyncRun.started_at >= _local_midnight(self.started_from))
        if self.started_to:
            query = query.where(SyncRun.started_at < _local_midnight(self.started_to + timedelta(days=1)))
        return query


def _day(text: str, which: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        side = "起" if which == "from" else "止"
        raise InputError(
            bilingual(
                f"开始日期（{side}）{text!r} 不是 YYYY-MM-DD 格式的日期",
                f"started {which} {text!r} is not a date (YYYY-MM-DD)",
            )
        ) from None


def _local_midnight(day: date) -> datetime:
    """The start of ``day`` in the screens' time zone, as UTC (what the store compares)."""
    return datetime.combine(day, time(0), tzinfo=current_timezone()).astimezone(UTC)


def run_list_query(filters: RunFilters) -> Select[*tuple[Any, ...]]:
    """Runs newest first with the columns of a run list (tuples: see the select), filtered."""
    query = select(
        SyncRun.id,
        SyncRun.kind,
        SyncRun.trigger,
        SyncRun.job,
        SyncRun.status,
        SyncRun.dry_run,
        SyncRun.started_at,
        SyncRun.finished_at,
        duration().label("duration_s"),
        total("clients_created").label("created"),
        total("clients_updated").label("updated"),
        total("dead_letters").label("dead_letters"),
        total("written_back").label("written_back"),
        total("alerts_raised").label("alerts_raised"),
    )
    return filters.apply(query).order_by(SyncRun.id.desc())


def records_read(session: Session, run_ids: Iterable[int]) -> dict[int, int]:
    """Records read per run (summed over its streams, in SQL), for the given runs."""
    ids = list(run_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(SyncRunStream.run_id, func.sum(SyncRunStream.stats["read"].as_integer()))
        .where(SyncRunStream.run_id.in_(ids))
        .group_by(SyncRunStream.run_id)
    )
    return {run_id: int(n or 0) for run_id, n in rows}


def filter_choices(session: Session) -> dict[str, list[str]]:
    """The kinds, triggers and jobs that occur in stored runs (the run list's drop-downs)."""
    out: dict[str, list[str]] = {}
    for name, column in (("kind", SyncRun.kind), ("trigger", SyncRun.trigger), ("job", SyncRun.job)):
        out[name] = sorted(v for v in session.scalars(select(column).distinct()) if v)
    return out


def trend(session: Session, limit: int = 30) -> list[dict[str, Any]]:
    """The last ``limit`` finished non-dry runs, oldest first: read, created, updated, changes, dead letters,
    alerts raised and duration of each (the dashboard's charts)."""
    created, updated = total("clients_created"), total("clients_updated")
    changes = created + updated + total("written_back") + total("planned_writes")  # = RunReport.changes
    rows = session.execute(
        select(
            SyncRun.id,
            SyncRun.started_at,
            SyncRun.status,
            created,
            updated,
            changes,
            total("dead_letters"),
            total("alerts_raised"),
            duration(),
        )
        .where(SyncRun.dry_run.is_(False), SyncRun.status != "running")
        .order_by(SyncRun.id.desc())
        .limit(limit)
    ).all()
    read = records_read(session, [r[0] for r in rows])
    return [
        {
            "id": r[0],
            "started_at": r[1],
            "status": r[2],
            "read": read.get(r[0], 0),
            "created": int(r[3]),
            "updated": int(r[4]),
            "changes": int(r[5]),
            "dead_letters": int(r[6]),
            "alerts_raised": int(r[7]),
            "duration_s": round(float(r[8] or 0.0), 3),
        }
        for r in reversed(rows)
    ]


def get_run(session: Session, run_id: int) -> SyncRun | None:
    """The run's row without its report (loaded by `load_report`)."""
    return session.scalars(select(SyncRun).options(defer(SyncRun.report)).where(SyncRun.id == run_id)).first()


def load_report(session: Session, run: SyncRun) -> RunReport:
    """``run``'s report without its plan (read key by key); a run without a stored report (still running, or
    killed) gets one made of its row and its ``sync_run_stream`` counts."""
    values = session.execute(select(*(SyncRun.report[key] for key in _REPORT_KEYS)).where(SyncRun.id == run.id)).one()
    doc = {k: v for k, v in zip(_REPORT_KEYS, values, strict=True) if v is not None}
    doc.update(run_id=run.id, status=run.status, dry_run=run.dry_run, trigger=run.trigger, job=run.job)
    doc.setdefault("started_at", run.started_at)
    if run.finished_at is not None:
        doc.setdefault("finished_at", run.finished_at)
    if run.error and not doc.get("error"):
        doc["error"] = run.error
    if not doc.get("connectors"):
        connectors: dict[str, Any] = {}
        for row in session.scalars(select(SyncRunStream).where(SyncRunStream.run_id == run.id)):
            stats = {k: v for k, v in (row.stats or {}).items() if isinstance(v, int | float)}
            rep = connectors.setdefault(row.connector, {"status": "failed" if row.error else "ok", "streams": {}})
            rep["streams"][row.stream] = {**stats, **({"error": row.error} if row.error else {})}
        doc["connectors"] = connectors
    if doc.get("status") not in (*RUN_STATUSES,):
        doc["status"] = "interrupted"
    return RunReport.model_validate(doc)


def load_plan(session: Session, run_id: int) -> list[PlannedChange]:
    """A dry run's planned writes (the only part of a report that grows with the store)."""
    plan = session.scalar(select(SyncRun.report["plan"]).where(SyncRun.id == run_id))
    return [PlannedChange.model_validate(p) for p in plan or []]


@dataclass(frozen=True, slots=True)
class OpenWork:
    """What waits for people: open review items, open dead letters, pending four-eyes proposals."""

    review: int
    dead_letters: int
    approvals: int


def open_work(session: Session) -> OpenWork:
    """The three counts in one statement (each an indexed COUNT)."""

    def count(column: Any, value: str) -> Any:
        return select(func.count()).where(column == value).scalar_subquery()

    row = session.execute(
        select(count(ReviewItem.status, "open"), count(DeadLetter.status, "open"), count(Approval.status, "pending"))
    ).one()
    return OpenWork(int(row[0]), int(row[1]), int(row[2]))


def alert_age_bucket(now: datetime) -> ColumnElement[str]:
    """The `ALERT_AGE_BUCKETS` name of an alert's age (whole days since raised), as SQL (the AML queue uses it)."""
    whens = []
    for name, _first, last in ALERT_AGE_BUCKETS:
        if last is not None:  # age <= last  ⇔  created_at > now - (last + 1) days
            whens.append((Alert.created_at > now - timedelta(days=last + 1), name))
    return case(*whens, else_=ALERT_AGE_BUCKETS[-1][0])


def alert_ages(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Open AML alerts per age bucket (`ALERT_AGE_BUCKETS`), counted in SQL: age = whole days since raised."""
    now = now or datetime.now(UTC)
    bucket = alert_age_bucket(now)
    counts = dict.fromkeys((b[0] for b in ALERT_AGE_BUCKETS), 0)
    for name, n in session.execute(select(bucket, func.count()).where(Alert.status.in_(ALERT_OPEN)).group_by(bucket)):
        counts[str(name)] = int(n)
    return counts


@dataclass(slots=True)
class ConnectorLast:
    """One connector's last (non-dry) run, as the dashboard shows it."""

    connector: str
    run_id: int | None = None
    run_status: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    read: int = 0
    rejected: int = 0
    error: str | None = None


def last_run_per_connector(session: Session, configured: Iterable[str]) -> list[ConnectorLast]:
    """Each connector's latest run (configured ones first, then any other that ran): one grouped query for the
    run ids, one for those runs' connector reports, one for their stream counts."""
    latest = dict(
        session.execute(
            select(SyncRunStream.connector, func.max(SyncRunStream.run_id))
            .join(SyncRun, SyncRun.id == SyncRunStream.run_id)
            .where(SyncRun.dry_run.is_(False))
            .group_by(SyncRunStream.connector)
        ).all()
    )
    names = list(dict.fromkeys([*configured, *sorted(latest)]))
    run_ids = sorted(set(latest.values()))
    runs = (
        {
            r[0]: r
            for r in session.execute(
                select(SyncRun.id, SyncRun.status, SyncRun.started_at, SyncRun.report["connectors"]).where(
                    SyncRun.id.in_(run_ids)
                )
            )
        }
        if run_ids
        else {}
    )
    counts: dict[tuple[int, str], tuple[int, int]] = {}
    if run_ids:
        for run_id, connector, read, rejected in session.execute(
            select(
                SyncRunStream.run_id,
                SyncRunStream.connector,
                func.sum(SyncRunStream.stats["read"].as_integer()),
                func.sum(SyncRunStream.stats["rejected"].as_integer()),
            )
            .where(SyncRunStream.run_id.in_(run_ids))
            .group_by(SyncRunStream.run_id, SyncRunStream.connector)
        ):
            counts[(run_id, connector)] = (int(read or 0), int(rejected or 0))
    out = []
    for name in names:
        item = ConnectorLast(name)
        run_id = latest.get(name)
        if run_id is not None and run_id in runs:
            _id, run_status, started_at, reports = runs[run_id]
            rep = (reports or {}).get(name) or {}
            item.run_id, item.run_status, item.started_at = run_id, run_status, started_at
            item.status = rep.get("status") or ("ok" if run_status == "succeeded" else run_status)
            item.duration_s = rep.get("duration_s")
            item.error = rep.get("error")
            item.read, item.rejected = counts.get((run_id, name), (0, 0))
        out.append(item)
    return out
