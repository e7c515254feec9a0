"""The breakdown keys of a golden client, read once from its JSON and kept as indexed columns of ``golden_client``.

Why columns: the segments page groups the whole book by industry section, province and relationship manager, and
the clients list filters on them. Read out of ``data`` in SQL, every such query parses each client's JSON — well
over a second at 100,000 clients. So the values are derived here, in Python, whenever the golden record's data is
assigned (``GoldenClient``'s validator: the merge, a split), by migration 0010 for records written before, and by
the benchmark's store builder (a bulk insert);
the segments breakdown and the clients list then read only the columns (`crmhub.reporting.segments.keys`), so a count
and the list it links to select the same clients by construction.

- ``industry_section``: the GB/T 4754 section letter — the first character of ``industry.code``.
- ``province``: the registered address's province (``浙江省`` or ``浙江``; a municipality may be written only as its
  city, ``北京市``) as its full name (浙江省); text that names no province is kept as written (cut to the column),
  so that it is still a bucket of its own.
- ``rm_name``: the relationship manager's name (the manager key is this, else ``rm_user_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmhub.model import regions

PROVINCE_MAX = 64
"""Width of ``golden_client.province``."""
RM_NAME_MAX = 300
"""Width of ``golden_client.rm_name`` (a person's name, as ``golden_client.name``)."""
COLUMNS = ("industry_section", "province", "rm_name")
BACKFILL_BATCH = 5000
"""Rows per UPDATE batch of migration 0010's backfill."""


def _text(doc: Any, *path: str) -> str | None:
    """``doc`` at ``path`` as text, blank (or missing, or not a scalar) as None."""
    for step in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(step)
    if doc is None or isinstance(doc, (Mapping, list, bool)):
        return None
    text = str(doc).strip()
    return text or None


def province_of(raw: str) -> regions.Region | None:
    """The province a region key or filter names: a province's full or short name, or its code digits (``33``,
    ``330000``)."""
    if raw.isdigit() and len(raw) in (2, 6):
        return regions.region_from_code(raw[:2] + "0000")
    found = regions.lookup(raw)
    return found if found is not None and found.level == 1 else None


def region_key(text: str | None) -> str | None:
    """The ``province`` column's value for an address's province (else city) text: the province's full name when
    the text names one, else the text itself (cut to the column's width)."""
    if text is None:
        return None
    found = province_of(text)
    return found.name if found is not None else text[:PROVINCE_MAX]


def keys_of(data: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The columns' values for a golden record's ``data`` (all None for an empty record)."""
    data = data or {}
    code = _text(data, "industry", "code")
    address = _text(data, "registered_address", "province") or _text(data, "registered_address", "city")
    name = _text(data, "relationship_manager", "name")
    return {
        "industry_section": code[:1].upper() if code else None,
        "province": region_key(address),
        "rm_name": name[:RM_NAME_MAX] if name else None,
    }
