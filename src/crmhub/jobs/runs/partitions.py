"""Which tasks a phase of a distributed run is split into, decided when the phase starts (after its barrier).

* ``ingest`` — one task per connector: its streams in the usual parent-before-child order, as one run pulls them
  (a stream is not sliced by time or id windows yet: a connector's streams depend on each other's order).
* ``deliver`` — one task per connector; the phase sends only for writable targets whose ingest came through.
* ``merge``, ``risk``, ``plan`` — golden-client id ranges: the flagged ids cut into ``[sync.workers] partitions``
  buckets of equal count; the first range starts at 0 and the last is open, so every id belongs to one range
  whatever is flagged later.
* ``match``, ``link`` and any phase not named here — one task: the matcher compares each record with every
  golden client and the records of one batch with each other (see docs/scaling.md, "What stays serial").

The closing ``finish`` task (report, notify) follows the last phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.store.tables import GoldenClient

PER_CONNECTOR = frozenset({"ingest", "deliver"})
OWNS_CONNECTOR = PER_CONNECTOR
"""Phases whose task writes its connector's part of the report (ingest: streams and status; deliver: writes)."""
BY_CLIENT_ID = {
    "merge": GoldenClient.needs_merge,
    "risk": GoldenClient.needs_risk,
    "plan": GoldenClient.needs_plan,
}
OPENS_EVERY_CONNECTOR = frozenset({"plan"})
"""Phases that need every connector of the run open (plan diffs each client against each writable target)."""
FINISH = "finish"


@dataclass(frozen=True, slots=True)
class Part:
    """One task to create: its label and the parameters its worker reads."""

    label: str
    spec: dict[str, Any] = field(default_factory=dict)


def parts(session: Session, phase: str, connectors: list[str], partitions: int) -> list[Part]:
    """The tasks of ``phase`` for a run over ``connectors``."""
    if phase in PER_CONNECTOR:
        return [Part(name, {"connectors": [name], "owns": [name]}) for name in connectors]
    opened = list(connectors) if phase in OPENS_EVERY_CONNECTOR else []
    flag = BY_CLIENT_ID.get(phase)
    if flag is None or partitions <= 1:
        return [Part("all", {"connectors": opened})]
    return [
        Part(f"gc:{lo}-{'end' if hi is None else hi}", {"connectors": opened, "id_range": [lo, hi]})
        for lo, hi in id_ranges(session, flag, partitions)
    ]


def id_ranges(session: Session, flag: Any, n: int) -> list[tuple[int, int | None]]:
    """``n`` (or fewer) consecutive ranges covering every id, each holding about as many flagged ids."""
    bucket = func.ntile(n).over(order_by=GoldenClient.id).label("b")
    flagged = select(GoldenClient.id, bucket).where(flag.is_(True)).subquery()
    first = func.min(flagged.c.id)
    starts = [int(v) for v in session.scalars(select(first).group_by(flagged.c.b).order_by(first))]
    if len(starts) <= 1:
        return [(0, None)]
    bounds: list[tuple[int, int | None]] = []
    for i, start in enumerate(starts):
        lo = 0 if i == 0 else start
        hi = starts[i + 1] - 1 if i + 1 < len(starts) else None
        bounds.append((lo, hi))
    return bounds
