"""`crmhub sync` end to end over real HTTP to every simulator and real SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from crmhub import plugins
from crmhub.cli import main
from crmhub.cli.common import Context
from crmhub.cli.sync_cmds import build_engine
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.tables import GoldenClient, Outbox
from crmhub.sync import queries
from crmhub.sync.evaluation import matching_quality

from .conftest import sandbox_settings, write_config

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

# Tests of run-to-run behaviour (reruns, increments, dry runs, the CLI path) hold per record, not per population:
# a 50-company world (8 companies in all three systems, write-backs in both CRMs) proves them as well as 150
# and halves their sync time. Matching quality keeps the default 150-company world.
SMALL_WORLD = pytest.mark.parametrize("sandbox", [50], indirect=True, ids=["50-clients"])


async def test_one_golden_record_per_company(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str
) -> None:
    """Three systems, one golden client per real company, matched against the world's ground truth."""
    settings = sandbox_settings(sandbox, registry, store_url)
    report = await build_engine(Context(registry, settings), store).run()
    assert report.status == "succeeded", report.model_dump_json(indent=1)
    with store.begin() as s:
        quality = matching_quality(s, sandbox.world.truth())
        assert quality.precision >= 0.995 and quality.recall >= 0.98, quality
        in_all_three = next(
            c
            for c in sandbox.world.companies(ledger_detail=False)
            if c.zoho and c.fxiaoke and c.ledger and c.parent_key is None
        )
        row = queries.find_client(s, in_all_three.uscc)
        data = queries.client_json(row)
        assert sorted(data["external_ids"]) == ["fxiaoke", "ledger", "zoho"]
        assert data["external_ids"]["zoho"] == [in_all_three.zoho.source_id]  # type: ignore[union-attr]
        lineage = {f.field: f for f in queries.explain(s, row.id)}
        assert lineage["name"].source == "ledger" and lineage["name"].rule == "source_priority"
        usccs = s.scalars(select(GoldenClient.uscc).where(GoldenClient.uscc.is_not(None))).all()
        assert len(usccs) == len(set(usccs))


@SMALL_WORLD
async def test_rerun_with_nothing_new_changes_and_writes_nothing(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str
) -> None:
    """After a full sync (and the echo of its write-backs), a rerun reports zero changes and zero writes."""
    engine = build_engine(Context(registry, sandbox_settings(sandbox, registry, store_url)), store)
    first = await engine.run()
    assert first.totals.written_back > 0
    echo = await engine.run()
    idle = await engine.run()
    assert idle.changes == 0, idle.totals
    assert idle.totals.written_back == 0 and idle.totals.planned_writes == 0
    for name in ("zoho", "fxiaoke"):
        assert idle.connectors[name].streams["accounts"]["updated"] == 0
    assert echo.totals.clients_created == 0


@SMALL_WORLD
async def test_incremental_sync_reads_only_changes(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str
) -> None:
    """Records changed in the simulators are all that the next run reads from the CRMs."""
    engine = build_engine(Context(registry, sandbox_settings(sandbox, registry, store_url)), store)
    await engine.run()
    await engine.run()
    changed = {}
    async with httpx.AsyncClient() as client:
        for name in ("zoho_crm", "fxiaoke"):
            answer = (await client.post(f"{sandbox[name].url}/_sandbox/mutate", json={"count": 5, "seed": 1})).json()
            changed[name] = answer
    report = await engine.run()
    for name in ("zoho", "fxiaoke"):
        stream = report.connectors[name].streams["accounts"]
        # the read may include an overlap window re-read (unchanged); only the mutated records are updates
        assert 1 <= stream["updated"] <= 5 and stream["created"] == 0, (name, stream)
    assert report.totals.clients_updated >= 1


@SMALL_WORLD
async def test_dry_run_writes_nothing(
    sandbox: SandboxSet, registry: plugins.Registry, store: Store, store_url: str
) -> None:
    """A dry run prints a plan and leaves the store and every simulator untouched."""
    zoho = sandbox["zoho_crm"].simulator
    before = len([r for r in zoho.requests if r.method != "GET"]) if hasattr(zoho, "requests") else 0
    report = await build_engine(Context(registry, sandbox_settings(sandbox, registry, store_url)), store).run(
        dry_run=True
    )
    assert report.plan and {p.connector for p in report.plan} <= {"zoho", "fxiaoke"}
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(GoldenClient)) == 0
        assert s.scalar(select(func.count()).select_from(Outbox)) == 0
    after = len([r for r in zoho.requests if r.method != "GET"]) if hasattr(zoho, "requests") else 0
    assert after == before


@SMALL_WORLD
def test_cli_sync_clients_and_explain(sandbox: SandboxSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The operator's path: `crmhub sync --json`, `clients list --json`, `clients show`, `clients explain`."""
    cfg = write_config(tmp_path / "sb.toml", sandbox, f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["sync", "-c", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "succeeded" and report["totals"]["clients_created"] > 0
    assert main(["clients", "list", "-c", str(cfg), "--json", "--limit", "500"]) == 0
    clients = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert clients and all({"id", "uscc", "name", "industry", "external_ids", "risk"} <= set(c) for c in clients)
    multi = next(c for c in clients if len(c["external_ids"]) == 3)
    assert main(["clients", "explain", multi["uscc"] or str(multi["id"]), "-c", str(cfg), "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert {f["field"] for f in explained["fields"]} >= {"name", "uscc"}
    assert all(f["source"] in ("zoho", "fxiaoke", "ledger") and f["rule"] for f in explained["fields"])
    assert main(["report", "-c", str(cfg), "--format", "html", "-o", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "http" not in html.split("<body>")[1][:200]


async def test_every_connector_and_channel_checks_out_against_the_simulators(
    sandbox: SandboxSet, registry: plugins.Registry, tmp_path: Path
) -> None:
    """`crmhub sandbox serve --write-config` + `crmhub connectors check`: all five reachable and authenticated."""
    from crmhub.cli.connector_cmds import check_all

    settings = sandbox_settings(sandbox, registry, f"sqlite:///{tmp_path / 'check.db'}")
    rows = await check_all(Context(registry, settings), timeout=60)
    assert {(kind, name) for kind, name, _ in rows} == {
        ("connector", "zoho"),
        ("connector", "fxiaoke"),
        ("connector", "ledger"),
        ("channel", "wecom"),
        ("channel", "email"),
    }
    assert all(result is not None and result.ok for _, _, result in rows), rows
