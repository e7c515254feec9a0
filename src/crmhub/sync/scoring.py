"""Fellegi-Sunter scoring of a record pair, with term-frequency adjustment, that explains itself.

Each comparison (name, region, legal form, phone, legal representative) falls into one *level*; each level has an
m-probability (how often true matches look like this) and a u-probability (how often non-matches do), and
contributes ``log2(m/u)`` bits of evidence — Splink's match weight. The sum plus the prior is the pair's total
weight; ``2^w / (1 + 2^w)`` its match probability. Exact agreement on a frequent value (a common 字号, a shared
switchboard number, the legal representative 王伟) is weaker evidence than on a rare one, so those levels are
adjusted by ``log2(u_avg / u_value)`` computed from the records being matched (Splink's term-frequency
adjustment), clipped to a configured range.

Levels, strongest first within each comparison (the first that applies wins):

- name: ``exact`` key · ``homophone`` (same pinyin) · ``industry_missing`` (one side wrote only the 字号 or a
  shortened name) · ``industry_related`` (网络科技 / 科技) · ``typo`` (one edit, two in long keys) ·
  ``industry_differs`` (same 字号, other trade: a sister company, strongly negative) · ``different``;
- region: the regions in the names (``name_same`` at city level, ``name_province_sole`` / ``name_province`` when
  one side names only the province — strong only if the data knows that name in a single city of it,
  ``name_conflict``), else the address/USCC regions (``same``, ``same_province[_sole]``, ``conflict``);
- legal form (有限公司 ≡ 有限责任公司, 股份公司 ≡ 股份有限公司; 股份 vs 有限 weak, company vs partnership strong), phone
  (any shared number), legal representative (equal, homophone, different), and a mistyped USCC one edit from the
  other side's (``typo``);
- 集团 (``group``): one name says 集团 and the other does not (北京星河科技集团有限公司 / 北京星河科技有限公司). A group
  parent and its subsidiary share 字号, city, often phone and legal representative, yet are separate borrowers:
  the level weighs against the pair and marks it ``review_only`` — however strong the rest of the evidence, it
  goes to a human, never to an automatic merge (only equal USCCs join them).

Some facts are not evidence but rules: equal USCCs are the same legal entity; two different valid USCCs are two
entities; a branch (分公司) is never its parent. Those set the probability to exactly 1 or 0 and say which rule
fired. The m/u defaults are expert estimates (no labelled training data exists at launch), chosen so that the
drift table of domain.md §10 merges and the near-miss pairs do not; they are configurable per bank.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from rapidfuzz.distance import Levenshtein

from crmhub.model import regions
from crmhub.sync.lexicon import FORM_CLASSES
from crmhub.sync.names import pinyin_key
from crmhub.sync.records import MatchRecord

__all__ = [
    "DEFAULT_LEVELS",
    "Contribution",
    "MatchModel",
    "MatchScore",
    "TermFrequencies",
    "probability",
    "score_at_least",
    "score_pair",
]

CERTAIN = 40.0
"""Weight shown for a deterministic rule (USCC equal/different, branch); the probability is set exactly."""

DEFAULT_LEVELS: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        # comparison: level: (m, u)
        "name": {
            "exact": (0.85, 1e-4),
            "homophone": (0.04, 1e-4),
            "industry_missing": (0.02, 2e-4),
            "industry_related": (0.01, 1e-4),
            "typo": (0.03, 1e-3),
            "industry_differs": (1e-7, 2e-3),
            "different": (0.03, 0.99),
            "missing": (1.0, 1.0),
        },
        "region": {
            "name_same": (0.88, 0.05),
            "name_province_sole": (0.10, 0.01),
            "name_province": (0.02, 0.06),
            "name_conflict": (0.002, 0.90),
            "same": (0.85, 0.06),
            "same_province_sole": (0.10, 0.01),
            "same_province": (0.02, 0.06),
            "conflict": (0.05, 0.90),
            "unknown": (1.0, 1.0),
        },
        "form": {
            "equivalent": (0.93, 0.75),
            "compatible": (1.0, 1.0),
            "unknown": (1.0, 1.0),
            "different": (0.04, 0.12),
            "conflict": (0.003, 0.10),
        },
        "phone": {
            "equal": (0.60, 2e-4),
            "different": (0.60, 0.9998),
            "unknown": (1.0, 1.0),
        },
        "uscc": {
            "typo": (0.95, 1e-6),
            "invalid_differs": (0.05, 0.999),
            "missing": (1.0, 1.0),
        },
        "group": {
            "same": (1.0, 1.0),
            "differs": (0.05, 0.25),
        },
        "legal_rep": {
            "equal": (0.85, 5e-4),
            "homophone": (0.03, 1e-4),
            "different": (0.10, 0.9995),
            "unknown": (1.0, 1.0),
        },
    }
)
"""(m, u) per comparison level. ``unknown`` levels are neutral (m = u): missing data is no evidence."""

_TF_LEVELS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("name", "exact"): "key",
        ("name", "homophone"): "key_pinyin",
        ("name", "industry_missing"): "trade",
        ("name", "industry_related"): "trade",
        ("region", "name_same"): "geo",
        ("region", "same"): "geo",
        ("phone", "equal"): "phone",
        ("legal_rep", "equal"): "legal_rep",
    }
)
"""Levels whose weight is term-frequency adjusted, and the value family whose frequency is used."""


class Contribution(NamedTuple):
    """One line of a score's explanation: which comparison, at which level, how many bits of evidence."""

    comparison: str
    level: str
    weight: float


def probability(weight: float) -> float:
    """Match probability for a total weight in bits: ``2^w / (1 + 2^w)``."""
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    return 1.0 / (1.0 + math.pow(2.0, -weight))


@dataclass(frozen=True, slots=True)
class MatchScore:
    """A scored pair: total weight (bits), match probability and the contributions that make it up.

    ``rule`` names a deterministic rule that decided the pair (``uscc_equal``, ``uscc_conflict``,
    ``branch_mismatch``, ``branch_uscc_clash``), in which case ``match_probability`` is exactly 1 or 0.
    ``review_only`` names a rule that forbids an automatic merge whatever the probability (``group_mismatch``):
    the pair goes to the review queue when it reaches the review threshold.
    """

    total: float
    match_probability: float
    breakdown: tuple[Contribution, ...]
    rule: str | None = None
    review_only: str | None = None

    def explain(self) -> str:
        """Human-readable explanation, one contribution per line, strongest evidence first."""
        lines = [f"match probability {self.match_probability:.4f} (total {self.total:+.2f} bits)"]
        if self.rule:
            lines.append(f"decided by rule: {self.rule}")
        if self.review_only:
            lines.append(f"never merged automatically: {self.review_only}")
        for c in sorted(self.breakdown, key=lambda c: -abs(c.weight)):
            lines.append(f"  {c.comparison:<10} {c.level:<32} {c.weight:+7.2f}")
        return "\n".join(lines)


@dataclass(frozen=True)
class MatchModel:
    """The scoring parameters: prior, (m, u) per level, term-frequency clipping.

    ``levels`` overrides `DEFAULT_LEVELS` level by level — ``MatchModel(levels={"phone": {"equal": (0.5,
    1e-3)}})`` changes one level and keeps the rest; an unknown comparison or level is refused, naming it.
    """

    levels: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    prior_weight: float = -10.0
    """log2 prior odds that a candidate pair matches (≈ 1 in 1,000) before any comparison."""
    tf_min_adjustment: float = -8.0
    tf_max_adjustment: float = 2.0
    weights: Mapping[tuple[str, str], float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        merged = {comparison: dict(levels) for comparison, levels in DEFAULT_LEVELS.items()}
        for comparison, levels in self.levels.items():
            if comparison not in merged:
                raise ValueError(f"unknown comparison {comparison!r}; known: {', '.join(merged)}")
            for level, mu in levels.items():
                if level not in merged[comparison]:
                    known = ", ".join(merged[comparison])
                    raise ValueError(f"unknown level {comparison}.{level}; known: {known}")
                merged[comparison][level] = mu
        table: dict[tuple[str, str], float] = {}
        for comparison, levels in merged.items():
            for level, (m, u) in levels.items():
                if not (0 < m <= 1 and 0 < u <= 1):
                    raise ValueError(f"{comparison}.{level}: m and u must be in (0, 1], got m={m}, u={u}")
                table[(comparison, level)] = math.log2(m / u)
        object.__setattr__(self, "weights", MappingProxyType(table))


class TermFrequencies:
    """Value counts per family (name key, pinyin, 字号, phone, legal representative, city), learnt from the data.

    Counts are keyed by ``hasher(value)`` to keep memory flat for large books; a collision only blurs one
    adjustment. ``adjustment`` is Splink's ``log2(u_avg / u_value)`` with ``u_avg = Σ n_v² / N²`` and
    ``u_value = n_value / N``. The in-memory matcher uses Python's ``hash``; the sync's persisted index
    (`crmhub.sync.match_index`) loads the counts it needs from the store, keyed by a hash that is the same in every
    process.
    """

    FAMILIES = ("key", "key_pinyin", "trade", "phone", "legal_rep", "geo")

    def __init__(self, hasher: Callable[[str], int] = hash) -> None:
        self._hash = hasher
        self._counts: dict[str, dict[int, int]] = {f: {} for f in self.FAMILIES}
        self._sum_sq: dict[str, int] = dict.fromkeys(self.FAMILIES, 0)
        self._total: dict[str, int] = dict.fromkeys(self.FAMILIES, 0)
        self._key_cities: dict[int, dict[str, int]] = {}

    @staticmethod
    def values(record: MatchRecord) -> dict[str, tuple[str, ...]]:
        """The values of each family that `record` contributes."""
        return {
            "key": (record.name.key,),
            "key_pinyin": (record.key_pinyin,),
            "trade": (record.name.trade_name,),
            "phone": record.phones,
            "legal_rep": (record.legal_rep,) if record.legal_rep else (),
            "geo": (record.geo4,) if record.geo4 else (),
        }

    def _bump(self, family: str, value: str, delta: int) -> None:
        counts = self._counts[family]
        h = self._hash(value)
        n = counts.get(h, 0)
        new = n + delta
        if new <= 0:
            counts.pop(h, None)
        else:
            counts[h] = new
        self._sum_sq[family] += new * new - n * n
        self._total[family] += delta

    def add(self, record: MatchRecord) -> None:
        """Count a record's values."""
        for family, values in self.values(record).items():
            for value in values:
                self._bump(family, value, 1)
        self._bump_city(record, 1)

    def remove(self, record: MatchRecord) -> None:
        """Un-count a record's values (it was replaced or deleted)."""
        for family, values in self.values(record).items():
            for value in values:
                self._bump(family, value, -1)
        self._bump_city(record, -1)

    def _bump_city(self, record: MatchRecord, delta: int) -> None:
        geo = record.geo4
        if not geo or not regions.is_city_level(geo + "00"):
            return
        cities = self._key_cities.setdefault(self._hash(record.name.key), {})
        n = cities.get(geo, 0) + delta
        if n > 0:
            cities[geo] = n
        else:
            cities.pop(geo, None)

    def cities_with_key(self, key: str, province: str) -> int:
        """In how many cities of `province` (2 digits) records named `key` are registered or located."""
        cities = self._key_cities.get(self._hash(key), {})
        return sum(1 for geo in cities if geo.startswith(province))

    def count(self, family: str, value: str) -> int:
        """How many records carry `value`."""
        return self._counts[family].get(self._hash(value), 0)

    def adjustment(self, family: str, value: str, low: float, high: float) -> tuple[float, int]:
        """(bits to add, count): positive for rarer-than-average values, negative for frequent ones.

        Two records agree on the value, so its count is taken as at least 2 (a record being looked up before it
        is indexed still counts).
        """
        total = self._total[family]
        n = max(self.count(family, value), 2)
        if total < 2:
            return 0.0, n
        adj = math.log2(self._sum_sq[family] / (total * n))
        return min(max(adj, low), high), n


def _name_level(a: MatchRecord, b: MatchRecord) -> str:
    na, nb = a.name, b.name
    if not na.key or not nb.key:
        return "missing"
    if na.key == nb.key:
        return "exact"
    if a.key_pinyin == b.key_pinyin:
        return "homophone"
    if na.key.startswith(nb.key) or nb.key.startswith(na.key):
        return "industry_missing"  # 金丰外国语 / 金丰外国语培训学校: one source wrote the short name
    if na.trade_name == nb.trade_name or a.trade_pinyin == b.trade_pinyin:
        ia, ib = "".join(na.industry), "".join(nb.industry)
        if not ia or not ib:
            return "industry_missing"
        if ia in ib or ib in ia:
            return "industry_related"
        return "industry_differs"
    shorter = min(len(na.key), len(nb.key))
    limit = 2 if shorter >= 8 else 1
    if shorter >= 3 and Levenshtein.distance(na.key, nb.key, score_cutoff=limit) <= limit:
        return "typo"
    return "different"


def _region_level(a: MatchRecord, b: MatchRecord, tf: TermFrequencies | None) -> str:
    ra, rb = a.name.region_code, b.name.region_code
    if ra and rb:
        if regions.compatible(ra, rb):
            return "name_same" if _city_level(ra, rb) else "name" + _province_level(a, ra, tf)
        # In a branch's name the region is the parent's, which people garble; the branch part still agrees.
        return "conflict" if a.name.branch else "name_conflict"
    la, lb = (a.region_code, b.region_code) if a.region_code and b.region_code else (a.location, b.location)
    if la and lb:
        if regions.compatible(la, lb):
            return "same" if _city_level(la, lb) else "same" + _province_level(a, la, tf)
        return "conflict"
    return "unknown"


def _city_level(code_a: str, code_b: str) -> bool:
    return regions.is_city_level(code_a) and regions.is_city_level(code_b)


def _province_level(a: MatchRecord, code: str, tf: TermFrequencies | None) -> str:
    """广东 contains 东莞 and twenty other cities: province-only agreement is strong only when the data knows the
    name in a single city of that province (then the province-only record is almost surely that company)."""
    if tf is not None and tf.cities_with_key(a.name.key, code[:2]) <= 1:
        return "_province_sole"
    return "_province"


def _form_level(a: MatchRecord, b: MatchRecord) -> str:
    fa, fb = a.name.form, b.name.form
    if fa is None or fb is None:
        return "unknown"
    if fa == fb:
        return "equivalent"
    ca, cb = FORM_CLASSES.get(fa), FORM_CLASSES.get(fb)
    if ca != cb:
        return "conflict"
    return "compatible" if "公司" in (fa, fb) else "different"


def _phone_level(a: MatchRecord, b: MatchRecord) -> tuple[str, str | None]:
    if not a.phones or not b.phones:
        return "unknown", None
    for p in a.phones:
        if p in b.phones:
            return "equal", p
    return "different", None


def _rep_level(a: MatchRecord, b: MatchRecord) -> str:
    if not a.legal_rep or not b.legal_rep:
        return "unknown"
    if a.legal_rep == b.legal_rep:
        return "equal"
    if pinyin_key(a.legal_rep) == pinyin_key(b.legal_rep):
        return "homophone"
    return "different"


def _tf_value(family: str, a: MatchRecord, phone: str | None) -> str:
    if family == "key":
        return a.name.key
    if family == "key_pinyin":
        return a.key_pinyin
    if family == "trade":
        return a.name.trade_name
    if family == "phone":
        return phone or ""
    if family == "legal_rep":
        return a.legal_rep or ""
    return a.geo4 or ""


def _rule(model: MatchModel, rule: str, level: str, match: bool) -> MatchScore:
    weight = CERTAIN if match else -CERTAIN
    parts = (Contribution("prior", "base rate", model.prior_weight), Contribution(rule.split("_", 1)[0], level, weight))
    return MatchScore(model.prior_weight + weight, 1.0 if match else 0.0, parts, rule)


def _rule_of(a: MatchRecord, b: MatchRecord) -> tuple[str, str, bool] | None:
    """The deterministic rule that decides the pair, if any: (rule, level, match)."""
    if a.name.branch != b.name.branch:
        level = f"{a.name.branch or 'head office'} vs {b.name.branch or 'head office'}"
        # The same USCC on a branch and a head office is a data error for a human, still never a merge.
        rule = "branch_uscc_clash" if a.uscc and a.uscc == b.uscc else "branch_mismatch"
        return rule, level, False
    if a.uscc and b.uscc:
        if a.uscc == b.uscc:
            return "uscc_equal", "equal", True
        return "uscc_conflict", f"{a.uscc} vs {b.uscc}", False
    return None


def _weigh(
    a: MatchRecord, b: MatchRecord, tf: TermFrequencies | None, model: MatchModel, parts: list[Contribution] | None
) -> float:
    """The pair's total weight; each contribution is appended to ``parts`` when given (the same additions in the
    same order either way, so the total is bit-for-bit the same)."""
    weights = model.weights
    phone_level, phone = _phone_level(a, b)
    levels: list[tuple[str, str]] = [
        ("name", _name_level(a, b)),
        ("region", _region_level(a, b, tf)),
        ("form", _form_level(a, b)),
        ("phone", phone_level),
        ("legal_rep", _rep_level(a, b)),
    ]
    if a.name.group != b.name.group:  # shown only when it matters: most pairs agree on 集团
        levels.append(("group", "differs"))
    total = model.prior_weight
    for comparison, level in levels:
        w = weights[(comparison, level)]
        if parts is not None:
            parts.append(Contribution(comparison, level, w))
        total += w
        family = _TF_LEVELS.get((comparison, level))
        if family is not None and tf is not None:
            adj, n = tf.adjustment(
                family, _tf_value(family, a, phone), model.tf_min_adjustment, model.tf_max_adjustment
            )
            if adj:
                if parts is not None:
                    parts.append(Contribution(comparison, f"term frequency ({family}, n={n})", adj))
                total += adj
    level = _uscc_level(a, b)
    w = weights[("uscc", level)]
    if parts is not None:
        parts.append(Contribution("uscc", level, w))
    total += w
    return total


def score_pair(
    a: MatchRecord, b: MatchRecord, tf: TermFrequencies | None = None, model: MatchModel | None = None
) -> MatchScore:
    """Score one pair of records; `tf` (frequencies of the data being matched) enables the adjustments."""
    model = model or _DEFAULT_MODEL
    decided = _rule_of(a, b)
    if decided is not None:
        return _rule(model, *decided)
    parts = [Contribution("prior", "base rate", model.prior_weight)]
    total = _weigh(a, b, tf, model, parts)
    review_only = "group_mismatch" if a.name.group != b.name.group else None
    return MatchScore(total, probability(total), tuple(parts), review_only=review_only)


def score_at_least(
    a: MatchRecord, b: MatchRecord, tf: TermFrequencies | None, model: MatchModel | None, threshold: float
) -> MatchScore | None:
    """`score_pair` when its match probability reaches ``threshold``, else None — without building the
    explanation of the many candidate pairs that fall short (most of them: their breakdown was most of the cost)."""
    model = model or _DEFAULT_MODEL
    decided = _rule_of(a, b)
    if decided is not None:
        score = _rule(model, *decided)
        return score if score.match_probability >= threshold else None
    if probability(_weigh(a, b, tf, model, None)) < threshold:
        return None
    return score_pair(a, b, tf, model)


def _uscc_level(a: MatchRecord, b: MatchRecord) -> str:
    """Only reached when at most one side has a valid USCC: a mistyped code one edit away is strong evidence."""
    ua, ub = a.uscc or a.uscc_invalid, b.uscc or b.uscc_invalid
    if not ua or not ub:
        return "missing"
    return "typo" if Levenshtein.distance(ua, ub, score_cutoff=1) <= 1 else "invalid_differs"


_DEFAULT_MODEL = MatchModel()
