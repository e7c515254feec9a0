"""crmhub's command line. `main` handles ``--lang`` anywhere on the line and turns errors into messages."""

from __future__ import annotations

import sys

import typer

from crmhub.errors import CrmhubError
from crmhub.i18n import LANGS, set_lang


def _take_lang(argv: list[str]) -> list[str]:
    """Remove ``--lang X`` / ``--lang=X`` from anywhere in argv and apply it (so every command accepts it)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        value: str | None = None
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
        elif arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
            i += 1
        else:
            out.append(arg)
            i += 1
            continue
        if value not in LANGS:
            sys.stderr.write(f"--lang must be one of: {', '.join(LANGS)} (got {value!r})\n")
            raise SystemExit(2)
        set_lang(value)  # type: ignore[arg-type,unused-ignore]
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crmhub`` console script."""
    from crmhub.cli.app import app
    from crmhub.cli.common import report_error, report_internal
    from crmhub.cli.help_i18n import install as localized_help

    localized_help()

    args = _take_lang(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="crmhub", standalone_mode=False)
    except CrmhubError as exc:
        return report_error(exc)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        return 130
    except KeyboardInterrupt:
        from crmhub.cli.common import err_console
        from crmhub.i18n import t

        err_console.print(t("interrupted"))
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        return report_internal(exc)
    # with standalone_mode=False, click returns the code of a `typer.Exit` instead of raising it
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
