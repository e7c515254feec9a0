"""Usage mistakes are usage errors (issue #14 item 5): the installed `crmhub` script prints click's usage message and
exits 2 — never "内部错误 … 请反馈给开发团队" (exit 70), which is what every mistake gave with the typer a fresh install
got (typer ≥ 0.2x raises the exceptions of its own vendored copy of click, not the `click` package's).

These run the console script that pip installed next to the interpreter, as a user does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

SCRIPT = Path(sys.executable).parent / ("crmhub.exe" if os.name == "nt" else "crmhub")

MISTAKES = [
    pytest.param(["sync", "--bogus"], "crmhub sync", "No such option: --bogus", id="unknown-option"),
    pytest.param(["clients", "list", "--limit", "abc"], "crmhub clients list", "--limit", id="bad-value"),
    pytest.param(["clients", "show"], "crmhub clients show", "Missing argument", id="missing-argument"),
    pytest.param(["nosuchcommand"], "crmhub", "No such command", id="unknown-command"),
]


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("CRMHUB_LANG", None)
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_not_internal(out: subprocess.CompletedProcess[str]) -> None:
    both = out.stdout + out.stderr
    assert "内部错误" not in both and "Internal error" not in both and "Traceback" not in both, both


def test_the_console_script_is_installed() -> None:
    """The tests below exercise the real entry point, not an import of `main`."""
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the project with pip install -e '.[dev]'"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("args", "command_path", "message"), MISTAKES)
def test_mistake_prints_usage_and_exits_2(
    tmp_path: Path, lang: str, args: list[str], command_path: str, message: str
) -> None:
    """Each mistake: exit 2, click's "Usage: … Try '… --help' … Error: …" on stderr, nothing on stdout."""
    out = run_script("--lang", lang, *args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert_not_internal(out)
    assert f"Usage: {command_path} " in out.stderr
    assert f"Try '{command_path} --help' for help." in out.stderr
    assert "Error: " in out.stderr and message in out.stderr
    assert out.stdout == ""
    assert ("用法错误" in out.stderr) is (lang == "zh")
    assert not (tmp_path / "var").exists(), "a usage error must not write an internal-error log"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("args", [[], ["clients"], ["notify"]], ids=["no-args", "group-clients", "group-notify"])
def test_missing_command_shows_help_and_exits_2(tmp_path: Path, lang: str, args: list[str]) -> None:
    """`crmhub` or a group alone shows that level's help on stderr and exits 2 (click ≥ 8.2: a missing command is
    a usage mistake); stdout stays empty so a script piping it gets nothing half-written."""
    out = run_script("--lang", lang, *args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert_not_internal(out)
    assert f"Usage: {' '.join(['crmhub', *args])} [OPTIONS] COMMAND [ARGS]..." in out.stderr
    assert ("命令" if lang == "zh" else "Commands") in out.stderr  # the commands panel, titled in the language
    assert out.stdout == ""


def test_help_is_not_an_error(tmp_path: Path) -> None:
    """`--help` asked for on purpose: the help on stdout, exit 0."""
    out = run_script("--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Usage: crmhub [OPTIONS] COMMAND [ARGS]..." in out.stdout
    for name in ("sync", "clients", "deadletter", "alerts", "jobs", "worker"):
        assert name in out.stdout


def test_bad_lang_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown --lang value exits 2 naming the allowed values."""
    out = run_script("--lang", "fr", "sync", cwd=tmp_path)
    assert out.returncode == 2
    assert "zh, en" in out.stderr
    assert_not_internal(out)
