"""Exit codes tell the truth: a sync whose every source is down is ``failed`` with the reason, fast, exit 1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.runs.helpers import crmhub, dead_sandbox_config, registry, write_config

from crmhub.core.exit_codes import ExitCode, for_counts, for_status
from crmhub.sandbox.serve import free_port_base, start_sandboxes

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def test_codes_are_stable() -> None:
    """The documented numbers (docs/operations.md) never change."""
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("FAILED", 1),
        ("USAGE", 2),
        ("LOCKED", 3),
        ("PARTIAL", 4),
        ("INTERNAL", 70),
        ("INTERRUPTED", 130),
    ]
    assert [for_status(s) for s in ("succeeded", "partial", "failed", "locked", "interrupted", "bogus")] == [
        ExitCode.OK,
        ExitCode.PARTIAL,
        ExitCode.FAILED,
        ExitCode.LOCKED,
        ExitCode.INTERRUPTED,
        ExitCode.FAILED,
    ]
    assert (for_counts(3, 0), for_counts(3, 1), for_counts(0, 1)) == (ExitCode.OK, ExitCode.PARTIAL, ExitCode.FAILED)


def test_sync_with_every_source_down_is_failed_quickly(tmp_path: Path) -> None:
    """Original break: 204 s of retries, "partially succeeded", connectors "ok", exit 0."""
    doc = dead_sandbox_config()
    doc["store"] = {"url": f"sqlite:///{tmp_path / 'crmhub.db'}"}
    doc["notify"] = {"enabled": False}
    config = write_config(tmp_path / "crmhub.toml", doc)
    started = time.monotonic()
    out = crmhub("sync", "-c", str(config), "--json", cwd=tmp_path)
    took = time.monotonic() - started
    assert out.returncode == ExitCode.FAILED, (out.returncode, out.stderr[-2000:])
    report = json.loads(out.stdout)
    assert report["status"] == "failed"
    assert set(report["connectors"]) == {"zoho", "fxiaoke", "ledger"}
    for name, rep in report["connectors"].items():
        assert rep["status"] == "failed", (name, rep)
        assert "could not be reached" in rep["error"], (name, rep["error"])
    assert "could not be reached" in report["error"]
    assert took < 60, took  # gave up after the connect budget, not after minutes of backoff


def test_one_source_down_is_partial_exit_4(tmp_path: Path) -> None:
    """The other connectors' work is done and reported; the run is partial and says so with exit 4."""
    apps = [a for a in registry().sandbox_apps if a.config_name in ("zoho", "ledger")]
    with start_sandboxes(apps, port_base=free_port_base(apps), seed=3, clients=20) as sandboxes:
        doc = sandboxes.config()
        dead = dead_sandbox_config()
        doc["connectors"]["fxiaoke"] = dead["connectors"]["fxiaoke"]
        doc["store"] = {"url": f"sqlite:///{tmp_path / 'crmhub.db'}"}
        doc["notify"] = {"enabled": False}
        doc.pop("channels", None)
        config = write_config(tmp_path / "crmhub.toml", doc)
        out = crmhub("sync", "-c", str(config), "--json", cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL, (out.returncode, out.stderr[-2000:])
    report = json.loads(out.stdout)
    assert report["status"] == "partial"
    assert report["connectors"]["fxiaoke"]["status"] == "failed"
    assert report["connectors"]["zoho"]["status"] == "ok" and report["totals"]["clients_created"] > 0
