"""Structured log lines for unattended runs: one JSON object per line on stdout.

JSON lines rather than ``key=value``: values here are Chinese company names, error messages with spaces and
quotes, and nested lists (the locks a recovery released); JSON carries them without an escaping convention of
our own, every log shipper parses it, and ``jq`` reads it by hand. Each line has ``ts`` (UTC, ISO 8601),
``level``, ``logger``, ``event`` and ``msg`` (in the CLI's language), plus the event's fields — for job events
``job``, ``run_id``, ``status``, ``duration_s``, ``tick``, ``trigger``, ``error``. Code logs with
``log.info(msg, extra={"fields": {"event": …, …}})``; records without fields (engine warnings, procrastinate)
become ``event = "log"`` lines, so the whole stream stays one format. Every line is masked on the way out
(phones, ID numbers, accounts, e-mails; `crmhub.masking`), whatever the message or fields carry.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from crmhub.masking import mask_fields

JOB_LOGGER = "crmhub.jobs"
log = logging.getLogger(JOB_LOGGER)


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object (no newlines inside)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", None) or {})
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": fields.pop("event", "log"),
            "msg": record.getMessage(),
        }
        line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
        # log lines are read by people and shipped elsewhere: personal data leaves masked (crmhub.masking)
        return json.dumps(mask_fields(line), ensure_ascii=False, default=str)


def setup(stream: TextIO | None = None, *, level: int = logging.INFO, library_level: int = logging.WARNING) -> None:
    """Send crmhub's log records (and procrastinate's warnings) to ``stream`` as JSON lines (idempotent)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, JsonLineFormatter)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("procrastinate", "httpx", "httpcore", "uvicorn", "asyncio", "alembic", "mail.log"):
        logging.getLogger(name).setLevel(library_level)


def event(name: str, msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event on the jobs logger."""
    log.log(level, msg, extra={"fields": {"event": name, **fields}})
