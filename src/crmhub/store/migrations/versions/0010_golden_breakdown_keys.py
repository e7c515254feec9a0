"""golden_client: industry section, province and manager name as indexed columns, backfilled from ``data``

The console's segments page groups the whole book by these three, and the clients list filters on them; read out
of the JSON, every such query parsed each client's document (1.5-2.6 s at 100,000 clients). They are now set
whenever the document is written (`crmhub.store.golden_keys`, through ``GoldenClient``'s validator) and indexed;
``rm_user_id`` gets an index too (the manager key is the name, else that id), and ``source_record.source_id``
one (the breakdown's exposure reaches a facility's client record by it), and ``audit_log`` one on (actor, id)
for the audit page's actor filter. Existing rows are backfilled here
with the same function, in id ranges of ``golden_keys.BACKFILL_BATCH`` rows (one executemany UPDATE each), so
memory stays bounded whatever the size of the store.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from crmhub.store import golden_keys

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXED = ("industry_section", "province", "rm_name", "rm_user_id")
BREAKDOWN = ("status", "segment", "rating", "industry_section", "province", "rm_name", "rm_user_id")
"""The segments breakdown's keys: its GROUP BY reads this index only (an index-only scan on SQLite, whose rows
hold the new columns after the large ``data`` value)."""


def upgrade() -> None:
    with op.batch_alter_table("golden_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("industry_section", sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column("province", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rm_name", sa.String(length=300), nullable=True))
    _backfill(op.get_bind())
    for column in _INDEXED:  # after the backfill: one index build, not an index update per row
        op.create_index(op.f(f"ix_golden_client_{column}"), "golden_client", [column], unique=False)
    op.create_index("ix_golden_client_breakdown", "golden_client", list(BREAKDOWN), unique=False)
    # the breakdown's exposure goes facility → client record by source id (a few thousand lookups), not the other
    # way round (every cross-reference and its record)
    op.create_index(op.f("ix_source_record_source_id"), "source_record", ["source_id"], unique=False)
    # the audit page filters by actor ("what did alice do"), newest first
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"], unique=False)


def _backfill(bind: sa.Connection) -> None:
    # ``data`` as text, decoded here: the column's JSON type differs by dialect, the text does not
    table = sa.table(
        "golden_client",
        sa.column("id", sa.Integer),
        sa.column("data", sa.Text),
        sa.column("industry_section", sa.String),
        sa.column("province", sa.String),
        sa.column("rm_name", sa.String),
    )
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(
            industry_section=sa.bindparam("v_industry"),
            province=sa.bindparam("v_province"),
            rm_name=sa.bindparam("v_rm"),
        )
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, sa.cast(table.c.data, sa.Text))
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(golden_keys.BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for row_id, raw in rows:
            keys = golden_keys.keys_of(_decoded(raw))
            if any(keys.values()):
                updates.append(
                    {
                        "row_id": row_id,
                        "v_industry": keys["industry_section"],
                        "v_province": keys["province"],
                        "v_rm": keys["rm_name"],
                    }
                )
        if updates:
            bind.execute(update, updates)
        after = rows[-1][0]


def _decoded(raw: Any) -> Any:
    if raw is None or isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
    op.drop_index(op.f("ix_source_record_source_id"), table_name="source_record")
    op.drop_index("ix_golden_client_breakdown", table_name="golden_client")
    for column in reversed(_INDEXED):
        op.drop_index(op.f(f"ix_golden_client_{column}"), table_name="golden_client")
    with op.batch_alter_table("golden_client", schema=None) as batch_op:
        batch_op.drop_column("rm_name")
        batch_op.drop_column("province")
        batch_op.drop_column("industry_section")
