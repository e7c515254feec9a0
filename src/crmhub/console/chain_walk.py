"""One walk of the audit chain in a child process, for the console's background verification.

`crmhub.sync.audit_verify.verify` is pure Python (a MAC per entry): on a long log it runs for tens of seconds.
Run in a thread of the console it would hold the interpreter lock that long, and every page served meanwhile would
wait its turn for it (the audit page took ~1 s at 100,000 clients while a walk ran). In a child process at a lower
CPU priority it competes with nothing but other processes. The parent sends ``{"url", "var_dir", "lang"}`` as JSON
on stdin (never the URL on the command line: it may hold a password); the child answers one JSON line on stdout:
``{"report": {...}}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from crmhub.console.reading import read_session
from crmhub.errors import CrmhubError
from crmhub.i18n import bilingual, set_lang
from crmhub.store import Store
from crmhub.sync.audit_verify import Problem, Report, verify

log = logging.getLogger(__name__)


def report_of(found: dict[str, Any]) -> Report:
    """A `Report` from the child's JSON answer."""
    problem = found.get("problem")
    return Report(**{**found, "problem": Problem(**problem) if problem else None})


def check(store: Store) -> tuple[Report | None, str | None]:
    """Walk ``store``'s chain: the report, or why the walk could not run (no audit key, an unreadable store)."""
    try:
        with read_session(store) as s:
            return verify(s), None
    except CrmhubError as exc:  # no audit key here: say so instead of failing the page
        return None, exc.message + (f" — {exc.hint}" if exc.hint else "")
    except SQLAlchemyError:
        log.exception("audit chain verification could not read the store")
        return None, bilingual("无法读取数据库（详见服务器日志）", "the store could not be read (see the server log)")


def walk(url: str, var_dir: str | None, lang: str) -> dict[str, Any]:
    """Verify the chain of the store at ``url`` (not migrated: the console already did); the child's answer."""
    set_lang("en" if lang == "en" else "zh")
    store = Store.open(url, migrate=False, var_dir=Path(var_dir) if var_dir else None)
    try:
        report, error = check(store)
        return {"report": asdict(report)} if report is not None else {"error": error}
    finally:
        store.dispose()


def main() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not on Windows
        os.nice(10)  # pages first: the walk may take its time
    asked = json.loads(sys.stdin.read())
    answer = walk(asked["url"], asked.get("var_dir"), asked.get("lang", "zh"))
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
