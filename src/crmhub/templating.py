"""The toolkit channel plugins render notifications with: kinds, labels, and Jinja filters shared by all.

Every channel renders the same notification kinds in zh and en; the labels (alert kinds, segments, severities)
and the value formatting (numbers, money, times, masking) must read the same in an email and a WeCom message, so
they live here once. A channel adds only what its medium needs (HTML escaping, markdown neutralising).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
from markupsafe import Markup

from crmhub.masking import mask
from crmhub.model.text import clean_text

KINDS = ("rating_downgrade", "alert", "sync_failed", "dead_letters", "digest", "follow_up_reminder", "test")
"""Notification kinds the core sends; every channel has a template for each, in each of `LANGS`."""
LANGS = ("zh", "en")

ALERT_LABELS: dict[str, dict[str, str]] = {
    "large_value": {"zh": "大额交易", "en": "Large-value transaction"},
    "structuring": {"zh": "拆分交易（化整为零）", "en": "Structuring"},
    "pass_through": {"zh": "快进快出", "en": "Pass-through funds"},
    "fan_in": {"zh": "分散转入", "en": "Fan-in"},
    "fan_out": {"zh": "分散转出", "en": "Fan-out"},
    "dormant_reactivation": {"zh": "休眠账户激活", "en": "Dormant account reactivated"},
}
SEGMENT_LABELS = {
    "low": {"zh": "低风险", "en": "low risk"},
    "medium": {"zh": "中风险", "en": "medium risk"},
    "high": {"zh": "高风险", "en": "high risk"},
}
SEVERITY_LABELS = {
    "high": {"zh": "高", "en": "high"},
    "medium": {"zh": "中", "en": "medium"},
    "low": {"zh": "低", "en": "low"},
}


def normalise_lang(lang: str) -> str:
    """``zh``, ``zh-CN``, ``zh_Hans`` → ``zh``; ``en``, ``en-US`` → ``en``; anything else is an error."""
    head = lang.strip().lower().replace("_", "-").split("-")[0]
    if head not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGS)}")
    return head


def missing(value: Any) -> bool:
    """None, "", or a Jinja undefined: rendered as a dash."""
    return value is None or isinstance(value, jinja2.Undefined) or value == ""


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def num(value: Any, places: int = 0) -> str:
    """A number with thousands separators (``1,990,000``), or a dash."""
    if missing(value):
        return "—"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number:,.{places}f}"


def money(value: Any, currency: Any = "CNY") -> str:
    """``1,990,000.00 CNY`` from a `Money`, a number or a string."""
    if missing(value):
        return "—"
    amount = getattr(value, "amount", value)
    cur = getattr(value, "currency", None) or (currency if not isinstance(currency, jinja2.Undefined) else "") or ""
    return f"{num(amount, 2)} {cur}".strip()


def when(value: Any) -> str:
    """``2026-11-30 09:00`` for datetimes, ISO for dates, a dash for nothing."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if missing(value):
        return "—"
    return str(value)


def take(items: Any, n: int) -> list[Any]:
    """The first ``n`` items (an empty list for nothing)."""
    if items is None or isinstance(items, jinja2.Undefined):
        return []
    return list(items)[:n]


def _cleaning(finalize: Any) -> Any:
    """Jinja ``finalize``: every interpolated string cleaned before the channel's own finalize — single-line
    `crmhub.model.text.clean_text`: no escape sequence, no control character, no line break (a value can never start
    a new line, mail header or markdown block)."""

    def run(value: Any) -> Any:
        if isinstance(value, Markup):
            value = Markup(clean_text(str(value)))
        elif isinstance(value, str):
            value = clean_text(value)
        return finalize(value) if finalize is not None else value

    return run


def make_environment(loader: jinja2.BaseLoader, *, autoescape: bool, finalize: Any = None) -> jinja2.Environment:
    """A Jinja environment with the shared filters: ``num``, ``money``, ``when``, ``take``, ``mask``, ``http_url``,
    ``alert_label``, ``segment``, ``severity``. Every interpolated string is cleaned first (`clean_text`: no control
    characters, no escape sequences, no line breaks), then passed to ``finalize``."""
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_cleaning(finalize),
    )
    env.filters.update(
        num=num,
        money=money,
        when=when,
        take=take,
        mask=lambda v, kind: "—" if missing(v) else mask(str(v), kind),
        http_url=lambda v: str(v) if not missing(v) and str(v).lower().startswith(("https://", "http://")) else "",
        alert_label=lambda kind, lang: ALERT_LABELS.get(_value(kind), {}).get(lang, _value(kind)),
        segment=lambda seg, lang: SEGMENT_LABELS.get(_value(seg), {}).get(lang, _value(seg)),
        severity=lambda sev, lang: SEVERITY_LABELS.get(_value(sev), {}).get(lang, _value(sev)),
    )
    return env
