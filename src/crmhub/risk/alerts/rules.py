"""The alert rules (domain.md §7-8): each turns one client's aggregated ledger facts into alert drafts.

Rules work on what `crmhub.risk.ledger` aggregated in SQL. A rule whose verdict the aggregates already settle
(large-value sums, pass-through flows, structuring's near-threshold rows) names the evidence it needs; a rule
whose aggregate is only an upper bound (fan-in/out: distinct counterparties per day summed over a window) makes a
*candidate* that is confirmed on the transactions themselves. Either way individual transactions are read only
for clients that tripped something, so a healthy book costs a few GROUP BYs.

Episodes: overlapping windows of one rule and client are merged into one alert, so a pattern spread over a week
is one alert with all its transactions, not five.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from crmhub.risk.inputs import LedgerView
from crmhub.risk.ledger import ClientFacts, Key, TxRow
from crmhub.risk.settings import RiskSettings

MEASURES_ZH = "《金融机构大额交易和可疑交易报告管理办法》（中国人民银行令〔2016〕第3号，经〔2018〕第2号修改）"
MEASURES_EN = (
    "Measures for the Administration of Financial Institutions' Reporting of Large-value and Suspicious "
    "Transactions (PBOC Order [2016] No. 3, as amended by [2018] No. 2)"
)
REGULATION_LARGE = f"{MEASURES_ZH}：大额交易报告标准"
REGULATION_LARGE_EN = f"{MEASURES_EN}: large-value reporting thresholds"
REGULATION_SUSPICIOUS = f"{MEASURES_ZH}：可疑交易报告（合理怀疑原则）；监测规则及参数为本行示例标准，非监管规定"
REGULATION_SUSPICIOUS_EN = (
    f"{MEASURES_EN}: suspicious-transaction reporting (reasonable suspicion); the monitoring "
    "rule and its parameters are the bank's illustrative standard, not regulatory values"
)
"""Cited in every alert's details (``regulation`` / ``regulation_en``). The 2016 Order replaced the 〔2006〕第2号
Measures on 2017-07-01 (domain.md §7); that repealed text is never cited. Article numbers are left out while
they are unconfirmed."""


@dataclass(slots=True)
class Draft:
    """An alert about to be stored: what, for whom, when, how much, why, and the transactions that show it."""

    kind: str
    rule_id: str
    client_id: int
    day: date
    discriminator: str
    amount_minor: int
    currency: str
    transactions: list[TxRow]
    details: dict[str, Any] = field(default_factory=dict)
    summary_zh: str = ""
    summary_en: str = ""


@dataclass(slots=True)
class Candidate:
    """A possible alert whose verdict needs the client's transactions between two days."""

    client_id: int
    first: date
    last: date
    confirm: Callable[[list[TxRow]], list[Draft]]


class ActivityReader(Protocol):
    """What the dormancy rule asks the database (implemented by `LedgerReader`)."""

    def last_activity(self, account: Key, before: date) -> date | None: ...


def _yuan(minor: float) -> str:
    return f"{Decimal(round(minor)).scaleb(-2):,.2f}"


def _day(ordinal: int) -> date:
    return date.fromordinal(ordinal)


def _group(currency: str) -> str:
    return "CNY" if currency == "CNY" else "USD"


def group_factors(settings: RiskSettings) -> dict[str, float]:
    """Per currency, the factor into its reporting group's currency: CNY stays CNY, every other currency becomes
    USD equivalent (PBOC thresholds are stated in RMB and in USD); currencies without a rate are absent."""
    usd = settings.fx("USD")
    out = {"CNY": 1.0, "USD": 1.0}
    for currency, rate in settings.fx_to_cny.items():
        if currency not in out and usd:
            out[currency] = float(rate / usd)
    return out


class RuleContext:
    """One client's facts with the conversions every rule needs."""

    def __init__(
        self,
        facts: ClientFacts,
        view: LedgerView,
        settings: RiskSettings,
        today: date,
        factors: dict[str, float] | None = None,
    ) -> None:
        self.facts = facts
        self.view = view
        self.settings = settings
        self.today = today
        self.group_factors = factors if factors is not None else group_factors(settings)

    def in_group(self, minor: int, currency: str) -> float | None:
        """Amount in its reporting group's currency: CNY as is, any other currency as USD equivalent."""
        factor = self.group_factors.get(currency)
        return None if factor is None else minor * factor


# --- large value (0501 cash, 0502 corporate transfers) --------------------------------------------------------


def large_value(ctx: RuleContext) -> list[Candidate]:
    """Per day, credits and debits summed separately, cash and transfers apart, CNY and foreign (USD eq.) apart."""
    cfg = ctx.settings.alerts.large_value
    limits = {
        (True, "CNY"): cfg.cash_cny,
        (True, "USD"): cfg.cash_usd,
        (False, "CNY"): cfg.transfer_cny,
        (False, "USD"): cfg.transfer_usd,
    }
    sums: dict[tuple[int, bool, bool, str], float] = {}
    today = ctx.today.toordinal()
    factors = ctx.group_factors
    for flow in ctx.facts.flows:
        factor = factors.get(flow.currency)
        if flow.bank or flow.day > today or factor is None:
            continue
        key = (flow.day, flow.credit, flow.cash, "CNY" if flow.currency == "CNY" else "USD")
        sums[key] = sums.get(key, 0.0) + flow.amount_minor * factor
    out = []
    for (day, credit, cash, group), total in sorted(sums.items()):
        limit = float(limits[(cash, group)] * 100)
        if total < limit:
            continue
        out.append(
            Candidate(
                ctx.facts.client_id,
                _day(day),
                _day(day),
                _large_value_confirm(ctx, _day(day), credit, cash, group, total, limit),
            )
        )
    return out


def _large_value_confirm(
    ctx: RuleContext, day: date, credit: bool, cash: bool, group: str, total: float, limit: float
) -> Callable[[list[TxRow]], list[Draft]]:
    def confirm(rows: list[TxRow]) -> list[Draft]:
        mine = [
            r for r in rows if r.day == day and r.credit == credit and r.cash == cash and _group(r.currency) == group
        ]
        code = "0501" if cash else "0502"
        side_zh, side_en = ("收入", "credits") if credit else ("支出", "debits")
        what_zh, what_en = ("现金", "cash") if cash else ("转账", "transfers")
        return [
            Draft(
                kind="large_value",
                rule_id=f"large_value.{code}",
                client_id=ctx.facts.client_id,
                day=day,
                discriminator=f"{day.isoformat()}:{'cr' if credit else 'dr'}:{'cash' if cash else 'transfer'}:{group}",
                amount_minor=round(total),
                currency=group,
                transactions=mine,
                details={
                    "report_code": code,
                    "direction": "credit" if credit else "debit",
                    "cash": cash,
                    "currency_group": group,
                    "total": _yuan(total),
                    "threshold": _yuan(limit),
                    "count": len(mine),
                    "regulation": REGULATION_LARGE,
                    "regulation_en": REGULATION_LARGE_EN,
                },
                summary_zh=f"大额交易（{code}）：{day.isoformat()} 当日{what_zh}{side_zh}合计 {_yuan(total)} {group}，"
                f"达到 {_yuan(limit)} 的报告标准",
                summary_en=f"Large-value ({code}): {what_en} {side_en} on {day.isoformat()} total {_yuan(total)} "
                f"{group}, at or above the {_yuan(limit)} reporting threshold",
            )
        ]

    return confirm


# --- structuring (just below a threshold, repeatedly) ---------------------------------------------------------


def structuring(ctx: RuleContext) -> list[Draft]:
    """≥ min_count transactions within window_days, each in [band_low × threshold, threshold)."""
    cfg = ctx.settings.alerts.structuring
    groups: dict[tuple[bool, str], list[TxRow]] = {}
    for row in ctx.facts.near_threshold:
        groups.setdefault((row.cash, _group(row.currency)), []).append(row)
    out = []
    for (cash, group), rows in sorted(groups.items()):
        rows.sort(key=lambda r: (r.day, r.id))
        for episode in _episodes([r.day.toordinal() for r in rows], cfg.window_days, cfg.min_count):
            mine = [rows[i] for i in episode]
            total = sum(ctx.in_group(r.amount_minor, r.currency) or 0.0 for r in mine)
            first, last = mine[0].day, mine[-1].day
            what_zh, what_en = ("现金", "cash") if cash else ("转账", "transfer")
            out.append(
                Draft(
                    kind="structuring",
                    rule_id=f"structuring.{'cash' if cash else 'transfer'}",
                    client_id=ctx.facts.client_id,
                    day=first,
                    discriminator=f"{'cash' if cash else 'transfer'}:{group}:{mine[0].connector}:{mine[0].source_id}",
                    amount_minor=round(total),
                    currency=group,
                    transactions=mine,
                    details={
                        "cash": cash,
                        "currency_group": group,
                        "count": len(mine),
                        "first_day": first.isoformat(),
                        "last_day": last.isoformat(),
                        "total": _yuan(total),
                        "regulation": REGULATION_SUSPICIOUS,
                        "regulation_en": REGULATION_SUSPICIOUS_EN,
                    },
                    summary_zh=f"疑似拆分交易：{first.isoformat()} 至 {last.isoformat()} 共 {len(mine)} 笔{what_zh}，"
                    f"每笔略低于大额报告标准",
                    summary_en=f"Possible structuring: {len(mine)} {what_en}s between {first.isoformat()} and "
                    f"{last.isoformat()}, each just below the large-value threshold",
                )
            )
    return out


def _episodes(days: list[int], window: int, minimum: int) -> list[list[int]]:
    """Index sets of maximal runs where some ``window``-day span holds ≥ ``minimum`` items (days sorted)."""
    episodes: list[list[int]] = []
    j = 0
    for i in range(len(days)):
        j = max(j, i)
        while j + 1 < len(days) and days[j + 1] - days[i] <= window - 1:
            j += 1
        if j - i + 1 < minimum:
            continue
        members = list(range(i, j + 1))
        if episodes and episodes[-1][-1] >= i:
            episodes[-1] = sorted(set(episodes[-1]) | set(members))
        else:
            episodes.append(members)
    return episodes


# --- pass-through (快进快出) -----------------------------------------------------------------------------------


def pass_through(ctx: RuleContext) -> list[Candidate]:
    """An inflow day ≥ min_inflow, outflows over that day and the next window_days ≥ share of it, the balance
    back within tolerance of where it was the day before, and that balance small beside the inflow (so the
    payments could not have come from the account's own funds)."""
    cfg = ctx.settings.alerts.pass_through
    v = ctx.view
    adb = v.average_balance
    turnover = v.window_sum(v.credits) + v.window_sum(v.debits)
    ratio = turnover / adb if adb and adb > 0 else None
    if cfg.min_turnover_to_adb > 0 and (ratio is not None and ratio < float(cfg.min_turnover_to_adb)):
        return []
    minimum = float(cfg.min_inflow_cny * 100)
    hits: list[tuple[int, float, float, float, float]] = []
    for day in sorted(v.customer_credits):
        inflow = v.customer_credits[day]
        if inflow < minimum or day < v.first:
            continue
        end = min(day + cfg.window_days, v.last)
        outflow = sum(v.customer_debits.get(d, 0.0) for d in range(day, end + 1))
        if outflow < float(cfg.min_outflow_share) * inflow:
            continue
        before, after = v.balance_at(day - 1), v.balance_at(end)
        if abs(after - before) > float(cfg.balance_tolerance) * inflow:
            continue
        if cfg.max_prior_balance_share is not None and before > float(cfg.max_prior_balance_share) * inflow:
            continue
        hits.append((day, inflow, outflow, before, after))
    out = []
    groups: list[list[tuple[int, float, float, float, float]]] = []
    for hit in hits:
        if groups and hit[0] <= groups[-1][-1][0] + cfg.window_days:
            groups[-1].append(hit)
        else:
            groups.append([hit])
    for group in groups:
        first, last = group[0][0], min(group[-1][0] + cfg.window_days, v.last)
        out.append(
            Candidate(ctx.facts.client_id, _day(first), _day(last), _pass_confirm(ctx, group, first, last, ratio))
        )
    return out


def _pass_confirm(
    ctx: RuleContext, group: list[tuple[int, float, float, float, float]], first: int, last: int, ratio: float | None
) -> Callable[[list[TxRow]], list[Draft]]:
    inflow_days = {_day(h[0]) for h in group}

    def confirm(rows: list[TxRow]) -> list[Draft]:
        mine = [r for r in rows if (r.credit and r.day in inflow_days) or not r.credit]
        inflow = sum(h[1] for h in group)
        outflow = sum(ctx.view.customer_debits.get(d, 0.0) for d in range(first, last + 1))
        share = outflow / inflow if inflow else 0.0
        d0, d1 = _day(first).isoformat(), _day(last).isoformat()
        return [
            Draft(
                kind="pass_through",
                rule_id="pass_through",
                client_id=ctx.facts.client_id,
                day=_day(first),
                discriminator=d0,
                amount_minor=round(inflow),
                currency="CNY",
                transactions=mine,
                details={
                    "inflow": _yuan(inflow),
                    "outflow": _yuan(outflow),
                    "outflow_share": round(share, 4),
                    "balance_before": _yuan(group[0][3]),
                    "balance_after": _yuan(group[-1][4]),
                    "first_day": d0,
                    "last_day": d1,
                    "turnover_to_adb": None if ratio is None else round(ratio, 2),
                    "regulation": REGULATION_SUSPICIOUS,
                    "regulation_en": REGULATION_SUSPICIOUS_EN,
                },
                summary_zh=f"快进快出：{d0} 转入 {_yuan(inflow)} 元，至 {d1} 转出 {share:.0%}，余额回到原有水平",
                summary_en=f"Pass-through: {_yuan(inflow)} CNY in on {d0}, {share:.0%} out again by {d1}, balance back "
                "near its prior level",
            )
        ]

    return confirm


# --- fan-in / fan-out ---------------------------------------------------------------------------------------------


def fan(ctx: RuleContext, credit: bool) -> list[Candidate]:
    """Candidate windows where per-day distinct counterparty counts, summed, reach min_counterparties."""
    cfg = ctx.settings.alerts.fan_in if credit else ctx.settings.alerts.fan_out
    counts = sorted((d, n) for (d, c), n in ctx.facts.counterparties.items() if c == credit)
    if sum(n for _, n in counts) < cfg.min_counterparties:
        return []
    starts: list[int] = []
    window = 0
    j = 0
    for i, (d, _) in enumerate(counts):  # two pointers: the sum over [d, d + window_days) for each day d
        while j < len(counts) and counts[j][0] < d + cfg.window_days:
            window += counts[j][1]
            j += 1
        if window >= cfg.min_counterparties:
            starts.append(d)
        window -= counts[i][1]
    ranges: list[list[int]] = []
    for s in starts:
        if ranges and s <= ranges[-1][1] + 1:
            ranges[-1][1] = s
        else:
            ranges.append([s, s])
    extra = cfg.window_days if cfg.max_opposite_counterparties is not None else 0
    return [
        Candidate(ctx.facts.client_id, _day(a), _day(b + cfg.window_days - 1 + extra), _fan_confirm(ctx, credit, a, b))
        for a, b in ranges
    ]


def _fan_confirm(ctx: RuleContext, credit: bool, a: int, b: int) -> Callable[[list[TxRow]], list[Draft]]:
    cfg = ctx.settings.alerts.fan_in if credit else ctx.settings.alerts.fan_out
    kind = "fan_in" if credit else "fan_out"
    window = cfg.window_days

    def confirm(rows: list[TxRow]) -> list[Draft]:
        side = [r for r in rows if r.credit == credit and r.counterparty]
        other = [r for r in rows if r.credit != credit and r.counterparty]
        qualifying: list[int] = []
        for s in range(a, b + 1):
            names = {r.counterparty for r in side if s <= r.day.toordinal() < s + window}
            if len(names) < cfg.min_counterparties:
                continue
            if cfg.max_opposite_counterparties is not None:
                opposite = {r.counterparty for r in other if s <= r.day.toordinal() < s + 2 * window}
                if len(opposite) > cfg.max_opposite_counterparties:
                    continue
            qualifying.append(s)
        drafts = []
        for episode in _merge_starts(qualifying, window):
            lo, hi = episode[0], episode[-1] + window - 1
            mine = [r for r in side if lo <= r.day.toordinal() <= hi]
            names = {r.counterparty for r in mine}
            total = float(sum(r.amount_minor for r in mine if r.currency == "CNY"))
            d0, d1 = _day(lo).isoformat(), _day(hi).isoformat()
            zh_side, en_side = ("付款方", "payers") if credit else ("收款方", "payees")
            drafts.append(
                Draft(
                    kind=kind,
                    rule_id=kind,
                    client_id=ctx.facts.client_id,
                    day=_day(lo),
                    discriminator=d0,
                    amount_minor=round(total),
                    currency="CNY",
                    transactions=mine,
                    details={
                        "counterparties": len(names),
                        "window_days": window,
                        "first_day": d0,
                        "last_day": d1,
                        "total": _yuan(total),
                        "regulation": REGULATION_SUSPICIOUS,
                        "regulation_en": REGULATION_SUSPICIOUS_EN,
                    },
                    summary_zh=f"{'分散转入' if credit else '分散转出'}：{d0} 至 {d1} 有 {len(names)} 个不同{zh_side}",
                    summary_en=f"{'Fan-in' if credit else 'Fan-out'}: {len(names)} distinct {en_side} between {d0} "
                    f"and {d1}",
                )
            )
        return drafts

    return confirm


def _merge_starts(starts: list[int], window: int) -> list[list[int]]:
    out: list[list[int]] = []
    for s in starts:
        if out and s <= out[-1][-1] + window - 1:
            out[-1].append(s)
        else:
            out.append([s])
    return out


# --- dormant account reactivated -------------------------------------------------------------------------------


def dormant_reactivation(ctx: RuleContext, reader: ActivityReader) -> list[Candidate]:
    """An account flagged dormant/inactive, or silent ≥ inactive_days before its reactivation burst, that moved
    ≥ min_amount or ≥ min_count customer transactions in the last recent_days.

    The *burst* is the run of activity that reaches into the recent window: going back from its first recent day,
    active days less than ``recent_days`` apart belong to it. The silence is measured before the burst — from the
    account's last transaction before the burst to the burst's first transaction — never inside it (a burst that
    began a day before the recent window once read as "1 天无交易"), and the evidence is the whole burst. A run
    that began more than ``max_burst_days`` ago is continuing activity, not a reactivation: it has no silence
    (only a dormant flag can raise it, with the recent window as evidence).
    """
    cfg = ctx.settings.alerts.dormant_reactivation
    today = ctx.today.toordinal()
    since = today - cfg.recent_days
    active: dict[Key, dict[int, tuple[float, int]]] = {}
    for flow in ctx.facts.flows:
        if flow.bank or flow.day > today:
            continue
        days = active.setdefault(flow.account, {})
        amount, count = days.get(flow.day, (0.0, 0))
        value = ctx.view.conv.cny(flow.amount_minor, flow.currency)
        days[flow.day] = (amount + (value or 0.0), count + flow.transactions)
    out = []
    statuses = {s.lower() for s in cfg.sub_statuses}
    for key, days in sorted(active.items()):
        recent = [d for d in days if d >= since]
        amount = sum(days[d][0] for d in recent)
        count = sum(days[d][1] for d in recent)
        if count == 0 or (amount < float(cfg.min_amount_cny * 100) and count < cfg.min_count):
            continue
        account = ctx.facts.accounts.get(key)
        flagged = account is not None and account.sub_status in statuses
        ordered = sorted(days)
        i = ordered.index(min(recent))
        while i > 0 and ordered[i] - ordered[i - 1] < cfg.recent_days:
            i -= 1
        previous: date | None = None
        gap: int | None = None
        if ordered[i] >= today - cfg.max_burst_days:
            previous = _day(ordered[i - 1]) if i > 0 else reader.last_activity(key, _day(ordered[i]))
            if previous is None and account is not None:
                previous = account.opened_on
            gap = (ordered[i] - previous.toordinal()) if previous is not None else None
        else:  # active for longer than a burst lasts: continuing activity, no silence to measure
            i = ordered.index(min(recent))
        start = ordered[i]
        if not flagged and (gap is None or gap < cfg.inactive_days):
            continue
        burst = [days[d] for d in ordered[i:]]
        totals = (sum(a for a, _ in burst), sum(n for _, n in burst), amount, count)
        out.append(
            Candidate(
                ctx.facts.client_id,
                _day(start),
                ctx.today,
                _dormant_confirm(ctx, key, account.sub_status if account else None, previous, gap, totals, _day(start)),
            )
        )
    return out


LARGEST = 5
"""How many of the burst's largest transactions the details name (all of them are in the evidence, largest
first)."""


def _dormant_confirm(
    ctx: RuleContext,
    key: Key,
    status: str | None,
    previous: date | None,
    gap: int | None,
    totals: tuple[float, int, float, int],
    first: date,
) -> Callable[[list[TxRow]], list[Draft]]:
    amount, count, recent_amount, recent_count = totals

    def confirm(rows: list[TxRow]) -> list[Draft]:
        mine = sorted(
            (r for r in rows if (r.connector, r.account_source_id) == key),
            key=lambda r: (-(ctx.view.conv.cny(r.amount_minor, r.currency) or 0.0), r.day, r.id),
        )
        largest = [
            {
                "id": r.source_id,
                "day": r.day.isoformat(),
                "amount": _yuan(r.amount_minor),
                "currency": r.currency,
                "direction": "credit" if r.credit else "debit",
            }
            for r in mine[:LARGEST]
        ]
        if gap is not None and previous is not None:
            silent = f"此前 {gap} 天无交易（上一笔 {previous.isoformat()}）"
            silent_en = f"no activity for {gap} days before (last on {previous.isoformat()})"
        else:
            silent, silent_en = "账户状态为休眠", "the account is flagged dormant"
        top = "、".join(f"{t['amount']} {t['currency']}" for t in largest[:2])
        top_en = ", ".join(f"{t['amount']} {t['currency']}" for t in largest[:2])
        return [
            Draft(
                kind="dormant_reactivation",
                rule_id="dormant_reactivation",
                client_id=ctx.facts.client_id,
                day=first,
                discriminator=f"{key[0]}:{key[1]}:{first.isoformat()}",
                amount_minor=round(amount),
                currency="CNY",
                transactions=mine,
                details={
                    "account": key[1],
                    "sub_status": status,
                    "last_activity": previous.isoformat() if previous else None,
                    "silent_days": gap,
                    "reactivated_on": first.isoformat(),
                    "burst_amount": _yuan(amount),
                    "burst_count": count,
                    "recent_amount": _yuan(recent_amount),
                    "recent_count": recent_count,
                    "largest": largest,
                    "regulation": REGULATION_SUSPICIOUS,
                    "regulation_en": REGULATION_SUSPICIOUS_EN,
                },
                summary_zh=f"休眠账户激活：{silent}，自 {first.isoformat()} 起发生 {count} 笔、合计 {_yuan(amount)} 元"
                + (f"，最大 {top}" if top else ""),
                summary_en=f"Dormant account reactivated: {silent_en}, {count} transactions totalling "
                f"{_yuan(amount)} CNY since {first.isoformat()}" + (f", largest {top_en}" if top_en else ""),
            )
        ]

    return confirm


def client_drafts(ctx: RuleContext, reader: ActivityReader) -> tuple[list[Draft], list[Candidate]]:
    """Every enabled rule on one client: drafts settled by the aggregates, and candidates needing evidence."""
    cfg = ctx.settings.alerts
    drafts: list[Draft] = []
    candidates: list[Candidate] = []
    if cfg.large_value.enabled:
        candidates += large_value(ctx)
    if cfg.structuring.enabled:
        drafts += structuring(ctx)
    if cfg.pass_through.enabled:
        candidates += pass_through(ctx)
    if cfg.fan_in.enabled:
        candidates += fan(ctx, True)
    if cfg.fan_out.enabled:
        candidates += fan(ctx, False)
    if cfg.dormant_reactivation.enabled:
        candidates += dormant_reactivation(ctx, reader)
    return drafts, candidates
