"""indexes for the console's lists: a run's records, the review queue by score, open alerts by age

The console lists the records behind each count of a run (the clients it created or updated, the write-backs it
delivered or failed). Without these, such a page scans every ``client.create`` entry of every run (the action
index) or the whole outbox; with them it reads just the run's rows, already in id order (the pages' order).
The review queue is read by status in score order, and the alert queue and the dashboard count open alerts by
their age (status, created_at).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_run_action", "audit_log", ["run_id", "action", "id"], unique=False)
    op.create_index("ix_outbox_run_state", "outbox", ["run_id", "state", "id"], unique=False)
    op.create_index("ix_review_item_status_score", "review_item", ["status", "score"], unique=False)
    op.create_index("ix_alert_status_created", "alert", ["status", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_status_created", table_name="alert")
    op.drop_index("ix_review_item_status_score", table_name="review_item")
    op.drop_index("ix_outbox_run_state", table_name="outbox")
    op.drop_index("ix_audit_log_run_action", table_name="audit_log")
