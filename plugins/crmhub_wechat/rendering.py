"""WeCom message templates (markdown) in Simplified Chinese and English, for every notification kind the core sends.

``render_wecom(kind, lang, context) -> str`` returns the markdown body; `render_wecom_parts` also gives the title
and a plain-text version (for ``msgtype = "text"`` and textcards). Templates live in ``templates/<lang>/<kind>.md.j2``
with two blocks, ``title`` and ``markdown``.

Context (dicts or objects; missing values render as "—"), the same for email:

- every kind: ``url`` (link to crmhub), ``now``
- ``rating_downgrade``: ``client`` {name, uscc}, ``before`` {rating, score}, ``after`` {rating, score, segment},
  ``reasons`` [str]
- ``alert``: ``client``, ``alert`` {id, kind, severity, summary, amount, currency, occurred_at}
- ``sync_failed``: ``connector``, ``run_id``, ``error``, ``hint``, ``started_at``
- ``dead_letters``: ``connector``, ``stream``, ``count``, ``examples`` [{source_id, reason}]
- ``digest``: ``period``, ``counts`` {new_clients, changed_clients, downgrades, alerts, dead_letters},
  ``items`` [{title, detail}]
- ``follow_up_reminder``: ``client``, ``due_on``, ``owner``, ``note``
- ``test``: ``channel``, ``sent_at``

Safety: every interpolated value has ``<``, ``>`` and backticks neutralised (no ``<font>``/``<@userid>`` injection
from a CRM field), and the finished text goes through `crmhub.masking.mask_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2

from crmhub.masking import mask, mask_text
from crmhub_wechat.textutil import markdown_to_text, neutralise_markdown

KINDS = ("rating_downgrade", "alert", "sync_failed", "dead_letters", "digest", "follow_up_reminder", "test")
LANGS = ("zh", "en")
TEMPLATE_DIR = Path(__file__).parent / "templates"

ALERT_LABELS: dict[str, dict[str, str]] = {
    "large_value": {"zh": "大额交易", "en": "Large-value transaction"},
    "structuring": {"zh": "拆分交易（化整为零）", "en": "Structuring"},
    "pass_through": {"zh": "快进快出", "en": "Pass-through funds"},
    "fan_in": {"zh": "分散转入", "en": "Fan-in"},
    "fan_out": {"zh": "分散转出", "en": "Fan-out"},
    "dormant_reactivation": {"zh": "休眠账户激活", "en": "Dormant account reactivated"},
}
SEGMENT_LABELS = {"low": {"zh": "低风险", "en": "low risk"}, "medium": {"zh": "中风险", "en": "medium risk"},
                  "high": {"zh": "高风险", "en": "high risk"}}
SEVERITY_LABELS = {"high": {"zh": "高", "en": "high"}, "medium": {"zh": "中", "en": "medium"},
                   "low": {"zh": "低", "en": "low"}}


def normalise_lang(lang: str) -> str:
    """``zh``, ``zh-CN``, ``zh_Hans`` → ``zh``; ``en``, ``en-US`` → ``en``; anything else is an error."""
    head = lang.strip().lower().replace("_", "-").split("-")[0]
    if head not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGS)}")
    return head


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def _num(value: Any, places: int = 0) -> str:
    if value is None or isinstance(value, jinja2.Undefined) or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number:,.{places}f}"


def _money(value: Any, currency: Any = "CNY") -> str:
    if value is None or isinstance(value, jinja2.Undefined) or value == "":
        return "—"
    amount = getattr(value, "amount", value)
    cur = getattr(value, "currency", None) or (currency if not isinstance(currency, jinja2.Undefined) else "") or ""
    return f"{_num(amount, 2)} {cur}".strip()


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, jinja2.Undefined) or value == "":
        return "—"
    return str(value)


def _take(items: Any, n: int) -> list[Any]:
    if items is None or isinstance(items, jinja2.Undefined):
        return []
    return list(items)[:n]


def make_environment(loader: jinja2.BaseLoader, *, autoescape: bool,
                     finalize: Any = None) -> jinja2.Environment:
    """A Jinja environment with crmhub's notification filters (``num``, ``money``, ``when``, ``take``,
    ``alert_label``, ``segment``, ``severity``, ``mask``)."""
    env = jinja2.Environment(loader=loader, autoescape=autoescape, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, finalize=finalize)
    env.filters.update(
        num=_num, money=_money, when=_when, take=_take,
        mask=lambda v, kind: mask(str(v), kind) if v else "—",
        alert_label=lambda kind, lang: ALERT_LABELS.get(_value(kind), {}).get(lang, _value(kind)),
        segment=lambda seg, lang: SEGMENT_LABELS.get(_value(seg), {}).get(lang, _value(seg)),
        severity=lambda sev, lang: SEVERITY_LABELS.get(_value(sev), {}).get(lang, _value(sev)),
    )
    return env


def _finalize(value: Any) -> Any:
    """Neutralise every interpolated string so CRM data cannot add markdown tags or mentions."""
    if isinstance(value, jinja2.Undefined) or value is None:
        return ""
    return neutralise_markdown(value) if isinstance(value, str) else value


_ENV = make_environment(jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=False, finalize=_finalize)


@dataclass(frozen=True, slots=True)
class WecomRendered:
    """A rendered WeCom notification: ``title`` (textcard title / subject), ``markdown`` and plain ``text``."""

    title: str
    markdown: str
    text: str


def _block(template: jinja2.Template, name: str, context: Mapping[str, Any]) -> str:
    render = template.blocks.get(name)
    if render is None:
        raise ValueError(f"template {template.name} has no {{% block {name} %}}")
    return "".join(render(template.new_context(dict(context)))).strip()


def render_wecom_parts(kind: str, lang: str, context: Mapping[str, Any]) -> WecomRendered:
    """Render notification ``kind`` in ``lang`` (zh/en); masked; raises ValueError for unknown kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; known: {', '.join(KINDS)}")
    code = normalise_lang(lang)
    template = _ENV.get_template(f"{code}/{kind}.md.j2")
    ctx = {"lang": code, **context}
    title = " ".join(_block(template, "title", ctx).split())
    markdown = _block(template, "markdown", ctx)
    while "\n\n\n" in markdown:
        markdown = markdown.replace("\n\n\n", "\n\n")
    return WecomRendered(title=mask_text(title), markdown=mask_text(markdown),
                         text=mask_text(markdown_to_text(markdown)))


def render_wecom(kind: str, lang: str, context: Mapping[str, Any]) -> str:
    """The WeCom markdown body of notification ``kind`` in ``lang``, personal data masked."""
    return render_wecom_parts(kind, lang, context).markdown
