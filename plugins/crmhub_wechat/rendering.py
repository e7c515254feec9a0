"""WeCom message templates (markdown) in Simplified Chinese and English, for every notification kind the core sends.

``render_wecom(kind, lang, context) -> str`` returns the markdown body; `render_wecom_parts` also gives the title
and a plain-text version (for ``msgtype = "text"`` and textcards). Templates live in ``templates/<lang>/<kind>.md.j2``
with two blocks, ``title`` and ``markdown``.

Context (dicts or objects; missing values render as "—"), the same for email:

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

Safety: every interpolated value has ``<``, ``>`` and backticks neutralised (no ``<font>``/``<@userid>`` injection
from a CRM field), and the finished text goes through `crmhub.masking.mask_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from crmhub.masking import mask_text
from crmhub.templating import KINDS, make_environment, normalise_lang
from crmhub_wechat.textutil import markdown_to_text, neutralise_markdown

TEMPLATE_DIR = Path(__file__).parent / "templates"


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
    return WecomRendered(
        title=mask_text(title), markdown=mask_text(markdown), text=mask_text(markdown_to_text(markdown))
    )


def render_wecom(kind: str, lang: str, context: Mapping[str, Any]) -> str:
    """The WeCom markdown body of notification ``kind`` in ``lang``, personal data masked."""
    return render_wecom_parts(kind, lang, context).markdown
