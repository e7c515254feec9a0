"""operator console: server-side sessions and each operator's language

A console session is a row keyed by the SHA-256 of a random token; the browser holds only the token (in a Secure,
HttpOnly, SameSite=Strict cookie), so a session can be ended on the server (logout, a disabled operator, idle
time) and a stolen database does not hold usable cookies. ``operator.lang`` keeps each operator's console language.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crmhub.store.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", crmhub.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", crmhub.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_session")),
    )
    op.create_index(op.f("ix_console_session_operator"), "console_session", ["operator"], unique=False)
    with op.batch_alter_table("operator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lang", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operator", schema=None) as batch_op:
        batch_op.drop_column("lang")
    op.drop_index(op.f("ix_console_session_operator"), table_name="console_session")
    op.drop_table("console_session")
