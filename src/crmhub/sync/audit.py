"""The append-only audit log: a keyed hash chain that proves itself.

Each entry stores the previous entry's MAC and its own, ``HMAC-SHA256(key, previous MAC + canonical JSON of its
fields)``. The key never enters the database: it is ``CRMHUB_AUDIT_KEY``, or derived from the secret key file
(`crmhub.store.secrets`, ``var/secret.key``). Someone who can write to the database can edit, delete or insert
rows, but cannot recompute the MACs — `crmhub.sync.audit_verify` finds the first entry that does not fit.
Entries are numbered (``seq`` 1, 2, 3 …, no gaps) so a deletion and an insertion are told apart.

Entries written before the key existed keep their plain SHA-256 chain (``chain = 'sha256'``); the first keyed
entry covers the last plain hash, which seals them. Merges, splits, review decisions, golden-record changes,
unmasking and alert decisions are written here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from crmhub.core.hashing import canonical_bytes, content_hash
from crmhub.errors import StoreError
from crmhub.i18n import bilingual
from crmhub.masking import mask_fields
from crmhub.store.bulk import execute_many
from crmhub.store.db import VAR_DIR_INFO
from crmhub.store.secrets import load_key
from crmhub.store.tables import AuditLog

GENESIS = "0" * 64
KEYED = "hmac"
"""``chain`` of entries MAC'd with the audit key."""
PLAIN = "sha256"
"""``chain`` of entries written before the keyed chain (plain SHA-256, verifiable by anyone)."""
AUDIT_KEY_ENV = "CRMHUB_AUDIT_KEY"
_DERIVE = b"crmhub audit chain v1"
_MIN_ENV_KEY = 32

_LOCK_ID = 7_275_747  # pg_advisory_xact_lock key serialising appends to the chain on PostgreSQL


@dataclass(frozen=True)
class AuditKey:
    """The MAC key (never printed: ``repr`` shows only its fingerprint)."""

    secret: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_secret(cls, secret: bytes) -> AuditKey:
        fingerprint = hmac.new(secret, b"crmhub audit key id", hashlib.sha256).hexdigest()[:16]
        return cls(secret, fingerprint)

    def mac(self, prev: str, body: dict[str, Any]) -> str:
        """``HMAC-SHA256(key, prev + canonical JSON of body)`` as hex."""
        return hmac.new(self.secret, prev.encode("utf-8") + canonical_bytes(body), hashlib.sha256).hexdigest()


def load_audit_key(var_dir: Path | None = None, *, create: bool = True) -> AuditKey:
    """The audit key: ``CRMHUB_AUDIT_KEY`` (at least 32 characters), else derived from the secret key
    (``CRMHUB_SECRET_KEY`` or ``secret.key`` in the configuration's ``var_dir``).

    The derived key is ``HMAC-SHA256(secret key, "crmhub audit chain v1")``, so the Fernet key is never used for two
    purposes directly. ``create=False`` (verification) refuses to make a new key file: a new key would only make
    every keyed entry look forged.
    """
    env = os.environ.get(AUDIT_KEY_ENV)
    if env:
        if len(env) < _MIN_ENV_KEY:
            raise StoreError(
                bilingual(
                    f"{AUDIT_KEY_ENV} 太短（{len(env)} 个字符；至少 {_MIN_ENV_KEY} 个）",
                    f"{AUDIT_KEY_ENV} is too short ({len(env)} characters; at least {_MIN_ENV_KEY})",
                ),
                hint=bilingual(
                    "设为一个较长的随机值并保留副本，例如 ",
                    "set it to a long random value and keep a copy, e.g. the output of ",
                )
                + "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`",
            )
        return AuditKey.from_secret(env.encode("utf-8"))

    key_file = (var_dir if var_dir is not None else Path("var")) / "secret.key"
    if not create and not os.environ.get("CRMHUB_SECRET_KEY") and not key_file.exists():
        raise StoreError(
            bilingual(
                f"没有审计密钥：未设置 {AUDIT_KEY_ENV} 和 CRMHUB_SECRET_KEY，且当前目录没有 {key_file.resolve()}",
                f"no audit key: {AUDIT_KEY_ENV} and CRMHUB_SECRET_KEY are not set and "
                f"{key_file.resolve()} does not exist",
            ),
            hint=bilingual(
                f"使用写入审计日志时的同一配置、从备份将 secret.key 恢复到该配置的 var 目录，或设置 {AUDIT_KEY_ENV}",
                "use the configuration that wrote the log, restore secret.key from its backup "
                f"into that configuration's var folder, or set {AUDIT_KEY_ENV}",
            ),
        )
    return AuditKey.from_secret(hmac.new(load_key(key_file), _DERIVE, hashlib.sha256).digest())


def session_key(session: Session, *, create: bool = True) -> AuditKey:
    """The audit key of the store ``session`` belongs to (its ``var`` folder is in ``session.info``)."""
    var_dir = session.info.get(VAR_DIR_INFO)
    return load_audit_key(var_dir if isinstance(var_dir, Path) else None, create=create)


def keyed_body(row: Any) -> dict[str, Any]:
    """The fields a keyed MAC covers (canonical JSON of this dict, after the previous MAC)."""
    return {
        "seq": row.seq,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "run_id": row.run_id,
        "details": row.details,
        "key_id": row.key_id,
    }


def plain_hash(row: Any) -> str:
    """The hash of an entry from before the keyed chain (the original formula; ``seq`` is not covered)."""
    return content_hash(
        {
            "at": row.at.isoformat(),
            "actor": row.actor,
            "action": row.action,
            "entity": row.entity,
            "entity_id": row.entity_id,
            "details": row.details,
            "prev": row.prev_hash,
        }
    )


class _ChainHead:
    """The chain's last MAC and sequence number for the current transaction, read once under a lock."""

    def __init__(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            # Two transactions must never both extend the same head: hold a transaction-scoped lock.
            # (SQLite transactions are already serialised by BEGIN IMMEDIATE.)
            session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
        last = session.execute(select(AuditLog.hash, AuditLog.seq).order_by(AuditLog.seq.desc()).limit(1)).first()
        self.hash = last.hash if last is not None else GENESIS
        self.seq = int(last.seq) if last is not None else 0
        self.key = session_key(session)
        self.transaction = session.get_transaction()


def _head(session: Session) -> _ChainHead:
    head = session.info.get("crmhub_audit_head")
    if not isinstance(head, _ChainHead) or head.transaction is not session.get_transaction():
        head = _ChainHead(session)
        session.info["crmhub_audit_head"] = head
    return head


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int | None,
    details: dict[str, Any],
    run_id: int | None = None,
    at: datetime | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditLog:
    """Append one entry inside the caller's transaction (so it commits or rolls back with the change).

    The head is read once per transaction and the rows are flushed in order with the session, so a batch of
    thousands of changes costs one lock and one read, not one per entry. ``before``/``after`` (the object's state
    around the change) are stored in ``details`` with personal data masked (`crmhub.masking.mask_fields`).
    """
    head = _head(session)
    if before is not None:
        details = {**details, "before": mask_fields(before)}
    if after is not None:
        details = {**details, "after": mask_fields(after)}
    row = AuditLog(
        seq=head.seq + 1,
        chain=KEYED,
        key_id=head.key.key_id,
        at=at or datetime.now(UTC),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        run_id=run_id,
        details=details,
        prev_hash=head.hash,
    )
    row.hash = head.key.mac(head.hash, keyed_body(row))
    head.hash, head.seq = row.hash, row.seq
    session.add(row)
    return row


@dataclass(slots=True)
class Entry:
    """An entry waiting for its place in the chain (`append_many`): what `append` takes, ``details`` final."""

    actor: str
    action: str
    entity: str
    entity_id: str | int | None
    details: dict[str, Any]
    at: datetime
    run_id: int | None = None


_INSERT = insert(cast(Table, AuditLog.__table__))


def append_many(session: Session, entries: Sequence[Entry]) -> None:
    """Append ``entries`` in order, as `append` would one by one, with one INSERT (executemany) and no ORM object.

    The chain is computed here, in order, from the same head `append` uses (and left where the last entry put it,
    so an `append` later in the transaction follows on); entries already added through the ORM are flushed first,
    so ids keep the order of ``seq``. The rows are the very rows `append` writes: same fields, same MACs.
    """
    if not entries:
        return
    head = _head(session)
    session.flush()
    prev, seq, key = head.hash, head.seq, head.key
    rows: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        entity_id = None if e.entity_id is None else str(e.entity_id)
        mac = key.mac(
            prev,
            {
                "seq": seq,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "entity": e.entity,
                "entity_id": entity_id,
                "run_id": e.run_id,
                "details": e.details,
                "key_id": key.key_id,
            },
        )
        rows.append(
            {
                "seq": seq,
                "chain": KEYED,
                "key_id": key.key_id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "entity": e.entity,
                "entity_id": entity_id,
                "run_id": e.run_id,
                "details": e.details,
                "prev_hash": prev,
                "hash": mac,
            }
        )
        prev = mac
    execute_many(session, _INSERT, rows)
    head.hash, head.seq = prev, seq


def verify_chain(session: Session, var_dir: Path | None = None) -> list[int]:
    """Id of the first entry that does not verify (empty when the log is intact); see `audit_verify.verify`.

    ``var_dir``: the ``var`` folder of the configuration that wrote the entries, when ``session``'s store was
    opened without it (the key is derived from the secret key kept there).
    """
    from crmhub.sync.audit_verify import verify

    report = verify(session, key=None if var_dir is None else lambda: load_audit_key(var_dir, create=False))
    if report.problem is None:
        return []
    return [report.problem.entry_id if report.problem.entry_id is not None else -1]


REVEAL_ACTION = "personal_data.reveal"
"""The audit action of every unmasked output (``--reveal``)."""


def os_user() -> str:
    """Who is running crmhub: the operating-system user (named operators and roles come later).

    ``os:`` marks where the name came from, so a later operator login is told apart in the log.
    """
    import getpass

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        return f"os:uid-{os.getuid()}" if hasattr(os, "getuid") else "os:unknown"


def record_reveal(
    session: Session,
    *,
    command: str,
    reason: str,
    entity: str,
    entity_id: str | int | None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditLog:
    """Write who saw which personal data in clear, and why — before the data is shown.

    Called in the same transaction that reads the data; if the audit row cannot be written, nothing is revealed.
    """
    return append(
        session,
        actor=actor or os_user(),
        action=REVEAL_ACTION,
        entity=entity,
        entity_id=entity_id,
        details={"command": command, "reason": reason, "masking": "revealed", **(details or {})},
    )
