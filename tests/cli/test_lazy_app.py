"""The root command loads command modules lazily (CLI start-up speed) and its static table stays true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmhub.cli.app import COMMANDS, load_command

PROBE = """
import json, sys
from crmhub.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.startswith("crmhub.cli.") or m in ("sqlalchemy", "alembic", "httpx"))
sys.stderr.write("\\nLOADED=" + json.dumps(loaded) + "\\n")
raise SystemExit(code)
"""


def probe(*args: str, cwd: Path) -> tuple[int, str, list[str]]:
    """Run `crmhub ARGS` in a fresh interpreter and report which heavy modules it imported."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "--lang", "en", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    marker = out.stderr.rsplit("LOADED=", 1)
    assert len(marker) == 2, out.stderr
    return out.returncode, out.stdout, json.loads(marker[1])


def first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_table_matches_the_command(name: str) -> None:
    """Each table entry names a real command whose own help starts with the table's one-liner."""
    command = load_command(name)
    assert command.name == name
    assert first_paragraph(command.help) == COMMANDS[name].help


def test_help_lists_every_command_without_importing_them(tmp_path: Path) -> None:
    """`crmhub --help` lists all commands from the table and imports no command module, no SQLAlchemy/Alembic."""
    code, stdout, loaded = probe("--help", cwd=tmp_path)
    assert code == 0
    for name in COMMANDS:
        assert f" {name} " in stdout, name
    assert [m for m in loaded if m.endswith("_cmds")] == []
    assert "sqlalchemy" not in loaded and "alembic" not in loaded


def test_chinese_help_lists_every_command_in_chinese(tmp_path: Path) -> None:
    """`crmhub --lang zh --help` shows each command's Chinese help, multi-paragraph docstrings included."""
    from crmhub.cli.help_zh import HELP_ZH

    out = subprocess.run(
        [sys.executable, "-m", "crmhub.cli", "--lang", "zh", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert out.returncode == 0
    for name, entry in COMMANDS.items():
        assert entry.help not in out.stdout, name
        full = next(k for k in HELP_ZH if first_paragraph(k) == entry.help)
        assert first_paragraph(HELP_ZH[full]) in out.stdout, name


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    """`crmhub clients --help` imports sync_cmds (where `clients` lives) and no other command module."""
    code, stdout, loaded = probe("clients", "--help", cwd=tmp_path)
    assert code == 0 and "list" in stdout
    assert [m for m in loaded if m.endswith("_cmds")] == ["crmhub.cli.sync_cmds"]


def test_config_check_needs_no_command_module_but_setup(tmp_path: Path) -> None:
    """`crmhub config check` runs with only setup_cmds imported."""
    root = Path(__file__).resolve().parents[2]
    code, stdout, loaded = probe("config", "check", "-c", str(root / "config/crmhub.toml"), cwd=tmp_path)
    assert code == 0 and "valid" in stdout
    assert [m for m in loaded if m.endswith("_cmds")] == ["crmhub.cli.setup_cmds"]
