"""Hand-built ledger views with every behaviour profile the risk engine looks for.

Built from `crmhub.sandbox.worldtypes` directly so the ledger tests do not depend on the world generator; each
profile is small and its figures are known, so tests can assert them through the simulator's HTTP answers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from crmhub.model import uscc
from crmhub.sandbox.worldtypes import LedgerClientView, LoanView, SavingsView, TransactionView

TODAY = date(2026, 10, 15)
NOW = datetime(2026, 10, 15, 10, 30, 0)
COUNTERPARTIES = [f"6222{n:012d}" for n in range(1, 40)]


class Ids:
    """Sequential ids per kind, like Fineract's auto-increment columns."""

    def __init__(self) -> None:
        self.tx = 1000
        self.savings = 500
        self.loan = 700

    def next_tx(self) -> int:
        self.tx += 1
        return self.tx


def code(n: int) -> str:
    """A valid USCC for test company ``n``."""
    return uscc.make("91310115", f"MA{n:06d}")


def _tx(
    ids: Ids,
    day: date,
    amount: str,
    entry: str,
    *,
    cash: bool = False,
    cp: int | None = None,
    type_id: int | None = None,
    name: str | None = None,
    manual: bool = False,
) -> TransactionView:
    return TransactionView(
        id=ids.next_tx(),
        booking_date=day,
        value_date=day,
        amount=Decimal(amount),
        currency="CNY",
        entry="CREDIT" if entry == "C" else "DEBIT",
        type_id=type_id or (1 if entry == "C" else 2),
        is_cash=cash,
        counterparty_account=None if cp is None or cash else COUNTERPARTIES[cp],
        counterparty_name=name or (None if cp is None else f"对手方公司{cp}号"),
        counterparty_bank=None if cp is None or cash else "102100099996",
        is_manual=manual,
    )


def _savings(
    ids: Ids,
    txs: list[TransactionView],
    *,
    opening: str = "100000",
    sub_status: int = 0,
    overdraft: str | None = None,
    activated: date = date(2019, 3, 1),
) -> SavingsView:
    ids.savings += 1
    return SavingsView(
        id=ids.savings,
        account_no=f"{ids.savings:09d}",
        currency="CNY",
        opening_balance=Decimal(opening),
        sub_status=sub_status,
        allow_overdraft=overdraft is not None,
        overdraft_limit=Decimal(overdraft) if overdraft else None,
        activated_on=activated,
        product_name="单位活期存款 Corporate current account",
        transactions=txs,
    )


def _client(
    n: int,
    name: str,
    savings: list[SavingsView],
    loans: list[LoanView] | None = None,
    *,
    uscc_code: str | bool | None = True,
    external: str | None = None,
    industry: str | None = "C39",
) -> LedgerClientView:
    value = code(n) if uscc_code is True else (uscc_code or None)
    return LedgerClientView(
        source_id=str(n),
        company_key=n,
        fullname=name,
        uscc=value,
        external_id=external or f"CRM-{n:04d}",
        office_name="上海分行",
        mobile=f"1391234{n:04d}",
        industry_code=industry,
        activation_date=date(2019, 3, 1),
        created_at=datetime(2019, 3, 1, 9, 0) + timedelta(minutes=n),
        modified_at=datetime(2026, 9, 1, 9, 0) + timedelta(minutes=n),
        savings=savings,
        loans=loans or [],
    )


def _loan(ids: Ids, principal: str, dpd: int, *, months: int = 24, disbursed: date = date(2025, 6, 10)) -> LoanView:
    ids.loan += 1
    return LoanView(
        id=ids.loan,
        account_no=f"{ids.loan:09d}",
        product_name="流动资金贷款 Working capital loan",
        principal=Decimal(principal),
        currency="CNY",
        annual_interest_rate=Decimal("4.35"),
        disbursed_on=disbursed,
        number_of_repayments=months,
        past_due_days=dpd,
        overdue_since=TODAY - timedelta(days=dpd) if dpd else None,
        principal_overdue=Decimal(0),
    )


def views() -> list[LedgerClientView]:
    """Ten clients, one per profile, plus ordinary ones (ids 1-12)."""
    ids = Ids()
    d = TODAY
    out: list[LedgerClientView] = []
    routine = [
        _tx(ids, d - timedelta(days=k * 7), str(20000 + k * 1000), "C" if k % 2 else "D", cp=k)
        for k in range(20, 0, -1)
    ]
    out.append(_client(1, "上海星河科技有限公司", [_savings(ids, routine)], [_loan(ids, "1200000", 0)]))
    out.append(
        _client(
            2,
            "北京大额贸易有限公司",
            [
                _savings(
                    ids,
                    [
                        _tx(ids, d - timedelta(days=3), "2500000", "C", cp=2),
                        _tx(ids, d - timedelta(days=2), "800000", "D", cp=3),
                    ],
                )
            ],
        )
    )
    out.append(
        _client(
            3,
            "广州拆分结算有限公司",
            [
                _savings(
                    ids,
                    [
                        _tx(ids, d - timedelta(days=k), amt, "C", cp=4)
                        for k, amt in ((5, "1950000"), (4, "1980000"), (3, "1900000"), (2, "1990000"))
                    ],
                )
            ],
        )
    )
    out.append(
        _client(
            4,
            "深圳过桥资金有限公司",
            [
                _savings(
                    ids,
                    [
                        _tx(ids, d - timedelta(days=6), "3000000", "C", cp=5),
                        _tx(ids, d - timedelta(days=5), "2880000", "D", cp=6),
                    ],
                    opening="50000",
                )
            ],
        )
    )
    fan = [_tx(ids, d - timedelta(days=2 + k % 3), str(95000 + k * 700), "C", cp=10 + k) for k in range(12)]
    fan.append(_tx(ids, d - timedelta(days=1), "1100000", "D", cp=30))
    out.append(_client(5, "杭州汇聚商贸有限公司", [_savings(ids, fan, opening="20000")]))
    old = d - timedelta(days=420)
    out.append(_client(6, "南京沉睡实业有限公司", [_savings(ids, [_tx(ids, old, "5000", "C", cp=7)], sub_status=200)]))
    revived = [_tx(ids, old - timedelta(days=3), "3000", "D", cp=8)] + [
        _tx(ids, d - timedelta(days=k), "450000", "C", cp=20 + k) for k in (9, 6, 3)
    ]
    out.append(_client(7, "苏州复苏科技有限公司", [_savings(ids, revived)]))
    out.append(
        _client(
            8,
            "天津透支制造有限公司",
            [
                _savings(
                    ids, [_tx(ids, d - timedelta(days=4), "420000", "D", cp=9)], opening="100000", overdraft="500000"
                )
            ],
        )
    )
    late = [_savings(ids, [_tx(ids, d - timedelta(days=30), "10000", "C", cp=1)])]
    out.append(_client(9, "重庆逾期建材有限公司", late, [_loan(ids, "3000000", 120)]))
    out.append(
        _client(
            10,
            "成都现金餐饮有限公司",
            [
                _savings(
                    ids,
                    [
                        _tx(ids, d - timedelta(days=1), "68000", "C", cash=True),
                        _tx(ids, d - timedelta(days=1), "12000", "C", cash=True),
                        _tx(ids, d - timedelta(days=1), "1500", "D", type_id=4, manual=True),
                    ],
                )
            ],
        )
    )
    out.append(_client(11, "无证照临时客户", [_savings(ids, [])], uscc_code=None, external="CRM-0011", industry=None))
    out.append(
        _client(12, "外部编号即代码有限公司", [_savings(ids, [])], uscc_code=None, external=code(12), industry="Z99")
    )
    return out
