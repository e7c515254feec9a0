"""Write-back planning (`crmhub.sync.writeback`): plan_batch's outbox rows, idempotency, superseding, dry runs, and
the query plan that keeps it linear in the size of the book."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, text, update

from crmhub.contract import ConnectorConfig, StreamKind, StreamSpec, WriteBack
from crmhub.model.uscc import make
from crmhub.store import Store
from crmhub.store.tables import GoldenClient, Outbox, SourceRecord, Xref
from crmhub.sync.writeback import Target, plan_batch, target_states


def uscc(i: int) -> str:
    return make("91110000", f"{i:08d}")


def target(name: str = "crm", fields: tuple[str, ...] = ("uscc", "phone"), create: bool = False) -> Target:
    return Target(
        name,
        StreamSpec("accounts", StreamKind.CLIENT, writable=True),
        ConnectorConfig(plugin="memory", write_back=WriteBack(fields=list(fields), create=create)),
    )


def seed(
    store: Store, n: int, *, connector: str = "crm", crm_data: dict[str, Any] | None = None, extra_record: bool = False
) -> list[int]:
    """``n`` golden clients flagged for planning, each with one record in ``connector`` lacking the USCC."""
    now = datetime.now(UTC)
    ids = []
    with store.begin() as s:
        for i in range(n):
            golden = GoldenClient(
                name=f"公司{i}",
                data={"name": f"公司{i}", "uscc": uscc(i), "phone": "010-62345678"},
                needs_plan=True,
                created_at=now,
                updated_at=now,
            )
            s.add(golden)
            s.flush()
            ids.append(golden.id)
            for suffix in ("", "-dup") if extra_record else ("",):
                rec = SourceRecord(
                    connector=connector,
                    stream="accounts",
                    source_id=f"Z{i}{suffix}",
                    kind="client",
                    raw={},
                    data=crm_data if crm_data is not None else {"name": f"公司{i}"},
                    content_hash=f"h{i}{suffix}",
                    first_seen_at=now,
                    last_seen_at=now,
                )
                s.add(rec)
                s.flush()
                s.add(Xref(source_record_id=rec.id, client_id=golden.id, method="uscc", linked_at=now))
    return ids


def plan_all(
    store: Store, targets: list[Target], run_id: int | None = 1, *, dry_run: bool = False, limit: int = 500
) -> tuple[int, int, list[Any]]:
    """(planned, queued, dry-run plans) of a whole planning pass."""
    planned = queued = 0
    plans: list[Any] = []
    after: int | None = 0
    while after is not None:
        with store.begin() as s:
            out = plan_batch(s, after, targets, run_id, dry_run=dry_run, limit=limit)
        after = out.last_id
        planned, queued = planned + out.planned, queued + out.queued
        plans += out.plans
    return planned, queued, plans


def outbox(store: Store) -> list[Outbox]:
    with store.begin() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def test_plan_batch_queues_the_diff_and_clears_the_flag(store: Store) -> None:
    seed(store, 7)
    planned, queued, plans = plan_all(store, [target()], limit=3)
    rows = outbox(store)
    assert (planned, queued, plans) == (7, 7, [])  # plans are kept for a dry run only
    assert [r.source_id for r in rows] == [f"Z{i}" for i in range(7)]
    assert rows[0].payload["fields"] == ["phone", "uscc"] and rows[0].payload["data"]["uscc"] == uscc(0)
    assert rows[0].payload["before"] == {"uscc": None, "phone": None} and rows[0].state == "planned"
    with store.begin() as s:
        assert s.scalar(select(func.count()).where(GoldenClient.needs_plan.is_(True))) == 0


def test_replanning_after_a_crash_adds_nothing(store: Store) -> None:
    ids = seed(store, 4)
    plan_all(store, [target()])
    first = [(r.idempotency_key, r.state) for r in outbox(store)]
    with store.begin() as s:  # a crash before the flags were committed: the same batch is planned again
        s.execute(update(GoldenClient).where(GoldenClient.id.in_(ids)).values(needs_plan=True))
    planned, queued, _ = plan_all(store, [target()])
    assert (planned, queued) == (4, 0)
    assert [(r.idempotency_key, r.state) for r in outbox(store)] == first


def test_a_changed_golden_supersedes_its_unsent_plan(store: Store) -> None:
    ids = seed(store, 2)
    plan_all(store, [target()])
    with store.begin() as s:
        golden = s.get_one(GoldenClient, ids[0])
        golden.data = {**golden.data, "phone": "021-55556666"}
        golden.needs_plan = True
    _, queued, _ = plan_all(store, [target()])
    rows = outbox(store)
    assert queued == 1
    assert [(r.client_id, r.state) for r in rows] == [(ids[0], "superseded"), (ids[1], "planned"), (ids[0], "planned")]
    assert rows[-1].payload["data"]["phone"] == "021-55556666"


def test_dry_run_returns_the_plan_and_only_the_first_record_of_a_duplicate_is_written(store: Store) -> None:
    seed(store, 3, extra_record=True)
    planned, queued, plans = plan_all(store, [target()], dry_run=True)
    assert planned == 3 and queued == 3
    assert [p.source_id for p in plans] == ["Z0", "Z1", "Z2"]  # the lower record id of each client, never "-dup"
    change = plans[0].as_change()
    assert change.action == "update" and change.fields["uscc"] == {"before": None, "after": uscc(0)}


def test_nothing_to_write_plans_nothing_and_a_missing_record_is_created_only_when_allowed(store: Store) -> None:
    seed(store, 2, crm_data={"uscc": None})
    with store.begin() as s:
        s.execute(
            update(SourceRecord)
            .where(SourceRecord.source_id == "Z0")
            .values(data={"name": "公司0", "uscc": uscc(0), "phone": "010-62345678"})
        )
    planned, _, _ = plan_all(store, [target(), target("other", create=False)])
    assert planned == 1  # Z0 already holds the values; "other" has no record and may not create one
    with store.begin() as s:
        s.execute(update(GoldenClient).values(needs_plan=True))
    planned, _, plans = plan_all(store, [target("other", create=True)], dry_run=True)
    assert planned == 2 and {p.action for p in plans} == {"create"}


@contextmanager
def captured(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the store's engine executes meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)


def test_target_states_is_driven_by_the_xref_client_id_index(store: Store) -> None:
    """The query reads the batch's xref entries by client id and their records by primary key — never every
    record of the target (a scan per batch made planning O(N²): 21.6× the time for 10× the book)."""
    ids = seed(store, 30)
    seed(store, 30, connector="other")
    with captured(store) as seen, store.begin() as s:
        states = target_states(s, ids[:5], [target()])
    assert sorted(states) == [(i, "crm") for i in ids[:5]]
    ((statement, params),) = [(q, p) for q, p in seen if "xref" in q]
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":  # without statistics (a fresh store) and with them (after ANALYZE)
            for analyze in (False, True):
                if analyze:
                    conn.exec_driver_sql("ANALYZE")
                plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
                assert "USING COVERING INDEX ix_xref_client_id" in plan, plan
                assert "source_record USING INTEGER PRIMARY KEY" in plan, plan
                assert "SCAN" not in plan and "sqlite_autoindex_source_record" not in plan, plan
        else:  # PostgreSQL (analysed, as autovacuum does), sequential scans priced out of a table this small
            conn.execute(text("ANALYZE xref"))
            conn.execute(text("ANALYZE source_record"))
            conn.execute(text("SET enable_seqscan = off"))
            plan = " | ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
            assert "ix_xref_client_id" in plan, plan


def test_superseding_reads_the_outbox_by_client_id(store: Store) -> None:
    """Superseding older plans looks up the batch's clients — not every planned row of the target (on SQLite
    the (state, target) index was chosen, so each batch walked all the writes planned before it)."""
    ids = seed(store, 6)
    plan_all(store, [target()])
    with store.begin() as s:
        s.execute(
            update(GoldenClient)
            .where(GoldenClient.id.in_(ids[:2]))
            .values(needs_plan=True, data={"name": "公司0", "uscc": uscc(0), "phone": "021-55556666"})
        )
    with captured(store) as seen:
        _, queued, _ = plan_all(store, [target()])
    assert queued == 2 and [r.state for r in outbox(store)].count("superseded") == 2
    ((statement, params),) = [(q, p) for q, p in seen if q.startswith("UPDATE outbox")]
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
        assert plan == "SEARCH outbox USING INDEX ix_outbox_client_id (client_id=?)", plan
