"""Fixtures shared by the whole suite.

``store`` runs a test against the embedded SQLite store and, when ``CRMHUB_TEST_DATABASE_URL`` names a PostgreSQL
database (``.ci/run`` sets it), against PostgreSQL too, so the two databases pass the same tests (SQLAlchemy's own
testing plugin works the same way). Every test starts on an empty store at head: on SQLite a copy of a file migrated
once per test process, on PostgreSQL a schema migrated once per test process and emptied before each test that
uses it (`_PgStores`). ``store_url`` alone is an empty, never-migrated database for the migrations' own tests.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from crmhub.i18n import set_lang
from crmhub.store import Store

PG_URL = os.environ.get("CRMHUB_TEST_DATABASE_URL")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Every test starts in the default language: an in-process ``main(["--lang", "en", …])`` sets it for the
    whole process, which would otherwise leak into the next test."""
    set_lang(None)
    yield
    set_lang(None)


# One row per object of a schema that a test could add, drop or alter (tables, columns, defaults, constraints,
# indexes, sequences, functions, triggers, enum/domain types) and the Alembic revision: equal before and after a
# test means the test left the schema as the migrations made it.
_PG_FINGERPRINT = """
SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) FROM (
  SELECT 'r ' || c.relname || ' ' || c.relkind::text AS x FROM pg_class c
   WHERE c.relnamespace = CAST(:s AS regnamespace)
  UNION ALL
  SELECT 'a ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
         || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = CAST(:s AS regnamespace) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'k ' || k.conname || ' ' || pg_get_constraintdef(k.oid) FROM pg_constraint k
   WHERE k.connamespace = CAST(:s AS regnamespace)
  UNION ALL
  SELECT 'i ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE c.relnamespace = CAST(:s AS regnamespace)
  UNION ALL
  SELECT 'p ' || p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = CAST(:s AS regnamespace)
  UNION ALL
  SELECT 't ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = CAST(:s AS regnamespace) AND NOT t.tgisinternal
  UNION ALL
  SELECT 'y ' || t.typname || ' ' || t.typtype::text FROM pg_type t
   WHERE t.typnamespace = CAST(:s AS regnamespace) AND t.typtype IN ('e', 'd')
) q
"""


class _PgStores:
    """Migrated PostgreSQL schemas for `store`, one per test process: Alembic's whole chain on PostgreSQL costs
    ~0.5 s of DDL (and its DROP as much again) per test, emptying a schema a few milliseconds.

    `take` hands out this process's schema after deleting every row (children first), restarting its sequences
    and dropping the ``<schema>_procrastinate`` schema a jobs test may have made beside it — so a test sees what a
    fresh migration would have given it. A schema whose objects or revision a test changed (`_PG_FINGERPRINT`
    differs) or that cannot be emptied is dropped and a new one migrated: a test that downgrades, alters or drops
    tables never leaks into the next one. The real Alembic upgrade still runs: once per process here, per test for
    the migrations' own tests (``store_url`` without ``store``)."""

    def __init__(self) -> None:
        assert PG_URL is not None
        self.admin = create_engine(PG_URL, poolclass=NullPool)
        self.schema: str | None = None
        self.fingerprint = ""
        self.delete_order: list[str] = []

    def take(self) -> str:
        if self.schema is not None and not self._reset(self.schema):
            self._drop(self.schema)
            self.schema = None
        if self.schema is None:
            self.schema = self._migrate()
        return self.schema

    def close(self) -> None:
        if self.schema is not None:
            self._drop(self.schema)
        self.admin.dispose()

    def _migrate(self) -> str:
        schema = f"tp_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            self._survey(schema)
        except BaseException:
            self._drop(schema)
            raise
        return schema

    def _survey(self, schema: str) -> None:
        """Migrate ``schema`` and note what `_reset` compares and deletes."""
        Store.open(_pg_schema_url(schema)).dispose()
        with self.admin.begin() as conn:
            self.fingerprint = conn.execute(text(_PG_FINGERPRINT), {"s": schema}).scalar_one()
            meta = MetaData()
            meta.reflect(conn, schema=schema)
            tables = [t for t in reversed(meta.sorted_tables) if t.name != "alembic_version"]
            seeded = [t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar_one()]
        # a migration that seeds rows would need them restored after each test: then migrate per test instead
        self.delete_order = [] if seeded else [t.name for t in tables]

    def _reset(self, schema: str) -> bool:
        if not self.delete_order:
            return False
        try:
            with self.admin.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                if conn.execute(text(_PG_FINGERPRINT), {"s": schema}).scalar_one() != self.fingerprint:
                    return False
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_procrastinate" CASCADE'))
                conn.exec_driver_sql("; ".join(f'DELETE FROM "{schema}"."{name}"' for name in self.delete_order))
                conn.execute(
                    text(
                        "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                        "FROM pg_sequences WHERE schemaname = :s"
                    ),
                    {"s": schema},
                )
        except DBAPIError:
            return False
        return True

    def _drop(self, schema: str) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_procrastinate" CASCADE'))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def _pg_stores() -> Iterator[_PgStores]:
    pool = _PgStores()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store: SQLite file or a PostgreSQL schema — migrated to head when the test also
    uses `store` (PostgreSQL: this process's reused schema, emptied), never migrated when it does not."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'crmhub.db'}"
        return
    if "store" in request.fixturenames:
        yield _pg_schema_url(request.getfixturevalue("_pg_stores").take())
        return
    with fresh_pg_schema() as url:
        yield url


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A new empty PostgreSQL schema on CRMHUB_TEST_DATABASE_URL (its store URL), dropped on exit."""
    assert PG_URL, "needs CRMHUB_TEST_DATABASE_URL"
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite store migrated to head per test process, for `store` to copy: Alembic's full chain costs ~0.3 s,
    the copy ~1 ms, on hundreds of tests (`Store.open` then finds it at head; the migrations' own tests use
    ``store_url``, which stays empty)."""
    path = tmp_path_factory.mktemp("migrated") / "crmhub.db"
    Store.open(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def store(store_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An open, migrated store on the backend chosen by ``store_url``."""
    target = Path(store_url.removeprefix("sqlite:///"))
    if store_url.startswith("sqlite:///") and not target.exists():
        with sqlite3.connect(request.getfixturevalue("_migrated_sqlite")) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        dst.close()
        src.close()
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.dispose()


# The longest test files, longest first (`pytest --durations=0`, summed per file; docs/development.md, "CI time").
# pytest-xdist hands whole files (--dist loadfile) to its workers in the order of the collection; left to itself
# it sorts them by their number of tests (`--loadscope-reorder`), which put the slow set's longest file — the crash
# test, one test of ~2.5 min — last, and the other workers sat idle while it ran alone. pyproject's addopts turn
# xdist's sort off (`--no-loadscope-reorder`) and `pytest_collection_modifyitems` orders the files instead: these
# first, the rest by their number of tests as xdist did. Only the order changes, never the tests.
LONGEST_FIRST = (
    "tests/e2e/test_crash.py",
    "tests/audit/test_audit_chain.py",
    "tests/cli/test_usage_errors.py",
    "tests/audit/test_audit_upgrade_and_head.py",
    "tests/e2e/test_sync_e2e.py",
    "tests/console/test_audit.py",
    "tests/console/test_review.py",
    "tests/plugins/ledger/test_ledger_sync_acceptance.py",
    "tests/jobs/test_worker_process.py",
    "tests/notify/test_robot_restarts.py",
    "tests/cli/test_pull_push_cmds.py",
    "tests/runs/test_config_home.py",
    "tests/sandbox/test_world.py",
    "tests/cli/test_plugin_new.py",
    "tests/e2e/test_merge_document.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files: `LONGEST_FIRST` in its order, then the others by their number of tests, most first.

    A file's tests stay together and in their order. Every xdist worker collects on its own and must reach the
    same order, so the key depends only on the collected items."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    order = sorted(files, key=lambda f: (rank.get(f, len(rank)), -len(files[f])))  # stable: ties keep path order
    items[:] = [item for f in order for item in files[f]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that uses the store over all available backends."""
    if "store_url" in metafunc.fixturenames:
        # tests of PostgreSQL-only features (procrastinate workers) run on PostgreSQL only, never "skipped on SQLite"
        backends = ["postgresql"] if "pg_only" in metafunc.fixturenames else BACKENDS
        metafunc.parametrize(
            "store_url", backends if PG_URL or "pg_only" not in metafunc.fixturenames else [], indirect=True
        )


@pytest.fixture(autouse=True)
def _bootstrap_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that don't care about identities run with every role — but only on a store with no operators.

    `crmhub.security.guard` documents the switch; the moment a test registers an operator, the real checks apply
    (tests/security/ does that). Subprocesses inherit it through the environment.
    """
    from crmhub.security.guard import ENV_USER, TEST_SWITCH

    monkeypatch.setenv(TEST_SWITCH, "1")
    monkeypatch.delenv(ENV_USER, raising=False)
