"""Run reports for operators: terminal tables, JSON and self-contained HTML, in zh or en."""

from crmhub.reporting.html import render_html
from crmhub.reporting.terminal import render_plan, render_report

__all__ = ["render_html", "render_plan", "render_report"]
