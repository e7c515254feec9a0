"""The dead-letter notification names a command that exists (`crmhub deadletter retry`), in every channel."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from crmhub.cli import main
from crmhub.notify.context import dead_letters_context, undelivered_context
from crmhub.notify.settings import NotifySettings
from crmhub.store.tables import Outbox, SyncRun
from crmhub_email import render_email
from crmhub_wechat import render_wecom

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _commands(text: str) -> set[str]:
    return set(re.findall(r"crmhub (?:deadletters?|notify) retry(?: --all| \d+)?", text))


def _renders(ctx: dict[str, object], lang: str) -> list[str]:
    _subject, text, html = render_email("dead_letters", lang, ctx)
    return [text, html, render_wecom("dead_letters", lang, ctx)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dead_letter_messages_name_the_real_retry_command(lang: str) -> None:
    ctx = dead_letters_context(
        SyncRun(id=5), [("zoho", "accounts", 2)], [("A1", "USCC invalid")], NotifySettings(), NOW
    )
    for part in _renders(ctx, lang):
        assert _commands(part) == {"crmhub deadletter retry --all"}, part
    failed = Outbox(id=42, target="mail", state="failed", stream="alert", payload={"event": "alert"})
    for part in _renders(undelivered_context(failed, NotifySettings(), NOW), lang):
        assert _commands(part) == {"crmhub notify retry 42"}, part


@pytest.mark.parametrize("argv", [["deadletter", "retry", "--help"], ["notify", "retry", "--help"]])
def test_the_named_commands_exist(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "Usage" in capsys.readouterr().out
