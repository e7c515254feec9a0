"""A self-contained HTML run report (inline CSS and SVG charts; no external assets), in zh or en."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from crmhub.core.report import RunReport
from crmhub.display import current_timezone, label, local_time
from crmhub.i18n import Lang
from crmhub.masking import mask_fields, mask_text
from crmhub.reporting.labels import LABELS, STREAM_COLUMNS
from crmhub.reporting.masked import mask_report
from crmhub.reporting.terminal import queued_lines

_env = Environment(loader=PackageLoader("crmhub.reporting", "templates"), autoescape=select_autoescape(["html"]))
_env.filters["local_time"] = local_time
_env.filters["trigger_label"] = lambda value, lang: label("trigger", value, lang)
_env.filters["masked"] = lambda v, field=None: (
    (mask_text(str(v)) if field is None else str(mask_fields(v, field))) if v is not None else ""
)


def _bars(items: list[tuple[str, float]], width: int = 560, bar: int = 22) -> dict[str, Any]:
    """Geometry of a horizontal bar chart (rendered as inline SVG by the template)."""
    top = max((v for _, v in items), default=0) or 1
    rows = []
    for i, (name, value) in enumerate(items):
        rows.append({"name": name, "value": value, "y": i * (bar + 8), "w": max(1.0, (width - 220) * value / top)})
    return {"rows": rows, "height": max(bar, len(items) * (bar + 8)), "width": width, "bar": bar}


def render_html(report: RunReport, lang: Lang) -> str:
    """The report as one HTML document (personal data masked)."""
    report = mask_report(report)
    labels = {k: v[lang] for k, v in LABELS.items()}
    stream_chart = _bars([(f"{c}/{s}", float(counts.get("read", 0))) for c, s, counts in report.stream_rows()])
    phase_chart = _bars([(labels.get(k, k), v) for k, v in report.phases.items()])
    return _env.get_template("report.html.j2").render(
        report=report,
        labels=labels,
        lang=lang,
        columns=STREAM_COLUMNS,
        stream_chart=stream_chart,
        phase_chart=phase_chart,
        totals=report.totals.shown(),
        timezone=current_timezone().key,
        queued=queued_lines(report, lang),
    )
