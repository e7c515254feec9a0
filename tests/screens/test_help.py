"""Help texts exist in both languages: every command, argument and option has a Chinese help text, and
``--lang zh … --help`` shows it (``--lang en`` the English one)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from crmhub.cli import main
from crmhub.cli.app import app
from crmhub.cli.help_zh import HELP_ZH
from crmhub.i18n import set_lang

_HAN = re.compile(r"[\u4e00-\u9fff]")


def _help_texts() -> dict[str, str]:
    """Every help text of the command tree → where it is (``clients show --reveal``)."""
    from typer._click import Context

    found: dict[str, str] = {}

    def walk(command: Any, path: list[str]) -> None:
        ctx = Context(command)
        if command.help:
            found.setdefault(command.help.strip(), " ".join(path) or "crmhub")
        for param in command.get_params(ctx):
            if getattr(param, "help", None):
                found.setdefault(param.help.strip(), " ".join([*path, param.name or ""]))
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_help_text_has_a_chinese_translation() -> None:
    texts = _help_texts()
    assert len(texts) > 100
    missing = {where: text for text, where in texts.items() if text not in HELP_ZH}
    assert missing == {}, "add these to crmhub/cli/help_zh.py (English text → Chinese):\n" + "\n".join(
        f"  {where}: {text!r}" for where, text in missing.items()
    )
    assert all(_HAN.search(zh) for zh in HELP_ZH.values())


@pytest.mark.parametrize(
    ("lang", "expected", "absent"),
    [
        (
            "zh",
            ["显示一条客户主记录", "需要查看明文个人信息的原因", "选项", "显示此帮助信息并退出"],
            ["Show one golden client"],
        ),
        (
            "en",
            ["Show one golden client", "Why the personal data is needed in clear", "Options"],
            ["显示一条客户主记录"],
        ),
    ],
)
def test_help_page_follows_lang(
    lang: str, expected: list[str], absent: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        assert main(["--lang", lang, "clients", "show", "--help"]) == 0
        out = capsys.readouterr().out
        assert all(e in out for e in expected), out
        assert not any(a in out for a in absent), out
        assert main(["--lang", lang, "--help"]) == 0
        root = capsys.readouterr().out
        assert ("客户主记录" in root) == (lang == "zh") and ("Golden client records" in root) == (lang == "en")
    finally:
        set_lang(None)
