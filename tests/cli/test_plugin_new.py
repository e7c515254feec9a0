"""`crmhub plugins new connector|channel NAME`: the generated packages install, are ruff-clean, and their own tests —
the conformance kit included — pass unchanged (issue #18: "a package created from the template passes
crmhub.testing unchanged, in CI").

How the generated plugin is found: pip installs each package (``pip install --no-deps --target SITE``: a real
build through its own pyproject.toml, hatchling and all, writing the package and its ``.dist-info`` with the
``crmhub.plugins`` entry point), and the generated tests run with SITE on ``PYTHONPATH``. ``importlib.metadata``
reads entry points from every ``.dist-info`` on ``sys.path``, so crmhub's plugin manager loads the new plugin
exactly as it loads one installed into site-packages; the kit's checks look the class up through that registry
(no ``connector_class`` is given), so a broken entry point fails them. Installing into SITE rather than this venv
keeps the plugin out of every other test of the suite. With hatchling in the environment (the ``dev`` extra) the
build runs without an isolated build environment, which saves pip a download and a venv per package.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from crmhub.cli import main
from crmhub.cli.plugin_new import crmhub_range
from crmhub.i18n import set_lang

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``crmhub ARGS`` in this process (no interpreter start): (exit code, stdout, stderr)."""
    from crmhub.cli.common import console, err_console

    monkeypatch.setattr(console, "width", 300)
    monkeypatch.setattr(err_console, "width", 300)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        finally:
            set_lang(None)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.mark.slow  # ~15 s on an idle two-core machine: two pip builds and two pytest runs
def test_generated_packages_pass_their_own_tests_and_the_kit(tmp_path: Path, cli: Cli) -> None:
    for kind, name in (("connector", "csv_files"), ("channel", "dingtalk")):
        code, out, err = cli("--lang", "en", "plugins", "new", kind, name, "--dir", str(tmp_path))
        assert code == 0, err
        assert f'plugin = "{name}"' in out
    connector, channel = tmp_path / "crmhub-csv-files", tmp_path / "crmhub-dingtalk"
    low, high = crmhub_range()
    assert f'dependencies = ["crmhub>={low},<{high}"]' in (connector / "pyproject.toml").read_text(encoding="utf-8")
    assert 'csv_files = "crmhub_csv_files.plugin"' in (connector / "pyproject.toml").read_text(encoding="utf-8")

    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(connector), str(channel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    site = tmp_path / "site"
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-input",
            "--disable-pip-version-check",
            *isolation,
            "--target",
            str(site),
            str(connector),
            str(channel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    assert (site / "crmhub_csv_files-0.1.0.dist-info" / "entry_points.txt").read_text(encoding="utf-8").split() == [
        "[crmhub.plugins]",
        "csv_files",
        "=",
        "crmhub_csv_files.plugin",
    ]

    env = {**os.environ, "PYTHONPATH": str(site), "CRMHUB_LANG": "en"}
    env.pop("CRMHUB_DISABLE_PLUGINS", None)
    runs = {
        package: subprocess.Popen(
            [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
            cwd=package,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for package in (connector, channel)
    }  # both at once: the two cores are shared, the waits are not
    listed = subprocess.run(
        [sys.executable, "-m", "crmhub.cli", "plugins", "list"],
        env={**env, "COLUMNS": "300"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    for line in ("connectors: csv_files; simulators: csv_files", "channels: dingtalk; simulators: dingtalk"):
        assert line in listed.stdout, listed.stdout  # the core's own registry loads both through the entry point
    assert "not loaded" not in listed.stdout
    outputs = {package.name: runs[package].communicate(timeout=300)[0] for package in runs}
    for package, proc in runs.items():
        output = outputs[package.name]
        assert proc.returncode == 0, f"{package.name}:\n{output}"
        summary = output.strip().splitlines()[-1]
        assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary
    for check in (
        "test_pull_resumes_from_every_cursor",
        "test_pages_commit_with_their_cursor",
        "test_push_answers_each_record_in_order",
        "test_rejected_credentials_are_fatal",
    ):
        assert f"tests/test_conformance.py::TestCsvFilesContract::{check} PASSED" in outputs[connector.name], check
    for check in ("test_send_answers_every_recipient", "test_throttling_is_retriable", "test_secrets_never_in_logs"):
        assert f"tests/test_conformance.py::TestDingtalkContract::{check} PASSED" in outputs[channel.name], check


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("CSV", "is not valid"),
        ("9lives", "is not valid"),
        ("a", "is not valid"),
        ("csv__files", "is not valid"),
        ("class", "is not valid"),
        ("zoho", "is taken: a package crmhub_zoho is already installed"),
        ("wechat_work", "is taken: an installed plugin is registered under it"),
    ],
)
def test_a_bad_name_is_refused_saying_what_a_name_may_be(tmp_path: Path, cli: Cli, name: str, words: str) -> None:
    code, _, err = cli("--lang", "en", "plugins", "new", "connector", name, "--dir", str(tmp_path))
    assert code == 2, err
    assert words in err and "lower-case letters" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path, cli: Cli) -> None:
    target = tmp_path / "crmhub-dingtalk"
    target.mkdir()
    (target / "mine.txt").write_text("keep", encoding="utf-8")
    code, _, err = cli("--lang", "zh", "plugins", "new", "channel", "dingtalk", "--dir", str(tmp_path))
    assert code == 2
    assert "已存在；未写入任何文件" in err and "请换一个名称" in err
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


def test_messages_and_help_in_chinese(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli("--lang", "zh", "plugins", "new", "channel", "Bad-Name", "--dir", str(tmp_path))
    assert code == 2 and "插件名称 'Bad-Name' 无效" in err and "请使用 2–40 个小写字母" in err
    code, page, _ = cli("--lang", "zh", "plugins", "new", "--help")
    assert code == 0 and "创建连接器包" in page and "创建通知渠道包" in page


def test_the_installed_command_creates_a_package(tmp_path: Path) -> None:
    """The console entry point end to end, in Chinese, into the current folder (no --dir)."""
    out = subprocess.run(
        [sys.executable, "-m", "crmhub.cli", "--lang", "zh", "plugins", "new", "connector", "csv_files"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "已创建连接器包" in out.stdout and 'plugin = "csv_files"' in out.stdout
    assert (tmp_path / "crmhub-csv-files" / "src" / "crmhub_csv_files" / "plugin.py").is_file()
