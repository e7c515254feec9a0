"""audit_log: sequence numbers and a keyed chain (seq, chain, key_id)

Entries written before this revision keep their plain SHA-256 chain: they are numbered ``seq`` 1, 2, 3 … in id
order and marked ``chain = 'sha256'``. Entries written afterwards are ``hmac`` entries keyed with the audit key
(kept outside the database); the first of them covers the last plain hash, which seals the older part.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("chain", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    # one statement, no per-row round trips: number the old entries in id order (SQLite >= 3.33 and PostgreSQL)
    op.execute(
        sa.text(
            "UPDATE audit_log SET seq = numbered.n, chain = 'sha256' "
            "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM audit_log) AS numbered "
            "WHERE audit_log.id = numbered.id"
        )
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("chain", existing_type=sa.String(length=8), nullable=False)
        batch_op.create_index(batch_op.f("ix_audit_log_seq"), ["seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_seq"))
        batch_op.drop_column("key_id")
        batch_op.drop_column("chain")
        batch_op.drop_column("seq")
