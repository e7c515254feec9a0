"""The phase list is the one definition of the sync cycle: every phase declares what the engine and the jobs guard
need, and the guard's "wait for it" set follows the declarations."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import pytest
from sqlalchemy import select

from crmhub import hookimpl
from crmhub.config import parse_settings
from crmhub.core.report import RunReport
from crmhub.events import AlertRaised, ClientChanged, RaisedAlert, RiskChanged, emit
from crmhub.jobs.guard import CRITICAL_PHASES
from crmhub.model import CorporateClient
from crmhub.plugins import load
from crmhub.store import Store
from crmhub.store.tables import SyncRun
from crmhub.sync import phases
from crmhub.sync.engine import SyncEngine
from crmhub.sync.phase import Counters, Phase


def test_cycle_order_is_the_documented_one() -> None:
    assert [p.name for p in phases.CYCLE] == ["ingest", "match", "merge", "link", "risk", "plan", "deliver"]
    assert [p.name for p in phases.FINISH] == ["report", "notify"]


@pytest.mark.parametrize("phase", phases.ALL_PHASES, ids=lambda p: p.name)
def test_every_phase_declares_its_contract(phase: Phase) -> None:
    assert phase.runs_in in ("loop", "thread")
    assert isinstance(phase.cancel_safe, bool)
    if phase.runs_in == "thread":  # a cancelled coroutine cannot stop a thread: such a phase is never cancel-safe
        assert not phase.cancel_safe, phase.name
        assert type(phase).work is not Phase.work, f"{phase.name} runs in a thread but has no work()"
    else:
        assert type(phase).run is not Phase.run, f"{phase.name} runs on the loop but has no run()"
    for flag in phase.reads | phase.clears:
        table, _, column = flag.partition(".")
        assert table and column, f"{phase.name}: store flags are named table.column, not {flag!r}"


def test_phases_that_write_golden_records_hold_the_merge_lock_contiguously() -> None:
    held = [p.under_merge_lock for p in phases.CYCLE]
    first, last = held.index(True), len(held) - 1 - held[::-1].index(True)
    assert all(held[first : last + 1]), "the merge lock is taken once and released once"
    assert {p.name for p in phases.CYCLE if p.under_merge_lock} >= {"match", "merge", "link", "risk", "plan"}


def test_only_deliver_and_the_finishing_phases_skip_a_dry_run() -> None:
    assert {p.name for p in phases.ALL_PHASES if not p.in_dry_run} == {"deliver", "report", "notify"}


def test_the_jobs_guard_waits_for_exactly_the_phases_that_are_not_cancel_safe() -> None:
    assert {p.name for p in phases.ALL_PHASES if not p.cancel_safe} == CRITICAL_PHASES
    assert "link" in CRITICAL_PHASES  # it runs in a thread; the guard once forgot it
    assert {"ingest", "deliver"}.isdisjoint(CRITICAL_PHASES)


def test_every_phase_returns_typed_counters() -> None:
    for phase in phases.ALL_PHASES:
        method = type(phase).work if phase.runs_in == "thread" else type(phase).run
        returned = inspect.signature(method).return_annotation
        assert returned not in (inspect.Signature.empty, "None"), phase.name
        counters = {c.__name__ for c in Counters.__subclasses__()}
        assert str(returned) in counters, f"{phase.name} returns {returned}, not a Counters class"


class _Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def __getattr__(self, name: str) -> object:
        def call(**kwargs: object) -> None:
            if name == "crmhub_alert_raised":
                raise RuntimeError("a broken plugin")
            self.calls.append((name, kwargs))

        return call


_ALERT = RaisedAlert.from_json(
    {
        "id": 1,
        "kind": "large_value",
        "created_at": "2026-01-02T03:04:05+00:00",
        "updated_at": "2026-01-02T03:04:05+00:00",
        "amount": "2500000.00",
        "day": "2026-01-02",
    }
)


def test_emit_fires_each_event_with_the_run_id_and_survives_a_failing_handler() -> None:
    client = CorporateClient(name="甲公司")
    hooks = _Hooks()
    events = [
        ClientChanged(client, {"name": (None, "甲公司")}),
        AlertRaised(_ALERT, client),
        ClientChanged(client, {"phone": ("1", "2")}),
    ]
    failed = emit(hooks, events, run_id=7)  # type: ignore[arg-type]
    assert failed == 1
    assert [(name, kw["run_id"], kw["changes"]) for name, kw in hooks.calls] == [
        ("crmhub_client_changed", 7, {"name": (None, "甲公司")}),
        ("crmhub_client_changed", 7, {"phone": ("1", "2")}),
    ]
    assert RiskChanged.hook == "crmhub_risk_changed"


class _Interrupting(Phase):
    """A cycle of one phase that stops the run the way Ctrl-C or a failure would."""

    name = "ingest"
    runs_in = "loop"
    cancel_safe = True

    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc

    async def run(self, ctx: Any) -> Counters:
        if self.exc is not None:
            raise self.exc
        return phases.NoCounters()


class _Listener:
    def __init__(self) -> None:
        self.finished: list[str] = []

    @hookimpl
    def crmhub_run_finished(self, report: RunReport) -> None:
        self.finished.append(report.status)


@pytest.mark.parametrize(
    ("exc", "status", "told"),
    [(None, "succeeded", True), (RuntimeError("boom"), "failed", True), (KeyboardInterrupt(), "interrupted", False)],
)
async def test_finishing_phases_store_every_run_and_tell_plugins_unless_interrupted(
    store: Store, exc: BaseException | None, status: str, told: bool
) -> None:
    listener = _Listener()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = load(extra=[("listener", listener)])
    told_after: list[int | None] = []

    async def after_run(report: Any) -> None:
        told_after.append(report.run_id)

    engine = SyncEngine(
        parse_settings({}, registry), registry, store, after_run=after_run, phases=(_Interrupting(exc),)
    )
    if exc is None:
        await engine.run()
    else:
        with pytest.raises(type(exc)):
            await engine.run()
    with store.begin() as s:
        stored = s.scalars(select(SyncRun.status)).all()
    assert stored == [status]  # report ran in every case
    assert listener.finished == ([status] if told else [])
    assert len(told_after) == (1 if told else 0)


def test_a_raised_alert_reads_back_its_json_form() -> None:
    """The typed alert plugins get round-trips the JSON form `crmhub alerts list --json` prints, and is read-only."""
    import dataclasses
    from decimal import Decimal

    assert _ALERT.amount == Decimal("2500000.00") and _ALERT.day is not None and _ALERT.day.day == 2
    assert RaisedAlert.from_json(_ALERT.as_json()) == _ALERT
    with pytest.raises(dataclasses.FrozenInstanceError):
        _ALERT.kind = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        _ALERT.evidence["rule"] = {}  # type: ignore[index]
