"""`crmhub pull` and `crmhub push` as an integration engineer runs them: real `crmhub` processes over loopback
against the Zoho and Fenxiang simulators with faults switched on (the connectors' own tests cover each edge;
these check what the user sees on stdout)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from test_setup_cmds import crmhub

from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer
from crmhub.testing import start_simulator
from crmhub_fxiaoke.simulator import build as build_fxiaoke
from crmhub_fxiaoke.simulator import default_settings as fxiaoke_settings
from crmhub_zoho.plugin import _config as zoho_config
from crmhub_zoho.simulator import build as build_zoho
from crmhub_zoho.simulator.seed import synthetic_companies

pytestmark = pytest.mark.slow


@pytest.fixture
def servers() -> Iterator[list[ThreadedServer]]:
    running: list[ThreadedServer] = []
    yield running
    for server in running:
        server.stop()


def _zoho(servers: list[ThreadedServer], accounts: int, faults: FaultProfile | None = None) -> ThreadedServer:
    world = list(synthetic_companies(accounts, 7, contacts_per_company=0))
    servers.append(start_simulator(build_zoho, world=world, faults=faults))
    return servers[-1]


def _fxiaoke(servers: list[ThreadedServer], accounts: int, faults: FaultProfile | None = None) -> ThreadedServer:
    # Fenxiang's 20 s windows scaled down 100x on both sides (simulator and connector), as in the plugin's tests
    settings = {"generate": accounts, "window_seconds": 0.2, "calls_per_window": 40, "token_window_seconds": 6.0}
    servers.append(start_simulator(build_fxiaoke, faults=faults, seed=7, settings=settings))
    return servers[-1]


def _config(tmp_path: Path, zoho: ThreadedServer | None = None, fxiaoke: ThreadedServer | None = None) -> Path:
    connectors: dict[str, Any] = {}
    if zoho is not None:
        connectors["zoho"] = {**zoho_config(zoho.url), "base_delay": 0.02, "max_delay": 0.5}
    if fxiaoke is not None:
        connectors["fxiaoke"] = {
            "plugin": "fxiaoke",
            "base_url": fxiaoke.url,
            "window_seconds": 0.2,
            "calls_per_window": 40,
            "token_window_seconds": 6.0,
            "retry_base_delay": 0.01,
            "retry_max_delay": 0.2,
            **fxiaoke_settings(),
            "write_back": {"create": True, "fields": ["name", "uscc", "risk"]},
        }
    path = tmp_path / "crmhub.toml"
    doc = {"store": {"url": f"sqlite:///{tmp_path / 'crmhub.db'}"}, "connectors": connectors}
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


@contextmanager
def _tokens_die_after(calls: Callable[[], int], after: int, expire: Callable[[], None]) -> Iterator[threading.Event]:
    """While the block runs, expire every access token once the service has answered ``after`` API calls — mid-run
    whatever the machine's speed (a wall-clock token lifetime is not: a fast pull can finish inside it)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if calls() >= after:
                expire()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        done.set()
        thread.join(5)


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_zoho_pull_prints_every_account_through_expiring_tokens_and_429s(
    tmp_path: Path, servers: list[ThreadedServer]
) -> None:
    server = _zoho(servers, 4500, FaultProfile(throttle_rate=0.05, token_ttl=60.0, seed=3))
    sim = server.app.simulator

    def expire() -> None:
        sim.advance += 61  # the org's clock passes every token's lifetime

    with _tokens_die_after(lambda: sum(1 for e in list(sim.log) if "/crm/" in e["path"]), 4, expire):
        out = crmhub("pull", "-c", str(_config(tmp_path, zoho=server)), "zoho", "accounts", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    rows = _lines(out.stdout)
    assert len(rows) == 4500 and len({r["source_id"] for r in rows}) == 4500
    source = sim.modules["Accounts"].records
    for row in rows:
        held = source[row["source_id"]]
        assert row["name"] == held["Account_Name"] and row["deleted"] is False
        assert row.get("uscc") == (held.get("USCC") or None)
    assert sum(1 for r in rows if r.get("uscc")) > 4000
    statuses = Counter(e["status"] for e in sim.log if "/crm/" in e["path"])
    assert statuses[429] >= 1  # throttled on the way …
    assert sim.oauth.refresh_calls >= 2  # … and the first token expired mid-run and was refreshed
    assert "4500" in out.stderr  # the summary on stderr: how many records, rejected, pages

    # a second pull with --since the newest Modified_Time prints only what changed after it
    newest = max(held["Modified_Time"] for held in source.values())
    sim.advance += 3600
    changed = sim.mutate(12, 5)
    again = crmhub("pull", "-c", str(tmp_path / "crmhub.toml"), "zoho", "accounts", "--since", newest, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(r["source_id"] for r in _lines(again.stdout)) == sorted(changed)


def test_zoho_push_250_makes_three_upserts_and_names_the_rejected_record(
    tmp_path: Path, servers: list[ThreadedServer]
) -> None:
    server = _zoho(servers, 3)
    sim = server.app.simulator
    records = [{"name": f"推送测试{i}有限公司", "uscc": uscc} for i, uscc in enumerate(_usccs(250))]
    records[41]["name"] = "名" * 201  # longer than Account_Name allows: Zoho answers INVALID_DATA for this one
    file = tmp_path / "accounts.jsonl"
    file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = crmhub("push", "-c", str(_config(tmp_path, zoho=server)), "zoho", "accounts", str(file), cwd=tmp_path)
    assert out.returncode == 4  # one record failed, the rest pushed: PARTIAL
    results = _lines(out.stdout)
    assert [r["index"] for r in results] == list(range(1, 251))
    bad = results[41]
    assert bad["status"] == "error" and "INVALID_DATA" in bad["reason"] and "Account_Name" in bad["reason"]
    assert all(r["status"] == "ok" and r["source_id"] for i, r in enumerate(results) if i != 41)
    upserts = [e for e in sim.log if e["path"].endswith("/Accounts/upsert")]
    assert len(upserts) == 3
    assert len(sim.modules["Accounts"]) == 3 + 249


def test_push_with_a_bad_line_names_it_and_sends_nothing(tmp_path: Path, servers: list[ThreadedServer]) -> None:
    server = _zoho(servers, 1)
    file = tmp_path / "accounts.jsonl"
    file.write_text(
        '{"name": "好公司有限公司"}\n{"name": "坏公司", "uscc": "91110000600037341M"}\nnot json\n', encoding="utf-8"
    )
    out = crmhub("push", "-c", str(_config(tmp_path, zoho=server)), "zoho", "accounts", str(file), cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "line 2" in out.stderr and "check character" in out.stderr and "line 3" in out.stderr
    assert not [e for e in server.app.simulator.log if e["path"].endswith("/upsert")]


def test_fxiaoke_pull_prints_12000_accounts_through_expiring_tokens_and_30004(
    tmp_path: Path, servers: list[ThreadedServer]
) -> None:
    server = _fxiaoke(servers, 12_000, FaultProfile(throttle_rate=0.04, seed=5))
    sim = server.app.simulator

    def queries() -> int:
        return sum(1 for e in list(sim.log.entries) if e["path"].endswith("/data/query"))

    with _tokens_die_after(queries, 20, lambda: sim.tokens.expire_all(sim.clock.now())):
        out = crmhub("pull", "-c", str(_config(tmp_path, fxiaoke=server)), "fxiaoke", "accounts", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _lines(out.stdout)
    assert len(rows) == 12_000 and len({r["source_id"] for r in rows}) == 12_000
    assert all(r["name"] for r in rows)
    assert server.app.stats.throttled > 0  # 30004 answers on the way
    assert sim.tokens.issued >= 2  # the first token died mid-run and a new one was fetched

    mark = max(r["last_modified_time"] for r in sim.tables["AccountObj"].records.values())
    since = _iso_ms(mark + 1)
    changed = _fxiaoke_mutate(server, 7)
    again = crmhub("pull", "-c", str(tmp_path / "crmhub.toml"), "fxiaoke", "accounts", "--since", since, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {r["source_id"] for r in _lines(again.stdout)} == changed


def test_fxiaoke_push_reports_per_record_and_a_retried_push_creates_no_duplicate(
    tmp_path: Path, servers: list[ThreadedServer]
) -> None:
    server = _fxiaoke(servers, 5)
    sim = server.app.simulator
    usccs = _usccs(3, seed=9)
    lines = [{"name": f"纷享推送{i}有限公司", "uscc": u} for i, u in enumerate(usccs)]
    lines.append({"name": "不存在有限公司", "source_id": "0" * 24})
    file = tmp_path / "accounts.jsonl"
    file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    cfg = str(_config(tmp_path, fxiaoke=server))
    first = _lines(crmhub("push", "-c", cfg, "fxiaoke", "accounts", str(file), cwd=tmp_path).stdout)
    assert [r["status"] for r in first] == ["ok", "ok", "ok", "error"]
    assert [r["action"] for r in first[:3]] == ["insert"] * 3
    assert "does not exist" in first[3]["reason"]
    second = _lines(crmhub("push", "-c", cfg, "fxiaoke", "accounts", str(file), cwd=tmp_path).stdout)
    assert [r["source_id"] for r in second[:3]] == [r["source_id"] for r in first[:3]]
    assert all(r["status"] == "ok" and r["action"] in ("unchanged", "update") for r in second[:3])
    held = Counter(r.get("uscc__c") for r in sim.tables["AccountObj"].records.values())
    assert all(held[u] == 1 for u in usccs)


def _usccs(count: int, seed: int = 1) -> list[str]:
    from crmhub.model.uscc import make

    return [make("91310000", f"{seed:02d}{i:06d}") for i in range(count)]


def _iso_ms(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _fxiaoke_mutate(server: ThreadedServer, count: int) -> set[str]:
    import httpx

    answer = httpx.post(server.url + "/_sandbox/mutate", json={"count": count, "seed": 1}, timeout=30)
    return set(answer.json()["ids"])
