"""A phase's typed counters as JSON, and the run report rebuilt from the tasks' counters.

Each task stores what its phase returned (`crmhub.sync.phase.Counters`) plus the connector reports it owns (an
ingest task its connector's streams and status, a deliver task its target's), with the API calls of that task
only — the replay adds them up. The closing task replays them in
phase order — connector reports first, then ``Counters.apply`` — so the report is built by the same ``apply``
methods a single-process run uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from crmhub.core.report import ConnectorReport, RunReport
from crmhub.sync.deliverer import TargetDrain
from crmhub.sync.ingest_phase import IngestCounters
from crmhub.sync.interactions import LinkOutcome
from crmhub.sync.outbox import DeliveryStats
from crmhub.sync.phase import Counters, NoCounters
from crmhub.sync.phases import (
    DeliverCounters,
    LinkCounters,
    MatchCounters,
    MergeCounters,
    PlanCounters,
    RiskCounters,
)

_FLAT: dict[str, type[Counters]] = {c.__name__: c for c in (IngestCounters, MergeCounters, RiskCounters, NoCounters)}


KNOWN = frozenset(
    {*_FLAT, MatchCounters.__name__, LinkCounters.__name__, PlanCounters.__name__, DeliverCounters.__name__}
)
"""The counters classes `encode` knows (a test checks that every phase of the cycle returns one of them)."""


class UnknownCounters(Exception):
    """A task row holds counters of a kind this version does not know: run the same crmhub version everywhere."""


def encode(counters: Counters) -> dict[str, Any]:
    """``{"kind": class name, ...fields}`` — plain JSON."""
    kind = type(counters).__name__
    if isinstance(counters, MatchCounters):
        return {
            "kind": kind,
            "linked": [[c, s, n] for (c, s), n in counters.linked.items()],
            "review_items": counters.review_items,
        }
    if isinstance(counters, LinkCounters):
        return {"kind": kind, "outcome": dataclasses.asdict(counters.outcome)}
    if isinstance(counters, PlanCounters):  # distributed runs are never dry runs: no planned changes to carry
        return {"kind": kind, "planned": counters.planned}
    if isinstance(counters, DeliverCounters):
        return {"kind": kind, "drains": [_drain(d) for d in counters.drains]}
    if kind in _FLAT and dataclasses.is_dataclass(counters):
        return {"kind": kind, **dataclasses.asdict(counters)}
    raise UnknownCounters(f"no JSON form for {kind}")


def _drain(d: TargetDrain) -> dict[str, Any]:
    return {
        "connector": d.connector,
        "stats": dataclasses.asdict(d.stats),
        "seconds": d.seconds,
        "left": d.left,
        "eta_s": d.eta_s,
        "skipped": d.skipped,
        "error": d.error,
    }


def decode(data: dict[str, Any]) -> Counters:
    """The counters `encode` wrote."""
    body = {k: v for k, v in data.items() if k != "kind"}
    kind = data.get("kind")
    if kind == "MatchCounters":
        return MatchCounters({(c, s): int(n) for c, s, n in body["linked"]}, int(body["review_items"]))
    if kind == "LinkCounters":
        return LinkCounters(LinkOutcome(**body["outcome"]))
    if kind == "PlanCounters":
        return PlanCounters(int(body["planned"]))
    if kind == "DeliverCounters":
        return DeliverCounters([TargetDrain(**{**d, "stats": DeliveryStats(**d["stats"])}) for d in body["drains"]])
    if isinstance(kind, str) and kind in _FLAT:
        return _FLAT[kind](**body)
    raise UnknownCounters(f"unknown counters kind {kind!r} in a sync task (mixed crmhub versions?)")


def task_record(counters: Counters, report: RunReport, owns: Iterable[str], wall: float, cpu: float) -> dict[str, Any]:
    """What a finished task stores in ``sync_task.counters``."""
    return {
        "counters": encode(counters),
        "connectors": {n: report.connectors[n].model_dump(mode="json") for n in owns if n in report.connectors},
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }


def replay(report: RunReport, phase: str, records: Iterable[dict[str, Any]]) -> None:
    """Apply one phase's finished tasks to ``report``: their connector reports, then their counters; the phase's
    wall time is its slowest task's (tasks run side by side), its CPU time the sum over the tasks."""
    wall = cpu = 0.0
    seen = False
    for record in records:
        seen = True
        for name, rep in (record.get("connectors") or {}).items():
            before = report.connectors.get(name)
            after = ConnectorReport.model_validate(rep)
            if before is not None:  # API calls of the connector's tasks add up, as one process's counters do
                after.api = {k: round(before.api.get(k, 0) + after.api.get(k, 0), 3) for k in before.api | after.api}
            report.connectors[name] = after
        decode(record["counters"]).apply(report)
        wall = max(wall, float(record.get("wall_s") or 0.0))
        cpu += float(record.get("cpu_s") or 0.0)
    if seen:
        report.phases[phase] = round(wall, 3)
        report.phase_cpu[phase] = round(cpu, 3)
