"""The rows around a golden client that the console lists: risk assessments, ledger accounts and transactions,
alerts, dead letters, review items, write-backs, and the sync runs' reports (bench/console_data.py drives this).

Risk assessments are scored by the real scorecard (`crmhub.risk.scoring.score_inputs`) from inputs drawn per the
world's behaviour profile (a ``past_due`` company has days past due, an ``overdraft`` one overdraft days …), so
ratings, segments, reasons and policies are what the risk engine would store. Rates follow issue #16's brief:
about 2 % of clients with an alert, 1 % with a dead letter, 0.5 % with a review item, a ledger book for a subset.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from crmhub.config import Settings
from crmhub.core.hashing import content_hash
from crmhub.core.report import RunReport
from crmhub.risk.card import default_scorecard
from crmhub.risk.inputs import inputs_hash, profile_inputs
from crmhub.risk.scoring import score_inputs
from crmhub.sandbox.worldtypes import ALERT_KINDS, Company
from crmhub.store.deadletter_history import entry as history_entry

ALERT_RATE, DEAD_LETTER_RATE, REVIEW_RATE, LEDGER_BOOK_RATE, WRITE_BACK_RATE = 0.02, 0.01, 0.005, 0.08, 0.05
RUNS = 60

_DPD_CLASS = {30: "special_mention", 120: "substandard", 400: "loss"}
_REGULATION_EN = (
    "Measures for the Administration of Financial Institutions' Reporting of Large-value and "
    "Suspicious Transactions (PBOC Order [2016] No. 3, as amended by [2018] No. 2)"
)
_SUMMARY = {
    "large_value": (
        "大额交易（0502）：{day} 当日转账收入合计 {total} CNY，达到 2,000,000.00 的报告标准",
        "Large-value (0502): transfers credits on {day} total {total} CNY, at or above the 2,000,000.00 "
        "reporting threshold",
    ),
    "structuring": (
        "疑似拆分交易：{day} 起 5 日内共 {n} 笔转账，每笔略低于大额报告标准",
        "Possible structuring: {n} transfers within 5 days from {day}, each just below the large-value threshold",
    ),
    "pass_through": (
        "快进快出：{day} 收入 {total} CNY，48 小时内转出 95% 以上",
        "Pass-through: {total} CNY credited on {day}, over 95% paid out within 48 hours",
    ),
    "fan_in": (
        "分散转入：{day} 起 7 日内 {n} 个不同对手方转入合计 {total} CNY",
        "Fan-in: {n} different counterparties paid in {total} CNY within 7 days from {day}",
    ),
    "fan_out": (
        "集中转出：{day} 起 7 日内向 {n} 个不同对手方转出合计 {total} CNY",
        "Fan-out: {total} CNY paid out to {n} different counterparties within 7 days from {day}",
    ),
    "dormant_reactivation": (
        "休眠账户激活：沉睡 400 天后于 {day} 发生 {total} CNY 交易",
        "Dormant account reactivated: {total} CNY moved on {day} after 400 idle days",
    ),
}
_DL_REASONS = (
    ("uscc", "uscc: '{code}' is not a valid USCC: check character should be '{check}' — fix it in the source record"),
    ("name", "name: Input should be a valid string (the mapped field holds a list: check [connectors.{conn}.fields])"),
    ("phone", "phone: '{phone}x' is not a phone number (letters in it)"),
    ("industry", "industry: '{industry}' is not a GB/T 4754 code and not in the picklist map"),
)


@dataclass
class Scorer:
    """The default scorecard with the fingerprint and parameters the risk engine stores with each assessment."""

    settings: Settings
    today: date
    card: Any = field(init=False)
    fingerprint: str = field(init=False)
    parameters: dict[str, Any] = field(init=False)
    _policies: dict[Any, dict[str, Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.card = default_scorecard()
        self.fingerprint = self.card.fingerprint()
        self.parameters = {**self.settings.risk.as_parameters(), "today": self.today.isoformat()}

    def _policy(self, rating: Any, segment: Any) -> dict[str, Any]:
        key = (rating, segment)
        if key not in self._policies:
            self._policies[key] = self.card.policy_for(rating, segment).model_dump(mode="json")
        return self._policies[key]

    def row(
        self,
        client_id: int,
        uscc: str,
        data: dict[str, Any],
        inputs: dict[str, Any],
        at: datetime,
        run_id: int,
        *,
        current: bool = True,
    ) -> dict[str, Any]:
        """A `risk_assessment` row exactly as `crmhub.risk.runner` writes it."""
        inputs = {**inputs, **profile_inputs(data, self.settings.risk, self.today)}
        scored = score_inputs(self.card, inputs, assessed_at=at, client_id=client_id, uscc=uscc)
        a = scored.assessment
        return {
            "client_id": client_id,
            "assessed_at": at,
            "score": float(a.score),
            "rating": a.rating.value,
            "segment": a.segment.value,
            "scorecard_version": self.card.version,
            "current": current,
            "inputs_hash": inputs_hash(inputs, self.fingerprint, self.parameters),
            "run_id": run_id,
            "data": {
                "assessment": a.model_dump(mode="json"),
                "factors": {n: d.as_json() for n, d in scored.details.items()},
                "policy": self._policy(a.rating, a.segment),
                "scorecard_fingerprint": self.fingerprint,
                "parameters": self.parameters,
            },
        }


def ledger_inputs(company: Company, rng: random.Random) -> dict[str, Any]:
    """Scorecard inputs from the ledger, drawn per the company's behaviour profile."""
    if company.ledger is None:
        return {
            "ledger_linked": False,
            "accounts": 0,
            "avg_daily_balance": None,
            "credit_turnover": None,
            "debit_turnover": None,
            "monthly_credit_turnover": None,
            "turnover_stability": None,
            "overdraft_days": None,
            "overdraft_count": None,
            "overdraft_beyond_limit_days": None,
            "returned_items": None,
            "max_dpd": None,
            "worst_class": None,
            "loan_count": None,
            "loan_outstanding": None,
            "loan_to_turnover": None,
        }
    profile = company.profile
    adb = round(rng.lognormvariate(13.0, 1.4), 2)
    monthly = round(adb * rng.uniform(0.3, 3.0), 2)
    if profile == "dormant_reactivation":
        monthly = round(monthly * 0.05, 2)
    credit = round(monthly * 4, 2)
    loans = rng.choice((0, 0, 0, 1, 1, 2)) if profile != "past_due" else rng.choice((1, 2))
    dpd = rng.choice(tuple(_DPD_CLASS)) if profile == "past_due" else 0
    outstanding = round(sum(rng.lognormvariate(13.5, 1.0) for _ in range(loans)), 2)
    od_days = rng.randrange(3, 40) if profile == "overdraft" else 0
    return {
        "ledger_linked": True,
        "accounts": rng.choice((1, 1, 1, 2, 3)),
        "avg_daily_balance": adb,
        "credit_turnover": credit,
        "debit_turnover": round(credit * rng.uniform(0.85, 1.05), 2),
        "monthly_credit_turnover": monthly,
        "turnover_stability": round(rng.uniform(0.05, 1.2), 4),
        "overdraft_days": od_days,
        "overdraft_count": (od_days + 6) // 7,
        "overdraft_beyond_limit_days": rng.randrange(0, 3) if od_days else 0,
        "returned_items": rng.choice((0, 0, 0, 0, 1, 2)),
        "max_dpd": dpd,
        "worst_class": _DPD_CLASS.get(dpd, "pass") if loans else "none",
        "loan_count": loans,
        "loan_outstanding": outstanding,
        "loan_to_turnover": round(outstanding / (credit * 365 / 120), 4) if outstanding and credit else 0.0,
    }


def ledger_book(
    company: Company, cid: int, rng: random.Random, now: datetime, today: date, counterparties: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Accounts (1–2), ~120 days of transactions and maybe a loan for a ledger client in the book's subset
    (the ledger's ids derive from the client's, so batches built in parallel never collide)."""
    assert company.ledger is not None
    client_sid = company.ledger.source_id
    accounts, txs, loans = [], [], []
    for k in range(rng.choice((1, 1, 2))):
        acct = cid * 10 + k
        balance = int(rng.lognormvariate(13.0, 1.4) * 100)
        overdraft = company.profile == "overdraft"
        accounts.append(
            {
                "connector": "ledger",
                "source_id": str(acct),
                "client_source_id": client_sid,
                "account_no": f"{acct:09d}",
                "currency": "CNY",
                "balance_minor": -balance // 10 if overdraft else balance,
                "sub_status": "dormant" if company.profile == "dormant_reactivation" else "none",
                "allow_overdraft": overdraft,
                "overdraft_limit_minor": 50_000_000 if overdraft else None,
                "data": {
                    "source_id": str(acct),
                    "account_no": f"{acct:09d}",
                    "client_source_id": client_sid,
                    "client_uscc": company.uscc,
                    "product": "单位活期存款（基本存款账户）",
                    "balance": {"amount": f"{balance / 100:.2f}", "currency": "CNY"},
                    "status": "active",
                },
                "content_hash": content_hash([acct, balance]),
                "updated_at": now,
            }
        )
        for n in range(rng.randrange(20, 60)):
            day = today - timedelta(days=rng.randrange(120))
            credit = rng.random() < 0.5
            amount = int(rng.lognormvariate(10.5, 1.5) * 100)
            cash = rng.random() < 0.05
            txs.append(
                {
                    "connector": "ledger",
                    "source_id": f"{acct}:{n + 1}",
                    "account_source_id": str(acct),
                    "client_source_id": client_sid,
                    "booking_date": day,
                    "value_date": day,
                    "amount_minor": amount,
                    "currency": "CNY",
                    "direction": "credit" if credit else "debit",
                    "kind": "cash" if cash else "transfer",
                    "is_cash": cash,
                    "cross_border": False,
                    "counterparty_account": None if cash else f"{rng.randrange(10**15, 10**16)}",
                    "counterparty_name": None if cash else rng.choice(counterparties),
                    "reversed": rng.random() < 0.003,
                    "is_manual": False,
                    "content_hash": content_hash([acct, n, amount, day.isoformat()]),
                }
            )
    if company.profile == "past_due" or rng.random() < 0.25:
        loan = cid
        principal = int(rng.lognormvariate(13.5, 1.0) * 100)
        dpd = rng.choice(tuple(_DPD_CLASS)) if company.profile == "past_due" else 0
        klass = _DPD_CLASS.get(dpd, "pass")
        loans.append(
            {
                "connector": "ledger",
                "source_id": str(loan),
                "client_source_id": client_sid,
                "currency": "CNY",
                "principal_minor": principal,
                "outstanding_minor": principal // 2,
                "days_past_due": dpd,
                "classification": klass,
                "status": "active",
                "data": {
                    "source_id": str(loan),
                    "client_source_id": client_sid,
                    "client_uscc": company.uscc,
                    "product": "小微企业经营贷款",
                    "days_past_due": dpd,
                    "classification": klass,
                    "status": "active",
                },
                "content_hash": content_hash([loan, principal, dpd]),
                "updated_at": now,
            }
        )
    return accounts, txs, loans


def alert_row(
    company: Company, client_id: int, rng: random.Random, at: datetime, run_id: int, today: date
) -> dict[str, Any]:
    """One alert with evidence shaped like the rules' (summary zh/en, details, the transactions behind it)."""
    kind = company.profile if company.profile in ALERT_KINDS else rng.choice(ALERT_KINDS)
    day = today - timedelta(days=rng.randrange(3, 90))
    amount = int(rng.uniform(2_000_000, 9_000_000)) * 100
    total, n = f"{amount / 100:,.2f}", rng.randrange(3, 12)
    zh, en = _SUMMARY[kind]
    alert_id = client_id  # at most one per client: parallel batches need no shared counter
    account = rng.randrange(1, 10**6)
    txs = [
        {
            "id": f"{account}:{rng.randrange(10**6)}",
            "connector": "ledger",
            "account": str(account),
            "day": (day + timedelta(days=i % 5)).isoformat(),
            "amount": f"{amount / 100 / n:.2f}",
            "currency": "CNY",
            "direction": "credit",
            "cash": False,
        }
        for i in range(min(n, 8))
    ]
    return {
        "id": alert_id,
        "client_id": client_id,
        "uscc": company.uscc,
        "kind": kind,
        "rule_version": "1.7ea4510b",
        "status": rng.choices(("new", "acknowledged", "closed"), weights=(60, 25, 15))[0],
        "dedup_key": f"{kind}:{company.uscc}:{day.isoformat()}:{alert_id}",
        "day": day,
        "amount_minor": amount,
        "currency": "CNY",
        "created_at": at,
        "updated_at": at,
        "run_id": run_id,
        "evidence": {
            "rule": {"id": f"{kind}.default", "kind": kind, "version": "1.7ea4510b"},
            "summary_zh": zh.format(day=day.isoformat(), total=total, n=n),
            "summary_en": en.format(day=day.isoformat(), total=total, n=n),
            "details": {"currency_group": "CNY", "total": total, "count": n, "regulation_en": _REGULATION_EN},
            "transaction_ids": [t["id"] for t in txs],
            "transactions": txs,
            "transactions_total": n,
            "history": [],
        },
    }


def dead_letter_row(company: Company, client_id: int, rng: random.Random, at: datetime, run_id: int) -> dict[str, Any]:
    """A record a sync refused (or a write-back a CRM refused), with its reason and history."""
    views = [(c, v) for c, v in (("zoho", company.zoho), ("fxiaoke", company.fxiaoke)) if v is not None]
    conn, view = rng.choice(views) if views else ("ledger", company.ledger)
    assert view is not None
    field_name, template = rng.choice(_DL_REASONS)
    reason = template.format(
        code=company.uscc[:17] + "0",
        check=company.uscc[17],
        conn=conn,
        phone=str(getattr(view, "phone", None) or "010-6552"),
        industry=rng.choice(("制造", "Z99", "信息技术服务", "-None-")),
    )
    status = rng.choices(("open", "resolved", "retried"), weights=(70, 20, 10))[0]
    history = [history_entry("rejected", reason, at=at, run_id=run_id)]
    if status != "open":
        history.append(
            history_entry(
                "retry_ok" if status == "retried" else "resolved",
                "stored",
                at=at + timedelta(hours=rng.randrange(2, 200)),
            )
        )
    direction = "out" if rng.random() < 0.15 and conn != "ledger" else "in"
    return {
        "id": client_id,
        "run_id": run_id,
        "direction": direction,
        "connector": conn,
        "stream": "accounts" if conn != "ledger" else "clients",
        "source_id": view.source_id,
        "reason": reason,
        "field": field_name,
        "payload": {"id": view.source_id, "name": company.name, "uscc": company.uscc},
        "status": status,
        "attempts": len(history),
        "history": history,
        "created_at": at,
        "updated_at": at,
    }


def review_row(
    client_id: int, other_id: int | None, data: dict[str, Any], rng: random.Random, at: datetime
) -> dict[str, Any]:
    """A grey-zone match (with the matcher's explanation) or an undecidable field conflict."""
    item_id = client_id
    status = rng.choices(("open", "accepted", "rejected"), weights=(75, 15, 10))[0]
    decided = at + timedelta(hours=rng.randrange(1, 300)) if status != "open" else None
    base = {
        "id": item_id,
        "status": status,
        "client_id": client_id,
        "created_at": at,
        "decided_at": decided,
        "decided_by": "alice" if decided else None,
    }
    if other_id is not None and rng.random() < 0.7:
        p = rng.uniform(0.55, 0.9)
        explanation = (
            f"match probability {p:.4f}\n  prior      base rate                         -10.00\n"
            f"  name       homophone                          +8.64\n"
            f"  region     same                               +3.82\n"
            f"  uscc       missing                            +0.00"
        )
        return {
            **base,
            "kind": "match",
            "dedup_key": f"match:{other_id}:{client_id}",
            "other_client_id": other_id,
            "field": None,
            "score": p,
            "details": {"explanation": explanation},
        }
    name = rng.choice(("phone", "industry", "registered_address"))
    value = data.get(name) or "—"
    return {
        **base,
        "kind": "conflict",
        "dedup_key": f"conflict:{client_id}:{name}:{item_id}",
        "other_client_id": None,
        "field": name,
        "score": None,
        "details": {
            "values": [
                {"source": "zoho", "record": "accounts/1", "value": value, "observed_at": at.isoformat()},
                {"source": "fxiaoke", "record": "accounts/2", "value": value, "observed_at": at.isoformat()},
            ]
        },
    }


def outbox_row(
    company: Company, client_id: int, data: dict[str, Any], rng: random.Random, at: datetime, run_id: int
) -> dict[str, Any] | None:
    """A write-back of the rating and segment to a CRM (mostly confirmed, a few failed)."""
    view = company.zoho or company.fxiaoke
    if view is None:
        return None
    payload = {
        "source_id": view.source_id,
        "fields": ["risk_rating", "risk_segment"],
        "data": {"risk_rating": data.get("risk", {}).get("rating"), "name": company.name},
    }
    state = rng.choices(("confirmed", "failed", "planned"), weights=(90, 7, 3))[0]
    return {
        "id": client_id,
        "kind": "write_back",
        "target": view.system,
        "stream": "accounts",
        "idempotency_key": f"wb:{client_id}:{view.source_id}",
        "client_id": client_id,
        "source_id": view.source_id,
        "payload": payload,
        "payload_hash": content_hash(payload),
        "state": state,
        "attempts": 1 if state != "planned" else 0,
        "answer": {"status": "ok", "source_id": view.source_id} if state == "confirmed" else None,
        "last_error": "INVALID_DATA: Risk_Rating" if state == "failed" else None,
        "run_id": run_id,
        "not_before": None,
        "created_at": at,
        "updated_at": at,
    }


def run_report(
    run_id: int,
    started: datetime,
    finished: datetime,
    status: str,
    stats: dict[str, dict[str, Any]],
    totals: dict[str, int],
    error: str | None,
) -> dict[str, Any]:
    """A report shaped like `crmhub sync --json` prints it (and `crmhub report` reads it back)."""
    connectors = {}
    for conn, streams in stats.items():
        calls = sum(s.get("pages", 0) for s in streams.values())
        connectors[conn] = {
            "status": "failed" if error and conn == "ledger" else "ok",
            "error": error if conn == "ledger" else None,
            "streams": streams,
            "api": {"api_calls": float(calls), "retries": 0.0, "throttled": 0.0, "errors": 0.0, "waited_seconds": 0.0},
            "written_back": totals["written_back"] // 2 if conn != "ledger" else 0,
            "write_failed": 0,
            "write_retried": 0,
            "duration_s": round((finished - started).total_seconds() / 3, 3),
        }
    duration = (finished - started).total_seconds()
    phases = {"ingest": 0.18, "match": 0.09, "merge": 0.17, "link": 0.0, "risk": 0.11, "plan": 0.11, "deliver": 0.32}
    report = {
        "run_id": run_id,
        "status": status,
        "dry_run": False,
        "trigger": "manual" if run_id == 1 else "schedule",
        "job": None if run_id == 1 else "nightly_sync",
        "started_at": started,
        "finished_at": finished,
        "duration_s": round(duration, 3),
        "connectors": connectors,
        "totals": totals,
        "phases": {k: round(duration * v, 3) for k, v in phases.items()},
        "plan": [],
        "error": error,
        "notifications": None,
    }
    return RunReport.model_validate(report).model_dump(mode="json")  # the shape `crmhub report` reads back


def stream_stats(read: int, created: int, updated: int, rejected: int, merged: int | None = None) -> dict[str, Any]:
    out = {
        "read": read,
        "created": created,
        "updated": updated,
        "unchanged": max(0, read - created - updated),
        "deleted": 0,
        "rejected": rejected,
        "pages": max(1, read // 200),
    }
    if merged is not None:
        out["merged"] = merged
    return out
