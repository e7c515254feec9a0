"""Run reports for operators: terminal tables, JSON and self-contained HTML, in zh or en."""

from crmhub.reporting.html import render_html
from crmhub.reporting.masked import mask_report, report_json
from crmhub.reporting.terminal import render_plan, render_report

__all__ = ["mask_report", "render_html", "render_plan", "render_report", "report_json"]
