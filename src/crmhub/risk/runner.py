"""Running the risk engine: the sync cycle's step 4 (`make_risk_phase`) and the standalone `assess`.

Clients are processed in batches of ``[risk].batch_size``; each batch is one transaction that reads the batch's
ledger facts (a handful of GROUP BY queries), scores every client, stores new assessments (history kept, the
latest ``current``), updates the golden record's rating, segment and ``data["risk"]`` (flagging write-back when
rating or segment changed), raises alerts and clears ``needs_risk`` — so a crash loses at most one batch, which
the next run redoes, and a rerun with the same inputs stores nothing new (``inputs_hash``).

The per-client work is plain Python over plain rows: the scorecard is compiled once per run
(`crmhub.risk.scoring.CompiledCard`), golden data is trusted (validated when it was merged), and a batch's writes
are a few set-based statements (`crmhub.risk.persist`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.core.chunks import chunked
from crmhub.core.pages import keyset_pages
from crmhub.errors import InputError
from crmhub.events import AlertRaised, Event, RaisedAlert, RiskChanged, emit
from crmhub.model import CorporateClient, Rating, RiskAssessment, Segment
from crmhub.model import uscc as uscc_mod
from crmhub.risk import persist
from crmhub.risk.alerts import alert_json, detect, save_drafts
from crmhub.risk.card import Scorecard
from crmhub.risk.explain import assessment_of
from crmhub.risk.inputs import BUILTIN_INPUTS, LedgerView, inputs_hash, ledger_inputs, plugin_inputs, profile_inputs
from crmhub.risk.ledger import LedgerReader, has_orphan_transactions, ledger_connectors
from crmhub.risk.persist import dumps
from crmhub.risk.scoring import compiled
from crmhub.store.tables import GoldenClient, RiskAssessmentRow

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.plugins import Registry
    from crmhub.store import Store
    from crmhub.store.unit import UnitOfWork

log = logging.getLogger("crmhub.risk")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def default_today() -> date:
    """Today in the bank's time zone (Asia/Shanghai)."""
    return datetime.now(SHANGHAI).date()


@dataclass(slots=True)
class AssessOutcome:
    """What one risk run did."""

    today: date
    clients: int = 0
    assessed: int = 0
    first: int = 0
    unchanged: int = 0
    rating_changes: int = 0
    alerts_raised: int = 0
    alerts_updated: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


class RiskEngine:
    """Scores and screens batches of golden clients with one configuration."""

    def __init__(self, settings: Settings, registry: Registry, *, today: date | None = None) -> None:
        self.risk = settings.risk
        self.card: Scorecard = settings.risk.card()
        self.compiled = compiled(self.card)  # max points, thresholds, labels, policies: once per run
        self.hooks = {
            name
            for name in ("crmhub_risk_changed", "crmhub_alert_raised")
            if getattr(registry.hook, name).get_hookimpls()
        }
        self.factors = list(registry.risk_factors)
        self.card.check_inputs(
            set(BUILTIN_INPUTS) | {f.name for f in self.factors},
            self.risk.scorecard_file or ("risk.scorecard" if self.risk.scorecard else "crmhub/data/scorecard.toml"),
        )
        self.today = today or self.risk.today or default_today()
        self.fingerprint = self.card.fingerprint()
        self.parameters = {**self.risk.as_parameters(), "today": self.today.isoformat()}
        self.connectors: list[str] = []
        self.orphans = False

    def prepare(self, session: Session) -> None:
        """Look up, once per run, which connectors are ledgers and whether any transaction lacks its client."""
        self.connectors = ledger_connectors(session)
        self.orphans = has_orphan_transactions(session)

    def flag_stale(self, session: Session, id_range: tuple[int, int | None] | None = None) -> int:
        """Re-flag clients assessed under another scorecard version, so a new card reaches every client (those
        of ``id_range`` only: one partition of a run split over workers touches no other partition's rows)."""
        stale = select(RiskAssessmentRow.client_id).where(
            RiskAssessmentRow.current.is_(True), RiskAssessmentRow.scorecard_version != self.card.version
        )
        bounds = []
        if id_range is not None:
            bounds.append(GoldenClient.id >= id_range[0])
            if id_range[1] is not None:
                bounds.append(GoldenClient.id <= id_range[1])
        result = session.execute(
            update(GoldenClient)
            .where(GoldenClient.id.in_(stale), GoldenClient.needs_risk.is_(False), *bounds)
            .values(needs_risk=True)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def process(
        self,
        session: Session,
        ids: Sequence[int],
        run_id: int | None,
        outcome: AssessOutcome,
        *,
        events: bool = True,
        keep_results: bool = False,
    ) -> list[Event]:
        """Assess and screen one batch inside ``session``; returns the events to fire after commit.

        Golden records are read as plain rows (their data was validated when it was merged: trusted here) and
        written back with a few set-based statements (`crmhub.risk.persist`). Events are built only for hooks a
        plugin implements: a client model per changed client costs as much as scoring it.
        """
        G = GoldenClient
        goldens = [
            _Golden(*r)
            for r in session.execute(select(G.id, G.uscc, G.name, G.data).where(G.id.in_(list(ids))).order_by(G.id))
        ]
        reader = LedgerReader(session, self.risk, self.today, self.connectors, orphans=self.orphans)
        facts = reader.load([g.id for g in goldens])
        views = {cid: LedgerView(f, self.risk, self.today) for cid, f in facts.items() if f.links}
        R = RiskAssessmentRow
        current = {
            r.client_id: r
            for r in session.execute(
                select(R.id, R.client_id, R.inputs_hash, R.rating, R.segment, R.score).where(
                    R.client_id.in_([g.id for g in goldens]), R.current.is_(True)
                )
            )
        }
        fire_changed = events and "crmhub_risk_changed" in self.hooks
        fire_alerts = events and "crmhub_alert_raised" in self.hooks
        superseded: list[int] = []
        now = datetime.now(UTC)
        at = now.isoformat().replace("+00:00", "Z")  # RiskSummary's JSON form of a UTC time
        rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        rescored_rows: list[dict[str, Any]] = []
        unchanged: list[int] = []
        to_fire: list[tuple[_Golden, int | None, dict[str, Any], str, str]] = []
        clients: dict[int, CorporateClient] = {}
        card, version, fingerprint, parameters = self.compiled, self.card.version, self.fingerprint, self.parameters
        for g in goldens:
            outcome.clients += 1
            inputs = {
                **ledger_inputs(facts[g.id], self.risk, self.today, views.get(g.id)),
                **profile_inputs(g.data or {}, self.risk, self.today),
            }
            if self.factors:
                clients[g.id] = _client(g)
                values, errors = plugin_inputs(self.factors, clients[g.id], inputs)
                inputs.update(values)
                if errors:
                    inputs["plugin_errors"] = errors
            digest = inputs_hash(inputs, fingerprint, parameters)
            cur = current.get(g.id)
            if cur is not None and cur.inputs_hash == digest:
                outcome.unchanged += 1
                unchanged.append(g.id)
                if keep_results:
                    outcome.results.append(_result(g, cur.rating, cur.segment, cur.score, "unchanged", self.card))
                continue
            a = card.score(inputs)
            rating, segment, score = a.rating.value, a.segment.value, str(a.score)
            stored = {
                "assessment": {
                    "score": score,
                    "scored_rating": a.scored_rating.value,
                    "factors": a.factor_json(),
                    "overrides": [o.stored for o in a.overrides],
                    "reason_codes": a.reason_codes,
                    "inputs": inputs,
                },
                "factors": a.details_json(),
                "policy": card.policies[a.rating],
                "scorecard_fingerprint": fingerprint,
                "parameters": parameters,
            }
            rows.append(
                {
                    "client_id": g.id,
                    "assessed_at": now,
                    "score": float(a.score),
                    "rating": rating,
                    "segment": segment,
                    "scorecard_version": version,
                    "inputs_hash": digest,
                    "current": True,
                    "run_id": run_id,
                    "data": dumps(stored),
                }
            )
            changed = cur is None or cur.rating != rating or cur.segment != segment
            outcome.assessed += 1
            if cur is None:
                outcome.first += 1
            else:
                superseded.append(cur.id)
                outcome.rating_changes += int(changed)
            risk = dumps({"rating": rating, "segment": segment, "score": score, "assessed_at": at})
            if changed:
                changed_rows.append({"b_id": g.id, "b_rating": rating, "b_segment": segment, "b_risk": risk})
            else:
                rescored_rows.append({"b_id": g.id, "b_risk": risk})
            if keep_results:
                outcome.results.append(
                    _result(
                        g,
                        rating,
                        segment,
                        float(a.score),
                        "first" if cur is None else ("changed" if changed else "rescored"),
                        self.card,
                    )
                )
            if fire_changed and changed:
                to_fire.append((g, cur.id if cur is not None else None, stored, rating, segment))
        persist.supersede(session, superseded)
        persist.insert_assessments(session, rows)
        persist.update_goldens(session, changed=changed_rows, rescored=rescored_rows, unchanged=unchanged, now=now)
        out: list[Event] = []
        if to_fire:
            before = _stored(session, [p for _, p, *_ in to_fire if p is not None])
            for g, prev, stored, rating, segment in to_fire:
                client = clients.get(g.id) or _client(g)
                clients[g.id] = client
                after = assessment_of(
                    stored,
                    client_id=g.id,
                    uscc=g.uscc,
                    version=version,
                    assessed_at=now,
                    rating=rating,
                    segment=segment,
                )
                out.append(RiskChanged(client, before.get(prev or -1), after))
        drafts = detect(reader, facts, views, self.risk, self.today)
        subjects = {g.id: (g.uscc, g.id) for g in goldens}
        saved = save_drafts(session, drafts, subjects, self.risk, run_id)
        outcome.alerts_raised += len(saved.created)
        outcome.alerts_updated += saved.updated
        if fire_alerts:
            by_id = {g.id: g for g in goldens}
            for alert in saved.created:
                golden = by_id.get(alert.client_id or -1)
                owner = (clients.get(golden.id) or _client(golden)) if golden is not None else None
                out.append(AlertRaised(RaisedAlert.from_json(alert_json(alert)), owner))
        return out


class _Golden(NamedTuple):
    """The golden columns the risk step reads (a plain row: no ORM object, no change tracking)."""

    id: int
    uscc: str | None
    name: str
    data: dict[str, Any] | None


def _stored(session: Session, ids: Sequence[int]) -> dict[int, RiskAssessment]:
    """Earlier assessments by id, as models (for ``crmhub_risk_changed``'s ``before``), in one query per chunk."""
    R = RiskAssessmentRow
    out: dict[int, RiskAssessment] = {}
    for chunk in chunked(ids, persist.CHUNK):
        for row in session.execute(
            select(
                R.id,
                R.client_id,
                R.scorecard_version,
                R.assessed_at,
                R.rating,
                R.segment,
                R.score,
                R.data,
                GoldenClient.uscc,
            )
            .join(GoldenClient, GoldenClient.id == R.client_id)
            .where(R.id.in_(chunk))
        ):
            out[row.id] = assessment_of(
                row.data or {},
                client_id=row.client_id,
                uscc=row.uscc,
                version=row.scorecard_version,
                assessed_at=row.assessed_at,
                rating=row.rating,
                segment=row.segment,
                score=row.score,
            )
    return out


def _client(g: _Golden) -> CorporateClient:
    data = {k: v for k, v in (g.data or {}).items() if k != "lineage"}
    try:
        return CorporateClient.model_validate({"name": g.name, **data, "id": g.id})
    except ValueError:
        return CorporateClient(id=g.id, name=g.name, uscc=g.uscc)


def _result(g: _Golden, rating: str, segment: str, score: float, what: str, card: Scorecard) -> dict[str, Any]:
    try:  # D (and any grade with its own policy) has a policy even when its segment has none
        policy: Any = card.policy_for(Rating(rating), Segment(segment))
    except KeyError:
        policy = None
    return {
        "id": g.id,
        "uscc": g.uscc,
        "name": g.name,
        "rating": rating,
        "segment": segment,
        "score": round(float(score), 2),
        "outcome": what,
        "policy": policy.model_dump(mode="json") if policy is not None else None,
    }


def make_risk_phase(
    settings: Settings, registry: Registry
) -> Callable[[UnitOfWork, int | None, Callable[[list[Event]], None], tuple[int, int | None] | None], AssessOutcome]:
    """The sync engine's risk step: assess every active client with ``needs_risk``, batch by batch.

    The events of each batch (risk changed, alert raised) go to ``emit`` right after the batch commits, so memory
    stays bounded by the batch on a book of any size.
    """

    if settings.risk.enabled:
        RiskEngine(settings, registry)  # a scorecard reading unknown inputs fails here, before anything is pulled

    def step(
        uow: UnitOfWork,
        run_id: int | None,
        emit: Callable[[list[Event]], None],
        id_range: tuple[int, int | None] | None = None,
    ) -> AssessOutcome:
        """``id_range`` (first id, last id or None): one partition of a run split over workers."""
        if not settings.risk.enabled:
            return AssessOutcome(date.today())
        engine = RiskEngine(settings, registry)  # per run: "today" moves on in a long-lived scheduler
        outcome = AssessOutcome(engine.today)
        with uow.transaction() as s:
            engine.prepare(s)
            engine.flag_stale(s, id_range)
        last, upto = (0, None) if id_range is None else (id_range[0] - 1, id_range[1])
        bounds = [] if upto is None else [GoldenClient.id <= upto]
        while True:
            with uow.transaction() as s:
                ids = list(
                    s.scalars(
                        select(GoldenClient.id)
                        .where(
                            GoldenClient.needs_risk.is_(True),
                            GoldenClient.status == "active",
                            GoldenClient.id > last,
                            *bounds,
                        )
                        .order_by(GoldenClient.id)
                        .limit(settings.risk.batch_size)
                    )
                )
                if not ids:
                    break
                last = ids[-1]
                batch = engine.process(s, ids, run_id, outcome)
            emit(batch)
        log.info(
            "risk: %d clients (%d new assessments, %d unchanged), %d rating changes, %d alerts",
            outcome.clients,
            outcome.assessed,
            outcome.unchanged,
            outcome.rating_changes,
            outcome.alerts_raised,
        )
        return outcome

    return step


def _ids_for(session: Session, usccs: Sequence[str]) -> list[int]:
    wanted: dict[str, str] = {}
    bad = []
    for raw in usccs:
        code = uscc_mod.compact(raw)
        if not uscc_mod.is_valid(code):
            bad.append(raw)
        wanted[code] = raw
    if bad:
        raise InputError(
            f"not a valid USCC: {', '.join(bad)}", hint="give the 18-character code, e.g. 91110000600037341L"
        )
    found: dict[str | None, int] = {
        u: i
        for u, i in session.execute(
            select(GoldenClient.uscc, GoldenClient.id).where(
                GoldenClient.uscc.in_(list(wanted)), GoldenClient.status == "active"
            )
        )
    }
    missing = [wanted[c] for c in wanted if c not in found]
    if missing:
        raise InputError(
            f"no active client with USCC {', '.join(missing)}", hint="list clients with `crmhub clients list`"
        )
    return sorted(found.values())


def _batches(store: Store, size: int, usccs: Sequence[str] | None, everyone: bool) -> Iterator[list[int]]:
    if usccs:
        with store.begin() as s:
            ids = _ids_for(s, usccs)
        yield from chunked(ids, size)
        return

    def read(after: int | None) -> list[int]:
        with store.begin() as s:
            q = select(GoldenClient.id).where(GoldenClient.status == "active", GoldenClient.id > (after or 0))
            if not everyone:
                q = q.where(GoldenClient.needs_risk.is_(True))
            return list(s.scalars(q.order_by(GoldenClient.id).limit(size)))

    for page in keyset_pages(read, lambda client_id: client_id, size):
        yield list(page)


def assess(
    store: Store,
    settings: Settings,
    registry: Registry,
    usccs: Sequence[str] | None = None,
    all: bool = False,
    *,
    today: date | None = None,
    run_id: int | None = None,
    fire: bool = True,
    progress: Callable[[AssessOutcome], None] | None = None,
) -> AssessOutcome:
    """Assess outside a sync: the given USCCs, every active client (``all``), or those with ``needs_risk``.

    Each batch commits on its own and its events are fired right after (bounded memory on any book size).
    """
    engine = RiskEngine(settings, registry, today=today)
    outcome = AssessOutcome(engine.today)
    with store.begin() as s:
        engine.prepare(s)
        if not usccs and not all:
            engine.flag_stale(s)
    for ids in _batches(store, settings.risk.batch_size, usccs, all):
        with store.begin() as s:
            events = engine.process(s, ids, run_id, outcome, events=fire, keep_results=bool(usccs))
        emit(registry.hook, events, run_id)
        if progress is not None:
            progress(outcome)
    return outcome
