"""The set-up commands as a user runs them: real `crmhub` processes, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

ROOT = Path(__file__).resolve().parents[2]


def crmhub(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script in a subprocess, as a user would."""
    full_env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "crmhub.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    """`crmhub --version` prints the version."""
    out = crmhub("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("crmhub 0.")


def test_plugins_list_shows_the_five_plugins(tmp_path: Path) -> None:
    """All five built-in plugins load and say what they provide."""
    out = crmhub("plugins", "list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for name in ("zoho_crm", "fxiaoke", "core_ledger", "email", "wechat_work"):
        assert name in out.stdout
    assert "not loaded" not in out.stdout
    assert "statement importers: core_ledger" in " ".join(out.stdout.split())


def test_example_config_is_valid(tmp_path: Path) -> None:
    """`crmhub config check -c config/crmhub.toml` exits 0."""
    out = crmhub("config", "check", "-c", str(ROOT / "config/crmhub.toml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "valid" in out.stdout


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (("accounts_url =", "acounts_url ="), "connectors.zoho.acounts_url", "did you mean 'accounts_url'?"),
        (
            ('"${ZOHO_ACCOUNTS_URL:-http://127.0.0.1:8700}"', '"not a url"'),
            "connectors.zoho.accounts_url",
            "expected a URL",
        ),
    ],
)
def test_bad_config_names_key_without_traceback(tmp_path: Path, edit: tuple[str, str], key: str, expected: str) -> None:
    """A misspelt key or a malformed URL exits non-zero naming the key path; no traceback."""
    text = (ROOT / "config/crmhub.toml").read_text(encoding="utf-8").replace(*edit, 1)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    out = crmhub("config", "check", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert key in out.stderr and expected in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_init_then_check_then_db_upgrade(tmp_path: Path) -> None:
    """`init` writes the starter config, which checks clean; `db upgrade` creates the store."""
    assert crmhub("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "config/crmhub.toml").exists()
    assert crmhub("init", cwd=tmp_path).returncode == 1  # refuses to overwrite
    assert crmhub("config", "check", cwd=tmp_path).returncode == 0
    out = crmhub("db", "upgrade", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "var/crmhub.db").exists()


def test_lang_anywhere_and_chinese_default(tmp_path: Path) -> None:
    """--lang works after the subcommand; Chinese is the default language."""
    cfg = ROOT / "config/crmhub.toml"
    zh = crmhub("config", "check", "-c", str(cfg), cwd=tmp_path, env={"CRMHUB_LANG": ""})
    assert "配置有效" in zh.stdout
    en = crmhub("config", "check", "-c", str(cfg), "--lang", "en", cwd=tmp_path, env={"CRMHUB_LANG": ""})
    assert "valid" in en.stdout and "配置有效" not in en.stdout


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    """No config file: one message naming it and what to do."""
    out = crmhub("connectors", "check", cwd=tmp_path)
    assert out.returncode == 2
    assert "config/crmhub.toml not found" in out.stderr and "crmhub init" in out.stderr
