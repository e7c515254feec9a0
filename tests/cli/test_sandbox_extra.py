"""Without the `[sandbox]` extra, `crmhub sandbox …` and `crmhub demo` name the extra to install, in zh and en,
with a usage exit code and no traceback (`.ci/lean-install` checks the same against a real lean install)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmhub.cli import main, sandbox_cmds


@pytest.mark.parametrize(
    ("argv", "lang", "expected"),
    [
        (["sandbox", "serve"], "en", "`crmhub sandbox` needs the [sandbox] extra (not_installed_here missing)"),
        (["demo", "--dir"], "zh", "`crmhub demo` 需要 [sandbox] 扩展（缺少 not_installed_here）"),
    ],
)
def test_a_missing_extra_is_named(
    argv: list[str],
    lang: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The guard runs before anything else (the demo's --dir is a temporary folder in case it did not)."""
    monkeypatch.setattr(sandbox_cmds, "SANDBOX_MODULES", ("aiosmtpd", "not_installed_here"))
    if argv[-1] == "--dir":
        argv = [*argv, str(tmp_path / "demo")]
    assert main(["--lang", lang, *argv]) == 2
    assert not (tmp_path / "demo").exists()
    err = " ".join(capsys.readouterr().err.split())
    assert expected in err and 'pip install "crmhub[sandbox]"' in err and "Traceback" not in err


def test_the_extra_lists_what_the_simulators_import() -> None:
    """The guard checks the modules the `[sandbox]` extra installs (and the dev environment has them)."""
    assert sandbox_cmds.SANDBOX_MODULES == ("aiosmtpd", "tomli_w", "httptools")
    sandbox_cmds.require_sandbox_extra("sandbox")  # installed here: no error
