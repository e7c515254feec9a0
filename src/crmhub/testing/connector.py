"""`ConnectorContract`: the checks every connector passes against its own simulator (or respx routes).

Why each check exists — what the engine relies on:

* **resume**: the engine stores each page with its ``next_cursor`` and resumes a stopped run from the last one it
  committed; a cursor that skips or re-reads records loses data or double-counts it.
* **commit**: the same, through the real ingest code into a fresh SQLite store: stop after a page, resume from
  the stored cursor, and the store holds every record once.
* **push**: the outbox matches results to its rows by position and key; the planner recognises the echo of its
  own write only when every written field reads back equal.
* **errors**: the engine's reaction (back off, stop the connector) is keyed on the error's type.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from crmhub.contract import (
    Connector,
    ConnectorConfig,
    Cursor,
    OutboundRecord,
    PushResult,
    SourceRecord,
    StreamKind,
    StreamSpec,
)
from crmhub.errors import FatalError, RetriableError
from crmhub.testing.base import Fault, PluginContract, assert_no_secrets, capture_logs, run, secret_values
from crmhub.testing.records import Pull, page_ids, pull_all

STORED_KINDS = (StreamKind.CLIENT, StreamKind.CONTACT, StreamKind.INTERACTION)
"""Stream kinds whose records land in ``source_record`` (the commit check counts them there)."""


def _ids(pages: Sequence[Sequence[str]]) -> list[str]:
    return [i for page in pages for i in page]


def _difference(expected: Sequence[str], got: Sequence[str]) -> str:
    want, have = Counter(expected), Counter(got)
    missing = sorted((want - have).elements())
    repeated = sorted((have - want).elements())
    parts = [
        f"missing {missing[:5]}{' …' if len(missing) > 5 else ''} ({len(missing)})" if missing else "",
        f"repeated {repeated[:5]}{' …' if len(repeated) > 5 else ''} ({len(repeated)})" if repeated else "",
    ]
    return ", ".join(p for p in parts if p)


class ConnectorContract(PluginContract):
    """Subclass in your plugin's tests; pytest runs every ``test_*`` check against your `service`.

    Provide ``plugin`` and either ``sandbox_app`` (an HTTP simulator your plugin offers) or `service`. For a
    writable stream, provide `outbound_records`. Make the world small and the pages smaller (``page_size`` in
    ``config_overrides``), so each checked stream has a few pages and the checks take a second or two.
    """

    section = "connectors"

    connector_class: ClassVar[type[Connector[Any]] | None] = None
    """The connector class, when it is not registered through an entry point under ``plugin`` (tests)."""

    pull_streams: ClassVar[tuple[str, ...]] = ()
    """Streams whose pulls are checked (default: every stream the connector declares)."""

    push_streams: ClassVar[tuple[str, ...] | None] = None
    """Streams whose pushes are checked (default: every stream declared ``writable``)."""

    reread_streams: ClassVar[tuple[str, ...]] = ()
    """Streams read whole on every run by design (e.g. loans, whose days past due age daily): a run resumed from a
    mid-stream cursor must still read exactly the rest, but after the last page the next run starts over."""

    resume_samples: ClassVar[int] = 6
    """At most this many committed cursors per stream are resumed from (spread evenly; the last one always)."""

    def outbound_records(self, stream: str, pulled: Sequence[SourceRecord]) -> list[OutboundRecord]:
        """Sample writes for writable ``stream``: updates of some ``pulled`` records (the stream as the service
        holds it) and, where the connector creates records, a new one. Each sets ``fields`` to what it writes."""
        raise NotImplementedError(
            f"{type(self).__name__}: stream {stream!r} is writable; implement "
            f"outbound_records(stream, pulled) to give records to push"
        )

    # --- helpers ---------------------------------------------------------------------------------------------

    def _given_class(self) -> Any:
        return self.connector_class

    def connector(self, table: dict[str, Any]) -> Connector[Any]:
        """A connector built from ``table`` as the core builds it (`PluginContract.instance`)."""
        connector: Connector[Any] = self.instance(table, ConnectorConfig)
        return connector

    def checked_streams(self) -> list[StreamSpec]:
        """Specs of the streams whose pulls are checked."""
        cls: type[Connector[Any]] = self.plugin_class()
        names = self.pull_streams or tuple(s.name for s in cls.streams)
        specs = {s.name: s for s in cls.streams}
        unknown = [n for n in names if n not in specs]
        assert not unknown, f"pull_streams names streams the connector does not declare: {unknown}"
        return [specs[n] for n in names]

    def writable_streams(self) -> list[str]:
        """Names of the streams whose pushes are checked."""
        cls: type[Connector[Any]] = self.plugin_class()
        if self.push_streams is not None:
            return list(self.push_streams)
        return [s.name for s in cls.streams if s.writable]

    async def pull(self, table: dict[str, Any], stream: str, cursor: Cursor | None = None) -> Pull:
        """One whole pull of ``stream`` from ``cursor`` with a fresh connector (as a new run would)."""
        async with self.connector(table) as conn:
            return await pull_all(conn, stream, cursor)

    # --- checks ----------------------------------------------------------------------------------------------

    def test_declares_streams(self) -> None:
        """The plugin key gives a `Connector` with a `ConnectorConfig` model and uniquely named streams, and
        ``check()`` passes against the healthy service."""
        cls = self.plugin_class()
        assert isinstance(cls, type) and issubclass(cls, Connector), f"{cls!r} is not a Connector subclass"
        assert issubclass(cls.config_model, ConnectorConfig), "config_model must subclass ConnectorConfig"
        names = [s.name for s in cls.streams]
        assert names, "the connector declares no streams"
        assert len(names) == len(set(names)), f"stream names repeat: {names}"

        async def check(table: dict[str, Any]) -> None:
            async with self.connector(table) as conn:
                result = await conn.check()
                assert result.ok, f"check() failed against the healthy service: {result.message}"

        with self.service() as table:
            run(check(table))

    def test_pull_resumes_from_every_cursor(self) -> None:
        """Resuming from any page's ``next_cursor`` reads exactly the records after that page: nothing lost, nothing
        read twice, for every checked stream; and at least one stream has several pages, so this means something."""
        with self.service() as table:
            most_pages = 0
            for spec in self.checked_streams():
                full = run(self.pull(table, spec.name))
                most_pages = max(most_pages, full.pages)
                everything = _ids(full.page_ids)
                assert len(everything) == len(set(everything)), (
                    f"{spec.name}: one pull gave a record twice: {_difference(sorted(set(everything)), everything)}"
                )
                # a stream re-read in full every run resumes mid-stream only; after its last page it starts over
                ends = range(full.pages - 1) if spec.name in self.reread_streams else range(full.pages)
                for k in _sample(list(ends), self.resume_samples):
                    rest = run(self.pull(table, spec.name, full.cursors[k]))
                    got = _ids(full.page_ids[: k + 1]) + _ids(rest.page_ids)
                    problem = _difference(everything, got)
                    assert not problem, (
                        f"{spec.name}: resuming from the cursor after page {k + 1} of {full.pages} "
                        f"({full.cursors[k]!r}): {problem}"
                    )
            assert most_pages >= 2, (
                "no checked stream gave more than one page; make pages smaller (page_size in "
                "config_overrides) or the world larger, so resuming is really tested"
            )

    def test_pages_commit_with_their_cursor(self) -> None:
        """Through crmhub's ingest code into a fresh SQLite store: a run stopped after a page has committed that
        page's cursor with its records; a new run resumes from it, and the store then holds every record once.

        Checked on the streams whose records the store keeps as source records (clients, contacts, interactions),
        or on every checked stream when there is none."""
        from crmhub.store import Store
        from crmhub.sync.ingest import Ingestor, StreamStats, load_cursor

        async def ingest(
            table: dict[str, Any], store: Store, spec: StreamSpec, stop_after: int | None
        ) -> list[list[str]]:
            """Ingest ``spec`` from its stored cursor, stopping after ``stop_after`` pages; the ids of each page."""
            read: list[list[str]] = []
            async with self.connector(table) as conn:
                with store.begin() as s:
                    cursor = load_cursor(s, self.name, spec.name)
                source = conn.pull(spec.name, cursor)
                try:
                    async for page in source:
                        with store.begin() as s:
                            Ingestor(self.name, None).store_page(s, spec, page, StreamStats())
                        read.append(page_ids(page))
                        if len(read) == stop_after:
                            with store.begin() as s:
                                stored = load_cursor(s, self.name, spec.name)
                            assert stored == page.next_cursor, (
                                f"{spec.name}: the committed cursor is not the page's next_cursor"
                            )
                            break
                finally:
                    await source.aclose()  # type: ignore[attr-defined]
            return read

        with self.service() as table, tempfile.TemporaryDirectory(prefix="crmhub-contract-") as tmp:
            checked = 0
            store = Store.open(f"sqlite:///{Path(tmp) / 'contract.db'}")  # streams keep apart by name
            try:
                specs = self.checked_streams()
                stored = [s for s in specs if s.kind in STORED_KINDS]
                for spec in stored or specs:  # the store's source records show what was committed
                    full = run(self.pull(table, spec.name))
                    if full.pages < 2:
                        continue
                    k = full.pages // 2
                    before = run(ingest(table, store, spec, k))
                    assert len(before) == k, f"{spec.name}: the stopped run read {len(before)} pages, not {k}"
                    if spec.kind in STORED_KINDS:
                        assert Counter(_stored_ids(store, self.name, spec.name)) == Counter(_ids(before)), (
                            f"{spec.name}: the store does not hold pages 1-{k}"
                        )
                    after = run(ingest(table, store, spec, None))
                    problem = _difference(_ids(full.page_ids), _ids(before) + _ids(after))
                    assert not problem, f"{spec.name}: the run resumed from the stored cursor: {problem}"
                    if spec.kind in STORED_KINDS:
                        problem = _difference(_ids(full.page_ids), _stored_ids(store, self.name, spec.name))
                        assert not problem, f"{spec.name}: resumed from the stored cursor, the store has {problem}"
                    checked += 1
            finally:
                store.dispose()
            assert checked, "no checked stream gave more than one page; make pages smaller"

    def test_push_answers_each_record_in_order(self) -> None:
        """``push`` gives one `PushResult` per record, in input order (same keys), each ``ok``; and every field it
        wrote reads back equal in a following pull (the planner's own comparison, `crmhub.sync.writeback.diff`).

        The fields compared are those the engine would plan: the record's ``fields`` that are in the config's
        ``write_back.fields`` and in ``writable_fields(stream)``."""
        from crmhub.sync.writeback import diff

        streams = self.writable_streams()
        assert streams or not any(s.writable for s in self.plugin_class().streams), "no stream to push to"

        async def push(
            table: dict[str, Any], stream: str, records: list[OutboundRecord]
        ) -> tuple[list[PushResult], set[str]]:
            async with self.connector(table) as conn:
                results = await conn.push(stream, records)
                writable = conn.writable_fields(stream)
                allowed = set(conn.config.write_back.fields)  # what the engine would plan for this connector
                return results, allowed if writable is None else allowed & writable

        with self.service() as table:
            for stream in streams:
                before = run(self.pull(table, stream))
                records = self.outbound_records(stream, before.records)
                assert len(records) >= 2, f"{stream}: give at least two records to push, to check their order"
                results, writable = run(push(table, stream, records))
                assert [r.key for r in results] == [r.key for r in records], (
                    f"{stream}: push answered keys {[r.key for r in results]} for {[r.key for r in records]}"
                )
                failed = [(r.key, r.reason) for r in results if r.status != "ok"]
                assert not failed, f"{stream}: push failed for {failed}"
                assert all(r.source_id for r in results), f"{stream}: a successful push result names no source_id"
                after = {r.source_id: r for r in run(self.pull(table, stream)).records}
                for sent, result in zip(records, results, strict=True):
                    got = after.get(str(result.source_id))
                    assert got is not None and got.data is not None, (
                        f"{stream}: record {result.source_id} ({sent.key}) is not read back after the push"
                    )
                    fields = [f for f in (sent.fields or type(sent.data).model_fields) if f in writable]
                    assert fields, (
                        f"{stream}: {sent.key} writes no field the engine would plan; list them in "
                        f"write_back.fields (config_overrides) and in the record's fields"
                    )
                    changed = diff(sent.data.model_dump(mode="json"), got.data.model_dump(mode="json"), fields)
                    assert not changed, f"{stream}: {sent.key} reads back different {sorted(changed)}: {changed}"

    def test_unavailable_service_is_retriable(self) -> None:
        """Every call answering 5xx ends in a `RetriableError` (after the connector's own retries)."""
        self._expect(Fault.UNAVAILABLE, RetriableError)

    def test_throttling_is_retriable(self) -> None:
        """Every call answering "too many requests" ends in a `RetriableError` (`RateLimitedError` is one)."""
        self._expect(Fault.THROTTLED, RetriableError)

    def test_rejected_credentials_are_fatal(self) -> None:
        """Refused credentials raise a `FatalError` from a pull (`AuthError` is one), make ``check()`` answer
        ``ok=False`` without raising, and neither names a secret."""
        error = self._expect(Fault.AUTH_REJECTED, FatalError)

        async def check(table: dict[str, Any]) -> str:
            async with self.connector(table) as conn:
                result = await conn.check()
                assert not result.ok, "check() passed with rejected credentials"
                return f"{result.message} {result.details}"

        with self.service(Fault.AUTH_REJECTED) as table:
            answer = run(check(table))
            secrets = secret_values(self.validate(table))
        assert_no_secrets([("the error", f"{error} {error!r}"), ("check()", answer)], secrets)

    def test_secrets_never_in_logs(self) -> None:
        """No log record written while checking, pulling and pushing (healthy, then with each fault) contains a
        secret of the config."""
        secrets: dict[str, str] = {}
        with capture_logs(self.log_exempt) as logs:
            for fault in (None, *Fault):
                with self.service(fault) as table:
                    secrets.update(secret_values(self.validate(table)))
                    run(self._exercise(table))
        assert secrets, "the config holds no SecretStr"
        assert_no_secrets(logs.lines, secrets)

    # --- internals -------------------------------------------------------------------------------------------

    async def _exercise(self, table: dict[str, Any]) -> None:
        """check(), one pull of the first checked stream and, when there is one, a push — errors swallowed."""
        async with self.connector(table) as conn:
            stream = self.checked_streams()[0].name
            await conn.check()
            try:
                pulled = await pull_all(conn, stream)
            except (FatalError, RetriableError):
                return
            for target in self.writable_streams()[:1]:
                try:
                    await conn.push(
                        target,
                        self.outbound_records(
                            target, pulled.records if target == stream else (await pull_all(conn, target)).records
                        ),
                    )
                except (FatalError, RetriableError):
                    return

    def _expect(self, fault: Fault, error: type[Exception]) -> Exception:
        stream = self.checked_streams()[0].name
        with self.service(fault) as table:
            try:
                run(self.pull(table, stream))
            except error as exc:
                return exc
            except Exception as exc:
                raise AssertionError(
                    f"{fault.value}: pulling {stream!r} raised {type(exc).__name__}: {exc}; expected a {error.__name__}"
                ) from exc
        raise AssertionError(f"{fault.value}: pulling {stream!r} succeeded; expected a {error.__name__}")


def _sample(items: list[int], n: int) -> list[int]:
    """At most ``n`` of ``items`` spread evenly, always including the last."""
    if len(items) <= n:
        return items
    step = (len(items) - 1) / (n - 1)
    return sorted({items[round(i * step)] for i in range(n)})


def _stored_ids(store: Any, connector: str, stream: str) -> list[str]:
    from sqlalchemy import select

    from crmhub.store.tables import SourceRecord as SourceRow

    with store.begin() as s:
        return list(
            s.scalars(select(SourceRow.source_id).where(SourceRow.connector == connector, SourceRow.stream == stream))
        )
