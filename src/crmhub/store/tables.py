"""The store's tables (SQLAlchemy 2.0 typed ORM). Alembic migrations in ``migrations/`` mirror these exactly.

Money is stored in minor units (``*_minor``, BigInteger) so sums are exact on SQLite and PostgreSQL alike.
Datetimes are aware UTC (`UtcDateTime`). Ids of golden clients use AUTOINCREMENT / identity so an id is never
reused, even after a merge or delete.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from crmhub.core.outbox import OutboxState
from crmhub.store.golden_keys import keys_of
from crmhub.store.types import JsonType, UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (so migrations match on both databases)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
        datetime: UtcDateTime,
    }


class GoldenClient(Base):
    """One golden record per company. ``data`` is the `CorporateClient` JSON (lineage kept in `FieldLineage`)."""

    __tablename__ = "golden_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str | None] = mapped_column(String(300), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("golden_client.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    rm_user_id: Mapped[str | None] = mapped_column(String(128), index=True)
    segment: Mapped[str | None] = mapped_column(String(16))
    rating: Mapped[str | None] = mapped_column(String(4))
    # breakdown keys read out of ``data`` whenever it is assigned (`_keys_follow_data`, crmhub.store.golden_keys):
    # the segments page and the client list group and filter on these, never on the JSON
    industry_section: Mapped[str | None] = mapped_column(String(1), index=True)
    province: Mapped[str | None] = mapped_column(String(64), index=True)
    rm_name: Mapped[str | None] = mapped_column(String(300), index=True)
    needs_merge: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    needs_risk: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    needs_plan: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # every key of the segments breakdown: its GROUP BY reads this index alone (on SQLite the columns added by 0010
    # sit after the large ``data`` value in each row, so a table scan would read that too)
    __table_args__ = (
        Index(
            "ix_golden_client_breakdown",
            "status",
            "segment",
            "rating",
            "industry_section",
            "province",
            "rm_name",
            "rm_user_id",
        ),
        {"sqlite_autoincrement": True},
    )

    @validates("data")
    def _keys_follow_data(self, _key: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
        """Every ORM write of ``data`` (the merge, a split, the risk summary, tests) sets the breakdown keys with it,
        so they cannot drift from the document. Bulk Core inserts must add `keys_of` themselves (bench, migration
        0010)."""
        for column, value in keys_of(data).items():
            setattr(self, column, value)
        return data


class FieldLineage(Base):
    """Where one golden field's current value came from, and which rule chose it."""

    __tablename__ = "field_lineage"

    client_id: Mapped[int] = mapped_column(ForeignKey("golden_client.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[str] = mapped_column(String(200))
    observed_at: Mapped[datetime]
    rule: Mapped[str] = mapped_column(String(64))
    competing: Mapped[list[Any]] = mapped_column(default=list)
    source_hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class SourceRecord(Base):
    """A record as last read from a source: native payload, canonical snapshot, content hash."""

    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("connector", "stream", "source_id"),
        Index("ix_source_record_source_id", "source_id"),
    )  # a facility's client record (segments)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    parent_source_id: Mapped[str | None] = mapped_column(String(200), index=True)
    modified_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class Xref(Base):
    """Cross-reference: which golden client a source record belongs to, and how that was decided."""

    __tablename__ = "xref"

    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("golden_client.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None]
    linked_at: Mapped[datetime]


class SyncCursor(Base):
    """The position after the last committed page of one connector stream."""

    __tablename__ = "sync_cursor"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class SyncRun(Base):
    """One sync (or job) run: status and its report."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), default="sync")
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    job: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    connectors: Mapped[list[Any]] = mapped_column(default=list)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    holder: Mapped[str | None] = mapped_column(String(128), doc="``host:pid`` of the process running it (recovery).")
    executor: Mapped[str] = mapped_column(
        String(16), default="process", server_default="process", doc="``process`` (one process) or ``workers``."
    )


class SyncTask(Base):
    """One task of a sync run split over workers: a phase applied to one partition (a connector's streams, a range
    of golden-client ids, one target's outbox). Its row is the task's truth — status, tries, who runs it, its
    counters — so a barrier, a report and an operator can read the run's progress from the store alone."""

    __tablename__ = "sync_task"
    __table_args__ = (
        UniqueConstraint("run_id", "phase", "part"),
        Index("ix_sync_task_run_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer, doc="The phase's place in the cycle; a barrier waits on lower seqs.")
    phase: Mapped[str] = mapped_column(String(32))
    part: Mapped[str] = mapped_column(String(64), doc="The partition's label, e.g. ``zoho`` or ``gc:1-5000``.")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))
    job_id: Mapped[int | None] = mapped_column(Integer, doc="The procrastinate job running it.")
    counters: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]


class SyncRunStream(Base):
    """Per connector and stream counts of one run."""

    __tablename__ = "sync_run_stream"

    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"), primary_key=True)
    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """A record an outside system gave us (or refused from us) that could not be processed, with the reason."""

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    direction: Mapped[str] = mapped_column(String(8), default="in")
    connector: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list[Any] | None] = mapped_column(JsonType, nullable=True)
    """What happened to it, oldest first: ``{"at", "event", "reason", "run_id"?}`` with event ``rejected`` (a sync
    refused it; the first entry holds the original reason), ``retry_ok`` / ``retry_failed`` (`crmhub deadletter
    retry`) or ``resolved`` (a later sync stored the record). ``reason`` is always the latest one."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Outbox(Base):
    """A planned write-back or notification: planned → sent → confirmed | failed, keyed for idempotency."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_target", "state", "target"),
        Index("ix_outbox_target_updated", "target", "updated_at"),  # a channel's recent sends (pacing)
        Index("ix_outbox_run_state", "run_id", "state", "id"),
    )  # a run's write-backs by outcome

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PLANNED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(Integer)
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReviewItem(Base):
    """Something a human must decide: a grey-zone match, an undecidable conflict, an ambiguous mapping."""

    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        Index("ix_review_item_status_score", "status", "score"),
    )  # the console's queue by score

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    dedup_key: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    other_client_id: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))


class RiskAssessmentRow(Base):
    """One risk assessment of one client (history kept; ``current`` marks the latest)."""

    __tablename__ = "risk_assessment"
    __table_args__ = (Index("ix_risk_assessment_client_current", "client_id", "current"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("golden_client.id"))
    assessed_at: Mapped[datetime]
    score: Mapped[float]
    rating: Mapped[str] = mapped_column(String(4))
    segment: Mapped[str] = mapped_column(String(16))
    scorecard_version: Mapped[str] = mapped_column(String(64))
    inputs_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    run_id: Mapped[int | None] = mapped_column(Integer)


class Alert(Base):
    """A risk/AML alert with its evidence; ``dedup_key`` keeps one alert per rule, client and window."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        Index("ix_alert_status_created", "status", "created_at"),
    )  # open alerts by age

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("golden_client.id"), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    rule_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    dedup_key: Mapped[str] = mapped_column(String(200))
    day: Mapped[date | None] = mapped_column(Date)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(Integer)


class LedgerAccount(Base):
    """A bank account as read from the ledger (the risk engine aggregates over these)."""

    __tablename__ = "ledger_account"
    __table_args__ = (UniqueConstraint("connector", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    client_source_id: Mapped[str] = mapped_column(String(200), index=True)
    account_no: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    sub_status: Mapped[str] = mapped_column(String(16))
    allow_overdraft: Mapped[bool] = mapped_column(Boolean, default=False)
    overdraft_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class LedgerTransaction(Base):
    """A booked transaction; unique per (connector, source_id) so re-reads never duplicate.

    Lines imported from bank statements (``crmhub ledger import``) also carry their identity — account, booking
    date, direction, amount, currency, the bank's line ``reference`` and ``line_seq`` (the how-many-th identical
    line of its statement) — unique together, because banks reuse statement numbers (``:20:STARTUMS``/``:28C:0``)
    and a later statement must never replace an earlier one's lines. ``statement_ref`` names the statement that
    first booked the line. Rows read from the ledger API leave the three columns empty (NULL never conflicts).
    """

    __tablename__ = "ledger_transaction"
    __table_args__ = (
        UniqueConstraint("connector", "source_id"),
        UniqueConstraint(
            "connector",
            "account_source_id",
            "booking_date",
            "direction",
            "amount_minor",
            "currency",
            "reference",
            "line_seq",
            name="uq_ledger_transaction_statement_line",
        ),
        Index("ix_ledger_transaction_client_day", "client_source_id", "booking_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    account_source_id: Mapped[str] = mapped_column(String(200), index=True)
    client_source_id: Mapped[str | None] = mapped_column(String(200))
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    direction: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(32))
    is_cash: Mapped[bool] = mapped_column(Boolean, default=False)
    cross_border: Mapped[bool] = mapped_column(Boolean, default=False)
    counterparty_account: Mapped[str | None] = mapped_column(String(64))
    counterparty_name: Mapped[str | None] = mapped_column(String(300))
    reversed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(140))
    line_seq: Mapped[int | None] = mapped_column(Integer)
    statement_ref: Mapped[str | None] = mapped_column(String(200))


class CreditFacilityRow(Base):
    """A loan or other facility with its delinquency, as last read from the ledger."""

    __tablename__ = "credit_facility"
    __table_args__ = (UniqueConstraint("connector", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    client_source_id: Mapped[str] = mapped_column(String(200), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    outstanding_minor: Mapped[int | None] = mapped_column(BigInteger)
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    classification: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class InteractionRow(Base):
    """A recorded touch point with a client (visit, call, message), for follow-up reminders."""

    __tablename__ = "interaction"
    __table_args__ = (UniqueConstraint("source", "source_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("golden_client.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    by: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    source_ref: Mapped[str | None] = mapped_column(
        String(200), doc="``stream:source_id`` of a connector's interaction record (NULL for `interactions add`)."
    )


class AuditLog(Base):
    """Append-only, keyed hash chain of changes and sensitive actions (`crmhub.sync.audit`).

    ``seq`` numbers the entries 1, 2, 3 … without gaps (ids may skip after a rollback), so a deleted entry shows
    as a gap and an inserted one as a repeated number. ``chain`` says how ``hash`` was made: ``hmac`` (keyed with
    the audit key kept outside the database) or ``sha256`` (plain hash of entries written before the key).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_run_action", "run_id", "action", "id"),  # a run's changes, in order
        Index("ix_audit_log_actor_id", "actor", "id"),
    )  # the audit page's actor filter

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, index=True)
    chain: Mapped[str] = mapped_column(String(8))
    key_id: Mapped[str | None] = mapped_column(
        String(16), doc="Fingerprint of the audit key that made ``hash`` (tells a wrong key from tampering)."
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64), index=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class RunLock(Base):
    """One row per locked connector: never two writers on one cursor, on SQLite and PostgreSQL alike."""

    __tablename__ = "run_lock"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int | None] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class TokenCacheRow(Base):
    """Access tokens shared by crmhub processes; the token is Fernet-encrypted with a key kept outside the DB."""

    __tablename__ = "token_cache"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class JobState(Base):
    """Per scheduled job: when it last ran and how it ended (for `crmhub jobs list` and catch-up)."""

    __tablename__ = "job_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_tick: Mapped[datetime | None]
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


__all__ = [
    "Alert",
    "AuditLog",
    "Base",
    "ConsoleSession",
    "CreditFacilityRow",
    "DeadLetter",
    "FieldLineage",
    "GoldenClient",
    "InteractionRow",
    "JobState",
    "LedgerAccount",
    "LedgerTransaction",
    "Outbox",
    "ReviewItem",
    "RiskAssessmentRow",
    "RunLock",
    "SourceRecord",
    "SyncCursor",
    "SyncRun",
    "SyncRunStream",
    "TokenCacheRow",
    "Xref",
]


class Operator(Base):
    """A named person who runs crmhub: roles decide what they may do (see crmhub.security.roles).

    The password hash (stdlib scrypt, self-describing string) is for the operator console; the CLI trusts the OS
    login, ``--as`` or ``CRMHUB_USER``. Operators are disabled, never deleted, so audit names stay resolvable.
    """

    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JsonType, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    lang: Mapped[str | None] = mapped_column(String(2), doc="The operator's console language (zh/en); None: default.")


class ConsoleSession(Base):
    """A logged-in console session. The browser holds a random token; only its SHA-256 is stored, so a copy of
    the database holds no usable cookie. Ended by logout, idle time, or the operator being disabled."""

    __tablename__ = "console_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator: Mapped[str] = mapped_column(String(64), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    client: Mapped[str | None] = mapped_column(String(128))


class Approval(Base):
    """A four-eyes proposal: one operator proposes an action, a different one approves (applies) or rejects it."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    proposer: Mapped[str] = mapped_column(String(128))
    created: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


# --- the sync's persisted match index (crmhub.sync.match_index) -------------------------------------------------


class MatchKey(Base):
    """A linked, clean client record as the matcher sees it: its `MatchRecord`, normalised once (a compact JSON
    list; see `crmhub.sync.match_index`). Present exactly while the record is in the match index."""

    __tablename__ = "match_key"

    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    payload: Mapped[str] = mapped_column(Text)


class MatchBlock(Base):
    """One blocking key of an indexed record (stable 64-bit hash): the candidate lookup reads it by key, and a
    block's size is counted on its key (WITHOUT ROWID on SQLite: the key is the table)."""

    __tablename__ = "match_block"
    __table_args__ = ({"sqlite_with_rowid": False},)

    block_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source_record_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class MatchTerm(Base):
    """Term frequency of one value (stable hash) of one family (name key, pinyin, 字号, phone, ...) in the index."""

    __tablename__ = "match_term"
    __table_args__ = ({"sqlite_with_rowid": False},)

    family: Mapped[str] = mapped_column(String(16), primary_key=True)
    value_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)


class MatchKeyCity(Base):
    """In how many indexed records a name key (stable hash) is registered in a city (4-digit division prefix)."""

    __tablename__ = "match_key_city"
    __table_args__ = ({"sqlite_with_rowid": False},)

    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    geo: Mapped[str] = mapped_column(String(4), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class MatchStat(Base):
    """Scalars of the match index: per-family totals and sums of squared counts, and the keys' version."""

    __tablename__ = "match_stat"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class RateWindowSlot(Base):
    """One of the ``calls`` slots of a shared sliding window (`crmhub.store.ratelimits`): the start time (epoch
    seconds, database clock) of the call that last took it. A slot is free again ``period`` seconds after that start,
    so however many processes share the key, at most ``calls`` calls start in any ``period``."""

    __tablename__ = "rate_window_slot"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[float] = mapped_column(Double)


class RateLease(Base):
    """One of the ``limit`` slots of a shared concurrency cap: who holds it and until when (epoch seconds, database
    clock). A holder renews its lease while its call runs; a killed process's lease simply runs out."""

    __tablename__ = "rate_lease"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Double)
