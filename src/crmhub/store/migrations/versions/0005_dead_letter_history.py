"""dead_letter.history (the original reason and every retry's time and outcome); outbox (target, updated_at) index
for a channel's recent sends (rate-limit pacing that survives restarts)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_target_updated", ["target", "updated_at"], unique=False)
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history", JSON, nullable=True))
    # Existing rows: their stored reason is the best record of why they were dead-lettered (earlier retries did not
    # keep the first one), dated when the dead letter was created.
    table = sa.table(
        "dead_letter",
        sa.column("id", sa.Integer()),
        sa.column("reason", sa.Text()),
        sa.column("run_id", sa.Integer()),
        sa.column("created_at", sa.String()),
        sa.column("history", JSON),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.id, table.c.reason, table.c.run_id, table.c.created_at)).all()
    for row_id, reason, run_id, created in rows:
        at = created.isoformat() if hasattr(created, "isoformat") else str(created)
        bind.execute(
            table.update()
            .where(table.c.id == row_id)
            .values(history=[{"at": at, "event": "rejected", "reason": reason, "run_id": run_id}])
        )


def downgrade() -> None:
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.drop_column("history")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_target_updated")
