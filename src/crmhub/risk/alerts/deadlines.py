"""When an alert's regulatory report is due — one rule, used by the notifications and the console alike.

A large-value report is due ``[notify] aml_report_working_days`` (default 5) working days after the transaction
day (PBOC Order 〔2016〕第3号, as amended; domain.md §7, §11). Working days are Monday to Friday, less the configured
``holidays``, plus the ``make_up_workdays`` (调休 weekends). A suspicious-pattern report's deadline runs from the
AML team's own determination, not from the transactions, so those alerts have no deadline here.

The settings live in ``[notify]`` because the alert notification was the first to need them; this module only
reads them, so the AML console and the messages can never disagree about a due day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

DEADLINE_KINDS = ("large_value",)
"""Alert kinds whose report deadline runs from the transaction day."""


class Calendar(Protocol):
    """The working-day calendar a deadline is counted in: ``[notify]``'s keys (`crmhub.notify.settings`), named
    here rather than imported because the risk engine sits below notifications (docs/architecture.md)."""

    @property
    def holidays(self) -> Sequence[date]: ...

    @property
    def make_up_workdays(self) -> Sequence[date]: ...

    @property
    def timezone(self) -> str: ...

    @property
    def aml_report_working_days(self) -> int: ...


class _Dated(Protocol):
    @property
    def day(self) -> date | None: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def kind(self) -> str: ...


def add_working_days(start: date, days: int, settings: Calendar) -> date:
    """The day ``days`` working days after ``start``: Monday-Friday, less ``holidays``, plus ``make_up_workdays``
    (调休 weekends). Without a holiday list this counts weekends only — configure the year's holidays."""
    holidays, extra = set(settings.holidays), set(settings.make_up_workdays)
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current in extra or (current.weekday() < 5 and current not in holidays):
            left -= 1
    return current


def reference_day(alert: _Dated, settings: Calendar) -> date:
    """The day an alert is about: its transaction (or episode start) day, else the day it was raised (bank time)."""
    return alert.day or alert.created_at.astimezone(ZoneInfo(settings.timezone)).date()


def report_deadline(alert: _Dated, settings: Calendar) -> date | None:
    """The day the alert's report is due (None: no deadline runs from the transactions, see the module doc)."""
    if alert.kind not in DEADLINE_KINDS:
        return None
    return add_working_days(reference_day(alert, settings), settings.aml_report_working_days, settings)
