"""interaction.source_ref: connectors' interaction records, upserted once each

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ref", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_interaction_source"), ["source", "source_ref"])


def downgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_interaction_source"), type_="unique")
        batch_op.drop_column("source_ref")
