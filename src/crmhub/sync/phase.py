"""What a phase of the sync cycle is: a name, where it runs, whether a stop may cancel it, the store flags it
reads and clears, and the typed counters it returns.

The engine runs the list in `crmhub.sync.phases.CYCLE` and knows nothing about any phase but these attributes:
it times each phase (wall and CPU), holds the merge lock across the phases that need it, skips the ones a dry run
must not do, and applies each phase's counters to the run report. The jobs guard (`crmhub.jobs.guard`) reads
``cancel_safe`` from the same classes, so a phase added later cannot be forgotten there.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from crmhub.events import Event

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.contract import Connector
    from crmhub.core.report import RunReport
    from crmhub.plugins import Registry
    from crmhub.store import Store
    from crmhub.store.locks import LockSet
    from crmhub.store.unit import UnitOfWork
    from crmhub.sync.ingest import StreamStats

RunsIn = Literal["loop", "thread"]
"""``loop``: a coroutine on the run's event loop (a cancel lands at its next ``await``); ``thread``: synchronous
work in a worker thread, which a cancelled coroutine cannot stop (so such a phase is never ``cancel_safe``)."""


class Progress(Protocol):
    """What the engine tells a progress display (the CLI's rich bars, the jobs guard, or nothing)."""

    def stream_started(self, connector: str, stream: str) -> None: ...
    def page_stored(self, connector: str, stream: str, stats: StreamStats) -> None: ...
    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None: ...
    def phase(self, name: str) -> None: ...


class NoProgress:
    """The `Progress` that shows nothing."""

    def stream_started(self, connector: str, stream: str) -> None:
        return None

    def page_stored(self, connector: str, stream: str, stats: StreamStats) -> None:
        return None

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        return None

    def phase(self, name: str) -> None:
        return None


RiskStep = Callable[
    ["UnitOfWork", "int | None", Callable[[list[Event]], None], "tuple[int, int | None] | None"], "RiskOutcome"
]
"""The risk engine's step as the sync runs it (`crmhub.risk.runner.make_risk_phase`); the last argument is the
golden-client id range of one partition (None: every client)."""


class RiskOutcome(Protocol):
    """What the risk step counted."""

    clients: int
    rating_changes: int
    alerts_raised: int


@dataclass(slots=True)
class RunContext:
    """Everything the phases of one run share. Phases report through their counters and ``emit``."""

    settings: Settings
    registry: Registry
    store: Store
    report: RunReport
    uow: UnitOfWork
    connectors: dict[str, Connector[Any]]
    locks: LockSet
    progress: Progress
    emit: Callable[[Iterable[Event]], None]
    risk_step: RiskStep | None = None
    after_run: Callable[[RunReport], Awaitable[None]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    id_range: tuple[int, int | None] | None = None
    """Golden-client ids (first, last or None) this context's phases work on: one partition of a run split over
    workers (`crmhub.jobs.runs`); None — every client, as a single-process run."""

    @property
    def run_id(self) -> int | None:
        """The run's id (None only before the run row exists)."""
        return self.report.run_id

    @property
    def dry_run(self) -> bool:
        """Whether this run is rolled back at the end and never calls a connector's ``push``."""
        return self.uow.dry_run


class Counters(ABC):
    """A phase's typed counts; ``apply`` adds them to the run report (the one place a phase's counts land)."""

    @abstractmethod
    def apply(self, report: RunReport) -> None:
        """Add these counts to ``report``."""


@dataclass(slots=True)
class NoCounters(Counters):
    """For a phase that counts nothing."""

    def apply(self, report: RunReport) -> None:
        return None


class Phase(ABC):
    """One step of the sync cycle. Subclasses set the class attributes and implement `work` or `run`."""

    name: ClassVar[str]
    runs_in: ClassVar[RunsIn]
    cancel_safe: ClassVar[bool]
    """A requested stop may cancel the run while this phase runs (its progress is committed as it goes)."""
    reads: ClassVar[frozenset[str]] = frozenset()
    """Store flags (``table.column``) whose set rows this phase works through."""
    clears: ClassVar[frozenset[str]] = frozenset()
    """Store flags this phase clears as it commits (what a rerun after a crash finds left over)."""
    under_merge_lock: ClassVar[bool] = False
    """Runs while this process holds the store-wide merge lock (one writer of golden records at a time)."""
    in_dry_run: ClassVar[bool] = True
    """Runs in a dry run too (``deliver`` does not: a dry run never calls ``push``)."""
    after_interrupt: ClassVar[bool] = True
    """A FINISH phase that still runs while an interrupted or cancelled run unwinds (``report`` does; ``notify``
    does not — nobody should be told about a run stopped by Ctrl-C or a cancelled job before it is looked at)."""

    def enabled(self, ctx: RunContext) -> bool:
        """Whether this phase has anything to do in this run (e.g. no risk step configured)."""
        return True

    async def run(self, ctx: RunContext) -> Counters:
        """Run the phase. Thread phases run `work` in a worker thread; loop phases override this."""
        if self.runs_in == "thread":
            return await asyncio.to_thread(self.work, ctx)
        raise NotImplementedError(f"phase {self.name} runs on the loop and must implement run()")

    def work(self, ctx: RunContext) -> Counters:
        """The synchronous body of a ``thread`` phase."""
        raise NotImplementedError(f"phase {self.name} runs in a thread and must implement work()")
