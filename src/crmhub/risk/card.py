"""The scorecard as configured: a versioned, transparent points table (domain.md §6) with its grades, segments,
rating overrides and credit policy.

Why a points table and not code: every bin's points are visible to risk officers and auditors (PIPL's
automated-decision transparency, domain.md §9.1 item 6), a bank edits them without a release, and a card fitted
later from default history (`crmhub.risk.scaling`) has exactly the same shape — bins with points — so the
engine, the explanations and the stored assessments do not change when the expert card is replaced.

A factor's contribution is ``weight × bin points``; the score is ``base_points + Σ contributions``. Expert
cards keep bin points on a 0-100 scale and weights summing to 1 (score 0-100); a fitted card sets every weight
to 1 and puts the PDO-scaled points in the bins.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from crmhub.errors import ConfigError
from crmhub.model import LoanClass, Rating, Segment

PACKAGED = "scorecard.toml"
CLASS_ORDER: tuple[str, ...] = ("none", *(c.value for c in LoanClass))
"""Severity order of the five categories (``none`` = no loans), for ``>=`` comparisons in overrides."""


class CardModel(BaseModel):
    """Scorecard parts are immutable and reject unknown keys (a typo must not silently change a rating)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _fmt(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,}"


class Bin(CardModel):
    """One bin: a half-open range ``[lower, upper)``, a list of category values, or ``other`` (the rest)."""

    lower: Decimal | None = None
    upper: Decimal | None = None
    values: list[str] | None = None
    other: bool = False
    points: Decimal
    label_zh: str | None = None
    label_en: str | None = None
    _labels: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _one_shape(self) -> Bin:
        ranged = self.lower is not None or self.upper is not None
        shapes = int(ranged) + int(self.values is not None) + int(self.other)
        if shapes > 1:
            raise ValueError("a bin is either a range (lower/upper), a list of values, or other = true — not several")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self

    @property
    def is_range(self) -> bool:
        """A numeric range bin (an unbounded single bin ``{points=…}`` counts as the whole line)."""
        return self.values is None and not self.other

    def contains(self, value: Any) -> bool:
        """Whether ``value`` falls in this bin (numbers for ranges, strings for values; ``other`` matches all)."""
        if self.other:
            return True
        if self.values is not None:
            return str(value) in self.values
        number = Decimal(str(value))
        return (self.lower is None or number >= self.lower) and (self.upper is None or number < self.upper)

    def label(self, lang: str = "en") -> str:
        """The bin as people read it: its configured label, else ``[50,000, 200,000)`` / ``< 1`` / ``≥ 10``."""
        cached = self._labels.get(lang)
        if cached is None:
            cached = self._labels[lang] = self._label(lang)
        return cached

    def _label(self, lang: str) -> str:
        explicit = self.label_zh if lang == "zh" else self.label_en
        if explicit:
            return explicit
        if self.other:
            return "其他" if lang == "zh" else "other"
        if self.values is not None:
            return ", ".join(self.values)
        if self.lower is None and self.upper is None:
            return "全部" if lang == "zh" else "any"
        if self.lower is None:
            return f"< {_fmt(self.upper)}"  # type: ignore[arg-type]
        if self.upper is None:
            return f"≥ {_fmt(self.lower)}"
        return f"[{_fmt(self.lower)}, {_fmt(self.upper)})"


class Factor(CardModel):
    """One scorecard factor: which input it reads, its group and weight, its bins and points."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    input: str | None = Field(default=None, description="Input name (default: the factor's name).")
    group: str
    weight: Decimal = Field(gt=0)
    label_zh: str
    label_en: str
    unit: str = ""
    reason_zh: str = Field(description="Why it lowered the score (adverse reason text).")
    reason_en: str
    missing_points: Decimal | None = Field(
        default=None,
        description="Points when the input is unknown (default: the lowest bin's — an unknown is never rewarded).",
    )
    adverse_below: Decimal | None = Field(
        default=None,
        description="A bin (or a missing input) scoring fewer "
        "points than this is named as a reason (default: the midpoint of the "
        "factor's lowest and highest bin points).",
    )
    bins: list[Bin] = Field(min_length=1)
    _lowers: list[float] = PrivateAttr(default_factory=list)
    _ordered: list[Bin] = PrivateAttr(default_factory=list)
    _by_value: dict[str, Bin] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        """Lookup tables for `find_bin`: scoring a large book asks for a bin millions of times."""
        if self.numeric:
            self._ordered = sorted(self.bins, key=lambda b: (b.lower is not None, b.lower or 0))
            self._lowers = [-math.inf if b.lower is None else float(b.lower) for b in self._ordered]
        else:
            self._by_value = {v: b for b in self.bins for v in (b.values or ())}

    @model_validator(mode="after")
    def _bins_cover(self) -> Factor:
        ranges = [b for b in self.bins if b.is_range]
        if ranges and len(ranges) != len(self.bins):
            raise ValueError(f"factor {self.name!r}: mix of range bins and value bins; use one kind")
        if ranges:
            ordered = sorted(ranges, key=lambda b: (b.lower is not None, b.lower or 0))
            if ordered[0].lower is not None or ordered[-1].upper is not None:
                raise ValueError(
                    f"factor {self.name!r}: the first bin must have no lower bound and the last no "
                    "upper bound, so every value has a bin"
                )
            for a, b in itertools.pairwise(ordered):
                if a.upper != b.lower:
                    raise ValueError(
                        f"factor {self.name!r}: bins must meet without gap or overlap "
                        f"(one ends at {a.upper}, the next starts at {b.lower})"
                    )
            return self
        others = [b for b in self.bins if b.other]
        if len(others) != 1:
            raise ValueError(f"factor {self.name!r}: category bins need exactly one bin with other = true")
        seen: set[str] = set()
        for b in self.bins:
            for v in b.values or ():
                if v in seen:
                    raise ValueError(f"factor {self.name!r}: value {v!r} is in two bins")
                seen.add(v)
        return self

    @property
    def input_name(self) -> str:
        """The input this factor reads."""
        return self.input or self.name

    @property
    def numeric(self) -> bool:
        """Range bins (numbers) rather than categories."""
        return self.bins[0].is_range

    @property
    def max_points(self) -> Decimal:
        """The best bin's points (for reason codes: how much a client lost on this factor)."""
        return max(b.points for b in self.bins)

    @property
    def adverse_threshold(self) -> Decimal:
        """Below this many points the factor lowered the score: it is named as a reason (a 2.26M average balance
        in the second-best bin is no "low average balance")."""
        if self.adverse_below is not None:
            return self.adverse_below
        points = [b.points for b in self.bins]
        return (min(points) + max(points)) / 2

    @property
    def floor_points(self) -> Decimal:
        """Points for a missing input."""
        return self.missing_points if self.missing_points is not None else min(b.points for b in self.bins)

    def find_bin(self, value: Any) -> Bin | None:
        """The bin holding ``value`` (``None`` for a missing or unreadable value)."""
        if value is None:
            return None
        if self.numeric:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None
            if math.isnan(number):
                return None
            return self._ordered[bisect.bisect_right(self._lowers, number) - 1]
        found = self._by_value.get(str(value))
        return found if found is not None else next(b for b in self.bins if b.other)


class GradeCut(CardModel):
    """A grade and the lowest score that earns it; the last grade has no ``min_score`` and takes the rest."""

    rating: Rating
    min_score: Decimal | None = None


class SegmentBand(CardModel):
    """A segment covering the grades after the previous band, up to and including ``worst``."""

    segment: Segment
    worst: Rating


Op = Literal[">", ">=", "<", "<=", "==", "!=", "in", "not in"]


class Condition(CardModel):
    """One test on an input; loan classes compare by severity (pass < special_mention < … < loss)."""

    input: str
    op: Op
    value: Decimal | str | list[str]

    def holds(self, inputs: dict[str, Any]) -> bool:
        """Whether the condition is true for these inputs (a missing input never triggers an override)."""
        actual = inputs.get(self.input)
        if actual is None:
            return False
        if self.op in ("in", "not in"):
            wanted = self.value if isinstance(self.value, list) else [str(self.value)]
            return (str(actual) in wanted) == (self.op == "in")
        if isinstance(self.value, list):
            return False
        left, right = _comparable(actual, self.value)
        if left is None or right is None:
            return False
        return bool(
            {
                ">": left > right,
                ">=": left >= right,
                "<": left < right,
                "<=": left <= right,
                "==": left == right,
                "!=": left != right,
            }[self.op]
        )


def _comparable(actual: Any, wanted: Decimal | str) -> tuple[Any, Any]:
    if isinstance(wanted, str) and wanted in CLASS_ORDER:
        return (CLASS_ORDER.index(str(actual)) if str(actual) in CLASS_ORDER else None), CLASS_ORDER.index(wanted)
    if isinstance(wanted, str):
        return str(actual), wanted
    try:
        return Decimal(str(actual)), wanted
    except ArithmeticError:
        return None, None


class Override(CardModel):
    """A named rule applied after scoring: ``cap`` (no better than ``rating``) or ``set`` (exactly ``rating``)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    when: list[Condition] = Field(min_length=1)
    match: Literal["any", "all"] = "any"
    action: Literal["cap", "set"] = "cap"
    rating: Rating
    reason_zh: str
    reason_en: str

    def applies(self, inputs: dict[str, Any]) -> bool:
        """Whether the override fires for these inputs."""
        results = (c.holds(inputs) for c in self.when)
        return any(results) if self.match == "any" else all(results)


class Policy(CardModel):
    """Credit policy for one segment, or for one grade (illustrative defaults; the bank's credit policy decides).

    A policy either allows new credit at a price (``pricing_addon_bp``) or allows none (``new_credit = false``,
    the defaulted / non-performing client: NPL workout, 不良资产处置/清收) — never both: pricing a default would
    say it can be lent to at a premium.
    """

    new_credit: bool = Field(default=True, description="Whether new credit may be granted at all.")
    pricing_addon_bp: int | None = Field(
        default=None, description="Basis points added to the base rate (e.g. LPR); only when new credit is allowed."
    )
    collateral_required: bool = False
    collateral_zh: str = ""
    collateral_en: str = ""
    review_months: int = Field(ge=1, description="Months between credit reviews.")
    approval_zh: str = ""
    approval_en: str = ""
    action_zh: str = Field(default="", description="What to do with the exposure (e.g. NPL workout).")
    action_en: str = ""

    @model_validator(mode="after")
    def _priced_only_when_lending(self) -> Policy:
        if not self.new_credit and self.pricing_addon_bp is not None:
            raise ValueError("a policy without new credit has no pricing add-on; remove pricing_addon_bp")
        if self.new_credit and self.pricing_addon_bp is None:
            raise ValueError("pricing_addon_bp is required when new credit is allowed")
        return self


NPL_POLICY = Policy(
    new_credit=False,
    collateral_required=True,
    review_months=1,
    collateral_zh="存量授信停止发放，落实抵质押物与保证责任",
    collateral_en="No further drawing; enforce collateral and guarantees",
    approval_zh="总行资产保全（不良资产）部门负责",
    approval_en="Head-office asset recovery (NPL) department",
    action_zh="不得新增授信；按不良资产处置：清收、重组、核销或转让",
    action_en="No new credit; NPL workout: recovery, restructuring, write-off or transfer",
)
"""The credit policy of grade D when a card names none: a defaulted client gets no new credit."""

NPL_DEFAULTS: tuple[Override, ...] = (
    Override(
        code="default_dpd_over_90",
        when=[Condition(input="max_dpd", op=">", value=Decimal(90))],
        action="set",
        rating=Rating.D,
        reason_zh="贷款逾期超过 90 天（不良，违约）：评级为 D",
        reason_en="A loan is more than 90 days past due (non-performing, default): rating D",
    ),
    Override(
        code="default_npl_class",
        when=[Condition(input="worst_class", op=">=", value="substandard")],
        action="set",
        rating=Rating.D,
        reason_zh="贷款分类为次级、可疑或损失（不良贷款）：评级为 D",
        reason_en="A loan is classified substandard, doubtful or loss (non-performing): rating D",
    ),
)
"""The default definition every card obeys (domain.md §11): more than 90 days past due (《商业银行金融资产风险
分类办法》, CBIRC/PBOC Order 〔2023〕No. 1: at least 次级; Basel II §452: default) or classified 次级, 可疑 or 损失
(non-performing) → grade D. The shipped card lists them; the engine applies any a card leaves out, so a card cannot
rate a non-performing borrower above D."""


class GroupInfo(CardModel):
    """Display labels of a factor group (behaviour, credit history, profile …)."""

    label_zh: str
    label_en: str


class Scorecard(CardModel):
    """A complete, versioned rating method."""

    version: str = Field(min_length=1, max_length=64)
    title_zh: str = ""
    title_en: str = ""
    illustrative: bool = Field(default=True, description="True while the points are expert placeholders.")
    base_points: Decimal = Decimal(0)
    reason_count: int = Field(default=3, ge=0, le=10)
    groups: dict[str, GroupInfo] = Field(default_factory=dict)
    factors: list[Factor] = Field(min_length=1)
    grades: list[GradeCut] = Field(min_length=2)
    segments: list[SegmentBand] = Field(min_length=1)
    overrides: list[Override] = Field(default_factory=list)
    policy: dict[Segment, Policy]
    rating_policy: dict[Rating, Policy] = Field(
        default_factory=dict,
        description="Policies for single grades, taking precedence over the segment's (D: no new credit).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        names = [f.name for f in self.factors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"factor names must be unique; repeated: {', '.join(dupes)}")
        numerics = [g.rating.numeric for g in self.grades]
        if numerics != sorted(set(numerics)):
            raise ValueError("grades must be listed best first (AAA … D), each once")
        cuts = [g.min_score for g in self.grades]
        if cuts[-1] is not None or any(c is None for c in cuts[:-1]):
            raise ValueError("every grade but the last needs min_score; the last takes every lower score")
        scores = [c for c in cuts if c is not None]
        if any(a <= b for a, b in itertools.pairwise(scores)):
            raise ValueError("grade min_score values must fall strictly from the best grade to the worst")
        worst = [s.worst.numeric for s in self.segments]
        if worst != sorted(set(worst)) or self.segments[-1].worst is not Rating.D:
            raise ValueError(
                "segments must be listed from low to high risk with increasing 'worst' grades, the last ending at D"
            )
        missing = [s.segment.value for s in self.segments if s.segment not in self.policy]
        if missing:
            raise ValueError(f"policy is missing for segment(s): {', '.join(missing)}")
        codes = [o.code for o in self.overrides]
        if len(codes) != len(set(codes)):
            raise ValueError("override codes must be unique")
        reserved = {o.code for o in NPL_DEFAULTS}
        for o in self.overrides:
            if o.code in reserved and (o.action != "set" or o.rating is not Rating.D):
                raise ValueError(
                    f"override {o.code!r} is the default definition (> 90 days past due or 次级 and "
                    'worse → D): it must be action = "set", rating = "D"'
                )
        default = self.rating_policy.get(Rating.D)
        if default is not None and default.new_credit:
            raise ValueError(
                "rating_policy.D must set new_credit = false: a defaulted (non-performing) client gets "
                "no new credit, only NPL workout"
            )
        return self

    def policy_for(self, rating: Rating, segment: Segment) -> Policy:
        """The credit policy of a grade: its own (``rating_policy``), else its segment's; D is always NPL."""
        own = self.rating_policy.get(rating)
        if own is not None:
            return own
        return NPL_POLICY if rating is Rating.D else self.policy[segment]

    def inputs(self) -> set[str]:
        """Every input the card reads (factors and overrides)."""
        return (
            {f.input_name for f in self.factors}
            | {c.input for o in self.overrides for c in o.when}
            | {c.input for o in NPL_DEFAULTS for c in o.when}
        )

    def fingerprint(self) -> str:
        """SHA-256 of the card's content: an edit without a version bump is still detectable."""
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def grade_for(self, score: Decimal) -> Rating:
        """The grade a score earns before overrides."""
        for cut in self.grades:
            if cut.min_score is None or score >= cut.min_score:
                return cut.rating
        return self.grades[-1].rating  # pragma: no cover - the last grade has no min_score

    def segment_for(self, rating: Rating) -> Segment:
        """The segment of a grade."""
        for band in self.segments:
            if rating.numeric <= band.worst.numeric:
                return band.segment
        return self.segments[-1].segment  # pragma: no cover - the last band ends at D

    def score_range(self) -> tuple[Decimal, Decimal]:
        """The lowest and highest score the card can give."""
        low = self.base_points + sum((f.weight * min(b.points for b in f.bins) for f in self.factors), Decimal(0))
        high = self.base_points + sum((f.weight * f.max_points for f in self.factors), Decimal(0))
        return low, high

    def check_inputs(self, available: set[str], source: str) -> None:
        """Raise `ConfigError` naming every factor/override whose input nobody computes."""
        problems = [
            (f"factors.{f.name}.input", f"unknown input {f.input_name!r}")
            for f in self.factors
            if f.input_name not in available
        ]
        problems += [
            (f"overrides.{o.code}.when", f"unknown input {c.input!r}")
            for o in self.overrides
            for c in o.when
            if c.input not in available
        ]
        if problems:
            lines = "\n".join(f"  {k}: {m}" for k, m in problems)
            raise ConfigError(
                f"{source}: scorecard reads inputs nobody computes\n{lines}",
                file=source,
                problems=problems,
                hint=f"known inputs: {', '.join(sorted(available))}; a plugin factor adds its own "
                "name through the crmhub_risk_factors hook",
            )


def parse_scorecard(data: dict[str, Any], source: str) -> Scorecard:
    """Validate a scorecard table; `ConfigError` lists every problem with its key path."""
    try:
        return Scorecard.model_validate(data)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in e["loc"]) or "scorecard", str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors()
        ]
        lines = "\n".join(f"  {k}: {m}" for k, m in problems)
        raise ConfigError(
            f"{source}: {len(problems)} scorecard problem(s)\n{lines}",
            file=source,
            problems=problems,
            hint="see docs/risk.md for the scorecard format",
        ) from None


def load_scorecard_file(path: str | Path) -> Scorecard:
    """Read and validate a scorecard TOML file."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(
            f"scorecard file {file} not found",
            file=str(file),
            hint="set risk.scorecard_file to an existing file, or remove it to use the packaged card",
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}", file=str(file)) from None
    return parse_scorecard(data, str(file))


def packaged_text() -> str:
    """The text of the scorecard shipped inside the package (identical to config/scorecard.toml)."""
    return resources.files("crmhub").joinpath(f"data/{PACKAGED}").read_text(encoding="utf-8")


def default_scorecard() -> Scorecard:
    """The packaged expert scorecard (illustrative points)."""
    return parse_scorecard(tomllib.loads(packaged_text()), f"crmhub/data/{PACKAGED}")
