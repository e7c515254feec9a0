"""Email templates in Simplified Chinese and English for every notification kind the core sends.

``render_email(kind, lang, context) -> (subject, text, html)``. Each template
``templates/<lang>/<kind>.j2`` has three blocks — ``subject``, ``text`` and ``html`` — rendered by two Jinja
environments over the same files: the subject and text with autoescaping off (they are not HTML), the ``html``
block with autoescaping **on** (a CRM field containing ``<script>`` stays text). The HTML fragment is then placed in
``templates/layout.html``. Everything returned passes through `crmhub.masking.mask_text` as a last line of defence.

Context (dicts or objects; missing values render as "—"):

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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from crmhub.masking import mask, mask_text

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
FOOTER = {"zh": "此邮件由 crmhub 自动发送，请勿直接回复。个人信息已按规定脱敏。",
          "en": "Sent automatically by crmhub; please do not reply. Personal data is masked."}


def normalise_lang(lang: str) -> str:
    """``zh``, ``zh-CN``, ``zh_Hans`` → ``zh``; ``en``, ``en-US`` → ``en``; anything else is an error."""
    head = lang.strip().lower().replace("_", "-").split("-")[0]
    if head not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGS)}")
    return head


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, jinja2.Undefined) or value == ""


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def _num(value: Any, places: int = 0) -> str:
    if _missing(value):
        return "—"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number:,.{places}f}"


def _money(value: Any, currency: Any = "CNY") -> str:
    if _missing(value):
        return "—"
    amount = getattr(value, "amount", value)
    cur = getattr(value, "currency", None) or ("" if _missing(currency) else currency)
    return f"{_num(amount, 2)} {cur}".strip()


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "—" if _missing(value) else str(value)


def _take(items: Any, n: int) -> list[Any]:
    return [] if _missing(items) else list(items)[:n]


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=autoescape,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        num=_num, money=_money, when=_when, take=_take,
        http_url=lambda v: str(v) if not _missing(v) and str(v).lower().startswith(("https://", "http://")) else "",
        mask=lambda v, kind: "—" if _missing(v) else mask(str(v), kind),
        alert_label=lambda kind, lang: ALERT_LABELS.get(_value(kind), {}).get(lang, _value(kind)),
        segment=lambda seg, lang: SEGMENT_LABELS.get(_value(seg), {}).get(lang, _value(seg)),
        severity=lambda sev, lang: SEVERITY_LABELS.get(_value(sev), {}).get(lang, _value(sev)),
    )
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def _block(template: jinja2.Template, name: str, context: Mapping[str, Any]) -> str:
    render = template.blocks.get(name)
    if render is None:
        raise ValueError(f"template {template.name} has no {{% block {name} %}}")
    return "".join(render(template.new_context(dict(context)))).strip()


def wrap_html(title: str, body_html: str, lang: str = "zh") -> str:
    """Place an HTML fragment (trusted: already escaped) in the crmhub mail layout."""
    code = normalise_lang(lang)
    return _HTML.get_template("layout.html").render(title=title, body=Markup(body_html), lang=code,
                                                    footer=FOOTER[code])


def render_email(kind: str, lang: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """Render notification ``kind`` in ``lang`` → (subject, text, html), personal data masked."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; known: {', '.join(KINDS)}")
    code = normalise_lang(lang)
    name = f"{code}/{kind}.j2"
    ctx = {"lang": code, **context}
    text_template = _TEXT.get_template(name)
    subject = mask_text(" ".join(_block(text_template, "subject", ctx).split()))
    text = _block(text_template, "text", ctx)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    fragment = _block(_HTML.get_template(name), "html", ctx)
    return subject, mask_text(text), mask_text(wrap_html(subject, fragment, code))
