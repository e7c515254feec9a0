"""crmhub's process exit codes, defined once so scripts, cron and schedulers can rely on them.

They are part of the public interface (docs/operations.md, "Exit codes") and never change meaning:

====  ===========  ==================================================================================
code  name         meaning
====  ===========  ==================================================================================
0     OK           everything asked for was done
1     FAILED       the command did not do its work (a sync whose every connector failed, a refused send)
2     USAGE        the command line, an input file or the configuration is wrong: fix it and run again
3     LOCKED       another run holds the lock (a sync of the same connector, the same job): wait or --wait
4     PARTIAL      done, except for some records or connectors (named in the report): look at them
70    INTERNAL     a bug in crmhub: the traceback is saved under var/log (EX_SOFTWARE of sysexits.h)
130   INTERRUPTED  stopped by Ctrl-C / SIGINT (128 + SIGINT, as shells report it)
====  ===========  ==================================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable exit codes of every ``crmhub`` command."""

    OK = 0
    FAILED = 1
    USAGE = 2
    LOCKED = 3
    PARTIAL = 4
    INTERNAL = 70
    INTERRUPTED = 130


_BY_STATUS = {
    "succeeded": ExitCode.OK,
    "skipped": ExitCode.OK,
    "partial": ExitCode.PARTIAL,
    "failed": ExitCode.FAILED,
    "locked": ExitCode.LOCKED,
    "interrupted": ExitCode.INTERRUPTED,
}


def for_status(status: str | None) -> ExitCode:
    """The exit code for a run or job status (``succeeded``, ``partial``, ``failed``, ``locked``, …)."""
    return _BY_STATUS.get(status or "", ExitCode.FAILED)


def for_counts(done: int, failed: int) -> ExitCode:
    """OK when nothing failed, FAILED when nothing was done but something failed, PARTIAL for a mix."""
    if not failed:
        return ExitCode.OK
    return ExitCode.PARTIAL if done else ExitCode.FAILED
