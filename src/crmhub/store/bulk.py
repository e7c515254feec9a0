"""One statement, many rows, without SQLAlchemy's per-row work: ``executemany`` on the driver, bound once.

``session.execute(stmt, rows)`` is already one ``executemany``, but SQLAlchemy rebuilds each row's parameters from
the compiled statement (``construct_params``) before the driver sees it — about as much CPU as the rest of a merge
batch's writing. `execute_many` compiles the statement once for the connection's dialect, applies the columns' own
bind processors (the JSON serializer set on the engine, `UtcDateTime`, …: the values reach the driver exactly as
through ``session.execute``) and hands the rows to the driver. Statements with anything it does not handle
(expanding ``IN`` parameters, a dialect without a positional or named style it knows) go through ``session.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

from crmhub.store.types import UtcDateTime


def execute_many(session: Session, stmt: UpdateBase, rows: Sequence[dict[str, Any]]) -> None:
    """Run ``stmt`` once per row of ``rows`` (every row with the same keys), in the session's transaction."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    binds = compiled.binds
    keys = {name: b.key for name, b in binds.items()}  # bind name → the row's key (a column's bind is its name)
    if (
        any(b.expanding or b.literal_execute for b in binds.values())
        or not set(keys.values()) <= rows[0].keys()
        or dialect.paramstyle not in ("qmark", "format", "pyformat", "named")
    ):
        # e.g. a column default SQLAlchemy would fill in per row: leave it to SQLAlchemy
        session.execute(stmt, list(rows))
        return
    processors: dict[str, Callable[[Any], Any] | None] = {}
    for name, b in binds.items():
        process = b.type.dialect_impl(dialect).bind_processor(dialect)
        processors[name] = _memo(process) if process is not None and isinstance(b.type, UtcDateTime) else process
    if compiled.positional:
        order = [(name, keys[name], processors[name]) for name in compiled.positiontup or ()]
        params: list[Any] = [tuple(p(row[k]) if p is not None else row[k] for _, k, p in order) for row in rows]
    else:
        named = [(compiled.escaped_bind_names.get(name, name), keys[name], processors[name]) for name in binds]
        params = [{n: p(row[k]) if p is not None else row[k] for n, k, p in named} for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its results: a batch's rows share a few instants (``updated_at``, each member's
    ``observed_at``), and converting a datetime for the driver costs more than looking it up. Exact: equal aware
    datetimes are the same instant, which `UtcDateTime` stores the same way."""
    seen: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        if value in seen:
            return seen[value]
        out = seen[value] = process(value)
        return out

    return run
