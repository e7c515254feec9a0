"""Fixtures shared by the whole suite.

``store`` runs a test against the embedded SQLite store and, when ``CRMHUB_TEST_DATABASE_URL`` names a PostgreSQL
database (``.ci/run`` sets it), against PostgreSQL too — each test in its own fresh schema, migrated by Alembic,
so the two databases pass the same tests (SQLAlchemy's own testing plugin works the same way).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

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


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store: SQLite file or a fresh PostgreSQL schema."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'crmhub.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)  # type: ignore[arg-type]
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
