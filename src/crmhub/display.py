"""How stored values read on a screen: status, kind, rule and trigger ids as words, times in the bank's zone.

Stored ids (``acknowledged``, ``source_priority``, ``rating_downgrade``) are for machines and ``--json``; a table
shows `label(group, id)` in the current language (the words are in `crmhub.i18n.VALUE_LABELS`). Times are shown
as ``YYYY-MM-DD HH:MM:SS`` in the configured ``timezone`` (default Asia/Shanghai), never as raw UTC with
microseconds. Error reasons written by crmhub itself are translated by pattern (`reason`); a reason an outside
system wrote is shown as it came.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmhub.i18n import VALUE_LABELS, Lang, current_lang
from crmhub.templating import ALERT_LABELS, SEGMENT_LABELS, SEVERITY_LABELS

DEFAULT_TIMEZONE = "Asia/Shanghai"
_timezone: ContextVar[str | None] = ContextVar("crmhub_timezone", default=None)


def set_timezone(name: str | None) -> None:
    """Set the time zone screens use (the config's ``timezone``; None = the default)."""
    _timezone.set(name)


def current_timezone() -> ZoneInfo:
    """The zone times are shown in."""
    name = _timezone.get() or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_time(value: datetime | date | str | None, *, seconds: bool = True) -> str:
    """``2026-11-30 09:00:05`` in the configured zone (naive datetimes are UTC, as the store keeps them)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(current_timezone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def label(group: str, value: object, lang: Lang | None = None) -> str:
    """The word for id ``value`` in ``group`` (``alert_status``, ``review_kind``, …); the id itself if unknown."""
    if value is None or value == "":
        return "-"
    key = str(getattr(value, "value", value))
    if group in ("alert_kind", "severity", "segment"):
        table = {"alert_kind": ALERT_LABELS, "severity": SEVERITY_LABELS, "segment": SEGMENT_LABELS}[group]
        return table.get(key, {}).get(lang or current_lang(), key)
    entry = VALUE_LABELS.get(group, {}).get(key)
    return entry[lang or current_lang()] if entry else key


_REASONS_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"^write-back rejected: (.*)$", r"回写被拒绝：\1"),
        (r"^review item (\d+) accepted$", r"复核事项 \1 已接受"),
        (r"^merged client (\d+) into (\d+)$", r"已将客户 \1 合并到 \2"),
        (r"^conflict accepted; the field's rule applies on the next sync$", "冲突已接受；下次同步时按该字段的规则取值"),
        (r"^rejected; the records stay separate$", "已驳回；记录保持分开"),
        (r"^connector '(.*)' is no longer configured$", r"连接器 \1 已不在配置中"),
        (r"^row without _id$", "记录缺少 _id"),
        (r"^(.+): required value is missing$", r"\1：缺少必填值"),
        (r"^(.+): required value is blank$", r"\1：必填值为空"),
        (r"^(.+): expected text, got (.*)$", r"\1：应为文本，实际为 \2"),
        (r"^(.+): expected a millisecond timestamp, got (.*)$", r"\1：应为毫秒时间戳，实际为 \2"),
        (r"^still failing$", "仍然失败"),
        (r"^ok$", "成功"),
    )
)


def reason(text: str | None, lang: Lang | None = None) -> str:
    """An error reason crmhub wrote, in the current language (outside systems' own words are kept as they are)."""
    if not text:
        return "-"
    if (lang or current_lang()) != "zh":
        return text
    for pattern, replacement in _REASONS_ZH:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return text


def duration_text(seconds: float | None, lang: Lang | None = None) -> str:
    """``5400`` → ``1 h 30 min`` / ``1 小时 30 分``: an ETA or an elapsed time for people (minutes, not seconds,
    once it is over a minute)."""
    if seconds is None:
        return "-"
    zh = (lang or current_lang()) == "zh"
    rest = max(0, round(seconds))
    if rest < 60:
        return f"{rest} 秒" if zh else f"{rest} s"
    hours, minutes = divmod(round(rest / 60), 60)
    if zh:
        return f"{hours} 小时 {minutes} 分" if hours else f"{minutes} 分钟"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
