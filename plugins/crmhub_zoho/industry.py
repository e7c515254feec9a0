"""Zoho's default ``Industry`` picklist ↔ GB/T 4754-2017 (design/domain.md §3).

Zoho's picklist is an IT/telecom *vendor* segmentation, not an industry taxonomy, so only some values map
cleanly. Ambiguous values (``Service Provider`` could be a carrier or a vendor) and size values (``Large
Enterprise``) are **never guessed**: they map to no industry plus a review flag a person settles. The same table,
read backwards, lets the simulator give world companies realistic picklist values.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmhub.model.industry import IndustryCodeError, normalize_code


@dataclass(frozen=True, slots=True)
class IndustryVerdict:
    """What one Zoho picklist value means: a GB/T code, or none plus why a human must look."""

    code: str | None
    flag: str | None = None
    enterprise_size: str | None = None


_I65 = (
    "ASP (Application Service Provider)",
    "ERP (Enterprise Resource Planning)",
    "ERP",
    "ManagementISV",
    "Management ISV",
    "Non-management ISV",
    "Systems Integrator",
    "MSP (Management Service Provider)",
    "Storage Service Provider",
)
_C39 = (
    "Data/Telecom OEM",
    "Network Equipment Enterprise",
    "Network Equipment (Enterprise)",
    "Optical Networking",
    "Storage Equipment",
)
AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "Service Provider": ("I63", "C39"),
    "Wireless Industry": ("I63", "C39"),
    "Government/Military": ("S", "none for military"),
}
"""Values that could mean several GB/T industries: the candidates shown to the reviewer."""

SIZE_VALUES: dict[str, str | None] = {"Large Enterprise": "大型", "Small/Medium Enterprise": None}
"""Values that state a company size (统计上大中小微型企业划分办法), not an industry."""

CUSTOM_ADDITIONS: dict[str, str] = {
    "Financial Services": "J",
    "Education": "P",
    "Real Estate": "K",
    "Manufacturing": "C",
    "Consulting": "L72",
    "Communications": "I63",
}
"""Values many orgs add to the picklist; they map cleanly."""

DEFAULT_TABLE: dict[str, str] = {**dict.fromkeys(_I65, "I65"), **dict.fromkeys(_C39, "C39"), **CUSTOM_ADDITIONS}
"""Unambiguous value → GB/T 4754 code."""

MISSING_VALUES = frozenset({"", "-None-", "None"})

PICKLIST: tuple[str, ...] = (
    "-None-",
    "ASP (Application Service Provider)",
    "Data/Telecom OEM",
    "ERP (Enterprise Resource Planning)",
    "Government/Military",
    "Large Enterprise",
    "ManagementISV",
    "MSP (Management Service Provider)",
    "Network Equipment Enterprise",
    "Non-management ISV",
    "Optical Networking",
    "Service Provider",
    "Small/Medium Enterprise",
    "Storage Equipment",
    "Storage Service Provider",
    "Systems Integrator",
    "Wireless Industry",
    *CUSTOM_ADDITIONS,
)
"""The picklist a default org (plus the common custom additions) offers, in Zoho's order."""


def classify(value: str | None, overrides: dict[str, str] | None = None) -> IndustryVerdict:
    """Map one picklist value. ``overrides`` (value → GB/T code, from config) win over the default table.

    A value that already is a GB/T code (a custom ``GB_T_4754`` field) is taken as it is.
    """
    if value is None or value.strip() in MISSING_VALUES:
        return IndustryVerdict(None)
    text = value.strip()
    if overrides and text in overrides:
        return IndustryVerdict(normalize_code(overrides[text]))
    if text in DEFAULT_TABLE:
        return IndustryVerdict(DEFAULT_TABLE[text])
    if text in AMBIGUOUS:
        options = " or ".join(AMBIGUOUS[text])
        return IndustryVerdict(
            None,
            f"industry: Zoho value {text!r} is ambiguous ({options}); choose the GB/T 4754 "
            "code by hand or add it to industry_map",
        )
    if text in SIZE_VALUES:
        return IndustryVerdict(
            None,
            f"industry: Zoho value {text!r} is a company size, not an industry; set the GB/T 4754 code by hand",
            SIZE_VALUES[text],
        )
    try:
        return IndustryVerdict(normalize_code(text))
    except IndustryCodeError:
        return IndustryVerdict(
            None,
            f"industry: Zoho value {text!r} is not in the mapping table; add it to "
            "industry_map (value → GB/T 4754 code)",
        )


def picklist_value_for(code: str | None, pick: int) -> str:
    """A realistic picklist value a Zoho user would have chosen for a company of GB/T ``code``.

    ``pick`` (any integer, e.g. a hash of the company key) chooses deterministically among candidates; a share of
    companies gets ambiguous or size values, as in real orgs.
    """
    roll = pick % 100
    if code is None or roll < 4:
        return "-None-"
    if roll < 8:
        return ("Large Enterprise", "Small/Medium Enterprise")[pick // 100 % 2]
    section, division = code[0], code[:3]
    if division in {"I63", "C39"}:
        if roll < 30:
            return ("Service Provider", "Wireless Industry")[pick // 100 % 2]
        return "Communications" if division == "I63" else _C39[pick // 100 % 4]
    if section == "I":
        return _I65[pick // 100 % len(_I65)] if division != "I64" else "ASP (Application Service Provider)"
    if section == "S":
        return "Government/Military"
    for value, target in CUSTOM_ADDITIONS.items():
        if code.startswith(target) and target not in ("I63",):
            return value
    if section == "C":
        return "Manufacturing"
    if roll < 14:
        return "Service Provider"
    return "-None-"
