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
- ``alert`` (AML-confidential): ``alert`` {id, kind, aml, day, deadline, working_days, command} and ``url`` — no
  client, amounts or evidence
- ``sync_failed``: ``connector`` (``job`` for a failed scheduled job), ``run_id``, ``error``, ``hint``, ``started_at``
- ``dead_letters``: ``connector``, ``stream``, ``count``, ``examples`` [{source_id, reason}]
- ``digest``: ``period``, ``counts`` {new_clients, changed_clients, downgrades, alerts, dead_letters},
  ``items`` [{title, detail}]
- ``follow_up_reminder``: ``client``, ``due_on``, ``owner``, ``note``
- ``test``: ``channel``, ``sent_at``
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from crmhub.masking import mask_text
from crmhub.templating import KINDS, make_environment, normalise_lang

TEMPLATE_DIR = Path(__file__).parent / "templates"

FOOTER = {
    "zh": "此邮件由 crmhub 自动发送，请勿直接回复。个人信息已按规定脱敏。",
    "en": "Sent automatically by crmhub; please do not reply. Personal data is masked.",
}


def _environment(autoescape: bool) -> jinja2.Environment:
    return make_environment(jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=autoescape)


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
    return _HTML.get_template("layout.html").render(title=title, body=Markup(body_html), lang=code, footer=FOOTER[code])


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
