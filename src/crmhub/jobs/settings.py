"""``[jobs.<name>]`` in crmhub.toml: what runs unattended, when, for how long, and what happens after downtime.

::

    [jobs.nightly_sync]
    cron = "0 2 * * *"            # five-field cron, in `timezone`
    timezone = "Asia/Shanghai"    # the default
    command = "sync"              # or "deliver", "risk assess", "notify run", "report digest"
    connectors = ["zoho", "fxiaoke", "ledger"]   # optional (sync, deliver); default: every enabled connector
    timeout = "30m"               # 30s, 10m, 2h, 1h30m or a number of seconds
    catch_up = "skip"             # or "once": run one missed tick after downtime

The same table drives both executors — the embedded scheduler (``crmhub scheduler run``) and procrastinate
workers (``crmhub worker``) — so a schedule never has to be written twice. Cross-table checks (connector names
that exist, a digest job needing ``[notify.digest]``) need the whole file and live in `job_problems`, which
`crmhub.config.parse_settings` calls. This module imports nothing of crmhub, because `crmhub.config` imports it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Command = Literal["sync", "deliver", "risk assess", "notify run", "report digest"]
COMMANDS: tuple[str, ...] = ("sync", "deliver", "risk assess", "notify run", "report digest")
CatchUp = Literal["skip", "once"]
DEFAULT_TIMEOUT = "1h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``30s``, ``10m``, ``2h``, ``1h30m``, ``1d`` or a bare number of seconds; `ValueError` otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 10m or 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(rf"(?:{_DURATION.pattern})+", text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        else:
            raise ValueError("expected a duration like 30s, 10m, 2h or 1h30m")
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """``1800`` → ``30m``; ``5400`` → ``1h30m`` (for messages and ``jobs list``)."""
    rest = round(seconds)
    if rest < 60:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def check_cron(expr: str) -> str:
    """A five-field cron expression (or an @daily-style macro), normalised; `ValueError` naming the problem."""
    text = " ".join(expr.split())
    if text.lower() in _MACROS:
        return text.lower()
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"expected five fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    if not croniter.is_valid(text):
        raise ValueError('not a valid cron expression (e.g. "0 2 * * *" is 02:00 every day)')
    return text


class JobSettings(BaseModel):
    """``[jobs.<name>]``: one scheduled job."""

    model_config = ConfigDict(extra="forbid")

    cron: str = Field(description="Five-field cron expression, evaluated in `timezone`.")
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of the cron expression.")
    command: Command = Field(default="sync", description="sync, deliver, risk assess, notify run or report digest.")
    connectors: list[str] | None = Field(
        default=None, description="Sync and deliver only: these connectors (default: all)."
    )
    timeout: str | float = Field(default=DEFAULT_TIMEOUT, description="Longest run, e.g. 30m; then it is stopped.")
    catch_up: CatchUp = Field(default="skip", description="After downtime: skip missed ticks, or run one (once).")
    enabled: bool = Field(default=True, description="A disabled job is listed but never scheduled.")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Name an unknown key with a "did you mean" hint (the generic message cannot see inside a dict)."""
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
                    raise ValueError(f"unknown key {key!r}; {hint}")
        return data

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name like Asia/Shanghai or UTC") from None
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value

    @field_validator("connectors")
    @classmethod
    def _connectors(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("an empty list runs nothing; leave `connectors` out to sync every connector")
        return list(dict.fromkeys(value)) if value is not None else None

    @model_validator(mode="after")
    def _connectors_only_for_sync(self) -> JobSettings:
        if self.connectors is not None and self.command not in ("sync", "deliver"):
            raise ValueError(f"`connectors` applies to sync and deliver jobs only (this job runs {self.command!r})")
        return self

    @property
    def timeout_seconds(self) -> float:
        """The timeout in seconds."""
        return parse_duration(self.timeout)

    @property
    def zone(self) -> ZoneInfo:
        """The job's time zone."""
        return ZoneInfo(self.timezone)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def job_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks that need the whole file, run on the raw document (so they are reported even when another key is
    wrong too): job names, connectors that exist, a digest job having a digest to send."""
    problems: list[tuple[str, str]] = []
    jobs, tables = data.get("jobs"), data.get("connectors")
    connector_names = list(tables) if isinstance(tables, dict) else []
    digest_enabled = _get(data, "notify", "digest", "enabled") is True
    if not isinstance(jobs, dict):
        return problems
    for name, table in jobs.items():
        where = f"jobs.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,48}", str(name)):
            problems.append((where, "job names are 1-48 letters, digits, '_', '-' or '.'"))
        if not isinstance(table, dict):
            continue
        listed = table.get("connectors")
        if isinstance(listed, list):
            unknown = [str(c) for c in listed if c not in connector_names]
            if unknown:
                problems.append(
                    (
                        f"{where}.connectors",
                        f"unknown connector(s) {', '.join(repr(c) for c in unknown)}; configured: "
                        f"{', '.join(connector_names) or 'none'}",
                    )
                )
        if table.get("command") == "report digest" and not digest_enabled:
            problems.append(
                (
                    f"{where}.command",
                    "'report digest' sends the digest notification: switch it on with [notify.digest] enabled = true",
                )
            )
    return problems
