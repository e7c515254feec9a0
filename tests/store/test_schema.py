"""The store's schema: migrations equal the models, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, select

from crmhub.store import Store
from crmhub.store.tables import Base, GoldenClient

EXPECTED_TABLES = {
    "alembic_version",
    "alert",
    "audit_log",
    "credit_facility",
    "dead_letter",
    "field_lineage",
    "golden_client",
    "interaction",
    "job_state",
    "ledger_account",
    "ledger_transaction",
    "outbox",
    "review_item",
    "risk_assessment",
    "operator",
    "approval",
    "console_session",
    "run_lock",
    "source_record",
    "sync_cursor",
    "sync_run",
    "sync_run_stream",
    "sync_task",
    "token_cache",
    "xref",
    "match_key",
    "match_block",
    "match_term",
    "match_key_city",
    "match_stat",
    "rate_window_slot",
    "rate_lease",
}


def test_upgrade_creates_every_table(store: Store) -> None:
    """`db upgrade` creates the full schema and records the head revision."""
    assert set(inspect(store.engine).get_table_names()) == EXPECTED_TABLES
    assert store.current_revision() == store.head_revision()


def test_no_drift_between_models_and_migrations(store: Store) -> None:
    """Alembic's autogenerate finds nothing to change after upgrading (models == migrations)."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(store_url: str) -> None:
    """Opening an already migrated store again changes nothing."""
    first = Store.open(store_url)
    rev = first.current_revision()
    first.dispose()
    second = Store.open(store_url)
    assert second.current_revision() == rev
    second.dispose()


def test_golden_ids_are_never_reused(store: Store) -> None:
    """Deleting the newest golden record does not free its id for the next one."""
    now = datetime.now(UTC)
    with store.begin() as s:
        s.add(GoldenClient(name="甲", created_at=now, updated_at=now))
        s.add(GoldenClient(name="乙", created_at=now, updated_at=now))
    with store.begin() as s:
        top = s.scalar(select(GoldenClient.id).order_by(GoldenClient.id.desc()))
        s.execute(delete(GoldenClient).where(GoldenClient.id == top))
    with store.begin() as s:
        s.add(GoldenClient(name="丙", created_at=now, updated_at=now))
    with store.begin() as s:
        new_id = s.scalar(select(GoldenClient.id).where(GoldenClient.name == "丙"))
    assert top is not None and new_id is not None and new_id > top


def test_datetimes_come_back_aware_utc_and_json_round_trips(store: Store) -> None:
    """An aware datetime in any zone is stored as UTC and returned aware; JSON keeps Chinese text."""
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 30, 9, 0, tzinfo=shanghai)
    with store.begin() as s:
        s.add(GoldenClient(name="丁", created_at=at, updated_at=at, data={"name": "丁公司", "n": [1, 2]}))
    with store.begin() as s:
        row = s.scalars(select(GoldenClient).where(GoldenClient.name == "丁")).one()
    assert row.created_at == at and row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.data == {"name": "丁公司", "n": [1, 2]}


def test_dead_letter_history_backfilled_by_migration_0005(store_url: str) -> None:
    """Dead letters stored before history was kept get their stored reason as the first entry (w5-delivery)."""
    from sqlalchemy import text

    from crmhub.store.tables import DeadLetter

    old = Store.open(store_url, migrate=False)
    try:
        old.upgrade("0004")
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO dead_letter (run_id, direction, connector, stream, source_id, reason, payload, "
                    "status, "
                    "attempts, created_at, updated_at) VALUES (7, 'in', 'zoho', 'accounts', 'Z1', 'USCC: invalid', "
                    "'{}', 'open', 1, :at, :at)"
                ),
                {"at": datetime(2026, 1, 2, tzinfo=UTC)},
            )
        old.upgrade()
        with old.begin() as s:
            row = s.scalars(select(DeadLetter)).one()
            assert row.history is not None and len(row.history) == 1
            entry = row.history[0]
            assert (entry["event"], entry["reason"], entry["run_id"]) == ("rejected", "USCC: invalid", 7)
            assert entry["at"].startswith("2026-01-02")
    finally:
        old.dispose()
