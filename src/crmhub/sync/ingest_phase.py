"""The ingest phase: pull every selected stream of every connector (connectors concurrently), page by page.

Each page and its cursor commit in one transaction (`crmhub.sync.ingest.Ingestor`), so a run cancelled or killed
between pages — or inside an HTTP call — resumes from the last committed cursor and loses or repeats nothing.
The stores run on one writer thread in stream order (`crmhub.sync.page_writer`), so a stream fetches and maps its
next page while the previous one commits; a page that fails to store stops its stream before any later page
commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from crmhub.contract import Connector, Cursor, Page, StreamKind, StreamSpec
from crmhub.core.report import ConnectorReport, RunReport
from crmhub.errors import FatalError, QuotaExhaustedError, RetriableError, UnreachableError
from crmhub.sync.ingest import Ingestor, StreamStats, load_cursor
from crmhub.sync.page_writer import PageWriter
from crmhub.sync.phase import Counters, Phase, RunContext, RunsIn

log = logging.getLogger("crmhub.sync")

STREAM_ORDER = {
    StreamKind.CLIENT: 0,
    StreamKind.CONTACT: 1,
    StreamKind.INTERACTION: 2,
    StreamKind.DELETION: 3,
    StreamKind.ACCOUNT: 4,
    StreamKind.FACILITY: 5,
    StreamKind.TRANSACTION: 6,
}
"""Parents before children: a contact's or an account's client is stored before it."""


@dataclass(slots=True)
class IngestCounters(Counters):
    """Records read and kept despite a data-quality finding, over every stream (per-stream counts are in the
    connector reports, which the phase fills as each stream finishes)."""

    records_read: int = 0
    data_quality: int = 0

    def apply(self, report: RunReport) -> None:
        report.totals.data_quality += self.data_quality


class IngestPhase(Phase):
    """Pull → validate → store source records, dead letters and ledger facts; set the ``dirty`` flags."""

    name: ClassVar[str] = "ingest"
    runs_in: ClassVar[RunsIn] = "loop"
    cancel_safe: ClassVar[bool] = True
    clears: ClassVar[frozenset[str]] = frozenset()
    reads: ClassVar[frozenset[str]] = frozenset({"sync_cursor.cursor"})

    async def run(self, ctx: RunContext) -> IngestCounters:
        counters = IngestCounters()
        writer = PageWriter()
        try:
            await asyncio.gather(
                *(self._connector(ctx, name, conn, counters, writer) for name, conn in ctx.connectors.items())
            )
        finally:
            writer.close()
        return counters

    async def _connector(
        self, ctx: RunContext, name: str, conn: Connector[Any], counters: IngestCounters, writer: PageWriter
    ) -> None:
        rep = ctx.report.connectors[name]
        started = time.monotonic()
        ingestor = Ingestor(name, ctx.run_id)
        wanted = conn.config.streams
        streams = sorted(
            (s for s in conn.streams if wanted is None or s.name in wanted), key=lambda s: STREAM_ORDER.get(s.kind, 9)
        )
        try:
            for spec in streams:
                stats = StreamStats()
                try:
                    await self._stream(ctx, name, conn, spec, ingestor, stats, writer)
                except UnreachableError:
                    raise  # the source is down: the whole connector fails, its other streams are not tried
                except (RetriableError, RecoverableStreamError) as exc:
                    stats.error = f"{type(exc).__name__}: {exc}"
                    log.warning("%s/%s stopped: %s", name, spec.name, stats.error)
                finally:
                    rep.streams[spec.name] = stats.as_dict()
                    counters.records_read += stats.read
                    counters.data_quality += stats.extra.get("data_quality", 0)
                    ctx.progress.stream_finished(name, spec.name, stats)
            await writer.call(functools.partial(_analyze, ctx, ingestor))
            fail_if_nothing_came(rep)
        except QuotaExhaustedError as exc:
            rep.status, rep.error = "stopped", str(exc)
        except (FatalError, UnreachableError) as exc:
            rep.status, rep.error = "failed", str(exc)
            log.warning("%s failed: %s", name, rep.error)
        finally:
            rep.api = conn.context.metrics.as_dict()
            rep.duration_s = round(time.monotonic() - started, 3)

    async def _stream(
        self,
        ctx: RunContext,
        name: str,
        conn: Connector[Any],
        spec: StreamSpec,
        ingestor: Ingestor,
        stats: StreamStats,
        writer: PageWriter,
    ) -> None:
        cursor = await writer.call(functools.partial(_cursor, ctx, name, spec.name))
        ctx.progress.stream_started(name, spec.name)
        heartbeat = None if ctx.dry_run else ctx.locks.heartbeat
        pages = writer.stream(after=lambda: ctx.progress.page_stored(name, spec.name, stats))
        source = conn.pull(spec.name, cursor)
        try:
            try:
                async for page in source:
                    await pages.submit(functools.partial(_store, ctx, ingestor, spec, page, stats, heartbeat))
            except asyncio.CancelledError:
                pages.stop()  # pages not started yet are skipped; the one inside its transaction commits whole
                with contextlib.suppress(Exception):  # a store error then must not turn the cancel into a stream
                    await pages.drain()  # error (the connector would go on with its next stream)
                raise
            finally:  # the pages read before the end (or an error of the pull) commit first, in order
                try:
                    await pages.drain()
                finally:
                    await _close(source)
        except (FatalError, QuotaExhaustedError, RetriableError):
            raise
        except Exception as exc:
            raise RecoverableStreamError(f"{type(exc).__name__}: {exc}") from exc


def _cursor(ctx: RunContext, connector: str, stream: str) -> Cursor | None:
    with ctx.uow.transaction() as s:
        return load_cursor(s, connector, stream)


def _store(
    ctx: RunContext,
    ingestor: Ingestor,
    spec: StreamSpec,
    page: Page,
    stats: StreamStats,
    heartbeat: Callable[[], None] | None,
) -> None:
    """One page and its cursor in one transaction, then the locks' heartbeat (on the writer thread)."""
    with ctx.uow.transaction() as s:
        ingestor.store_page(s, spec, page, stats)
    if heartbeat is not None:
        heartbeat()


def _analyze(ctx: RunContext, ingestor: Ingestor) -> None:
    with ctx.uow.transaction() as s:  # after a bulk load: planner statistics for the later phases
        ingestor.analyze_after_bulk(s)


async def _close(source: object) -> None:
    """Close an abandoned pull (its background fetches stop now, not when the generator is collected)."""
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def fail_if_nothing_came(rep: ConnectorReport) -> None:
    """A connector every stream of which stopped on an error before reading a record was down for the whole run:
    it is ``failed`` (with the first error as the reason), never ``ok`` with a run that looks partly done."""
    streams = list(rep.streams.values())
    if rep.status != "ok" or not streams or not all(s.get("error") for s in streams):
        return
    if any(s.get("read") for s in streams):
        return
    rep.status = "failed"
    rep.error = f"every stream failed, nothing was read; first error: {streams[0]['error']}"


class RecoverableStreamError(Exception):
    """An unexpected error inside one stream: reported on that stream; the other streams go on."""
