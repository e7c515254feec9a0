"""Finding what deserves a notification, in the store: the facts the planner turns into outbox rows.

Each finder reads committed rows — alerts, risk assessments, sync runs, dead letters, interactions, the outbox
itself — never in-memory events, so a process that dies between a change and its notification loses nothing: the
next pass finds the same fact. Every fact has a stable ``ref`` (``alert:12``, ``downgrade:345``,
``run:7:failed``, ``followup:9:2026-05-01`` …) that becomes part of its outbox keys. Finders only look back
``[notify].lookback_hours`` (follow-ups are keyed by due date instead), so switching notifications on never
replays a year of history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from crmhub.core.chunks import chunked
from crmhub.model.client import Rating
from crmhub.notify import context as ctx
from crmhub.notify.followup import due_follow_ups, last_interaction
from crmhub.notify.settings import Lang, NotifySettings
from crmhub.store.tables import Alert, DeadLetter, GoldenClient, JobState, Outbox, RiskAssessmentRow, SyncRun

if TYPE_CHECKING:
    from crmhub.config import Settings

BATCH = 500
NOTIFICATION = "notification"


@dataclass(slots=True)
class Fact:
    """Something to notify: its event kind, stable reference, client (for ``rm``) and context builder."""

    event: str
    ref: str
    client: GoldenClient | None
    run_id: int | None
    build: Callable[[Lang], dict[str, Any]]


def _clients(session: Session, ids: set[int | None]) -> dict[int, GoldenClient]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return {g.id: g for g in session.scalars(select(GoldenClient).where(GoldenClient.id.in_(wanted)))}


def _worse(after: str, before: str) -> bool:
    try:
        return Rating(after).numeric > Rating(before).numeric
    except ValueError:
        return False


def _downgrade_rows(
    session: Session, *, since: datetime | None = None, run_id: int | None = None
) -> list[tuple[RiskAssessmentRow, str, float, int]]:
    """Current (or this run's) assessments whose rating is worse than the client's previous assessment, with the
    previous rating, score and id.

    Ratings are compared on narrow rows first; only the downgrades' full rows (with their JSON) are loaded, so a
    day on which the whole book was re-scored costs one index scan, not the whole book in memory.
    """
    prev = aliased(RiskAssessmentRow)
    inner = aliased(RiskAssessmentRow)
    cur = RiskAssessmentRow
    previous_id = (
        select(func.max(inner.id))
        .where(inner.client_id == cur.client_id, inner.id < cur.id)
        .correlate(cur)
        .scalar_subquery()
    )
    q = select(cur.id, cur.rating, prev.rating, prev.score, prev.id).join(prev, prev.id == previous_id)
    if since is not None:
        q = q.where(cur.current.is_(True), cur.assessed_at >= since)
    if run_id is not None:
        q = q.where(cur.run_id == run_id)
    worse = {
        row_id: (before, score, prev_id)
        for row_id, after, before, score, prev_id in session.execute(q).all()
        if _worse(after, before)
    }
    out: list[tuple[RiskAssessmentRow, str, float, int]] = []
    for ids in chunked(sorted(worse), BATCH):
        for row in session.scalars(select(cur).where(cur.id.in_(ids)).order_by(cur.id)):
            out.append((row, *worse[row.id]))
    return out


def downgrade_facts(session: Session, ns: NotifySettings, since: datetime, now: datetime) -> Iterator[Fact]:
    """A current assessment rated worse than the one before it (which is loaded too: the message names the
    factors that changed between the two)."""
    rows = _downgrade_rows(session, since=since)
    clients = _clients(session, {r.client_id for r, _, _, _ in rows})
    previous: dict[int, RiskAssessmentRow] = {}
    for wanted in chunked(sorted({p for *_, p in rows}), BATCH):
        previous.update(
            (r.id, r) for r in session.scalars(select(RiskAssessmentRow).where(RiskAssessmentRow.id.in_(wanted)))
        )
    for row, before, score, prev_id in rows:
        client = clients.get(row.client_id)

        def build(
            lang: Lang,
            row: RiskAssessmentRow = row,
            before: str = before,
            score: float = score,
            client: GoldenClient | None = client,
            prev: RiskAssessmentRow | None = previous.get(prev_id),
        ) -> dict[str, Any]:
            return ctx.downgrade_context(row, before, score, client, lang, ns, now, previous=prev)

        yield Fact("rating_downgrade", f"downgrade:{row.id}", client, row.run_id, build)


def alert_facts(session: Session, ns: NotifySettings, since: datetime, now: datetime) -> Iterator[Fact]:
    """A new alert raised within the lookback about recent activity (``alert_max_age_days``)."""
    oldest = now.astimezone(ZoneInfo(ns.timezone)).date() - timedelta(days=ns.alert_max_age_days)
    after = 0
    while True:
        alerts = list(
            session.scalars(
                select(Alert)
                .where(
                    Alert.status == "new",
                    Alert.created_at >= since,
                    Alert.id > after,
                    or_(Alert.day.is_(None), Alert.day >= oldest),
                )
                .order_by(Alert.id)
                .limit(BATCH)
            )
        )
        if not alerts:
            return
        after = alerts[-1].id
        clients = _clients(session, {a.client_id for a in alerts})
        for alert in alerts:
            client = clients.get(alert.client_id or -1)

            def build(lang: Lang, alert: Alert = alert, client: GoldenClient | None = client) -> dict[str, Any]:
                return ctx.alert_context(alert, client, lang, ns, now)

            yield Fact("alert", f"alert:{alert.id}", client, alert.run_id, build)


def run_facts(session: Session, settings: Settings, events: set[str], since: datetime, now: datetime) -> Iterator[Fact]:
    """Failed or partial runs, runs with too many dead letters, and scheduled runs (for the digest)."""
    ns = settings.notify
    runs = list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.dry_run.is_(False), SyncRun.finished_at.is_not(None), SyncRun.finished_at >= since)
            .order_by(SyncRun.id)
        )
    )
    if not runs:
        return
    dead: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    if "dead_letters" in events:
        for run_id, connector, stream, n in session.execute(
            select(DeadLetter.run_id, DeadLetter.connector, DeadLetter.stream, func.count())
            .where(DeadLetter.run_id.in_([r.id for r in runs]))
            .group_by(DeadLetter.run_id, DeadLetter.connector, DeadLetter.stream)
        ).all():
            if run_id is not None:
                dead[run_id].append((connector, stream, int(n)))
    threshold = settings.sync.dead_letter_alert_threshold
    for run in runs:
        if "sync_failed" in events and run.status in ("failed", "partial"):
            yield Fact("sync_failed", f"run:{run.id}:failed", None, run.id, _failed_builder(run, ns, now))
        elif "sync_failed" in events and run.status == "interrupted" and (run.report or {}).get("recovered"):
            # a run whose process died, closed by the next start (crmhub.sync.recovery): told once, by its ref
            yield Fact("sync_failed", f"run:{run.id}:interrupted", None, run.id, _failed_builder(run, ns, now))
        groups = sorted(dead.get(run.id, []), key=lambda g: -g[2])
        if "dead_letters" in events and sum(n for _, _, n in groups) > threshold:
            examples = [
                (d.source_id, d.reason)
                for d in session.scalars(
                    select(DeadLetter).where(DeadLetter.run_id == run.id).order_by(DeadLetter.id).limit(5)
                )
            ]
            yield Fact(
                "dead_letters",
                f"run:{run.id}:dead_letters",
                None,
                run.id,
                _dead_builder(run, groups, examples, ns, now),
            )
        if "digest" in events and run.trigger == "scheduler":
            downgrades = len(_downgrade_rows(session, run_id=run.id))
            yield Fact("digest", f"run:{run.id}:digest", None, run.id, _digest_builder(run, downgrades, ns, now))


def job_failure_facts(session: Session, ns: NotifySettings, since: datetime, now: datetime) -> Iterator[Fact]:
    """Scheduled jobs that failed with no failed sync run to tell of it: a ``risk assess``, ``notify run`` or
    ``report digest`` job, or a sync job that could not start (its sync failures come from `run_facts`). Read from
    each job's stored history, so a failure is found even when the process that saw it died right after."""
    for row in session.scalars(select(JobState).order_by(JobState.name)):
        for entry in (row.details or {}).get("history") or []:
            yield from _audit_chain_fact(row.name, entry, ns, since, now)
            if entry.get("status") != "failed" or entry.get("trigger") != "scheduler":
                continue
            if entry.get("command") == "sync" and entry.get("run_id") is not None:
                continue
            finished = entry.get("finished_at")
            if not finished or datetime.fromisoformat(str(finished)) < since:
                continue
            yield Fact(
                "sync_failed",
                f"job:{row.name}:{entry.get('started_at')}:failed",
                None,
                None,
                _job_builder(row.name, dict(entry), ns, now),
            )


def _audit_chain_fact(
    job: str, entry: dict[str, Any], ns: NotifySettings, since: datetime, now: datetime
) -> Iterator[Fact]:
    """A broken audit chain found by a job's head check (`crmhub.jobs.audit_head`): told once per first bad entry
    and kind of break, however many runs find it (the key names the entry, not the run)."""
    found = (entry.get("details") or {}).get("audit_chain")
    finished = entry.get("finished_at")
    if (
        not isinstance(found, dict)
        or found.get("kind") in (None, "unchecked")
        or not finished
        or datetime.fromisoformat(str(finished)) < since
    ):
        return
    yield Fact(
        "sync_failed",
        f"audit:{found.get('seq')}:{found.get('kind')}",
        None,
        None,
        lambda lang: ctx.audit_chain_context(job, entry, found, lang, ns, now),
    )


def _job_builder(
    job: str, entry: dict[str, Any], ns: NotifySettings, now: datetime
) -> Callable[[Lang], dict[str, Any]]:
    return lambda lang: ctx.job_failed_context(job, entry, lang, ns, now)


def _failed_builder(run: SyncRun, ns: NotifySettings, now: datetime) -> Callable[[Lang], dict[str, Any]]:
    return lambda lang: ctx.sync_failed_context(run, lang, ns, now)


def _dead_builder(
    run: SyncRun,
    groups: list[tuple[str, str, int]],
    examples: list[tuple[str | None, str]],
    ns: NotifySettings,
    now: datetime,
) -> Callable[[Lang], dict[str, Any]]:
    return lambda lang: ctx.dead_letters_context(run, groups, examples, ns, now)


def _digest_builder(
    run: SyncRun, downgrades: int, ns: NotifySettings, now: datetime
) -> Callable[[Lang], dict[str, Any]]:
    return lambda lang: ctx.digest_context(run, downgrades, lang, ns, now)


def follow_up_facts(session: Session, ns: NotifySettings, today: date, now: datetime) -> Iterator[list[Fact]]:
    """Clients whose follow-up period has come, in batches (the planner checks the keys batch by batch)."""
    states = due_follow_ups(session, ns, today)
    while True:
        batch = list(islice(states, BATCH))
        if not batch:
            return
        clients = _clients(session, {s.client_id for s in batch})
        facts = []
        for state in batch:
            client = clients[state.client_id]

            def build(lang: Lang, client: GoldenClient = client, due: date = state.due_on) -> dict[str, Any]:
                last = last_interaction(session, client.id)
                touch = last.occurred_at if last is not None else client.created_at
                return ctx.follow_up_context(client, due, touch, last.by if last is not None else None, lang, ns, now)

            facts.append(Fact("follow_up", f"followup:{client.id}:{state.due_on.isoformat()}", client, None, build))
        yield facts


def undelivered_facts(session: Session, ns: NotifySettings, since: datetime, now: datetime) -> Iterator[Fact]:
    """Notifications that failed, partly failed or are unconfirmed — except reports of that very kind."""
    rows = session.scalars(
        select(Outbox)
        .where(
            Outbox.kind == NOTIFICATION,
            Outbox.state.in_(("failed", "partial", "unconfirmed")),
            Outbox.updated_at >= since,
            Outbox.stream != "undelivered",
        )
        .order_by(Outbox.id)
    )
    for row in rows:
        yield Fact("undelivered", f"outbox:{row.id}", None, row.run_id, _undelivered_builder(row, ns, now))


def _undelivered_builder(row: Outbox, ns: NotifySettings, now: datetime) -> Callable[[Lang], dict[str, Any]]:
    return lambda lang: ctx.undelivered_context(row, ns, now)


def horizon(ns: NotifySettings, now: datetime) -> datetime:
    """The oldest moment a fact may come from."""
    return now - timedelta(hours=ns.lookback_hours)
