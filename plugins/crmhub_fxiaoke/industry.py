"""The tenant's ``industry`` picklist on AccountObj and its relation to GB/T 4754-2017.

Fenxiang tenants keep a free-form industry picklist, not the national standard: options such as
"IT/通信/电子/互联网" lump software (I65), carriers (I63) and electronics makers (C39) together. crmhub maps an
option to a GB/T code only when the option names exactly one section or division; an option that could be
several is put on the record's ``review_flags`` and never guessed (domain.md §3's rule for Zoho applies here).

Option *values* are tenant-generated, so the default map is keyed by option *label* (read from ``describe``);
``[connectors.<name>.industry_map]`` overrides it by value or label. The simulator's tenant uses the same
option set, with values "1" … "22" and "other".
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IndustryOption:
    """One picklist option and the GB/T 4754 codes it may stand for (one = clean, several = ambiguous)."""

    value: str
    label: str
    codes: tuple[str, ...]


OPTIONS: tuple[IndustryOption, ...] = (
    IndustryOption("1", "IT/通信/电子/互联网", ("I", "C39")),
    IndustryOption("2", "金融业", ("J",)),
    IndustryOption("3", "房地产", ("K",)),
    IndustryOption("4", "建筑业", ("E",)),
    IndustryOption("5", "商业服务", ("L72",)),
    IndustryOption("6", "贸易/批发/零售/租赁业", ("F", "L71")),
    IndustryOption("7", "文体教育/工艺美术", ("P", "R", "C24")),
    IndustryOption("8", "生产/加工/制造", ("C",)),
    IndustryOption("9", "交通/运输/物流/仓储", ("G",)),
    IndustryOption("10", "服务业", ("O", "H", "L")),
    IndustryOption("11", "文化/传媒/娱乐/体育", ("R",)),
    IndustryOption("12", "能源/矿产/环保", ("B", "D", "N77")),
    IndustryOption("13", "政府/非营利机构", ("S",)),
    IndustryOption("14", "农/林/牧/渔", ("A",)),
    IndustryOption("15", "医疗/卫生/社会服务", ("Q",)),
    IndustryOption("16", "教育/培训", ("P",)),
    IndustryOption("17", "酒店/餐饮", ("H",)),
    IndustryOption("18", "软件/信息技术服务", ("I65",)),
    IndustryOption("19", "电子设备制造", ("C39",)),
    IndustryOption("20", "电信运营", ("I63",)),
    IndustryOption("21", "化工", ("C26",)),
    IndustryOption("22", "钢铁/冶金", ("C31", "C32")),  # 冶金 covers ferrous (C31) and non-ferrous (C32) metals
    IndustryOption("other", "其他", ()),
)
"""The simulator tenant's options (and the labels crmhub recognises by default)."""

EXTRA_LABELS: dict[str, tuple[str, ...]] = {
    "钢铁": ("C31",),
    "黑色金属": ("C31",),
    "黑色金属冶炼": ("C31",),
    "黑色金属冶炼和压延加工": ("C31",),
    "有色金属": ("C32",),
    "有色金属冶炼": ("C32",),
    "有色金属冶炼和压延加工": ("C32",),
    "冶金": ("C31", "C32"),
    "钢铁/有色金属": ("C31", "C32"),
    "钢铁/有色": ("C31", "C32"),
}
"""Other labels tenants use for the metals options (GB/T 4754-2017 C31 黑色金属冶炼和压延加工业, C32 有色金属冶炼和压延
加工业): a label naming one of them maps to it; 冶金 (metallurgy) names both and is a review doubt."""

DEFAULT_LABEL_MAP: dict[str, tuple[str, ...]] = {**EXTRA_LABELS, **{o.label: o.codes for o in OPTIONS}}


@dataclass(frozen=True, slots=True)
class IndustryVerdict:
    """The outcome of mapping one option: a GB/T code, or a doubt for the review queue."""

    code: str | None
    flag: str | None


def _codes_from_override(raw: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(raw, str):
        return tuple(c.strip() for c in raw.split(",") if c.strip())
    return tuple(str(c).strip() for c in raw if str(c).strip())


def map_option(
    value: object, labels: Mapping[str, str], overrides: Mapping[str, str | Sequence[str]], field: str = "industry"
) -> IndustryVerdict:
    """Map a picklist value (``labels`` = value → label from ``describe``) to a GB/T code or a review flag."""
    if value is None or value in ("", []):
        return IndustryVerdict(None, None)
    if isinstance(value, list):  # select_many tenants: only one value is meaningful for an industry
        if len(value) != 1:
            return IndustryVerdict(None, f"{field}: several options {value!r} selected; choose one GB/T 4754 code")
        value = value[0]
    key = str(value)
    label = labels.get(key, key)
    if key in overrides:
        codes = _codes_from_override(overrides[key])
    elif label in overrides:
        codes = _codes_from_override(overrides[label])
    elif label in DEFAULT_LABEL_MAP:
        codes = DEFAULT_LABEL_MAP[label]
    else:
        return IndustryVerdict(
            None,
            f"{field}: Fenxiang option {label!r} (value {key!r}) has no GB/T 4754 mapping; "
            "add it to industry_map in the connector config",
        )
    if len(codes) == 1:
        return IndustryVerdict(codes[0], None)
    if not codes:
        return IndustryVerdict(
            None,
            f"{field}: Fenxiang option {label!r} (value {key!r}) names no GB/T 4754 industry; set the industry by hand",
        )
    return IndustryVerdict(
        None,
        f"{field}: Fenxiang option {label!r} (value {key!r}) could be GB/T 4754 "
        f"{' or '.join(codes)}; not guessed — decide in review",
    )


def option_for_code(
    code: str, labels: Mapping[str, str], overrides: Mapping[str, str | Sequence[str]] | None = None
) -> str | None:
    """The option value to write for a GB/T code: the option with the longest matching code prefix.

    An option lumping codes of one section (钢铁/冶金 = C31 or C32) still describes a C3110 company correctly and
    beats the generic 生产/加工/制造 (C); an option spanning sections (IT/通信/电子/互联网 = I or C39) is never
    written, and on a tie the unambiguous option wins.
    """
    best: tuple[int, int, str] | None = None
    for value, label in labels.items():
        if overrides and (value in overrides or label in overrides):
            codes = _codes_from_override(overrides[value] if value in overrides else overrides[label])
        else:
            codes = DEFAULT_LABEL_MAP.get(label, ())
        if not codes or len({c[0] for c in codes}) != 1:
            continue
        matched = max((len(c) for c in codes if code.startswith(c)), default=0)
        rank = (matched, 1 if len(codes) == 1 else 0, value)
        if matched and (best is None or rank[:2] > best[:2]):
            best = rank
    return best[2] if best else None


def simulated_choice(code: str | None, rng: random.Random) -> str | None:
    """The option a salesperson would have picked for a company of GB/T ``code`` (simulator data).

    Specific options are preferred, lumped ones are common, "其他" and blank occur: that is the data a real tenant
    holds, and what the connector's review flags exist for.
    """
    if code is None:
        return None
    roll = rng.random()
    if roll < 0.03:
        return "other"
    if roll < 0.05:
        return None
    specific = [o for o in OPTIONS if len(o.codes) == 1 and code.startswith(o.codes[0])]
    specific.sort(key=lambda o: -len(o.codes[0]))
    lumped = [o for o in OPTIONS if len(o.codes) > 1 and any(code.startswith(c) for c in o.codes)]
    if specific and (not lumped or rng.random() < 0.7):
        return specific[0].value
    if lumped:
        return rng.choice(lumped).value
    return "other"
