"""Opening the store: engine settings per dialect, automatic migration, explicit sessions.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL is reached
through psycopg 3. JSON columns are written and read with orjson on both (`crmhub.store.types.dumps_json`).
Sessions never autocommit: callers write ``with store.begin() as session: …``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crmhub.errors import StoreError
from crmhub.masking import mask_url
from crmhub.store.files import private_file, tighten
from crmhub.store.types import dumps_json, dumps_json_bytes, loads_json

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///var/crmhub.db"
MIGRATION_LOCK = "crmhub:migrate:"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, control transactions (pysqlite's legacy mode breaks SAVEPOINTs).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue on busy_timeout instead of
    failing on a lock upgrade; a dry run's long read-mostly transaction uses a deferred BEGIN."""
    if connection.info.get("crmhub_deferred"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def normalize_url(url: str) -> str:
    """Prefer psycopg 3 for bare ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's directory on first use."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"store URL {mask_url(url)!r} is not a database URL ({mask_url(str(exc))})",
            hint="use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db",
        ) from None
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                private_file(Path(database).expanduser())  # 0600 in a 0700 folder: it holds personal data
                for suffix in ("-wal", "-shm", "-journal"):  # SQLite copies the file's mode; older ones may not
                    tighten(Path(database + suffix).expanduser())
            engine = create_engine(
                parsed,
                connect_args={"timeout": 30, "check_same_thread": False},
                json_serializer=dumps_json,
                json_deserializer=loads_json,
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        # psycopg takes the JSONB text as bytes: no decode/encode round trip
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            json_serializer=dumps_json_bytes,
            json_deserializer=loads_json,
        )
    except NoSuchModuleError as exc:
        raise StoreError(
            f"no database driver for {parsed.drivername!r}",
            hint="install the postgres extra: pip install 'crmhub[postgres]'",
        ) from exc
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"the driver for {parsed.drivername!r} is not installed ({exc.name})",
            hint="install the postgres extra: pip install 'crmhub[postgres]'",
        ) from exc


def alembic_config(engine: Engine) -> AlembicConfig:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


VAR_DIR_INFO = "crmhub_var_dir"
"""``Session.info`` key of the store's ``var`` folder (`Store.var_dir`)."""


class Store:
    """The database behind crmhub: an engine, migrations and a session factory."""

    def __init__(self, engine: Engine, *, var_dir: Path | None = None) -> None:
        """``var_dir``: the configuration's folder for local files (the secret key of the token cache)."""
        self.engine = engine
        self.var_dir = var_dir if var_dir is not None else Path("var")
        # sessions know their var folder: the audit chain derives its key from the secret key kept there
        self._sessions = sessionmaker(
            engine, expire_on_commit=False, autoflush=False, info={VAR_DIR_INFO: self.var_dir}
        )

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True, var_dir: Path | None = None) -> Store:
        """Open ``url`` (default: ``CRMHUB_DATABASE_URL`` or the embedded SQLite file) and migrate it."""
        url = url or os.environ.get("CRMHUB_DATABASE_URL") or DEFAULT_URL
        store = cls(create_store_engine(url), var_dir=var_dir)
        if migrate:
            store.upgrade()
        return store

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision``; a clear `StoreError` when the database cannot be reached.

        Race-free on first use: processes starting together on a fresh database take turns, so the schema is
        migrated once and the others find it at head. On PostgreSQL a transaction-scoped advisory lock (one per
        schema) is held around the whole upgrade; on SQLite the upgrade's transaction starts with ``BEGIN
        IMMEDIATE`` (see `_sqlite_begin`), which holds the database's write lock until it commits.
        """
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:scope || current_schema()))"),
                        {"scope": MIGRATION_LOCK},
                    )
                cfg = alembic_config(self.engine)
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the store at {self.engine.url.render_as_string(hide_password=True)}: {exc.orig}",
                hint="check [store].url and that the database is running",
            ) from None

    def current_revision(self) -> str | None:
        """The revision the database is at (``None`` when never migrated)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision shipped with this version of crmhub."""
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def session(self) -> Session:
        """A new session (no autocommit); prefer `begin()`."""
        return self._sessions()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
