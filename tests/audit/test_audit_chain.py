"""The keyed audit chain proves itself: every kind of tampering is named by `crmhub audit verify`, run as the CLI.

Each test writes a real chain through `crmhub.sync.audit.append` (SQLite, and PostgreSQL when configured), tampers
with it in SQL the way someone with database access but without the key would, and runs the ``crmhub`` console
script in a subprocess with the same key in ``CRMHUB_AUDIT_KEY``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from sqlalchemy import delete, insert, select, update

from crmhub.core.hashing import canonical_json
from crmhub.store import Store
from crmhub.store.tables import AuditLog
from crmhub.sync import audit

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

KEY = "test-audit-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(audit.AUDIT_KEY_ENV, KEY)


def crmhub(*args: str, cwd: Path, key: str = KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "250", audit.AUDIT_KEY_ENV: key}
    return subprocess.run(
        [sys.executable, "-m", "crmhub.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "crmhub.toml"
    path.write_text(tomli_w.dumps({"store": {"url": store_url}}), encoding="utf-8")
    return path


def _fill(store: Store, n: int = 10) -> None:
    """``n`` entries over two transactions (the head is carried from one transaction to the next)."""
    half = n // 2
    for start, stop in ((0, half), (half, n)):
        with store.begin() as s:
            for i in range(start, stop):
                audit.append(
                    s,
                    actor="os:alice",
                    action="client.update",
                    entity="client",
                    entity_id=i,
                    details={"i": i},
                    run_id=7,
                    before={"phone": "13812345678"},
                    after={"phone": None},
                )


def _rows(store: Store) -> list[AuditLog]:
    with store.begin() as s:
        rows = list(s.scalars(select(AuditLog).order_by(AuditLog.seq)))
        s.expunge_all()
    return rows


def _verify(tmp_path: Path, store_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return crmhub("audit", "verify", "-c", str(_config(tmp_path, store_url)), *extra, cwd=tmp_path)


def test_untouched_chain_verifies_and_personal_data_is_masked(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    out = _verify(tmp_path, store_url)
    assert out.returncode == 0, out.stderr
    assert "audit chain intact: 10 entries, newest #10" in out.stdout
    rows = _rows(store)
    assert [r.seq for r in rows] == list(range(1, 11)) and {r.chain for r in rows} == {"hmac"}
    assert rows[0].details["before"] == {"phone": "138****5678"}  # masked before it is written
    report = json.loads(_verify(tmp_path, store_url, "--json").stdout)
    assert report["problem"] is None and report["count"] == 10 and report["head_mac"] == rows[-1].hash


def test_edited_field_is_named(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    victim = _rows(store)[4]
    with store.begin() as s:
        s.execute(update(AuditLog).where(AuditLog.id == victim.id).values(actor="os:mallory"))
    out = _verify(tmp_path, store_url)
    assert out.returncode == 1
    assert f"entry #5 (id {victim.id}," in out.stderr and "client.update" in out.stderr
    assert "edited" in out.stderr
    zh = crmhub("--lang", "zh", "audit", "verify", "-c", str(_config(tmp_path, store_url)), cwd=tmp_path)
    assert zh.returncode == 1 and "审计链已损坏：条目 #5" in zh.stderr and "被修改" in zh.stderr


def test_deleted_entry_is_named(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    rows = _rows(store)
    with store.begin() as s:
        s.execute(delete(AuditLog).where(AuditLog.seq == 5))
    out = _verify(tmp_path, store_url)
    assert out.returncode == 1
    assert f"entry #6 (id {rows[5].id}," in out.stderr and "entries 5 are missing" in out.stderr
    assert "deleted" in out.stderr


def test_deleted_entry_with_renumbering_is_named(store: Store, store_url: str, tmp_path: Path) -> None:
    """Closing the gap (renumbering the entries after it) does not hide the deletion."""
    _fill(store)
    with store.begin() as s:
        s.execute(delete(AuditLog).where(AuditLog.seq == 5))
        for seq in range(6, 11):
            s.execute(update(AuditLog).where(AuditLog.seq == seq).values(seq=seq - 1))
    out = _verify(tmp_path, store_url)
    assert out.returncode == 1 and "entry #5" in out.stderr and "deleted" in out.stderr, out.stderr


def test_inserted_entry_is_named(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    rows = _rows(store)
    with store.begin() as s:
        for seq in range(10, 4, -1):  # make room for a new entry 5, one number at a time (unique index)
            s.execute(update(AuditLog).where(AuditLog.seq == seq).values(seq=seq + 1))
        new_id = s.execute(
            insert(AuditLog)
            .values(
                seq=5,
                chain="hmac",
                key_id=rows[4].key_id,
                at=rows[4].at,
                actor="os:mallory",
                action="client.merge",
                entity="client",
                entity_id="1",
                run_id=None,
                details={},
                prev_hash=rows[3].hash,
                hash="ab" * 32,
            )
            .returning(AuditLog.id)
        ).scalar_one()
    out = _verify(tmp_path, store_url)
    assert out.returncode == 1
    assert f"entry #5 (id {new_id}," in out.stderr and "client.merge" in out.stderr and "inserted" in out.stderr


def _rehash(store: Store, *, plain: bool) -> None:
    """What someone without the key can do: rewrite every hash with the public SHA-256, after forging entry 3."""
    with store.begin() as s:
        s.execute(update(AuditLog).where(AuditLog.seq == 3).values(actor="os:mallory"))
        prev = audit.GENESIS
        for row in s.scalars(select(AuditLog).order_by(AuditLog.seq)).all():
            row.prev_hash = prev
            if plain:
                row.chain = "sha256"
                row.hash = audit.plain_hash(row)
            else:
                row.hash = hashlib.sha256((prev + canonical_json(audit.keyed_body(row))).encode()).hexdigest()
            prev = row.hash


def test_rehashed_chain_is_named(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    _rehash(store, plain=False)
    out = _verify(tmp_path, store_url)
    assert out.returncode == 1 and "entry #1" in out.stderr and "re-hashed without the key" in out.stderr


def test_chain_rehashed_as_plain_entries_is_not_accepted(store: Store, store_url: str, tmp_path: Path) -> None:
    """Turning every entry into a pre-key plain-hash entry leaves no keyed entry: verify refuses."""
    _fill(store)
    _rehash(store, plain=True)
    out = _verify(tmp_path, store_url)
    assert out.returncode == 1 and "not sealed by the key" in out.stderr, out.stderr


def test_truncated_tail_is_found_against_a_checkpoint(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    cfg = _config(tmp_path, store_url)
    out = crmhub("audit", "checkpoint", "-c", str(cfg), "-o", str(tmp_path / "cp.json"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    cp = json.loads((tmp_path / "cp.json").read_text(encoding="utf-8"))
    rows = _rows(store)
    assert cp["seq"] == 11 and cp["count"] == 11 and cp["mac"] == rows[-1].hash
    assert rows[-1].action == "audit.checkpoint"
    _fill(store, 4)  # later entries: the checkpoint stays valid
    assert _verify(tmp_path, store_url, "--from-checkpoint", str(tmp_path / "cp.json")).returncode == 0
    with store.begin() as s:
        s.execute(delete(AuditLog).where(AuditLog.seq >= 9))
    assert _verify(tmp_path, store_url).returncode == 0  # a shorter chain is intact in itself
    out = _verify(tmp_path, store_url, "--from-checkpoint", str(tmp_path / "cp.json"))
    assert out.returncode == 1 and "truncated tail" in out.stderr and "checkpoint" in out.stderr
    assert "entry #8" in out.stderr


def test_wrong_key_is_told_apart(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store)
    out = crmhub("audit", "verify", "-c", str(_config(tmp_path, store_url)), cwd=tmp_path, key="x" * 40)
    assert out.returncode == 1 and "wrong key" in out.stderr and "restore the key" in out.stderr


def test_bad_checkpoint_file_is_a_clear_error(store: Store, store_url: str, tmp_path: Path) -> None:
    (tmp_path / "cp.json").write_text('{"seq": "x"}', encoding="utf-8")
    out = _verify(tmp_path, store_url, "--from-checkpoint", str(tmp_path / "cp.json"))
    assert out.returncode == 2 and "not an audit checkpoint" in out.stderr and "Traceback" not in out.stderr


def test_key_derived_from_the_secret_key_file(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CRMHUB_AUDIT_KEY the key comes from the configuration's var/secret.key (0600); a verify without
    that file says so and never makes a new key."""
    monkeypatch.delenv(audit.AUDIT_KEY_ENV)
    monkeypatch.delenv("CRMHUB_SECRET_KEY", raising=False)
    store = Store.open(store_url, var_dir=tmp_path / "var")
    try:
        _fill(store, 4)
    finally:
        store.dispose()
    key_file = tmp_path / "var" / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    out = crmhub("audit", "verify", "-c", str(_config(tmp_path, store_url)), cwd=tmp_path, key="")
    assert out.returncode == 0 and "4 entries" in out.stdout, out.stderr
    key_file.rename(tmp_path / "kept.key")
    out = crmhub("audit", "verify", "-c", str(_config(tmp_path, store_url)), cwd=tmp_path, key="")
    assert out.returncode == 1 and "no audit key" in out.stderr and not key_file.exists()
