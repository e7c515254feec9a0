"""match_key, match_block, match_term, match_key_city, match_stat: the sync's persisted match index

The match phase used to rebuild the matcher's index of every linked client record on every run (~2.6 KB per
record, most of an incremental run). These tables hold that index — each record's normalised `MatchRecord`, its
blocking keys and term-frequency counts — maintained record by record (`crmhub.sync.match_index`). A block's size
is counted from ``match_block``'s primary key when needed, not stored. The tables keyed by their primary key alone
are WITHOUT ROWID on SQLite: one B-tree per row written instead of a rowid table plus the key's index.

No backfill here: the keys are derived by the application's normalisation (lexicon, regions, pinyin), which
changes between releases, so the index carries a version (``match_stat`` row ``version``) and the first sync that
finds it missing or outdated builds it once, in bounded batches. A store upgraded from 0010 therefore works: its
first run indexes the book, later runs touch only the changed records.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_key",
        sa.Column("source_record_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_record_id"],
            ["source_record.id"],
            name=op.f("fk_match_key_source_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_record_id", name=op.f("pk_match_key")),
    )
    op.create_table(
        "match_block",
        sa.Column("block_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source_record_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("block_key", "source_record_id", name=op.f("pk_match_block")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "match_term",
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("value_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("family", "value_hash", name=op.f("pk_match_term")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "match_key_city",
        sa.Column("key_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("geo", sa.String(length=4), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "geo", name=op.f("pk_match_key_city")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "match_stat",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_match_stat")),
    )


def downgrade() -> None:
    for table in ("match_stat", "match_key_city", "match_term", "match_block", "match_key"):
        op.drop_table(table)
