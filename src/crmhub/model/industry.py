"""GB/T 4754-2017 《国民经济行业分类》: sections (门类) and their division (大类) ranges.

The canonical industry is a section letter plus optional division/group/class digits (``C``, ``C39``, ``C3911``).
English names follow the NBS yearbook style, not the standard's official English. Division ranges for sections
E-T are UNCONFIRMED (see ../shared/design/domain.md §2); they are used only to infer a section from a bare code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Section:
    """One 门类 of GB/T 4754-2017."""

    letter: str
    name_zh: str
    name_en: str
    first_division: int
    last_division: int


SECTIONS: tuple[Section, ...] = (
    Section("A", "农、林、牧、渔业", "Agriculture, Forestry, Animal Husbandry and Fishery", 1, 5),
    Section("B", "采矿业", "Mining", 6, 12),
    Section("C", "制造业", "Manufacturing", 13, 43),
    Section(
        "D", "电力、热力、燃气及水生产和供应业", "Production and Supply of Electricity, Heat, Gas and Water", 44, 46
    ),
    Section("E", "建筑业", "Construction", 47, 50),
    Section("F", "批发和零售业", "Wholesale and Retail Trades", 51, 52),
    Section("G", "交通运输、仓储和邮政业", "Transport, Storage and Post", 53, 60),
    Section("H", "住宿和餐饮业", "Accommodation and Catering", 61, 62),
    Section(
        "I",
        "信息传输、软件和信息技术服务业",
        "Information Transmission, Software and Information Technology Services",
        63,
        65,
    ),
    Section("J", "金融业", "Finance", 66, 69),
    Section("K", "房地产业", "Real Estate", 70, 70),
    Section("L", "租赁和商务服务业", "Leasing and Business Services", 71, 72),
    Section("M", "科学研究和技术服务业", "Scientific Research and Technical Services", 73, 75),
    Section(
        "N",
        "水利、环境和公共设施管理业",
        "Management of Water Conservancy, Environment and Public Facilities",
        76,
        79,
    ),
    Section("O", "居民服务、修理和其他服务业", "Resident Services, Repair and Other Services", 80, 82),
    Section("P", "教育", "Education", 83, 83),
    Section("Q", "卫生和社会工作", "Health and Social Work", 84, 85),
    Section("R", "文化、体育和娱乐业", "Culture, Sports and Entertainment", 86, 90),
    Section(
        "S",
        "公共管理、社会保障和社会组织",
        "Public Management, Social Security and Social Organizations",
        91,
        96,
    ),
    Section("T", "国际组织", "International Organizations", 97, 97),
)

SECTION_BY_LETTER = {s.letter: s for s in SECTIONS}

DIVISION_NAMES: dict[str, tuple[str, str]] = {
    "C39": ("计算机、通信和其他电子设备制造业", "Computer, Communication and Other Electronic Equipment"),
    "I63": ("电信、广播电视和卫星传输服务", "Telecommunications, Broadcasting and Satellite Transmission"),
    "I64": ("互联网和相关服务", "Internet and Related Services"),
    "I65": ("软件和信息技术服务业", "Software and Information Technology Services"),
    "L72": ("商务服务业", "Business Services"),
    "K70": ("房地产业", "Real Estate"),
    "J66": ("货币金融服务", "Monetary and Financial Services"),
    "C26": ("化学原料和化学制品制造业", "Chemical Raw Materials and Chemical Products"),
    "C31": ("黑色金属冶炼和压延加工业", "Smelting and Pressing of Ferrous Metals"),
    "C32": ("有色金属冶炼和压延加工业", "Smelting and Pressing of Non-ferrous Metals"),
    "E47": ("房屋建筑业", "Building Construction"),
    "F51": ("批发业", "Wholesale Trade"),
    "F52": ("零售业", "Retail Trade"),
    "G54": ("道路运输业", "Road Transport"),
    "H62": ("餐饮业", "Catering"),
    "M75": ("科技推广和应用服务业", "Technology Promotion and Application Services"),
}
"""Division names the product uses in labels (a subset; extend from the official NBS text)."""

_CODE = re.compile(r"^([A-T])?(\d{2}(?:\d{1,2})?)?$")


class IndustryCodeError(ValueError):
    """An industry code is not a GB/T 4754-2017 code; the message says the accepted forms."""


def section_for_division(division: int) -> Section:
    """The section whose division range contains `division` (1-97)."""
    for s in SECTIONS:
        if s.first_division <= division <= s.last_division:
            return s
    raise IndustryCodeError(f"division {division:02d} is outside GB/T 4754-2017 (01-97)")


@lru_cache(maxsize=4096)  # pure; a sync sees the same few hundred codes again and again
def normalize_code(value: str) -> str:
    """Return the canonical form: section letter + optional 2-4 digits (``C3011``, ``C``, ``I65``).

    Accepts ``C3011``, ``c3011``, bare ``3011`` (section inferred from the division) and ``C``; rejects a letter
    that contradicts the digits.
    """
    raw = value.strip().upper().replace(" ", "")
    m = _CODE.match(raw)
    if not raw or not m or (m.group(1) is None and m.group(2) is None):
        raise IndustryCodeError(
            f"industry code {value!r} is not GB/T 4754-2017: use a section letter A-T with optional "
            "2-4 digits (e.g. 'C', 'C39', 'C3911') or bare digits ('3911')"
        )
    letter, digits = m.group(1), m.group(2) or ""
    if digits:
        implied = section_for_division(int(digits[:2]))
        if letter and letter != implied.letter:
            raise IndustryCodeError(
                f"industry code {value!r}: division {digits[:2]} belongs to section {implied.letter}, not {letter}"
            )
        letter = implied.letter
    assert letter is not None
    return letter + digits


@lru_cache(maxsize=4096)
def labels(code: str) -> tuple[str, str]:
    """Chinese and English labels for a canonical code, most specific known level first."""
    division_key = code[:3]
    if len(code) >= 3 and division_key in DIVISION_NAMES:
        return DIVISION_NAMES[division_key]
    s = SECTION_BY_LETTER[code[0]]
    return s.name_zh, s.name_en
