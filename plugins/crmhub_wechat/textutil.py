"""Fitting text into WeCom's limits, which are counted in **UTF-8 bytes** (one Chinese character = 3 bytes).

Cutting a byte string blindly can split a multi-byte character and WeCom then rejects or garbles the message, so
every cut here happens on a character boundary, preferably at a line break.
"""

from __future__ import annotations

import html
import re

ELLIPSIS = "…"


def utf8_len(text: str) -> int:
    """Size of ``text`` in UTF-8 bytes (what WeCom counts)."""
    return len(text.encode("utf-8"))


def truncate_utf8(text: str, max_bytes: int, *, ellipsis: str = ELLIPSIS) -> str:
    """``text`` unchanged if it fits in ``max_bytes``, else cut on a character boundary and ended with ``ellipsis``."""
    if utf8_len(text) <= max_bytes:
        return text
    room = max_bytes - utf8_len(ellipsis)
    if room <= 0:
        return _prefix_within(ellipsis, max_bytes)
    return _prefix_within(text, room).rstrip() + ellipsis


def _prefix_within(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``max_bytes`` (never half a character)."""
    raw = text.encode("utf-8")[: max(max_bytes, 0)]
    return raw.decode("utf-8", errors="ignore")


def split_utf8(text: str, max_bytes: int, *, max_parts: int = 1, label: bool = True) -> list[str]:
    """Split ``text`` into at most ``max_parts`` pieces of at most ``max_bytes`` each.

    Cuts prefer line breaks, then spaces, then any character boundary. With ``label`` every piece of a multi-part
    result starts with ``(i/n) ``. Whatever does not fit in ``max_parts`` pieces is dropped and the last piece ends
    with an ellipsis, so the reader knows the message was shortened.
    """
    if max_bytes < 16:
        raise ValueError("max_bytes must leave room for the text (>= 16)")
    text = text.strip()
    if utf8_len(text) <= max_bytes or max_parts <= 1:
        return [truncate_utf8(text, max_bytes)]
    reserve = utf8_len(f"({max_parts}/{max_parts}) ") if label else 0
    room = max_bytes - reserve
    pieces: list[str] = []
    rest = text
    while rest and len(pieces) < max_parts:
        if utf8_len(rest) <= room:
            pieces.append(rest)
            rest = ""
            break
        if len(pieces) == max_parts - 1:
            pieces.append(truncate_utf8(rest, room))
            rest = ""
            break
        head = _prefix_within(rest, room)
        cut = _best_cut(head)
        pieces.append(head[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    pieces = [p for p in pieces if p]
    if len(pieces) == 1:
        return pieces
    total = len(pieces)
    return [f"({i}/{total}) {p}" if label else p for i, p in enumerate(pieces, start=1)]


def _best_cut(head: str) -> int:
    """Where to end a piece: the last line break, else the last space, in the second half of ``head``."""
    half = len(head) // 2
    for sep in ("\n\n", "\n", " ", "。", "，", ", "):
        at = head.rfind(sep)
        if at >= half:
            return at + len(sep)
    return len(head)


_MD_NEUTRAL = str.maketrans({"<": "＜", ">": "＞", "`": "'", "*": "＊", "[": "［", "]": "］"})
_LINE_HEAD = re.compile(r"^(\s*)#", re.MULTILINE)


def neutralise_markdown(value: str) -> str:
    """A value safe to interpolate into WeCom markdown: it renders literally, as the text it is.

    WeCom markdown has no escape character, so its markup characters become full-width look-alikes: ``<`` ``>``
    (no ``<font>``, no ``<@userid>`` mention, no ``>`` quote), ``*`` (no ``**bold**``), ``[`` ``]`` (no
    ``[text](url)`` link), a ``#`` opening a line (no heading); backticks become quotes (no code span).
    """
    return _LINE_HEAD.sub(lambda m: m.group(1) + "＃", value.translate(_MD_NEUTRAL))


_MD_MARKUP = re.compile(r"<font[^>]*>|</font>|<@[^>]*>|\*\*|^#{1,6}\s+|^>\s?", re.MULTILINE)
_MD_LINK = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")


def markdown_to_text(markdown: str) -> str:
    """WeCom markdown as plain text (for ``msgtype: text`` and the textcard description)."""
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} {m.group(2)}", markdown)
    return _MD_MARKUP.sub("", text).replace("\n\n\n", "\n\n").strip()


_URL = re.compile(r"https?://[^\s<>\"'）)】]+")


def first_url(text: str) -> str | None:
    """The first http(s) URL in ``text`` (a textcard needs a link target)."""
    found = _URL.search(text)
    return found.group(0).rstrip(".,;。，") if found else None


def card_description(text: str, max_bytes: int) -> str:
    """Plain text as a textcard ``description``: HTML-escaped, lines joined by ``<br>``, within ``max_bytes``.

    The cut never lands inside an entity or tag: lines are added whole while they fit, then the next line is
    shortened character by character in its escaped form.
    """
    out = ""
    for line in (ln.strip() for ln in text.strip().splitlines()):
        sep = "<br>" if out else ""
        piece = sep + html.escape(line, quote=False)
        if utf8_len(out + piece) <= max_bytes:
            out += piece
            continue
        room = max_bytes - utf8_len(out + sep + ELLIPSIS)
        partial = ""
        for char in line:
            escaped = html.escape(char, quote=False)
            if utf8_len(partial + escaped) > room:
                break
            partial += escaped
        return out + sep + partial + ELLIPSIS if room > 0 else out
    return out
