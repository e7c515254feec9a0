"""sync_task, sync_run.executor: a sync run split into tasks on procrastinate workers (issue #20)

A run with ``[sync] executor = "workers"`` is a set of tasks — a phase applied to one partition — whose rows hold
status, tries, worker and counters; phase barriers and the run's progress are read from them. ``sync_run.executor``
says how a run was executed (``process`` for every run before this revision).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crmhub.store.types import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("executor", sa.String(length=16), server_default="process", nullable=False))
    op.create_table(
        "sync_task",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("part", sa.String(length=64), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("counters", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sync_run.id"], name=op.f("fk_sync_task_run_id_sync_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_task")),
        sa.UniqueConstraint("run_id", "phase", "part", name=op.f("uq_sync_task_run_id")),
    )
    op.create_index("ix_sync_task_run_status", "sync_task", ["run_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_task_run_status", table_name="sync_task")
    op.drop_table("sync_task")
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("executor")
