"""ledger_transaction: statement-line identity (reference, line_seq, statement_ref), unique per line

Statement lines used to be keyed by the bank's ``:20:``/``:28C:`` (or camt ``Stmt/Id``) plus their position, so a
bank reusing ``STARTUMS``/``0`` made day 2 overwrite day 1. They are now keyed by what they are (account, booking
date, direction, amount, currency, reference, per-statement sequence). Existing statement rows (``source_id``
``mt940:…`` / ``camt:…``) are backfilled: reference from the old id (camt) or the ``ref …`` in the narrative
(MT940, not stored — so empty), sequence numbered in id order per identity, and the new ``stmt:…`` source id, so
re-importing an old file after the upgrade finds them instead of booking them twice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = [
    "connector",
    "account_source_id",
    "booking_date",
    "direction",
    "amount_minor",
    "currency",
    "reference",
    "line_seq",
]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _reference(source_id: str, account: str) -> str:
    """The line reference the new importer derives, recovered from an old source id where it was kept."""
    if source_id.startswith("camt:"):
        rest = (
            source_id.removeprefix(f"camt:{account}:")
            if source_id.startswith(f"camt:{account}:")
            else source_id.split(":", 2)[-1]
        )
        # "<Stmt/Id>#<n>" was the id of a line without reference (the common case); a repeated reference got the
        # same "#<n>" suffix, which cannot be told apart — both are taken as "no reference"
        return "" if "#" in rest else _CONTROL.sub("", rest).strip()[:140]
    return ""  # MT940: the old id held the statement's :20:/:28C:, not the line's reference


def _new_source_id(
    account: str, booking: date, direction: str, minor: int, currency: str, reference: str, seq: int
) -> str:
    mark = "C" if direction == "credit" else "D"
    text = f"stmt:{account}:{booking.isoformat()}:{mark}{minor}{currency}:{reference}:{seq}"
    return text if len(text) <= 200 else "stmt:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("ledger_transaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=140), nullable=True))
        batch_op.add_column(sa.Column("line_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("statement_ref", sa.String(length=200), nullable=True))

    bind = op.get_bind()
    table = sa.table(
        "ledger_transaction",
        sa.column("id", sa.Integer),
        sa.column("connector", sa.String),
        sa.column("source_id", sa.String),
        sa.column("account_source_id", sa.String),
        sa.column("booking_date", sa.Date),
        sa.column("direction", sa.String),
        sa.column("amount_minor", sa.BigInteger),
        sa.column("currency", sa.String),
        sa.column("reference", sa.String),
        sa.column("line_seq", sa.Integer),
        sa.column("statement_ref", sa.String),
    )
    rows = bind.execute(
        sa.select(
            table.c.id,
            table.c.connector,
            table.c.source_id,
            table.c.account_source_id,
            table.c.booking_date,
            table.c.direction,
            table.c.amount_minor,
            table.c.currency,
        )
        .where(sa.or_(table.c.source_id.like("mt940:%"), table.c.source_id.like("camt:%")))
        .order_by(table.c.id)
    ).all()
    seen: dict[tuple[object, ...], int] = {}
    updates: list[dict[str, object]] = []
    for row in rows:
        reference = _reference(row.source_id, row.account_source_id)
        booking = row.booking_date if isinstance(row.booking_date, date) else date.fromisoformat(str(row.booking_date))
        key = (row.connector, row.account_source_id, booking, row.direction, row.amount_minor, row.currency, reference)
        seq = seen.get(key, 0) + 1
        seen[key] = seq
        updates.append(
            {
                "row_id": row.id,
                "new_reference": reference,
                "new_seq": seq,
                "new_source_id": _new_source_id(
                    row.account_source_id, booking, row.direction, row.amount_minor, row.currency, reference, seq
                ),
                "new_statement_ref": ("legacy " + row.source_id)[:200],
            }
        )
    if updates:
        bind.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values(
                reference=sa.bindparam("new_reference"),
                line_seq=sa.bindparam("new_seq"),
                source_id=sa.bindparam("new_source_id"),
                statement_ref=sa.bindparam("new_statement_ref"),
            ),
            updates,
        )

    with op.batch_alter_table("ledger_transaction", schema=None) as batch_op:
        batch_op.create_unique_constraint(op.f("uq_ledger_transaction_statement_line"), _COLUMNS)


def downgrade() -> None:
    with op.batch_alter_table("ledger_transaction", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_ledger_transaction_statement_line"), type_="unique")
        batch_op.drop_column("statement_ref")
        batch_op.drop_column("line_seq")
        batch_op.drop_column("reference")
