"""Text hygiene at the boundary: what an upstream string may contain before crmhub stores or shows it.

Outside systems send whatever their users typed or their integrations injected: NUL bytes (PostgreSQL refuses
them in ``text`` and ``jsonb``, so one NUL used to stop a whole stream on every run), ANSI escape sequences and
other control characters (which repaint an operator's terminal or spoof a report line), bidirectional overrides
("Trojan Source" spoofing), and lone UTF-16 surrogates (which no UTF-8 database can encode). The rule, applied
once where records enter crmhub so every later output is clean:

- ANSI/VT escape sequences (CSI, OSC, DCS … and 8-bit CSI) are removed whole, not just their ESC byte;
- C0 and C1 control characters, DEL and the bidi embedding/override/isolate controls are removed, except tab and
  line feed; ``\\r\\n``, a lone ``\\r`` and the Unicode line/paragraph separators become ``\\n``;
- a lone surrogate becomes U+FFFD (the replacement character), so the damage stays visible;
- *single-line* values (names, codes, phone numbers, ids) also turn tab and line feed into a space and are
  stripped; *free text* (summaries, notes) keeps them.

Length: every canonical text field declares the largest value its store column (or a sane bound, for values kept
in JSON) can hold. A longer single-line value is an error naming the length and the limit, so the record becomes
a dead letter with the field named; only free text is truncated (to `FREE_TEXT_MAX` characters, ending in "…").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidatorFunctionWrapHandler, WrapValidator

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI … final byte (colours, cursor moves, erase)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC … BEL or ST (window titles, hyperlinks)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC … ST
    r"|\x1b[ -/]*[0-~]?"  # other escapes (charset selection, RIS "ESC c" …); a bare ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_SUSPECT_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SUSPECT_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\t\n]+")

FREE_TEXT_MAX = 4000
"""Free text (an interaction's summary) longer than this is cut to this many characters, the last being "…"."""


needs_cleaning = _SUSPECT_LINE.search
"""``needs_cleaning(text)`` is None when `clean_text` (single-line) only strips ``text``: for callers' fast paths."""


def clean_text(value: str, *, multiline: bool = False) -> str:
    """``value`` without escape sequences, control characters or lone surrogates (see the module docstring).

    Single-line (the default) also turns tabs and line breaks into one space each run and strips the ends.
    Cheap when there is nothing to clean: one regex search.
    """
    suspect = _SUSPECT_MULTILINE if multiline else _SUSPECT_LINE
    if suspect.search(value) is None:
        return value if multiline else value.strip()
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub("", text)
    text = _SURROGATES.sub("\ufffd", text)
    if not multiline:
        text = _LINE_BREAKS.sub(" ", text).strip()
    return text


def is_clean(value: str) -> bool:
    """True when `clean_text` (multi-line rule) would leave ``value`` as it is."""
    return _SUSPECT_MULTILINE.search(value) is None


_JSON_ESCAPED = re.compile(r"\\(?:[rbf]|u00(?:0[0-8bcef]|1[0-9a-f]))")
"""A control character as json.dumps escapes it (may also match after an escaped backslash: then the walk finds
nothing to change, which costs time, not correctness)."""
_JSON_RAW = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Characters json.dumps leaves as they are."""


def clean_json(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string — keys too — cleaned (multi-line rule).

    For raw payloads kept as evidence (``source_record.raw``, ``dead_letter.payload``): PostgreSQL's ``jsonb``
    refuses ``\\u0000`` and no UTF-8 store takes a lone surrogate, so they must be cleaned before they are stored.
    The common case, nothing to clean, costs one ``json.dumps`` and one regex search and returns ``value`` itself.
    """
    try:
        dumped = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # circular: not storable as JSON anyway (the store refuses it, not this)
        return value
    if _JSON_RAW.search(dumped) is None and ("\\" not in dumped or _JSON_ESCAPED.search(dumped) is None):
        return value
    return _walk(value)


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value, multiline=True)
    if isinstance(value, dict):
        return {(clean_text(k, multiline=True) if isinstance(k, str) else k): _walk(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v) for v in value]
    return value


def _shape(value: Any) -> Any:
    """Objects and lists where text is expected are errors (never their Python repr stored as text)."""
    if isinstance(value, dict):
        raise ValueError("expected text, got an object")
    if isinstance(value, list | tuple | set):
        raise ValueError("expected text, got a list")
    return value


shape_check = BeforeValidator(_shape)
"""Refuses objects and lists where text is expected (for building other text types)."""


def _line(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        # clean_text's single-line rule, its common case (nothing to clean: one regex search) inlined
        text = value.strip() if _SUSPECT_LINE.search(value) is None else clean_text(value)
        if len(text) > max_length:
            raise ValueError(f"{len(text)} characters, at most {max_length} allowed")
        return text

    return check


def line_check(max_length: int) -> AfterValidator:
    """The validator behind single-line types: clean, strip, then refuse more than ``max_length`` characters."""
    return AfterValidator(_line(max_length))


def text_check(after: Callable[[str], str]) -> WrapValidator:
    """`shape_check`, then pydantic's own ``str`` validation, then ``after`` — as one validator.

    Exactly ``Annotated[str, shape_check, AfterValidator(after)]`` (same values, same errors, and a field's own
    constraints such as ``Field(min_length=1)`` still checked by pydantic's ``str`` on the value as given), at one
    Python call per field instead of two; a plain ``str`` (what upstream JSON gives) skips the shape check.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
        if value.__class__ is not str:
            _shape(value)
        return after(handler(value))

    return WrapValidator(validate)


def line_text(max_length: int) -> WrapValidator:
    """The single validator of single-line types: `shape_check` + `line_check` (``max_length``) as one call."""
    return text_check(_line(max_length))


def _free_text(value: str) -> str:
    text = clean_text(value, multiline=True).strip()
    return text if len(text) <= FREE_TEXT_MAX else text[: FREE_TEXT_MAX - 1] + "…"


FreeText = Annotated[str, text_check(_free_text)]
"""Multi-line free text: cleaned (tabs and line feeds kept), truncated to `FREE_TEXT_MAX` characters."""

# Limits. Columns: golden_client.name/name_key String(300), rm_user_id String(128), source_record.source_id and
# parent_source_id String(200), interaction.by String(128). The rest live in JSON and get generous sane bounds.
NAME_MAX = 300
ID_MAX = 200
USER_ID_MAX = 128
PHONE_MAX = 64
EMAIL_MAX = 254  # RFC 5321 path limit
URL_MAX = 2000
LABEL_MAX = 200
STREET_MAX = 500

Name = Annotated[str, line_text(NAME_MAX)]
"""A company's or a person's name (golden_client.name is VARCHAR(300))."""
SourceId = Annotated[str, line_text(ID_MAX)]
"""An id in an outside system (source_record.source_id, parent_source_id are VARCHAR(200))."""
UserId = Annotated[str, line_text(USER_ID_MAX)]
"""A WeCom/CRM user id (golden_client.rm_user_id, interaction.by are VARCHAR(128))."""
PhoneText = Annotated[str, line_text(PHONE_MAX)]
"""A phone number as typed (extensions and separators allowed)."""
EmailText = Annotated[str, line_text(EMAIL_MAX)]
"""An e-mail address as given (not validated: CRMs hold typos a human must fix, not a reason to drop a client)."""
UrlText = Annotated[str, line_text(URL_MAX)]
"""A web address."""
Label = Annotated[str, line_text(LABEL_MAX)]
"""A short label: title, department, branch, company type, product, place name."""
Street = Annotated[str, line_text(STREET_MAX)]
"""A street address line."""
Note = Annotated[str, text_check(lambda v: clean_text(v, multiline=True))]
"""A note crmhub composes around upstream values (review flags): cleaned, line breaks kept, no length limit."""
