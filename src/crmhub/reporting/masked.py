"""The run report as people see it: personal data masked in every format (terminal, JSON, HTML).

A stored report keeps what the run saw (the planned write-backs carry the values to be written); everything
shown to people goes through `mask_report` first, so the three formats cannot disagree about what is masked.
"""

from __future__ import annotations

from typing import Any

from crmhub.core.report import RunReport
from crmhub.masking import mask_fields, mask_text


def _text(value: str | None) -> str | None:
    return mask_text(value) if value else value


def mask_report(report: RunReport) -> RunReport:
    """A copy of ``report`` with errors, client names and planned field values masked (by field)."""
    connectors = {
        name: rep.model_copy(
            update={
                "error": _text(rep.error),
                "streams": {
                    s: {k: mask_text(v) if isinstance(v, str) else v for k, v in counts.items()}
                    for s, counts in rep.streams.items()
                },
            }
        )
        for name, rep in report.connectors.items()
    }
    plan = [
        change.model_copy(
            update={
                "client_name": mask_text(change.client_name),
                "fields": {f: {k: mask_fields(v, f) for k, v in values.items()} for f, values in change.fields.items()},
            }
        )
        for change in report.plan
    ]
    return report.model_copy(update={"connectors": connectors, "plan": plan, "error": _text(report.error)})


def report_json(report: RunReport) -> dict[str, Any]:
    """The masked report as JSON (``crmhub sync --json``, ``crmhub report --format json``)."""
    return mask_report(report).model_dump(mode="json")
