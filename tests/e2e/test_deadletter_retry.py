"""`crmhub deadletter retry` end to end: records dead-lettered by a real sync against the Zoho and Fenxiang
simulators are re-mapped from their stored payload after a configuration fix, join golden clients at the next
sync, and keep their original reason in the history — without a spurious "database is locked".

Original breaks: "connector 'zoho' cannot re-map stored records" (only a test connector implemented ``remap``),
the retry overwrote the original reason, and the retry held SQLite's write lock while the token cache opened a
second connection, which waited out the 30 s busy timeout and printed "database is locked".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from sqlalchemy import select

from crmhub.cli import main
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.tables import SourceRecord, Xref

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("sandbox", [40], indirect=True)]


def _config(
    path: Path,
    sandbox: SandboxSet,
    store_url: str,
    *,
    zoho_contacts: dict[str, str] | None = None,
    fxiaoke_accounts: dict[str, str] | None = None,
) -> Path:
    doc: dict[str, Any] = sandbox.config()
    doc["store"] = {"url": store_url}
    doc["notify"] = {"enabled": False}
    if zoho_contacts:
        doc["connectors"]["zoho"]["fields"] = {"contacts": zoho_contacts}
    if fxiaoke_accounts:
        doc["connectors"]["fxiaoke"]["fields"] = {"accounts": fxiaoke_accounts}
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def _break_zoho_contact(sandbox: SandboxSet) -> tuple[str, str, str]:
    """A broken import in the Zoho org: the whole name in Full_Name, Last_Name (mandatory) left empty.
    Returns (contact id, its account id, the full name)."""
    sim = sandbox["zoho_crm"].simulator
    contacts = sim.modules["Contacts"]
    rec = dict(next(r for r in contacts.records.values() if r.get("Last_Name") and r.get("Account_Name")))
    full = f"{rec['Last_Name']}{rec.get('First_Name') or ''}"
    rec["Full_Name"], rec["Last_Name"] = full, None
    sim.touch(rec, sim.admin.user_id)
    contacts.put(rec)
    account = rec["Account_Name"]["id"] if isinstance(rec["Account_Name"], dict) else rec["Account_Name"]
    return str(rec["id"]), str(account), full


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_zoho_and_fxiaoke_dead_letters_retry_after_a_config_fix(
    sandbox: SandboxSet, tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contact_id, account_id, full_name = _break_zoho_contact(sandbox)
    # the operator mapped Fenxiang's account name to the owner field (a list of employees): every account is refused
    bad = _config(tmp_path / "bad.toml", sandbox, store_url, fxiaoke_accounts={"name": "owner"})
    assert main(["sync", "-c", str(bad), "--json"]) in (0, 1)
    capsys.readouterr()
    assert main(["deadletter", "list", "-c", str(bad), "--json"]) == 0
    letters = _json_lines(capsys.readouterr().out)
    zoho = next(d for d in letters if d["connector"] == "zoho" and d["source_id"] == contact_id)
    assert zoho["stream"] == "contacts" and "Last_Name" in zoho["reason"]
    fx = [d for d in letters if d["connector"] == "fxiaoke" and d["stream"] == "accounts"]
    assert fx and all(
        d["reason"].startswith("AccountObj") and "owner" in d["reason"] and d["field"] == "owner" for d in fx
    ), fx[:2]

    # retrying before the fix: still failing, the reason kept, the attempt recorded (and no lock trouble)
    assert main(["deadletter", "retry", str(zoho["id"]), "-c", str(bad), "--json"]) == 1
    out = capsys.readouterr()
    assert _json_lines(out.out)[0]["ok"] is False and "locked" not in out.err + out.out

    # the fix: Full_Name holds this org's contact names; Fenxiang's name is the default field again
    fixed = _config(tmp_path / "fixed.toml", sandbox, store_url, zoho_contacts={"last_name": "Full_Name"})
    started = time.monotonic()
    assert main(["deadletter", "retry", "--all", "-c", str(fixed), "--json"]) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr()
    outcomes = _json_lines(out.out)
    assert {o["id"] for o in outcomes} >= {zoho["id"], *(d["id"] for d in fx)}
    assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]][:3]
    assert "locked" not in out.err + out.out and elapsed < 25, (elapsed, out.err)

    assert main(["deadletter", "show", str(zoho["id"]), "-c", str(fixed), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "resolved" and shown["first_reason"] == zoho["reason"]
    assert [h["event"] for h in shown["history"]] == ["rejected", "retry_failed", "retry_ok"]
    assert shown["history"][0]["reason"] == zoho["reason"] and shown["history"][0]["run_id"] == zoho["run_id"]
    assert all(h["at"] for h in shown["history"]) and shown["attempts"] == 3
    assert main(["--lang", "en", "deadletter", "show", str(zoho["id"]), "-c", str(fixed)]) == 0
    text = capsys.readouterr().out
    assert "Original reason" in text and "retry succeeded" in text and "rejected by a sync" in text
    assert main(["deadletter", "list", "-c", str(fixed), "--json"]) == 0
    assert not [d for d in _json_lines(capsys.readouterr().out) if d["connector"] in ("zoho", "fxiaoke")]

    # the next sync merges them: the Fenxiang accounts join the golden clients of their USCC, the contact its company
    assert main(["sync", "-c", str(fixed), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "succeeded"
    store = Store.open(store_url)
    try:
        with store.begin() as s:
            linked = s.execute(
                select(SourceRecord.connector, SourceRecord.stream, SourceRecord.source_id, Xref.client_id).join(
                    Xref, Xref.source_record_id == SourceRecord.id
                )
            ).all()
            fx_clients = {sid: cid for con, stream, sid, cid in linked if con == "fxiaoke" and stream == "accounts"}
            assert {d["source_id"] for d in fx} <= set(fx_clients)
            others = {cid for con, _, _, cid in linked if con != "fxiaoke"}
            assert sum(cid in others for cid in fx_clients.values()) >= len(fx) // 2, (
                "the re-mapped Fenxiang accounts did not join the golden clients the other sources hold"
            )
            contact = s.scalars(
                select(SourceRecord).where(
                    SourceRecord.connector == "zoho",
                    SourceRecord.stream == "contacts",
                    SourceRecord.source_id == contact_id,
                )
            ).one()
            assert contact.data is not None and contact.data["name"] == full_name
            assert contact.data["client_source_id"] == account_id and not contact.dirty
            assert any(con == "zoho" and stream == "accounts" and sid == account_id for con, stream, sid, _ in linked)
    finally:
        store.dispose()
    assert main(["deadletter", "list", "-c", str(fixed), "--json", "--status", "open"]) == 0
    assert not [d for d in _json_lines(capsys.readouterr().out) if d["connector"] in ("zoho", "fxiaoke")]
