"""GB/T 2260 administrative divisions, for reading the region out of a company name or an address.

A registered Chinese company name starts with (or brackets) the name of the administrative division it was
registered in, and a USCC carries the registering authority's division code in positions 3-8. Matching needs
both: to strip the region from the name (so 北京星河科技 and 星河科技(北京) compare equal) and to decide whether two
regions are *compatible* (上海 contains 浦东新区) or *conflicting* (北京 vs 上海). Comparing codes makes the
hierarchy a prefix test, which is why every name here carries its code.

The table (``gbt2260.tsv``: the current 34 provinces, 333 prefectures and 2,845 county-level units, plus ~150
retired codes and former names) is loaded once, lazily; its header states the list's date and source. A retired
unit (莱芜市 371200, 临安市 330185, 江干区 330104) stays a `Region` of its own — USCCs keep the division code of
their registration time and old names keep old place names — with ``current`` naming the unit that now contains
it; `compatible` compares current codes, so 莱芜市 and 济南市莱芜区 agree.
Short names drop the generic suffix (省, 市, 自治区, 区, 县, 旗, ethnic-autonomy qualifiers): 广西壮族自治区 → 广西,
延边朝鲜族自治州 → 延边, 浦东新区 → 浦东. A short name shorter than two characters is never used (城区, 郊区 …).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "Region",
    "compatible",
    "current_code",
    "is_city_level",
    "lookup",
    "parse_prefix",
    "region_from_address",
    "region_from_code",
]

_MINORITIES = (
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
    "各",
)
"""Ethnic names that appear in autonomous-area names (…族自治州); 各族 as in 积石山保安族东乡族撒拉族自治县."""

_PROVINCE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
_COUNTY_SUFFIXES = ("新区", "林区", "特区", "矿区", "区", "县", "市", "旗")


@dataclass(frozen=True, slots=True)
class Region:
    """One administrative division: six-digit code, full name, short name and level (1, 2 or 3).

    ``current`` is the code of the unit that contains (or renamed) a retired one; a current unit's own code.
    """

    code: str
    name: str
    short: str
    level: int
    current: str = ""

    @property
    def retired(self) -> bool:
        """True for a code or name no longer in the current list (kept because USCCs and names carry it)."""
        return bool(self.current) and self.current != self.code

    @property
    def province_code(self) -> str:
        """The code of the province-level unit containing it."""
        return self.code[:2] + "0000"


def _strip_autonomy(name: str, suffix: str) -> str:
    """Remove ``…族自治州`` / ``…族自治县`` / ``…自治旗`` and the ethnic names before it."""
    base = name[: -len(suffix)]
    changed = True
    while changed:
        changed = False
        if base.endswith("族"):
            base = base[:-1]
            changed = True
        for ethnic in sorted(_MINORITIES, key=len, reverse=True):
            if base.endswith(ethnic) and len(base) > len(ethnic) + 1:
                base = base[: -len(ethnic)]
                changed = True
                break
    return base


def _short_name(name: str, level: int) -> str:
    if level == 1:
        for suffix in _PROVINCE_SUFFIXES:
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name
    for suffix in ("自治州", "自治县", "自治旗"):
        if name.endswith(suffix):
            return _strip_autonomy(name, suffix)
    suffixes = ("地区", "盟", "市") if level == 2 else _COUNTY_SUFFIXES
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True, slots=True)
class _Tables:
    by_code: dict[str, Region]
    provinces: dict[str, Region]
    prefectures: dict[str, tuple[Region, ...]]
    children: dict[str, dict[str, Region]]
    counties_full: dict[str, tuple[Region, ...]]
    any_name: dict[str, tuple[Region, ...]]
    max_len: int
    successor: dict[str, str]


def _parent_code(code: str, by_code: dict[str, Region]) -> str:
    """The containing unit: the prefecture if it exists (not for municipalities), else the province."""
    if code.endswith("0000"):
        return ""
    if code.endswith("00"):
        return code[:2] + "0000"
    prefecture = code[:4] + "00"
    return prefecture if prefecture in by_code else code[:2] + "0000"


@cache
def _tables() -> _Tables:
    text = resources.files("crmhub.model").joinpath("gbt2260.tsv").read_text(encoding="utf-8")
    by_code: dict[str, Region] = {}
    aliases: list[Region] = []  # former names of codes still current (桥东区 → 襄都区, same code)
    successor: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, *rest = line.split("\t")
        level = 1 if code.endswith("0000") else 2 if code.endswith("00") else 3
        current = rest[0] if rest else code
        region = Region(code, name, _short_name(name, level), level, current)
        if code in by_code:
            aliases.append(region)
        else:
            by_code[code] = region
        if current != code:
            successor[code] = current
    provinces: dict[str, Region] = {}
    prefectures: dict[str, list[Region]] = {}
    children: dict[str, dict[str, Region]] = {}
    counties_full: dict[str, list[Region]] = {}
    any_name: dict[str, list[Region]] = {}
    for region in (*by_code.values(), *aliases):
        names = {region.name, region.short} if len(region.short) >= 2 else {region.name}
        for n in names:
            any_name.setdefault(n, []).append(region)
        if region.level == 1:
            for n in names:
                provinces[n] = region
            continue
        parent = _parent_code(region.code, by_code)
        siblings = children.setdefault(parent, {})
        if region.level == 2:
            # 地区 and 盟 short forms (阿里, 兴安) are common words: only the full name counts as a prefix.
            usable = names if region.name.endswith(("市", "自治州")) else {region.name}
            for n in usable:
                prefectures.setdefault(n, []).append(region)
                siblings.setdefault(n, region)
        else:
            counties_full.setdefault(region.name, []).append(region)
            siblings.setdefault(region.name, region)
    for n, found in any_name.items():
        found.sort(key=lambda r: (r.level, r.retired))  # the current unit first when a name is ambiguous
        any_name[n] = found
    return _Tables(
        by_code,
        provinces,
        {k: tuple(v) for k, v in prefectures.items()},
        children,
        {k: tuple(v) for k, v in counties_full.items()},
        {k: tuple(v) for k, v in any_name.items()},
        max(len(n) for n in any_name),
        {code: _resolve(code, successor) for code in successor},
    )


def _resolve(code: str, successor: dict[str, str]) -> str:
    seen = {code}
    while code in successor and successor[code] not in seen:
        code = successor[code]
        seen.add(code)
    return code


def current_code(code: str) -> str:
    """The current code for a division code: itself unless retired (371202 莱城区 → 370116 济南市莱芜区)."""
    return _tables().successor.get(code, code)


def region_from_code(code: str | None) -> Region | None:
    """The division for a six-digit code; a municipality's ``xx0100`` resolves to the municipality itself."""
    if not code or len(code) != 6:
        return None
    tables = _tables()
    found = tables.by_code.get(code)
    if found is None and code.endswith("0100"):
        found = tables.by_code.get(code[:2] + "0000")
    if found is None:
        found = tables.by_code.get(code[:4] + "00") or tables.by_code.get(code[:2] + "0000")
    return found


def lookup(name: str) -> Region | None:
    """The division called `name` (full or short), preferring the highest level; None when unknown.

    An ambiguous county-level short name (朝阳 is a district of 北京 and a prefecture in 辽宁) resolves to the
    higher level, as people writing one word mean the larger unit.
    """
    found = _tables().any_name.get(name)
    return found[0] if found else None


@cache
def _heads() -> dict[str, int]:
    """First two characters of every division name → the longest name starting with them: `_longest` stops at
    once for text that starts no name (most company names), and never probes past the longest possible one."""
    heads: dict[str, int] = {}
    for name in _tables().any_name:
        if len(name) >= 2:
            heads[name[:2]] = max(heads.get(name[:2], 0), len(name))
    return heads


def _longest(text: str, pos: int, names: dict[str, Region] | dict[str, tuple[Region, ...]], limit: int) -> str:
    longest = _heads().get(text[pos : pos + 2], 0)
    for length in range(min(limit, longest, len(text) - pos), 1, -1):
        candidate = text[pos : pos + length]
        if candidate in names:
            return candidate
    return ""


def parse_prefix(text: str) -> tuple[tuple[Region, int], ...]:
    """Match a leading region path (province, prefecture, county): each unit with the position where it ends.

    Rules, chosen so that a 字号 that happens to be a place word is not eaten:
    - a province may be written short (广东) or full (广东省); a prefecture likewise after a province or alone;
    - a county-level unit only with its suffix (海淀区, 昆山市), and alone only when its full name is unique;
    - municipalities' districts hang directly under the municipality (北京市海淀区).
    """
    tables = _tables()
    path: list[Region] = []
    ends: list[int] = []
    pos = 0
    name = _longest(text, pos, tables.provinces, tables.max_len)
    city = _longest(text, pos, tables.prefectures, tables.max_len)
    if city and len(city) > len(name) and len(tables.prefectures[city]) == 1:
        name = ""  # 吉林市… is the prefecture 吉林市, not the province 吉林 followed by 市
    if name:
        path.append(tables.provinces[name])
        pos += len(name)
        ends.append(pos)
    parent = path[-1].code if path else ""
    if parent:
        kids = tables.children.get(parent, {})
        name = _longest(text, pos, kids, tables.max_len)
        if name:
            path.append(kids[name])
            pos += len(name)
            ends.append(pos)
    else:
        name = _longest(text, pos, tables.prefectures, tables.max_len)
        if name and len(tables.prefectures[name]) == 1:
            path.append(tables.prefectures[name][0])
            pos += len(name)
            ends.append(pos)
    if path and path[-1].level < 3:
        kids = tables.children.get(path[-1].code, {})
        name = _longest(text, pos, kids, tables.max_len)
        if name and kids[name].level == 3:
            path.append(kids[name])
            pos += len(name)
            ends.append(pos)
    elif not path:
        name = _longest(text, pos, tables.counties_full, tables.max_len)
        if name and len(tables.counties_full[name]) == 1:
            path.append(tables.counties_full[name][0])
            pos += len(name)
            ends.append(pos)
    return tuple(zip(path, ends, strict=True))


def region_from_address(province: str | None, city: str | None, district: str | None = None) -> Region | None:
    """The most specific division named by an address's parts, checked for consistency top-down."""
    best: Region | None = None
    for part in (province, city, district):
        if not part:
            continue
        found = _tables().any_name.get(part.strip())
        if not found:
            continue
        if best is None:
            best = found[0]
            continue
        inside = [r for r in found if r.code != best.code and compatible(r.code, best.code)]
        if inside:
            best = max(inside, key=lambda r: r.level)
    return best


_MUNICIPALITIES = frozenset({"11", "12", "31", "50"})


def is_city_level(code: str) -> bool:
    """True for a prefecture, a county-level unit or a municipality: a province alone says little about a company."""
    return not code.endswith("0000") or code[:2] in _MUNICIPALITIES


def _ancestors(code: str) -> tuple[str, str, str]:
    return code[:2] + "0000", code[:4] + "00", code


def compatible(code_a: str, code_b: str) -> bool:
    """True when one division contains the other (or they are the same), retired codes by their current unit."""
    if code_a == code_b:
        return True
    successor = _tables().successor
    code_a, code_b = successor.get(code_a, code_a), successor.get(code_b, code_b)
    return code_a == code_b or code_a in _ancestors(code_b) or code_b in _ancestors(code_a)
