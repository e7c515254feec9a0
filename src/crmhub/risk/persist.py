"""Writing one risk batch with a few set-based statements instead of per-client ORM work.

A batch of 500 clients is: one ``executemany`` INSERT of the new assessments, one UPDATE marking the ones they
supersede, and three statements on ``golden_client`` — rating changes (rating, segment, ``data["risk"]``, the
write-back flag), re-scores with the same grade (``data["risk"]`` only) and unchanged clients (``needs_risk``
cleared, chunked ``IN``). ``data["risk"]`` is patched inside the database (SQLite ``json_set``, PostgreSQL
``jsonb_set``) so the golden document is neither re-read into objects nor re-serialised here.

JSON is serialised with orjson (UTF-8, no ``\\uXXXX`` escapes: Chinese labels take 3 bytes a character, not 6)
and bound as text — cast to ``jsonb`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, func, insert, literal_column, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from crmhub.core.chunks import chunked
from crmhub.store.tables import GoldenClient, RiskAssessmentRow


def core_table(entity: Any) -> Table:
    """The Core table of a mapped class (Core statements: no ORM bulk semantics, plain ``executemany``)."""
    table = entity.__table__
    assert isinstance(table, Table)
    return table


CHUNK = 900
"""Ids per ``IN (…)`` (SQLite's default limit on bound parameters is 999 before 3.32)."""

G = core_table(GoldenClient)
R = core_table(RiskAssessmentRow)


def dumps(value: Any) -> str:
    """Compact JSON text (Decimals as strings, like pydantic's JSON mode)."""
    return orjson.dumps(value, default=str).decode("utf-8")


def _json_param(name: str, dialect: str) -> Any:
    param = bindparam(name, type_=Text)
    return cast(param, JSONB) if dialect == "postgresql" else param


def _risk_patch(dialect: str) -> Any:
    """``data`` with its ``risk`` key replaced by the bound ``b_risk`` JSON text."""
    if dialect == "postgresql":
        return func.jsonb_set(
            func.coalesce(G.c.data, literal_column("'{}'::jsonb")),
            literal_column("'{risk}'::text[]"),
            cast(bindparam("b_risk", type_=Text), JSONB),
        )
    return func.json_set(func.coalesce(G.c.data, "{}"), "$.risk", func.json(bindparam("b_risk", type_=Text)))


def insert_assessments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One ``executemany`` INSERT; each row's ``data`` is JSON text already (see `dumps`)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = insert(R).values(
        client_id=bindparam("client_id"),
        assessed_at=bindparam("assessed_at"),
        score=bindparam("score"),
        rating=bindparam("rating"),
        segment=bindparam("segment"),
        scorecard_version=bindparam("scorecard_version"),
        inputs_hash=bindparam("inputs_hash"),
        current=bindparam("current"),
        run_id=bindparam("run_id"),
        data=_json_param("data", dialect),
    )
    session.execute(stmt, list(rows))


def supersede(session: Session, ids: Sequence[int]) -> None:
    """Mark earlier assessments as no longer current."""
    for chunk in chunked(ids, CHUNK):
        session.execute(update(R).where(R.c.id.in_(chunk)).values(current=False))


def update_goldens(
    session: Session,
    *,
    changed: Sequence[dict[str, Any]],
    rescored: Sequence[dict[str, Any]],
    unchanged: Sequence[int],
    now: datetime,
) -> None:
    """The golden side of a batch.

    ``changed``: ``{b_id, b_rating, b_segment, b_risk}`` — rating or segment moved: set them, flag write-back
    (``needs_plan``) and touch ``updated_at``; ``rescored``: ``{b_id, b_risk}`` — a new assessment with the same
    grade and segment: only ``data["risk"]``; ``unchanged``: ids whose inputs did not change. Every one of them
    leaves with ``needs_risk`` cleared.
    """
    dialect = session.get_bind().dialect.name
    patch = _risk_patch(dialect)
    if changed:
        session.execute(
            update(G)
            .where(G.c.id == bindparam("b_id"))
            .values(
                rating=bindparam("b_rating"),
                segment=bindparam("b_segment"),
                data=patch,
                needs_plan=True,
                needs_risk=False,
                updated_at=bindparam("b_at", type_=G.c.updated_at.type),
            ),
            [{**row, "b_at": now} for row in changed],
        )
    if rescored:
        session.execute(
            update(G).where(G.c.id == bindparam("b_id")).values(data=patch, needs_risk=False), list(rescored)
        )
    for chunk in chunked(unchanged, CHUNK):
        session.execute(update(G).where(G.c.id.in_(chunk)).values(needs_risk=False))
