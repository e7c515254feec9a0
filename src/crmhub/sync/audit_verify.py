"""Verifying the keyed audit chain, and checkpoints of its head kept outside the database.

`verify` streams the whole chain in sequence order (never the whole table in memory) and stops at the first entry
that does not fit, saying what is wrong with it:

- ``deleted``  — sequence numbers are missing before it (or it no longer links to the entry before it);
- ``inserted`` — its number repeats, or the entries after it verify only without it;
- ``edited``   — its fields no longer match its MAC;
- ``rehashed`` — its hash is the public SHA-256 of its fields: the chain was re-hashed without the key;
- ``wrong_key`` — written with another audit key than the one configured here (restore the key);
- ``unsealed`` — only plain-hash entries, no keyed entry covering them (a fresh upgrade, or a re-hash that
  turned every entry into a plain one);
- ``truncated`` / ``rewritten`` — compared with a checkpoint: the checkpoint's entry is gone or different.

Deleting the newest entries leaves a shorter chain that is intact in itself: only a checkpoint kept elsewhere
(`Checkpoint`, written by ``crmhub audit checkpoint``) shows it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.core.hashing import canonical_json
from crmhub.core.pages import keyset_pages
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.store.tables import AuditLog
from crmhub.sync.audit import GENESIS, KEYED, PLAIN, AuditKey, keyed_body, plain_hash, session_key

Kind = Literal["deleted", "inserted", "edited", "rehashed", "wrong_key", "unsealed", "truncated", "rewritten"]
_BATCH = 2000

KIND_LABELS: dict[str, tuple[str, str]] = {
    "edited": ("被修改", "edited"),
    "deleted": ("被删除", "deleted"),
    "inserted": ("被插入", "inserted"),
    "rehashed": ("被无密钥重算", "re-hashed without the key"),
    "wrong_key": ("密钥不符", "wrong key"),
    "unsealed": ("未被密钥封存", "not sealed by the key"),
    "truncated": ("尾部被截断", "truncated tail"),
    "rewritten": ("检查点之后被改写", "rewritten since the checkpoint"),
}
"""What each `Kind` of problem is called (zh, en): `crmhub audit verify` and the console say the same."""


@dataclass(slots=True)
class Problem:
    """The first bad entry: where it is and what is wrong."""

    kind: Kind
    seq: int | None
    entry_id: int | None
    at: str | None
    action: str | None
    detail: str


@dataclass(slots=True)
class Report:
    """What `verify` saw: the head it reached and the first problem (None when intact)."""

    count: int = 0
    plain: int = 0
    head_seq: int = 0
    head_mac: str = GENESIS
    head_at: str | None = None
    key_id: str | None = None
    problem: Problem | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checkpoint_hint() -> str:
    return bilingual(
        "请指定 `crmhub audit checkpoint -o 文件` 写出的文件",
        "give the file written by `crmhub audit checkpoint -o FILE`",
    )


class Checkpoint(BaseModel):
    """The chain head at one moment, small enough to keep on WORM storage or print on paper."""

    format: Literal["crmhub-audit-checkpoint/1"] = "crmhub-audit-checkpoint/1"
    seq: int
    mac: str
    at: str
    count: int
    key_id: str | None = None
    created_at: str

    @classmethod
    def read(cls, path: Path) -> Checkpoint:
        """Load a checkpoint file; a clear `InputError` naming the file when it is missing or not a checkpoint."""
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise InputError(
                bilingual(
                    f"{path}：无法读取检查点：{exc.strerror}", f"{path}: cannot read the checkpoint: {exc.strerror}"
                ),
                hint=_checkpoint_hint(),
            ) from None
        except (ValueError, ValidationError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else None
            where = f" (field {'.'.join(map(str, first['loc']))}: {first['msg']})" if first else ""
            raise InputError(
                bilingual(f"{path}：不是审计检查点{where}", f"{path}: not an audit checkpoint{where}"),
                hint=_checkpoint_hint(),
            ) from None


def _rows(session: Session, after_seq: int = 0) -> Iterator[Any]:
    """All entries after ``after_seq`` in sequence order, a batch at a time (keyset paging, plain rows outside the
    session's identity map: constant memory on any size of log)."""
    table = AuditLog.__table__

    def read(after: int | None) -> Sequence[Any]:
        return session.execute(
            select(table)
            .where(table.c.seq > (after_seq if after is None else after))
            .order_by(table.c.seq, table.c.id)
            .limit(_BATCH)
        ).all()

    for page in keyset_pages(read, lambda row: int(row.seq), _BATCH):
        yield from page


def _unkeyed(row: Any) -> set[str]:
    """The hashes someone without the key would write: SHA-256 over the same input, and the old plain formula."""
    body = canonical_json(keyed_body(row))
    return {
        hashlib.sha256((row.prev_hash + body).encode("utf-8")).hexdigest(),
        hashlib.sha256(body.encode("utf-8")).hexdigest(),
        plain_hash(row),
    }


def _mac_with_seq(key: AuditKey, row: Any, seq: int, prev: str) -> str:
    return key.mac(prev, {**keyed_body(row), "seq": seq})


def _problem(kind: Kind, row: Any, zh: str, en: str) -> Problem:
    detail = bilingual(zh, en)
    if row is None:
        return Problem(kind, None, None, None, None, detail)
    return Problem(kind, row.seq, row.id, row.at.isoformat(), row.action, detail)


class _Walk:
    """One pass over the chain with a one-entry look-ahead (to tell an insertion from an edit)."""

    def __init__(self, key: Callable[[], AuditKey]) -> None:
        self._key_source = key
        self._key: AuditKey | None = None
        self.report = Report()
        self.expected = 1
        self.prev = GENESIS
        self.keyed = False

    @property
    def key(self) -> AuditKey:
        if self._key is None:
            self._key = self._key_source()
            self.report.key_id = self._key.key_id
        return self._key

    def check(self, row: Any, nxt: Any) -> Problem | None:
        """The problem with ``row`` given everything before it verified, or None."""
        if row.seq < self.expected:
            return _problem(
                "inserted",
                row,
                f"序号 {row.seq} 在条目 {self.expected - 1} 之后重复出现：有条目被插入",
                f"sequence number {row.seq} appears again after entry {self.expected - 1}: an entry was inserted",
            )
        if row.seq > self.expected:
            missing = f"{self.expected}" if row.seq == self.expected + 1 else f"{self.expected}–{row.seq - 1}"
            return _problem(
                "deleted", row, f"其前缺少条目 {missing}：被删除", f"entries {missing} are missing before it: deleted"
            )
        if row.chain == PLAIN:
            if self.keyed:
                return _problem(
                    "rehashed",
                    row,
                    "密钥链开始之后出现普通哈希条目：在没有密钥的情况下被重算",
                    "a plain-hash entry after the keyed chain started: re-hashed without the key",
                )
            if plain_hash(row) != row.hash:
                return _problem("edited", row, "字段与其哈希不符：被修改", "its fields do not match its hash: edited")
        elif row.chain == KEYED:
            if row.hash != self.key.mac(row.prev_hash, keyed_body(row)):
                return self._bad_mac(row, nxt)
        else:
            return _problem(
                "edited", row, f"未知的链类型 {row.chain!r}：被修改", f"unknown chain kind {row.chain!r}: edited"
            )
        if row.prev_hash != self.prev:
            return _problem(
                "deleted",
                row,
                "与前一条目的链接断开：之前的条目被删除或替换",
                "it does not link to the entry before it: an entry before it was deleted or replaced",
            )
        return None

    def _bad_mac(self, row: Any, nxt: Any) -> Problem:
        """Why a keyed entry's MAC does not match: inserted, re-hashed, wrong key, renumbered after a delete, edited."""
        if (
            nxt is not None
            and nxt.chain == KEYED
            and nxt.prev_hash == self.prev
            and nxt.hash == _mac_with_seq(self.key, nxt, row.seq, self.prev)
        ):
            return _problem(
                "inserted",
                row,
                "去掉它后其后的条目可以验证：它是被插入的",
                "the entries after it verify without it: it was inserted",
            )
        if row.hash in _unkeyed(row):
            return _problem(
                "rehashed",
                row,
                "其 MAC 是字段的公开 SHA-256，不是带密钥的 MAC：链被无密钥重算",
                "its MAC is the public SHA-256 of its fields, not the keyed MAC: the chain was "
                "re-hashed without the key",
            )
        if row.key_id != self.key.key_id and not self.keyed:
            return _problem(
                "wrong_key",
                row,
                f"该条目由审计密钥 {row.key_id} 写入，但此处的密钥是 {self.key.key_id}："
                "请从备份恢复密钥（或该条目是伪造的）",
                f"written with audit key {row.key_id}, but the key here is {self.key.key_id}: "
                "restore the key from its backup (or the entry was forged)",
            )
        if row.prev_hash != self.prev and row.hash == _mac_with_seq(self.key, row, row.seq + 1, row.prev_hash):
            return _problem(
                "deleted",
                row,
                f"它作为条目 {row.seq + 1} 可以验证：其前的条目被删除，其余条目被重新编号",
                f"it verifies as entry {row.seq + 1}: the entry before it was deleted and the rest renumbered",
            )
        return _problem(
            "edited",
            row,
            "字段与其 MAC 不符：被修改（或在没有密钥的情况下伪造）",
            "its fields do not match its MAC: edited (or forged without the key)",
        )

    def accept(self, row: Any) -> None:
        self.keyed = self.keyed or row.chain == KEYED
        self.report.plain += row.chain == PLAIN
        self.report.count += 1
        self.prev, self.expected = row.hash, row.seq + 1
        self.report.head_seq, self.report.head_mac, self.report.head_at = row.seq, row.hash, row.at.isoformat()


def verify(
    session: Session, *, checkpoint: Checkpoint | None = None, key: Callable[[], AuditKey] | None = None
) -> Report:
    """Walk the whole chain; the report's ``problem`` is the first bad entry (None when intact)."""
    walk = _Walk(key or (lambda: session_key(session, create=False)))
    anchor: str | None = None
    last: Any = None
    rows = _rows(session)
    row = next(rows, None)
    while row is not None:
        nxt = next(rows, None)
        problem = walk.check(row, nxt)
        if problem is not None:
            walk.report.problem = problem
            return walk.report
        walk.accept(row)
        if checkpoint is not None and row.seq == checkpoint.seq:
            anchor = row.hash
        last, row = row, nxt
    report = walk.report
    if report.plain and not walk.keyed:
        report.problem = _problem(
            "unsealed",
            last,
            f"全部 {report.plain} 个条目都是普通哈希条目，没有带密钥的条目封存它们：升级后请运行一次 "
            "`crmhub audit checkpoint`；否则说明链在没有密钥的情况下被重算",
            f"all {report.plain} entries are plain-hash entries with no keyed entry sealing them: after an upgrade "
            "run `crmhub audit checkpoint` once; otherwise the chain was re-hashed without the key",
        )
    if checkpoint is not None and report.problem is None:
        if anchor is None:
            report.problem = _problem(
                "truncated",
                last,
                f"链止于条目 {report.head_seq}，但 {checkpoint.at} 的检查点含有条目 "
                f"{checkpoint.seq}：最新的条目被删除（尾部截断）",
                f"the chain ends at entry {report.head_seq}, but the checkpoint of {checkpoint.at} has entry "
                f"{checkpoint.seq}: the newest entries were deleted (truncated tail)",
            )
        elif anchor != checkpoint.mac:
            report.problem = Problem(
                "rewritten",
                checkpoint.seq,
                None,
                checkpoint.at,
                None,
                bilingual(
                    f"条目 {checkpoint.seq} 与检查点不同：检查点之后链被改写",
                    f"entry {checkpoint.seq} differs from the checkpoint: the chain was rewritten since the checkpoint",
                ),
            )
    return report


def check_head(session: Session, n: int = 100, *, key: Callable[[], AuditKey] | None = None) -> Problem | None:
    """The cheap check each job run makes: the newest ``n`` entries link and verify, and no number is missing.

    Reads ``n`` rows and one count (the head's ``seq`` must equal the number of entries) — not the whole chain;
    `verify` is the full check.
    """
    table = AuditLog.__table__
    rows = list(session.execute(select(table).order_by(table.c.seq.desc()).limit(n + 1)).all())[::-1]
    if not rows:
        return None
    total = int(session.scalar(select(func.count()).select_from(AuditLog)) or 0)
    if rows[-1].seq != total:
        kind: Kind = "deleted" if rows[-1].seq > total else "inserted"
        return _problem(
            kind,
            rows[-1],
            f"最新条目的序号是 {rows[-1].seq}，但日志中有 {total} 个条目",
            f"the newest entry is number {rows[-1].seq} but the log holds {total} entries: entries were {kind}",
        )
    walk = _Walk(key or (lambda: session_key(session, create=False)))
    first = rows[0]
    if len(rows) > n:  # the entry before the window only provides the link
        walk.prev, walk.expected, walk.keyed = first.hash, first.seq + 1, first.chain == KEYED
        rows = rows[1:]
    else:
        walk.expected = first.seq
    for i, row in enumerate(rows):
        problem = walk.check(row, rows[i + 1] if i + 1 < len(rows) else None)
        if problem is not None:
            return problem
        walk.accept(row)
    return None


def make_checkpoint(report: Report, created_at: datetime) -> Checkpoint:
    """The checkpoint of an intact chain's head."""
    return Checkpoint(
        seq=report.head_seq,
        mac=report.head_mac,
        at=report.head_at or created_at.isoformat(),
        count=report.count,
        key_id=report.key_id,
        created_at=created_at.isoformat(),
    )
