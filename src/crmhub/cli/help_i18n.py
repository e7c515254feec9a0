"""Help pages in the CLI's language: ``crmhub --lang zh clients show --help`` reads Chinese.

Help strings stay in English in the command modules (docstrings and ``help=``; one source of truth, and they are
what ``--lang en`` shows). When typer renders a help page, the command, its parameters and — for a group — its
subcommands get their help from `crmhub.cli.help_zh.HELP_ZH` in zh (falling back to English for a text that has
no translation yet; tests/screens/test_help.py makes sure there is none). Rendering-time translation works
whether the command modules were imported eagerly or lazily, and the panel titles are translated with it.
"""

from __future__ import annotations

from typing import Any

from crmhub.i18n import Lang, current_lang

_EN = "_crmhub_help_en"
_PANELS: dict[str, dict[Lang, str]] = {
    "ARGUMENTS_PANEL_TITLE": {"en": "Arguments", "zh": "参数"},
    "OPTIONS_PANEL_TITLE": {"en": "Options", "zh": "选项"},
    "COMMANDS_PANEL_TITLE": {"en": "Commands", "zh": "命令"},
}


def translate(text: str | None, lang: Lang) -> str | None:
    """The help ``text`` (English, as written in the code) in ``lang``."""
    if text is None or lang == "en":
        return text
    from crmhub.cli.help_zh import HELP_ZH

    return HELP_ZH.get(text.strip(), text)


def _swap(obj: Any, lang: Lang) -> None:
    """Set ``obj.help`` (a command or parameter) to its text in ``lang``, remembering the English original."""
    if not hasattr(obj, "help"):
        return
    english = obj.__dict__.get(_EN)
    if english is None:
        english = obj.help
        obj.__dict__[_EN] = english
    obj.help = translate(english, lang)


def localize(command: Any, ctx: Any, lang: Lang) -> None:
    """Translate a command's help, its parameters' help and (for a group) its subcommands' help."""
    _swap(command, lang)
    for param in command.get_params(ctx):
        _swap(param, lang)
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                _swap(sub, lang)


def install() -> None:
    """Make typer's help pages follow the current language (idempotent)."""
    import typer.core
    import typer.rich_utils

    for cls in (typer.core.TyperCommand, typer.core.TyperGroup):
        if getattr(cls.format_help, "_crmhub_localized", False):
            continue
        original = cls.format_help

        def format_help(self: Any, ctx: Any, formatter: Any, _original: Any = original) -> None:
            lang = current_lang()
            localize(self, ctx, lang)
            for name, titles in _PANELS.items():
                setattr(typer.rich_utils, name, titles[lang])
            _original(self, ctx, formatter)

        format_help._crmhub_localized = True  # type: ignore[attr-defined]
        cls.format_help = format_help  # type: ignore[method-assign]
