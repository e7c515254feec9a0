"""Reading one upstream value in a connector's mapping: the shared rule for "text expected".

Every mapping (Zoho, Fenxiang, the ledger, third-party plugins) reads scalar values out of a JSON document it does
not control. ``str(value)`` on whatever arrives turns ``{"a": 1}`` into the text ``"{'a': 1}"`` and stores a Python
repr as a company name; this module is the one place that decides instead:

- ``None`` and blank → ``None`` (or a `RecordError` when the value is required);
- a string → cleaned (`crmhub.model.text.clean_text`: escapes and control characters removed) and stripped;
- a number → its text, unless the caller says numbers are not acceptable here;
- a boolean, an object or a list → a `RecordError` naming the field, so the record is dead-lettered with the field
  named and the rest of the page goes on.

The error never quotes the value itself: it may be huge, hostile or personal data.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crmhub.errors import RecordError
from crmhub.model.text import clean_text, needs_cleaning

__all__ = ["require_scalar", "shape_name", "text"]


def shape_name(value: Any) -> str:
    """How a value that is not text is described in an error ("an object", "a list", "true/false", …)."""
    if isinstance(value, dict):
        return f"an object with {len(value)} key(s)"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    return f"a {type(value).__name__}"


def require_scalar(value: Any, field: str, expected: str = "a single value") -> Any:
    """``value`` unchanged when it is a scalar (text, number, boolean or None); objects and lists are errors."""
    if isinstance(value, dict | list | tuple | set):
        raise RecordError(f"{field}: expected {expected}, got {shape_name(value)}", field=field)
    return value


def text(value: Any, field: str, *, required: bool = False, numbers: bool = True) -> str | None:
    """An upstream value where the mapping expects text (see the module docstring for the rule).

    ``field`` is the outside system's field name, used in the error; ``numbers=False`` refuses a number too (a name
    that arrives as ``12345`` is more likely a broken integration than a company called 12345).
    """
    if value.__class__ is str and needs_cleaning(value) is None:  # the common case: clean_text's first branch
        out = value.strip()
        if out:
            return out
        if required:
            raise RecordError(f"{field}: required value is {'missing' if value == '' else 'blank'}", field=field)
        return None
    if value is None or value == "":
        if required:
            raise RecordError(f"{field}: required value is missing", field=field)
        return None
    if isinstance(value, str):
        out = clean_text(value)
    elif isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not numbers:
        raise RecordError(f"{field}: expected text, got {shape_name(value)}", field=field)
    else:
        out = str(value)
    if not out:
        if required:
            raise RecordError(f"{field}: required value is blank", field=field)
        return None
    return out
