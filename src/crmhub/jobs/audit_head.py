"""The audit chain head check every job run makes, so a broken chain is noticed within one schedule period.

`check` reads the newest `WINDOW` entries and one count (`crmhub.sync.audit_verify.check_head`), never the whole
log: ``crmhub audit verify`` is the full check. A problem is stored in the job's outcome (its history, shown by
``crmhub jobs list --json``) and in the sync run's report, and reported to operators once through the
``sync_failed`` route: the notification key is the first bad entry and what is wrong with it, so the same break
found by every later run is not sent again (`crmhub.notify.facts.job_failure_facts`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from crmhub.errors import CrmhubError
from crmhub.i18n import bilingual
from crmhub.jobs import joblog
from crmhub.store import Store
from crmhub.store.tables import SyncRun
from crmhub.sync.audit_verify import check_head

WINDOW = 200
"""How many of the newest entries each job run verifies."""


def check(store: Store, job: str, run_id: int | None) -> dict[str, Any] | None:
    """The first problem near the head as a JSON-ready dict (None when intact); also marked in the run's report."""
    try:
        with store.begin() as s:
            problem = check_head(s, WINDOW)
            if problem is None:
                return None
            found: dict[str, Any] = asdict(problem)
            if run_id is not None and (run := s.get(SyncRun, run_id)) is not None:
                run.report = {**(run.report or {}), "audit_chain": found}
    except CrmhubError as exc:  # no audit key on this machine: say so in the outcome, do not fail the job
        joblog.event(
            "audit_chain_unchecked",
            bilingual(
                f"作业 {job} 未能检查审计链：{exc.message}", f"job {job} could not check the audit chain: {exc.message}"
            ),
            level=logging.WARNING,
            job=job,
        )
        return {"kind": "unchecked", "detail": exc.message}
    joblog.event(
        "audit_chain_broken",
        bilingual(
            f"审计链已损坏（条目 #{problem.seq}）：{problem.detail}",
            f"audit chain broken at entry #{problem.seq}: {problem.detail}",
        ),
        level=logging.ERROR,
        job=job,
        seq=problem.seq,
        kind=problem.kind,
    )
    return found


def is_broken(found: dict[str, Any] | None) -> bool:
    """A real break (not "could not check here")."""
    return found is not None and found.get("kind") != "unchecked"
