"""Hostile upstream data through the real sync: simulators over loopback HTTP, real SQL on SQLite and PostgreSQL.

The original break: one NUL byte in a Zoho account name made PostgreSQL refuse the page (``DataError``) on every
run — status partial, exit 0, zero golden clients, zero dead letters. Each hostile value below must end cleaned
(NUL, control characters, ANSI escapes, bidi overrides) or as a dead letter naming the field (over-long text, an
object or a list where text is expected), while every other record of the same page and stream becomes a golden
client, and a second run duplicates nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub import plugins
from crmhub.cli import main
from crmhub.cli.common import Context
from crmhub.cli.sync_cmds import build_engine
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.tables import DeadLetter, GoldenClient, Xref
from crmhub.store.tables import SourceRecord as SourceRow

from .conftest import sandbox_settings, write_config

# a small world: ~tens of records
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("sandbox", [14], indirect=True)]

FORBIDDEN = ("\x00", "\x1b", "\x07", "\u202e", "\x9b")


def _zoho(sandbox: SandboxSet) -> Any:
    return sandbox["zoho_crm"].simulator


def _fxiaoke(sandbox: SandboxSet) -> Any:
    built = sandbox["fxiaoke"].built
    return getattr(built, "simulator", None) or built.state.simulator


def _ledger(sandbox: SandboxSet) -> Any:
    return sandbox["core_ledger"].simulator


def _poison_zoho(sandbox: SandboxSet) -> dict[str, tuple[str, Any]]:
    """Edit six Zoho accounts in place; returns source id → (case, expected outcome)."""
    store = _zoho(sandbox).modules["Accounts"]
    ids = sorted(store.records)[:6]
    cases: dict[str, tuple[str, Any]] = {}
    edits: list[tuple[str, dict[str, Any], Any]] = []
    original = store.records[ids[0]]["Account_Name"]
    edits.append(("nul_in_name", {"Account_Name": original[:2] + "\x00" + original[2:]}, ("clean", original)))
    edits.append(("long_name", {"Account_Name": "长" * 400}, ("dead", "Account_Name", "400 characters")))
    edits.append(("object_name", {"Account_Name": {"a": {"b": 1}}}, ("dead", "Account_Name", "expected text")))
    edits.append(
        (
            "ansi_city",
            {"Billing_City": "\x1b[31m杭州市\x1b[0m\x1b]0;pwned\x07", "Phone": "0571-\x9b2J8888\u202e1234"},
            ("clean", None),
        )
    )
    edits.append(("list_phone", {"Phone": ["0571", "8888"]}, ("dead", "Phone", "expected text")))
    edits.append(("object_employees", {"Employees": {"n": 5}}, ("dead", "Employees", "expected an integer")))
    for rid, (case, changes, outcome) in zip(ids, edits, strict=True):
        store.put({**store.records[rid], **changes})
        cases[rid] = (case, outcome)
    return cases


def _poison_fxiaoke(sandbox: SandboxSet) -> dict[str, tuple[str, Any]]:
    sim = _fxiaoke(sandbox)
    table = sim.tables["AccountObj"]
    ids = sorted(table.records)[:4]
    first, last = table.records[ids[0]]["name"], table.records[ids[3]]["name"]
    edits = [
        ("nul_bidi_name", {"name": "\u202e" + first + "\x00"}, ("clean", first)),
        ("long_street", {"address": "路" * 600}, ("dead", "address", "600 characters")),
        ("object_tel", {"tel": {"x": 1}}, ("dead", "tel", "expected text")),
        ("ansi_name", {"name": "\x1b[2J" + last}, ("clean", last)),
    ]
    cases = {}
    with sim.lock:
        for rid, (case, changes, outcome) in zip(ids, edits, strict=True):
            table.replace(rid, changes)
            cases[rid] = (case, outcome)
    return cases


def _poison_ledger(sandbox: SandboxSet) -> dict[str, tuple[str, Any]]:
    sim = _ledger(sandbox)
    entities = sorted(cid for cid, c in sim.clients.items() if c.legal_form == 2)[:2]
    first, second = sim.clients[entities[0]], sim.clients[entities[1]]
    name = first.fullname
    first.fullname = name[:3] + "\x00\x1b[1m" + name[3:]
    second.external_id = {"a": 1}  # type: ignore[assignment]
    return {
        str(first.id): ("nul_in_fullname", ("clean", name)),
        str(second.id): ("object_external_id", ("dead", "externalId", "expected text")),
    }


def _check(store: Store, connector: str, stream: str, cases: dict[str, tuple[str, Any]]) -> None:
    with store.begin() as s:
        letters = {
            d.source_id: d
            for d in s.scalars(select(DeadLetter).where(DeadLetter.connector == connector, DeadLetter.stream == stream))
        }
        rows = {
            r.source_id: r
            for r in s.scalars(select(SourceRow).where(SourceRow.connector == connector, SourceRow.stream == stream))
        }
        linked = set(
            s.scalars(
                select(SourceRow.source_id)
                .join(Xref, Xref.source_record_id == SourceRow.id)
                .where(SourceRow.connector == connector, SourceRow.stream == stream)
            )
        )
        for sid, (case, outcome) in cases.items():
            if outcome[0] == "dead":
                _, field, words = outcome
                assert sid in letters and sid not in rows, (connector, case)
                letter = letters[sid]
                assert letter.field == field and words in letter.reason and letter.status == "open", (
                    case,
                    letter.field,
                    letter.reason,
                )
                assert not any(ch in json.dumps(letter.payload, ensure_ascii=False) for ch in FORBIDDEN)
            else:
                assert sid in rows and sid not in letters, (connector, case)
                row = rows[sid]
                assert sid in linked, (connector, case, "not merged into a golden client")
                text = json.dumps([row.raw, row.data], ensure_ascii=False)
                assert not any(ch in text for ch in FORBIDDEN), (case, text)
                if outcome[1] is not None:
                    assert row.data["name"] == outcome[1], (case, row.data["name"])
        dead = {sid for sid, (_, o) in cases.items() if o[0] == "dead"}
        assert set(rows) & dead == set()
        assert linked == set(rows) - {r.source_id for r in rows.values() if r.deleted}, (connector, stream)


async def test_hostile_values_are_cleaned_or_dead_lettered(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str
) -> None:
    """NUL, ANSI escapes, bidi overrides, over-long text, objects and lists where text is expected — on both DBs."""
    cases = {"zoho": _poison_zoho(sandbox), "fxiaoke": _poison_fxiaoke(sandbox), "ledger": _poison_ledger(sandbox)}
    streams = {"zoho": "accounts", "fxiaoke": "accounts", "ledger": "clients"}
    engine = build_engine(Context(registry, sandbox_settings(sandbox, registry, store_url)), store)
    report = await engine.run()
    for name, conn in report.connectors.items():
        assert conn.status == "ok", (name, conn.error)
        for stream, stats in conn.streams.items():
            assert "error" not in stats, (name, stream, stats)
    assert report.status != "failed"
    expected_dead = sum(1 for per in cases.values() for _, o in per.values() if o[0] == "dead")
    assert report.totals.dead_letters == expected_dead
    for name, per in cases.items():
        _check(store, name, streams[name], per)
        assert report.connectors[name].streams[streams[name]]["rejected"] == sum(
            1 for _, o in per.values() if o[0] == "dead"
        )
    with store.begin() as s:
        clients = s.scalar(select(func.count()).select_from(GoldenClient))
        sources = s.scalar(select(func.count()).select_from(SourceRow))
        letters = s.scalar(select(func.count()).select_from(DeadLetter))
        names = list(s.scalars(select(GoldenClient.name)))
    assert clients and all(not any(ch in n for ch in FORBIDDEN) for n in names)

    # the bad records change again upstream (still bad): re-read, dead letters updated, nothing duplicated
    zoho = _zoho(sandbox)
    for rid in cases["zoho"]:
        rec = dict(zoho.modules["Accounts"].records[rid])
        zoho.touch(rec, zoho.admin.user_id)
        zoho.modules["Accounts"].put(rec)
    again = await engine.run()
    assert again.status != "failed" and again.totals.clients_created == 0
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(GoldenClient)) == clients
        assert s.scalar(select(func.count()).select_from(SourceRow)) == sources
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == letters
        attempts = {
            d.source_id: d.attempts for d in s.scalars(select(DeadLetter).where(DeadLetter.connector == "zoho"))
        }
    assert attempts and all(n == 2 for n in attempts.values()), attempts
    _check(store, "zoho", "accounts", cases["zoho"])


def test_terminal_output_is_clean(sandbox: SandboxSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What `crmhub clients list` and `deadletter list` print carries no escape or control character."""
    _poison_zoho(sandbox)
    _poison_fxiaoke(sandbox)
    cfg = write_config(tmp_path / "sb.toml", sandbox, f"sqlite:///{tmp_path / 'cli.db'}")
    code = main(["sync", "-c", str(cfg), "--json"])
    report = json.loads(capsys.readouterr().out)
    # every stream completed: the run succeeded (exit 0) and says how many records it dead-lettered
    assert (code, report["status"], report["totals"]["dead_letters"]) == (0, "succeeded", 6), report["totals"]
    assert not any("error" in st for c in report["connectors"].values() for st in c["streams"].values())
    assert main(["clients", "list", "-c", str(cfg), "--limit", "500"]) == 0
    assert main(["deadletter", "list", "-c", str(cfg)]) == 0
    out = capsys.readouterr()
    for ch in FORBIDDEN:
        assert ch not in out.out and ch not in out.err, repr(ch)
    assert main(["clients", "list", "-c", str(cfg), "--json", "--limit", "500"]) == 0
    listed = capsys.readouterr().out
    assert "\\u0000" not in listed and "\\u001b" not in listed and "\\u202e" not in listed
    assert main(["deadletter", "list", "-c", str(cfg), "--json"]) == 0
    out = capsys.readouterr().out
    letters = [json.loads(line) for line in out.splitlines()]  # one JSON object per line
    assert {(d["connector"], d["field"]) for d in letters} == {
        ("zoho", "Account_Name"),
        ("zoho", "Phone"),
        ("zoho", "Employees"),
        ("fxiaoke", "address"),
        ("fxiaoke", "tel"),
    }, letters
