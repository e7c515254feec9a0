"""Building the MIME message for one notification: multipart/alternative (text + HTML), stable Message-ID.

Why a stable Message-ID: the outbox may deliver the same notification twice (a crash between "sent" and
"recorded"); mail clients and archives then see one message id and thread or collapse the copies. The id is a
hash of the notification key, so it reveals nothing about the key's content.

Every text part passes through `crmhub.masking.mask_text` here, whatever the template or caller produced.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from crmhub.contract import OutboundMessage
from crmhub.masking import mask_text
from crmhub.model.text import clean_text
from crmhub_email.config import EmailConfig
from crmhub_email.rendering import wrap_html

_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_URL = re.compile(r"https?://[^\s<>\"'）)】]+")


def message_id(key: str, domain: str) -> str:
    """``<hash-of-key.crmhub@domain>``: the same key always gives the same Message-ID."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}.crmhub@{domain}>"


def address_problem(recipient: str) -> str | None:
    """Why ``recipient`` is not a usable mailbox address, or ``None`` when it is."""
    name, addr = parseaddr(recipient)
    if not addr or not _ADDRESS.match(addr) or (name and addr == recipient):
        return "not an email address (expected name@domain)"
    return None


def text_to_html(text: str) -> str:
    """Plain text as safe HTML: escaped, URLs linked, blank lines → paragraphs, line breaks kept."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for para in paragraphs:
        pieces: list[str] = []
        last = 0
        for m in _URL.finditer(para):
            pieces.append(html.escape(para[last : m.start()]))
            url = html.escape(m.group(0), quote=True)
            pieces.append(f'<a href="{url}">{url}</a>')
            last = m.end()
        pieces.append(html.escape(para[last:]))
        out.append("<p>" + "".join(pieces).replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


def build_message(
    message: OutboundMessage, config: EmailConfig, recipients: list[str], *, now: datetime
) -> EmailMessage:
    """The complete mail for ``recipients``: headers, masked text part and masked HTML part."""
    # no control character or escape sequence reaches a header or a reader: CR/LF in a CRM's company name must never
    # start a header of its own (header injection), ESC sequences must not recolour a terminal mail client
    subject = mask_text(" ".join(clean_text(message.subject).split()))
    text = mask_text(clean_text(message.text, multiline=True).strip() or subject)
    lang = "zh" if _CJK.search(subject + text) else "en"
    if message.html and message.html.strip():
        body = message.html if "<html" in message.html.lower() else wrap_html(subject, message.html, lang)
    else:
        body = wrap_html(subject, text_to_html(text), lang)
    mail = EmailMessage(policy=SMTP)
    mail["Subject"] = subject
    mail["From"] = Address(display_name=config.from_name or "", addr_spec=config.from_addr)
    mail["To"] = ", ".join(recipients)
    if config.reply_to:
        mail["Reply-To"] = config.reply_to
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id(message.key, config.domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["X-Crmhub-Kind"] = message.kind
    mail.set_content(text + "\n", subtype="plain", charset="utf-8")
    mail.add_alternative(mask_text(clean_text(body, multiline=True)), subtype="html", charset="utf-8")
    return mail
