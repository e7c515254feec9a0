"""crmhub's command line. `main` handles ``--lang`` anywhere on the line and turns errors into messages."""

from __future__ import annotations

import sys
from typing import Any

import typer

from crmhub.core.exit_codes import ExitCode
from crmhub.errors import CrmhubError
from crmhub.i18n import LANGS, current_lang, set_lang, t
from crmhub.security.guard import install as guarded
from crmhub.security.guard import set_requested


def _take_global(argv: list[str], option: str) -> tuple[list[str], list[str]]:
    """Remove every ``OPTION X`` / ``OPTION=X`` from anywhere in argv: (the rest of argv, the values in order).

    Global options (``--lang``, ``--as``) are accepted in any position, before or after the command, so they are
    taken out of the line before click sees it.
    """
    out: list[str] = []
    values: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == option and i + 1 < len(argv):
            values.append(argv[i + 1])
            i += 2
        elif arg.startswith(option + "="):
            values.append(arg.split("=", 1)[1])
            i += 1
        else:
            out.append(arg)
            i += 1
    return out, values


def _take_lang(argv: list[str]) -> list[str]:
    """Remove ``--lang X`` / ``--lang=X`` from anywhere in argv and apply it (so every command accepts it)."""
    out, values = _take_global(argv, "--lang")
    for value in values:
        if value not in LANGS:
            sys.stderr.write(f"--lang must be one of: {', '.join(LANGS)} (got {value!r})\n")
            raise SystemExit(2)
        set_lang(value)  # type: ignore[arg-type,unused-ignore]
    return out


def _is_click_error(exc: BaseException, name: str) -> bool:
    """``exc`` is (a subclass of) click's exception class ``name``, whichever copy of click raised it.

    typer < 0.2x raises the ``click`` package's exceptions; newer typer raises those of its own vendored copy
    (``typer._click``) even when ``click`` is installed too, so an ``isinstance`` against one of them misses the
    other (issue #14: every usage mistake became an "internal error"). Matching the class name along the MRO,
    plus the attributes we use, works with both and with any later move of the vendored module.
    """
    return any(cls.__name__ == name for cls in type(exc).__mro__) and isinstance(getattr(exc, "exit_code", None), int)


def _show_usage_error(exc: Exception) -> int:
    """Print a click usage/parameter error the way click does ("Usage: … Try … --help … Error: …"); ExitCode.USAGE.

    ``crmhub`` (or a command group) without a command prints its help and exits 2, click's convention since 8.2
    (a missing command is a usage mistake); ``--help`` exits 0.
    """
    if _is_click_error(exc, "NoArgsIsHelpError"):
        # typer's rich help has already been printed (to stdout) while the exception was built; plain click puts
        # the help text into the message instead
        if str(getattr(exc, "message", "") or "").strip():
            exc.show()  # type: ignore[attr-defined]
    else:
        exc.show()  # type: ignore[attr-defined]
        if current_lang() == "zh" and _is_click_error(exc, "UsageError"):
            # click's own text is English only; say in Chinese what happened and where help is
            sys.stderr.write(t("usage_error") + "\n")
    return ExitCode.USAGE if _is_click_error(exc, "UsageError") else int(exc.exit_code)  # type: ignore[attr-defined]


def _take_as(argv: list[str]) -> list[str]:
    """Remove ``--as NAME`` / ``--as=NAME`` from anywhere in argv: the operator this command line acts as."""
    out, names = _take_global(argv, "--as")
    if any(not name.strip() for name in names):
        sys.stderr.write("--as needs an operator name\n")
        raise SystemExit(2)
    set_requested(names[-1].strip() if names else None)
    return out


def preload_config(config: Any) -> None:
    """Load (and so authorise) a guarded command's configuration before its body runs (`crmhub.security.guard`).

    A missing config file is left to the command (it may run on defaults, like ``db upgrade``); its own
    `load_context` then authorises — `load_context` always does. Imported here, not at the top: `crmhub --help`
    must not load the store (tests/cli/test_lazy_app.py).
    """
    from crmhub.cli.common import load_context
    from crmhub.config import resolve_path

    if not resolve_path(config).exists():
        return
    load_context(config)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crmhub`` console script: every outcome becomes an exit code, never a traceback.

    Exit codes: `crmhub.core.exit_codes.ExitCode` (docs/operations.md, "Exit codes"); usage mistakes are
    ``ExitCode.USAGE`` (docs/development.md, "The command line").
    """
    from crmhub.cli.app import app
    from crmhub.cli.help_i18n import install as localized_help

    localized_help()
    guarded(preload_config)

    args = _take_as(_take_lang(list(sys.argv[1:] if argv is None else argv)))
    try:
        result = app(args=args, prog_name="crmhub", standalone_mode=False)
    except CrmhubError as exc:
        from crmhub.cli.common import report_error  # imported on demand: it pulls in the store and the config

        return report_error(exc)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        from crmhub.cli.common import err_console

        err_console.print(t("interrupted"))
        return ExitCode.INTERRUPTED
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:
        if _is_click_error(exc, "ClickException"):
            return _show_usage_error(exc)
        if _is_click_error(exc, "Exit"):  # the other copy's Exit (typer.Exit is one of the two)
            return int(exc.exit_code)  # type: ignore[attr-defined]
        if any(cls.__name__ == "Abort" for cls in type(exc).__mro__):
            return ExitCode.INTERRUPTED
        from crmhub.cli.common import report_internal

        return report_internal(exc)
    # with standalone_mode=False, click returns the code of a `typer.Exit` instead of raising it
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
