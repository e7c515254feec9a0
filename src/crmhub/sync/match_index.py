"""The sync's match index, persisted in the store and maintained record by record (issue #17, item 3).

Why: `Resolver` used to rebuild an in-memory `Matcher` from every linked client record on every run — ~2.6 KB per
record, and most of an incremental run's time. Here the index lives in the store instead:

- ``match_key``: each indexed record's `MatchRecord`, already normalised (rebuilding one from this compact JSON
  list costs ~20 µs; normalising the snapshot again ~180 µs);
- ``match_block``: one row per blocking key of the record (`blocking.block_key_strings`, hashed stably); a
  block's size (a block above ``max_block`` is skipped, as in `BlockIndex`) is counted from its primary key with
  one GROUP BY per batch — cheaper than keeping a size row per block up to date (~8 more rows per record);
- ``match_term`` / ``match_key_city`` / ``match_stat``: what `TermFrequencies` counts (values per family, the cities
  a name key is known in, per-family totals and Σn²), so the scorer's term-frequency adjustment needs no scan.

Which records are indexed is what the old ``load_index`` loaded: linked, clean, not deleted, named client records
(it also checked that the linked golden client is active, which every linked one is: see
`MatchIndex.ensure_built`). Dirty records leave the index when the match phase starts (`MatchIndex.retire_dirty`)
and re-enter as they are linked. A batch of dirty records then costs a few indexed queries (`BatchIndex`):
the sizes of its blocks, the members of the usable ones, those members' records, the counts of its own values. It
answers
`best_matches` as an in-memory `Matcher` holding the same records would — same candidates, same counts, same
order — and its additions are written back in the batch's own transaction, so a crash loses or repeats nothing.

Hashes are 64-bit BLAKE2b (Python's ``hash`` differs per process); a collision only adds a candidate or blurs one
count, as with the in-memory index. ``KEYS_VERSION`` is stored with the index: when normalisation or the keys
change, bump it and the next run rebuilds the index once (as it does on a store upgraded from migration 0010).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from hashlib import blake2b
from typing import Any, cast

import orjson
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from crmhub.contract import StreamKind
from crmhub.core.chunks import chunked
from crmhub.core.pages import keyset_pages
from crmhub.store.tables import (
    MatchBlock,
    MatchKey,
    MatchKeyCity,
    MatchStat,
    MatchTerm,
    Xref,
)
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.blocking import BlockingConfig, block_key_strings
from crmhub.sync.names import CompanyName
from crmhub.sync.records import MatchRecord
from crmhub.sync.scoring import MatchModel, MatchScore, TermFrequencies, score_at_least

__all__ = ["KEYS_VERSION", "BatchIndex", "MatchIndex", "decode", "encode", "stable_block_keys", "stable_hash"]

KEYS_VERSION = 1
"""Version of the stored keys; bump when `MatchRecord` normalisation, blocking keys or term families change."""

CHUNK = 900
"""Values per IN list (SQLite allows 32,766 bound parameters; PostgreSQL's planner likes moderate lists)."""

BUILD_BATCH = 2000
"""Records indexed per step when the index is built for a whole book."""


_STAT_T = cast(Table, MatchStat.__table__)


@lru_cache(maxsize=1 << 17)
def stable_hash(text: str) -> int:
    """A signed 64-bit hash of ``text``, equal in every process (it is stored). Cached: a batch hashes the same
    values several times (loading counts, adding records) and common ones recur across batches."""
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def stable_block_keys(record: MatchRecord) -> list[int]:
    """The record's blocking keys, stably hashed, without repeats (a record counts once per block)."""
    return list(dict.fromkeys(stable_hash(k) for k in block_key_strings(record)))


def encode(record: MatchRecord) -> str:
    """The record's constructor fields and its name key's pinyin as a compact JSON list (the other derived fields
    are recomputed on decode; the pinyin was most of a decode's cost)."""
    n = record.name
    return orjson.dumps(
        [
            record.system,
            n.original,
            n.key,
            n.region,
            n.form,
            n.branch,
            n.tokens,
            n.region_code,
            n.group,
            n.latin,
            record.uscc,
            record.region_code,
            record.city,
            record.division_code,
            record.phone,
            record.legal_rep,
            record.other_phones,
            record.uscc_invalid,
            record.key_pinyin,
        ]
    ).decode()


def decode(ref: str, payload: str | bytes) -> MatchRecord:
    """The `MatchRecord` that `encode` stored, under ``ref`` (payloads stored before the pinyin was kept, one
    field shorter, recompute it)."""
    fields = orjson.loads(payload)
    (
        system,
        original,
        key,
        region,
        form,
        branch,
        tokens,
        name_code,
        group,
        latin,
        uscc,
        region_code,
        city,
        division,
        phone,
        rep,
        others,
        invalid,
    ) = fields[:18]
    name = CompanyName(original, key, region, form, branch, tuple(tokens), name_code, group, latin)
    if len(fields) == 18:
        return MatchRecord(
            ref,
            system,
            name,
            uscc=uscc,
            region_code=region_code,
            city=city,
            division_code=division,
            phone=phone,
            legal_rep=rep,
            other_phones=tuple(others),
            uscc_invalid=invalid,
        )
    return MatchRecord.restore(
        ref,
        system,
        name,
        fields[18],
        uscc=uscc,
        region_code=region_code,
        city=city,
        division_code=division,
        phone=phone,
        legal_rep=rep,
        other_phones=tuple(others),
        uscc_invalid=invalid,
    )


# The bulk reads and writes below go to the driver directly (``exec_driver_sql``): tens of thousands of small rows
# per batch, where SQLAlchemy's per-row parameter processing cost more than the statements (profiled: ~40%). The
# SQL is fixed text over this module's own tables; ``?`` is swapped for the driver's marker.


_PAYLOAD_BYTES = {"sqlite": "CAST({} AS BLOB)", "postgresql": "convert_to({}, 'UTF8')"}
"""The payload column read as UTF-8 bytes: orjson parses bytes directly, where a fresh ``str`` from the driver
is first encoded again (measured on SQLite: 30 → 18 µs per decoded record; every candidate of a batch is one)."""


def _sql(session: Session, text: str, n_in: int = 0) -> str:
    dialect = session.connection().dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if "PAYLOAD(" in text:
        column = text.split("PAYLOAD(", 1)[1].split(")", 1)[0]
        text = text.replace(f"PAYLOAD({column})", _PAYLOAD_BYTES.get(dialect.name, "{}").format(column))
    return text.replace("(IN)", "(" + ", ".join("?" * n_in) + ")" if n_in else "(IN)").replace("?", mark)


def _select_in(session: Session, text: str, values: Iterable[Any], *before: Any) -> Iterator[Any]:
    """Rows of ``text`` (with ``(IN)`` for the list) over ``values`` in chunks; ``before``: leading parameters."""
    conn = session.connection()
    for chunk in chunked(values, CHUNK):
        yield from conn.exec_driver_sql(_sql(session, text, len(chunk)), (*before, *chunk))


def _executemany(session: Session, text: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        session.connection().exec_driver_sql(_sql(session, text), rows)


class _Terms(TermFrequencies):
    """`TermFrequencies` keyed by `stable_hash`, holding only the stored counts of the values loaded into it
    (exact for those) and the exact per-family totals — enough to score and to count the records loaded."""

    def __init__(self) -> None:
        super().__init__(stable_hash)

    def value_hashes(self, records: Iterable[MatchRecord]) -> tuple[dict[str, set[int]], set[int]]:
        """(family → hashes of the records' values, hashes of their name keys)."""
        wanted: dict[str, set[int]] = {f: set() for f in self.FAMILIES}
        keys: set[int] = set()
        for record in records:
            for family, values in self.values(record).items():
                wanted[family].update(stable_hash(v) for v in values)
            keys.add(stable_hash(record.name.key))
        return wanted, keys

    def load(self, session: Session, records: Iterable[MatchRecord]) -> None:
        """Read the counts of the records' values, their name keys' cities and the totals."""
        wanted, keys = self.value_hashes(records)
        for family, hashes in wanted.items():
            counts = self._counts[family]
            for value_hash, n in _select_in(
                session,
                "SELECT value_hash, count FROM match_term WHERE family = ? AND value_hash IN (IN)",
                hashes,
                family,
            ):
                counts[value_hash] = n
        for key_hash, geo, n in _select_in(
            session, "SELECT key_hash, geo, count FROM match_key_city WHERE key_hash IN (IN)", keys
        ):
            self._key_cities.setdefault(key_hash, {})[geo] = n
        stats = {name: value for name, value in session.execute(select(MatchStat.name, MatchStat.value))}
        for family in self.FAMILIES:
            self._total[family] = int(stats.get(f"total:{family}", 0))
            self._sum_sq[family] = int(stats.get(f"sumsq:{family}", 0))

    def snapshot(self) -> tuple[dict[str, dict[int, int]], dict[int, dict[str, int]], dict[str, int]]:
        """Copies of the loaded counts, to write back only what changed."""
        stats = {f"total:{f}": self._total[f] for f in self.FAMILIES}
        stats.update({f"sumsq:{f}": self._sum_sq[f] for f in self.FAMILIES})
        return ({f: dict(c) for f, c in self._counts.items()}, {k: dict(c) for k, c in self._key_cities.items()}, stats)


class _Counts:
    """The stored counts a set of records touches (terms, cities, totals): loaded once, changed in memory by
    `add` / `remove`, written back by `write` as a few executemany statements. Block sizes are not stored (they
    follow from ``match_block``): `BatchIndex` fills ``sizes`` from the members it reads; `add` keeps them."""

    def __init__(self, session: Session, records: Sequence[MatchRecord]) -> None:
        self.block_keys = {r.ref: stable_block_keys(r) for r in records}
        self.sizes: dict[int, int] = {}
        self.terms = _Terms()
        self.terms.load(session, records)
        self._before = self.terms.snapshot()

    def keys_of(self, record: MatchRecord) -> list[int]:
        keys = self.block_keys.get(record.ref)
        if keys is None:
            keys = self.block_keys[record.ref] = stable_block_keys(record)
        return keys

    def add(self, record: MatchRecord) -> None:
        sizes = self.sizes
        for k in self.keys_of(record):
            sizes[k] = sizes.get(k, 0) + 1
        self.terms.add(record)

    def remove(self, record: MatchRecord) -> None:
        self.terms.remove(record)

    def write(self, session: Session) -> None:
        terms0, cities0, stats0 = self._before
        counts = self.terms._counts
        _write_counts(
            session,
            "match_term",
            ("family", "value_hash"),
            "count",
            {(f, h): n for f, c in terms0.items() for h, n in c.items()},
            {(f, h): n for f, c in counts.items() for h, n in c.items()},
        )
        _write_counts(
            session,
            "match_key_city",
            ("key_hash", "geo"),
            "count",
            {(k, g): n for k, c in cities0.items() for g, n in c.items()},
            {(k, g): n for k, c in self.terms._key_cities.items() for g, n in c.items()},
        )
        stats = self.terms.snapshot()[2]
        changed = [(v, name) for name, v in stats.items() if v != stats0.get(name)]
        if changed:
            _executemany(session, "UPDATE match_stat SET value = ? WHERE name = ?", changed)


def _write_counts(
    session: Session,
    table: str,
    key_cols: tuple[str, ...],
    count_col: str,
    before: dict[tuple[Any, ...], int],
    after: dict[tuple[Any, ...], int],
) -> None:
    """Insert, update or delete (at zero) the rows whose count changed. ``before`` holds every stored row of the
    keys in ``after`` (0 / absent = no row), so no upsert dialect is needed."""
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    deletes: list[tuple[Any, ...]] = []
    for key, new in after.items():
        old = before.get(key, 0)
        if old == new:
            continue
        if new <= 0:
            deletes.append(key)
        elif old <= 0:
            inserts.append((*key, new))
        else:
            updates.append((new, *key))
    deletes.extend(key for key in before.keys() - after.keys())
    where = " AND ".join(f"{c} = ?" for c in key_cols)
    _executemany(session, f"DELETE FROM {table} WHERE {where}", deletes)
    _executemany(session, f"UPDATE {table} SET {count_col} = ? WHERE {where}", updates)
    _executemany(
        session,
        f"INSERT INTO {table} ({', '.join(key_cols)}, {count_col}) VALUES ({', '.join('?' * (len(key_cols) + 1))})",
        inserts,
    )


class BatchIndex:
    """The slice of the stored index that one batch of dirty records needs, answering like a `Matcher`.

    Holds the sizes of the batch's blocks, the members of those at or below the cap, the members' records and
    golden clients, and the term counts of the batch's values. Records linked during the batch are added here
    (later records of the batch see them, as they would in an in-memory index) and written back by `write`.
    """

    def __init__(
        self,
        session: Session,
        records: Sequence[MatchRecord],
        *,
        review: float,
        max_block: int,
        model: MatchModel,
        oversized: set[int] | None = None,
    ) -> None:
        self.review, self.max_block, self.model = review, max_block, model
        self.counts = _Counts(session, records)
        # One read gives both a block's size and its members (a separate GROUP BY for the sizes read the same
        # rows twice). ``oversized``: blocks seen above the cap earlier in the run — a block only grows while
        # records are linked (`MatchIndex.retire` forgets them when it removes rows), so they are not read again.
        big = oversized if oversized is not None else set()
        wanted = {k for keys in self.counts.block_keys.values() for k in keys}
        found: dict[int, list[str]] = {}
        for key, rid in _select_in(
            session,
            "SELECT block_key, source_record_id FROM match_block WHERE block_key IN (IN)",
            [k for k in wanted if k not in big],
        ):
            found.setdefault(key, []).append(str(rid))
        sizes = self.counts.sizes
        self.members: dict[int, list[str]] = {}
        for k in wanted:
            n = max_block + 1 if k in big else len(found.get(k, ()))
            sizes[k] = n
            if n <= max_block:
                self.members[k] = found.get(k, [])
            else:
                big.add(k)
        self.records: dict[str, MatchRecord] = {}
        self.golden: dict[str, int] = {}
        wanted = {int(ref) for refs in self.members.values() for ref in refs}
        for rid, payload, client_id in _select_in(  # links point at active clients: see ensure_built
            session,
            "SELECT k.source_record_id, PAYLOAD(k.payload), x.client_id FROM match_key k JOIN xref x "
            "ON x.source_record_id = k.source_record_id WHERE k.source_record_id IN (IN)",
            sorted(wanted),
        ):
            ref = str(rid)
            self.records[ref] = decode(ref, payload)
            self.golden[ref] = client_id
        self.added: list[MatchRecord] = []
        self.pairs_scored = 0

    def best_matches(self, record: MatchRecord, *, limit: int = 10) -> list[tuple[str, MatchScore]]:
        """Indexed records that may be `record`, best first, at or above the review threshold — what
        `Matcher.best_matches` returns for the same index (candidates of usable blocks, ties by ref)."""
        found: set[str] = set()
        sizes = self.counts.sizes
        for k in self.counts.keys_of(record):
            if sizes[k] <= self.max_block:
                found.update(self.members[k])
        found.discard(record.ref)
        scored: list[tuple[str, MatchScore]] = []
        for ref in found:
            other = self.records.get(ref)
            if other is None:
                continue
            s = score_at_least(record, other, self.counts.terms, self.model, self.review)
            self.pairs_scored += 1
            if s is not None:
                scored.append((ref, s))
        scored.sort(key=lambda item: (-item[1].total, item[0]))
        return scored[:limit]

    def golden_of(self, ref: str) -> int | None:
        """The golden client of an indexed record (provisional negative ids for clients new in this batch)."""
        return self.golden.get(ref)

    def add(self, record: MatchRecord, golden_id: int) -> None:
        """Index a record just linked (it must be one of the batch's records, whose counts were loaded)."""
        self.counts.add(record)
        for k in self.counts.keys_of(record):
            members = self.members.get(k)
            if members is not None:
                members.append(record.ref)
        self.records[record.ref] = record
        self.golden[record.ref] = golden_id
        self.added.append(record)

    def write(self, session: Session) -> None:
        """Store the records added and the counts they changed (in the batch's transaction)."""
        self.counts.write(session)
        _insert_keys(session, self.added, self.counts)


def _insert_keys(session: Session, records: Sequence[MatchRecord], counts: _Counts) -> None:
    if not records:
        return
    _executemany(
        session,
        "INSERT INTO match_key (source_record_id, payload) VALUES (?, ?)",
        [(int(r.ref), encode(r)) for r in records],
    )
    _executemany(
        session,
        "INSERT INTO match_block (block_key, source_record_id) VALUES (?, ?)",
        [(k, int(r.ref)) for r in records for k in counts.keys_of(r)],
    )


class MatchIndex:
    """Entry point for the sync: build the stored index once, retire dirty records, hand out `BatchIndex`es."""

    def __init__(
        self, review: float, *, model: MatchModel | None = None, blocking: BlockingConfig | None = None
    ) -> None:
        self.review = review
        self.model = model or MatchModel()
        self.max_block = (blocking or BlockingConfig()).max_block
        self.built = 0
        self.retired = 0
        self.oversized: set[int] = set()
        """Blocks found above ``max_block`` in this run (see `BatchIndex`); forgotten when records leave."""

    def batch(self, session: Session, records: Sequence[MatchRecord]) -> BatchIndex:
        """The index slice for one batch of records about to be linked (see `BatchIndex`)."""
        return BatchIndex(
            session, records, review=self.review, max_block=self.max_block, model=self.model, oversized=self.oversized
        )

    def ensure_built(self, session: Session, match_record: Any) -> None:
        """Build the index for the whole book if it is missing or of another `KEYS_VERSION` (a store upgraded
        from migration 0010, or new normalisation): every linked, clean, named client record, streamed in
        batches. ``match_record(ref, system, data)`` builds a record from a stored snapshot.

        The old in-memory index also required the linked golden client to be active; every link points at an
        active client (`review.merge_clients` moves the absorbed client's links to the kept one, `unmerge` moves
        them back and reactivates it), so that join only cost time — a lot on SQLite, whose planner may read the
        golden clients' wide rows for it (1.4 s per 900 candidates measured on a 10k book).
        """
        version = session.scalar(select(MatchStat.value).where(MatchStat.name == "version"))
        if version == KEYS_VERSION:
            return
        for table in (MatchKey, MatchBlock, MatchTerm, MatchKeyCity, MatchStat):
            session.execute(delete(table))
        names = ["version"] + [f"{kind}:{f}" for kind in ("total", "sumsq") for f in TermFrequencies.FAMILIES]
        session.execute(insert(_STAT_T), [{"name": n, "value": KEYS_VERSION if n == "version" else 0} for n in names])

        def read(after: int | None) -> Sequence[Any]:
            return session.execute(
                select(SourceRow.id, SourceRow.connector, SourceRow.data)
                .join(Xref, Xref.source_record_id == SourceRow.id)
                .where(
                    SourceRow.kind == StreamKind.CLIENT.value,
                    SourceRow.deleted.is_(False),
                    SourceRow.dirty.is_(False),
                    SourceRow.id > (after or 0),
                )
                .order_by(SourceRow.id)
                .limit(BUILD_BATCH)
            ).all()

        for rows in keyset_pages(read, lambda row: int(row.id), BUILD_BATCH):
            records = [match_record(str(r.id), r.connector, r.data) for r in rows if r.data and r.data.get("name")]
            counts = _Counts(session, records)
            for record in records:
                counts.add(record)
            counts.write(session)
            _insert_keys(session, records, counts)
            self.built += len(records)

    def retire(self, session: Session, ids: Sequence[int]) -> int:
        """Take these records out of the index (they changed or were deleted); returns how many were in it."""
        rows: list[tuple[int, str | bytes]] = []
        rows.extend(
            (rid, payload)
            for rid, payload in _select_in(
                session, "SELECT source_record_id, PAYLOAD(payload) FROM match_key WHERE source_record_id IN (IN)", ids
            )
        )
        if not rows:
            return 0
        records = [decode(str(rid), payload) for rid, payload in rows]
        counts = _Counts(session, records)
        for record in records:
            counts.remove(record)
        counts.write(session)
        _executemany(
            session,
            "DELETE FROM match_block WHERE block_key = ? AND source_record_id = ?",
            [(k, int(r.ref)) for r in records for k in counts.keys_of(r)],
        )
        _executemany(session, "DELETE FROM match_key WHERE source_record_id = ?", [(rid,) for rid, _ in rows])
        self.retired += len(rows)
        self.oversized.clear()  # a block may have shrunk back under the cap
        return len(rows)

    def retire_dirty(self, session: Session) -> None:
        """Take every dirty client record out of the index (the old `load_index` never loaded them): each one is
        either re-indexed with its new data when linked, or stays out (deleted, nameless)."""
        while True:
            ids = list(
                session.scalars(
                    select(MatchKey.source_record_id)
                    .join(SourceRow, SourceRow.id == MatchKey.source_record_id)
                    .where(SourceRow.dirty.is_(True))
                    .limit(BUILD_BATCH)
                )
            )
            if not ids or not self.retire(session, ids):
                return
