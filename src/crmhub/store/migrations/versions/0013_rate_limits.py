"""rate_window_slot, rate_lease: rate budgets shared by every crmhub process on one store (issue #20)

Several processes (workers of a split sync, a `crmhub deliver` beside a `crmhub sync`) call the same Fenxiang or
Zoho tenant; the service counts their calls together. A sliding window is ``calls`` slot rows per key, each holding
the start of the call that last took it; a concurrency cap is ``limit`` lease rows per key with a holder and an
expiry (`crmhub.store.ratelimits`). Rows are created on first use of a key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_window_slot",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot", name=op.f("pk_rate_window_slot")),
    )
    op.create_table(
        "rate_lease",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot", name=op.f("pk_rate_lease")),
    )


def downgrade() -> None:
    op.drop_table("rate_lease")
    op.drop_table("rate_window_slot")
