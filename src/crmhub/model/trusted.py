"""Instances of pydantic models built from values that are already valid, at the cost of one dict.

`BaseModel.model_construct` skips validation but walks every field in Python (aliases, defaults, deep copies of
default values): building a `crmhub.contract.SourceRecord` around a canonical record validated a moment before
cost as much that way as validating it again. `trusted` sets the same four slots that ``model_construct`` sets
(the values, the fields set, no extras, no private attributes) and nothing else, so the caller must pass *every*
field's value and the set of fields it would have passed to the constructor. Only for models without private
attributes, ``extra="allow"`` or validators that transform values (``tests/model/test_trusted.py`` checks that
what it builds equals what validation builds for the models it is used on).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_setattr = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any], fields_set: frozenset[str] | set[str]) -> M:
    """A ``cls`` holding ``values`` (every field, in declaration order) with ``fields_set`` as its set fields."""
    made = cls.__new__(cls)
    _setattr(made, "__dict__", values)
    _setattr(made, "__pydantic_fields_set__", set(fields_set))
    _setattr(made, "__pydantic_extra__", None)
    _setattr(made, "__pydantic_private__", None)
    return made
