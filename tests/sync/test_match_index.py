"""The stored match index answers as the in-memory `Matcher` would, and its counts stay exactly those of the
records it holds while records are linked, changed, deleted — and when it is built for an upgraded store."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crmhub.store import Store
from crmhub.store.tables import (
    GoldenClient,
    MatchBlock,
    MatchKey,
    MatchKeyCity,
    MatchStat,
    MatchTerm,
    Xref,
)
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.blocking import block_key_strings
from crmhub.sync.match_index import KEYS_VERSION, MatchIndex, decode, encode, stable_block_keys, stable_hash
from crmhub.sync.matching import BlockingConfig, Matcher, MatchRecord, MatchThresholds
from crmhub.sync.resolve import Resolver, match_record
from crmhub.sync.scoring import TermFrequencies
from crmhub.sync.settings import MatchingSettings

from .drift_world import drifted_population

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _population(companies: int, seed: int) -> list[MatchRecord]:
    return drifted_population(companies, seed=seed)[0]


def _source(session: Session, n: int, data: dict[str, Any] | None = None, *, dirty: bool = False) -> int:
    row = SourceRow(
        connector="zoho",
        stream="accounts",
        source_id=f"s{n}",
        kind="client",
        raw={},
        data=data or {},
        content_hash=str(n),
        first_seen_at=NOW,
        last_seen_at=NOW,
        deleted=False,
        dirty=dirty,
    )
    session.add(row)
    session.flush()
    return row.id


def _stage(session: Session, records: list[MatchRecord]) -> list[MatchRecord]:
    """A clean source record, its own golden client and the link for each record; the records re-keyed by id."""
    out = []
    for i, record in enumerate(records):
        golden = GoldenClient(name=record.name.original, created_at=NOW, updated_at=NOW)
        session.add(golden)
        sid = _source(session, i)
        session.add(Xref(source_record_id=sid, client_id=golden.id, method="new", linked_at=NOW))
        out.append(dataclasses.replace(record, ref=str(sid)))
    session.flush()
    return out


def _expected(records: list[MatchRecord]) -> dict[str, Any]:
    """What the stored tables must hold for exactly these records (the in-memory structures, stably hashed)."""
    tf = TermFrequencies(stable_hash)
    for record in records:
        tf.add(record)
    stats = {
        f"{kind}:{f}": getattr(tf, f"_{attr}")[f]
        for kind, attr in (("total", "total"), ("sumsq", "sum_sq"))
        for f in tf.FAMILIES
    }
    return {
        "keys": {int(r.ref): r for r in records},
        "blocks": {(k, int(r.ref)) for r in records for k in stable_block_keys(r)},
        "terms": {(f, h): n for f, c in tf._counts.items() for h, n in c.items()},
        "cities": {(k, g): n for k, c in tf._key_cities.items() for g, n in c.items() if n},
        "stats": {**stats, "version": KEYS_VERSION},
    }


def _stored(session: Session) -> dict[str, Any]:
    return {
        "keys": {
            rid: decode(str(rid), p) for rid, p in session.execute(select(MatchKey.source_record_id, MatchKey.payload))
        },
        "blocks": {(k, rid) for k, rid in session.execute(select(MatchBlock.block_key, MatchBlock.source_record_id))},
        "terms": {
            (f, h): n for f, h, n in session.execute(select(MatchTerm.family, MatchTerm.value_hash, MatchTerm.count))
        },
        "cities": {
            (k, g): n
            for k, g, n in session.execute(select(MatchKeyCity.key_hash, MatchKeyCity.geo, MatchKeyCity.count))
        },
        "stats": {name: v for name, v in session.execute(select(MatchStat.name, MatchStat.value))},
    }


def _index_all(session: Session, index: MatchIndex, records: list[MatchRecord]) -> None:
    batch = index.batch(session, records)
    for record in records:
        batch.add(record, 1)
    batch.write(session)


def test_stored_record_and_keys_round_trip() -> None:
    """A stored record decodes to the same record (derived fields too); keys are the text keys, stably hashed."""
    for record in _population(60, seed=4):
        back = decode(record.ref, encode(record))
        assert back == record
        assert (back.phones, back.geo4, back.province, back.key_pinyin, back.trade_pinyin) == (
            record.phones,
            record.geo4,
            record.province,
            record.key_pinyin,
            record.trade_pinyin,
        )
        assert set(stable_block_keys(record)) == {stable_hash(k) for k in block_key_strings(record)}
    assert stable_hash("k|星河科技") == stable_hash("k|星河科技") != stable_hash("k|星和科技")


def test_batch_answers_like_the_in_memory_matcher(store: Store) -> None:
    """Same candidates (a small block cap, so oversized blocks are exercised), same scores, same order, same term
    counts as a `Matcher` holding the same records."""
    population = _population(260, seed=7)
    cap = BlockingConfig(max_block=4)
    index = MatchIndex(0.6, blocking=cap)
    with store.begin() as s:
        index.ensure_built(s, match_record)
        known = _stage(s, [r for i, r in enumerate(population) if i % 5])
        queries = [dataclasses.replace(r, ref=str(100_000 + i)) for i, r in enumerate(population) if not i % 5]
        _index_all(s, index, known)
    matcher = Matcher(MatchThresholds(), blocking=cap)
    for record in known:
        matcher.add(record)
    compared = matched = 0
    with store.begin() as s:
        batch = index.batch(s, queries)
        for query in queries:
            mine = [(ref, round(m.total, 9)) for ref, m in batch.best_matches(query, limit=10)]
            theirs = [(ref, round(m.total, 9)) for ref, m in matcher.best_matches(query, limit=10)]
            assert mine == theirs, query
            compared += 1
            matched += bool(mine)
            for family, values in TermFrequencies.values(query).items():
                for value in values:
                    assert batch.counts.terms.count(family, value) == matcher._tf.count(family, value)
            if query.province:
                assert batch.counts.terms.cities_with_key(
                    query.name.key, query.province
                ) == matcher._tf.cities_with_key(query.name.key, query.province)
        for family in TermFrequencies.FAMILIES:
            assert batch.counts.terms._total[family] == matcher._tf._total[family]
            assert batch.counts.terms._sum_sq[family] == matcher._tf._sum_sq[family]
    assert compared == len(queries) and matched > len(queries) // 3  # the comparison is not vacuous
    assert matcher._blocks.oversized > 0


def test_records_added_in_a_batch_are_candidates_for_later_ones(store: Store) -> None:
    """Within a batch, a record linked first is found by the next one (as in the in-memory index)."""
    a, b = (MatchRecord.build(str(i), "zoho", "北京星河科技有限公司", phone="010-62345678") for i in (1, 2))
    index = MatchIndex(0.6)
    with store.begin() as s:
        index.ensure_built(s, match_record)
        a, b = _stage(s, [a, b])
        batch = index.batch(s, [a, b])
        assert batch.best_matches(b) == []
        batch.add(a, 42)
        found = batch.best_matches(b)
        assert [ref for ref, _ in found] == [a.ref] and batch.golden_of(a.ref) == 42


def test_counts_follow_retire_and_re_add(store: Store) -> None:
    """Taking records out and putting them back keeps every stored count equal to a fresh count of the records
    indexed — what an index rebuilt from them would hold."""
    population = _population(120, seed=11)
    index = MatchIndex(0.6)
    with store.begin() as s:
        index.ensure_built(s, match_record)
        records = _stage(s, population)
        _index_all(s, index, records)
        assert _stored(s) == _expected(records)
    gone = records[::3]
    with store.begin() as s:
        assert index.retire(s, [int(r.ref) for r in gone]) == len(gone)
        assert index.retire(s, [int(r.ref) for r in gone]) == 0  # idempotent
    kept = [r for r in records if r not in gone]
    with store.begin() as s:
        assert _stored(s) == _expected(kept)
        _index_all(s, index, gone)
    with store.begin() as s:
        assert _stored(s) == _expected(kept + gone)


def _data(record: MatchRecord) -> dict[str, Any]:
    """A stored canonical snapshot that gives a record like ``record``."""
    data: dict[str, Any] = {
        "name": record.name.original,
        "phone": record.phone,
        "uscc": record.uscc or record.uscc_invalid,
    }
    if record.region_code:
        data["registered_address"] = {"division_code": record.region_code}
    if record.legal_rep:
        data["legal_representative"] = {
            "name": record.legal_rep,
            "phone": record.other_phones[0] if record.other_phones else None,
        }
    return data


def _match_phase(store: Store) -> Resolver:
    """The engine's match phase (`SyncEngine._match`), without the rest of the run."""
    resolver = Resolver(MatchingSettings(), run_id=None)
    with store.begin() as s:
        resolver.load_index(s)
    while True:
        with store.begin() as s:
            batch = resolver.dirty_batch(s)
            if not batch:
                return resolver
            resolver.link_batch(s, batch)


def _indexed_now(session: Session) -> list[MatchRecord]:
    """What the old `load_index` loaded: linked, clean, not deleted, named client records, fresh from data."""
    rows = session.execute(
        select(SourceRow.id, SourceRow.connector, SourceRow.data)
        .join(Xref, Xref.source_record_id == SourceRow.id)
        .where(SourceRow.deleted.is_(False), SourceRow.dirty.is_(False))
    )
    return [match_record(str(r.id), r.connector, r.data) for r in rows if r.data and r.data.get("name")]


def test_match_phase_keeps_the_index_exact_through_changes_deletes_and_an_upgrade(store: Store) -> None:
    """Link a book, change and delete some records, run again; then drop the index as a store upgraded from 0010
    has none: the next run builds it. After each run the stored index equals the linked clean records."""
    population = _population(80, seed=5)
    with store.begin() as s:
        ids = [_source(s, i, _data(r), dirty=True) for i, r in enumerate(population)]
    first = _match_phase(store)
    assert first.index.built == 0 and sum(first.created.values()) > 0 and sum(first.linked.values()) > 0
    with store.begin() as s:
        expected = _expected(_indexed_now(s))
        assert _stored(s) == expected and len(expected["keys"]) == len(population)
        s.execute(
            update(SourceRow)
            .where(SourceRow.id.in_(ids[:5]))
            .values(data={"name": "上海新名字贸易有限公司", "phone": "021-55556666"}, dirty=True)
        )
        s.execute(update(SourceRow).where(SourceRow.id.in_(ids[5:8])).values(deleted=True, dirty=True))
    second = _match_phase(store)
    assert second.index.retired == 8 and second.index.built == 0
    with store.begin() as s:
        expected = _expected(_indexed_now(s))
        assert _stored(s) == expected and len(expected["keys"]) == len(population) - 3
        for table in (MatchKey, MatchBlock, MatchTerm, MatchKeyCity, MatchStat):
            s.execute(delete(table))
    third = _match_phase(store)
    assert third.index.built == len(population) - 3
    with store.begin() as s:
        assert _stored(s) == _expected(_indexed_now(s))
        assert s.scalar(select(MatchStat.value).where(MatchStat.name == "version")) == KEYS_VERSION


@pytest.mark.parametrize("version", [None, KEYS_VERSION - 1])
def test_an_outdated_index_is_rebuilt(store: Store, version: int | None) -> None:
    """Keys of another version (new normalisation) are thrown away and built again from the records."""
    population = _population(20, seed=2)
    with store.begin() as s:
        for i, r in enumerate(population):
            _source(s, i, _data(r), dirty=True)
    _match_phase(store)
    with store.begin() as s:
        if version is None:
            s.execute(delete(MatchStat).where(MatchStat.name == "version"))
        else:
            s.execute(update(MatchStat).where(MatchStat.name == "version").values(value=version))
        s.execute(update(MatchTerm).values(count=99))  # stale counts must not survive
    rebuilt = _match_phase(store)
    assert rebuilt.index.built == len(population)
    with store.begin() as s:
        assert _stored(s) == _expected(_indexed_now(s))
