"""One store per configuration: relative paths in the config are resolved against the config file's folder.

Original break: running `crmhub` from another folder silently created an empty store (and a new secret key) there,
and the next notify pass re-sent every alert.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.runs.helpers import crmhub, registry, write_config

from crmhub.config import anchored_url, parse_settings
from crmhub.sandbox.serve import free_port_base, start_sandboxes

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def test_sync_then_read_from_another_folder_uses_the_same_store(tmp_path: Path) -> None:
    home, first_cwd, other_cwd = tmp_path / "conf", tmp_path / "a", tmp_path / "b"
    first_cwd.mkdir()
    other_cwd.mkdir()
    apps = registry().sandbox_apps
    with start_sandboxes(apps, port_base=free_port_base(apps), seed=11, clients=30) as sandboxes:
        doc = sandboxes.config()
        doc["store"] = {"url": "sqlite:///var/crmhub.db"}  # relative, as in the shipped example
        doc["notify"] = {"groups": {"operators": ["ops@bank.example"], "risk_team": ["risk@bank.example"]}}
        config = write_config(home / "crmhub.toml", doc)
        synced = crmhub("sync", "-c", str(config), "--json", cwd=first_cwd)
        assert synced.returncode in (0, 4), synced.stderr[-3000:]
        assert json.loads(synced.stdout)["totals"]["clients_created"] > 0

        listed = crmhub("clients", "list", "-c", str(config), "--json", cwd=other_cwd)
        assert listed.returncode == 0, listed.stderr[-3000:]
        assert len(listed.stdout.splitlines()) == json.loads(synced.stdout)["totals"]["clients_created"]
        again = crmhub("notify", "run", "-c", str(config), "--json", cwd=other_cwd)
        assert again.returncode == 0, again.stderr[-3000:]
        assert sum(json.loads(again.stdout)["planned"].values()) == 0  # nothing re-planned, nothing re-sent
        upgraded = crmhub("db", "upgrade", "-c", str(config), cwd=other_cwd)
        assert str(home / "var" / "crmhub.db") in upgraded.stdout

    assert (home / "var" / "crmhub.db").is_file() and (home / "var" / "secret.key").is_file()
    for cwd in (first_cwd, other_cwd):
        assert not (cwd / "var").exists(), sorted(p.name for p in (cwd / "var").rglob("*"))


def test_internal_error_log_goes_to_the_configs_var(tmp_path: Path) -> None:
    """A crash log lands in <config folder>/var/log, not in whatever folder the command was started from."""
    home, cwd = tmp_path / "conf", tmp_path / "elsewhere"
    cwd.mkdir()
    (home).mkdir()
    (home / "crmhub.toml").write_text('[store]\nurl = "sqlite:///var/crmhub.db"\n', encoding="utf-8")
    # a store file that is not a database: Store.open fails with an unexpected error, i.e. an internal one
    (home / "var").mkdir()
    (home / "var" / "crmhub.db").write_bytes(b"this is not a database file" * 100)
    out = crmhub("clients", "list", "-c", str(home / "crmhub.toml"), cwd=cwd)
    assert out.returncode == 70, out.stderr
    assert list((home / "var" / "log").glob("crmhub-error-*.log")), out.stderr
    assert not (cwd / "var").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/crmhub.db", "sqlite:////srv/conf/var/crmhub.db"),
        ("sqlite:////abs/crmhub.db", "sqlite:////abs/crmhub.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_anchored_url(url: str, expected: str) -> None:
    assert anchored_url(url, Path("/srv/conf")) == expected


def test_report_dir_and_var_follow_the_config(tmp_path: Path) -> None:
    settings = parse_settings({}, registry())
    settings.anchor(tmp_path)
    assert settings.report.dir == str(tmp_path / "var" / "reports") and settings.var_dir == tmp_path / "var"


def test_the_init_layout_keeps_its_store_in_the_project_var(tmp_path: Path) -> None:
    """`crmhub init` writes <project>/config/crmhub.toml; its store stays <project>/var/crmhub.db from any cwd."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    assert crmhub("init", cwd=project).returncode == 0
    out = crmhub("db", "upgrade", "-c", str(project / "config" / "crmhub.toml"), cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    assert (project / "var" / "crmhub.db").is_file() and not (elsewhere / "var").exists()
