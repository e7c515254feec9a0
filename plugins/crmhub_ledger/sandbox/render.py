"""Render simulator rows as Fineract JSON: ``ClientData``, ``SavingsAccountData``, the transaction search item,
``LoanAccountData`` with schedule and delinquency, ``AuditData``.

Dates are ``[y, m, d]`` arrays, enums are ``{id, code, value}`` objects and money is a JSON number, as a
Fineract 1.10 server answers. The malformed-record fault is applied here, at the wire, so the state stays clean.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crmhub.model import industry as gbt4754
from crmhub_ledger.fineract import (
    CLIENT_STATUS,
    LEGAL_FORM,
    LOAN_STATUS,
    SAVINGS_STATUS,
    SUB_STATUS,
    TX_FLAGS,
    TX_TYPES,
    date_array,
    datetime_array,
    enum_obj,
)
from crmhub_ledger.sandbox.records import PAYMENT_TYPES, SimAudit, SimClient, SimLoan, SimSavings, SimTransaction

if TYPE_CHECKING:
    from crmhub_ledger.sandbox.state import LedgerSimulator


def money(value: Decimal) -> float | int:
    """A Fineract JSON number (Jackson writes BigDecimal as a number)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _currency(code: str) -> dict[str, Any]:
    names = {"CNY": ("人民币 Renminbi", "¥"), "USD": ("US Dollar", "$"), "EUR": ("Euro", "€")}
    name, sign = names.get(code, (code, code))
    return {
        "code": code,
        "name": name,
        "decimalPlaces": 2,
        "inMultiplesOf": 1,
        "displaySymbol": sign,
        "nameCode": f"currency.{code}",
        "displayLabel": f"{name} ({sign})",
    }


def _corrupt_uscc(code: str) -> str:
    """Change one character so the MOD 31-3 check fails (what a typo in the ledger looks like)."""
    swap = "1" if code[5] != "1" else "2"
    return code[:5] + swap + code[6:]


def client(sim: LedgerSimulator, c: SimClient, *, details: bool) -> dict[str, Any]:
    """``ClientData``; ``details`` controls ``clientNonPersonDetails`` (FINERACT-2907 omits it on single reads)."""
    legal_code, legal_value = LEGAL_FORM[c.legal_form]
    out: dict[str, Any] = {
        "id": c.id,
        "accountNo": c.account_no,
        "externalId": c.external_id,
        "status": enum_obj(CLIENT_STATUS, c.status),
        "subStatus": {"active": False, "mandatory": False},
        "active": c.status == 300,
        "activationDate": date_array(c.activation_date),
        "fullname": c.fullname,
        "displayName": c.fullname,
        "mobileNo": c.mobile,
        "emailAddress": c.email,
        "isStaff": False,
        "officeId": c.office_id,
        "officeName": c.office_name,
        "timeline": {
            "submittedOnDate": date_array(c.submitted_on),
            "submittedByUsername": "mifos",
            "activatedOnDate": date_array(c.activation_date),
            "activatedByUsername": "mifos",
        },
        "legalForm": {"id": c.legal_form, "code": legal_code, "value": legal_value},
        "clientType": {"active": False, "mandatory": False},
        "clientClassification": {"active": False, "mandatory": False},
        "groups": [],
    }
    if c.legal_form == 1:
        first, _, last = c.fullname.partition(" ")
        out.update(firstname=first, lastname=last)
        del out["fullname"]
    if details and c.legal_form == 2:
        out["clientNonPersonDetails"] = non_person_details(sim, c)
    if c.malformed == "bad_uscc" and "clientNonPersonDetails" in out and c.incorp_number:
        out["clientNonPersonDetails"]["incorpNumber"] = _corrupt_uscc(c.incorp_number)
    elif c.malformed == "wrong_type":
        out["activationDate"] = f"{c.activation_date:%d/%m/%Y}"
        out["id"] = str(c.id)
    return {k: v for k, v in out.items() if v is not None}


def non_person_details(sim: LedgerSimulator, c: SimClient) -> dict[str, Any]:
    """``clientNonPersonDetails`` with ``mainBusinessLine`` as a code value named by its GB/T 4754 code."""
    details: dict[str, Any] = {
        "incorpNumber": c.incorp_number,
        "remarks": None,
        "constitution": {
            "id": c.constitution_id,
            "name": "有限责任公司 Limited liability company",
            "active": True,
            "mandatory": False,
        },
    }
    if c.industry_code:
        try:
            zh, _ = gbt4754.labels(c.industry_code)
        except Exception:  # an unknown code still renders, just unlabelled
            zh = ""
        details["mainBusinessLine"] = {
            "id": sim.industry_code_value(c.industry_code),
            "name": f"{c.industry_code} {zh}".strip(),
            "active": True,
            "mandatory": False,
        }
    return {k: v for k, v in details.items() if v is not None}


def identifier(c: SimClient, index: int) -> dict[str, Any]:
    """One ``ClientIdentifierData``."""
    ident = c.identifiers[index]
    return {
        "id": ident.id,
        "clientId": c.id,
        "documentType": {
            "id": ident.document_type_id,
            "name": ident.document_type_name,
            "active": True,
            "mandatory": False,
        },
        "documentKey": ident.document_key,
        "description": ident.description,
        "status": "clientIdentifierStatusType.active",
    }


def _sub_status(code: int) -> dict[str, Any]:
    flags = {
        name: code == ident
        for ident, name in (
            (0, "none"),
            (100, "inactive"),
            (200, "dormant"),
            (300, "escheat"),
            (400, "block"),
            (500, "blockCredit"),
            (600, "blockDebit"),
        )
    }
    return enum_obj(SUB_STATUS, code if code in SUB_STATUS else 0, **flags)


def savings(sim: LedgerSimulator, a: SimSavings) -> dict[str, Any]:
    """``SavingsAccountData`` (list item and single read) with ``summary`` balances and overdraft fields."""
    owner = sim.clients.get(a.client_id)
    status = enum_obj(
        SAVINGS_STATUS,
        a.status,
        active=a.status == 300,
        closed=a.status == 600,
        submittedAndPendingApproval=a.status == 100,
        approved=a.status == 200,
    )
    out: dict[str, Any] = {
        "id": a.id,
        "accountNo": a.account_no,
        "depositType": {"id": 100, "code": "depositAccountType.savingsDeposit", "value": "Savings"},
        "clientId": a.client_id,
        "clientName": owner.fullname if owner else None,
        "savingsProductId": a.product_id,
        "savingsProductName": a.product_name,
        "fieldOfficerId": 0,
        "status": status,
        "subStatus": _sub_status(a.sub_status),
        "timeline": {
            "submittedOnDate": date_array(a.activated_on),
            "approvedOnDate": date_array(a.activated_on),
            "activatedOnDate": date_array(a.activated_on),
        },
        "currency": _currency(a.currency),
        "nominalAnnualInterestRate": money(a.nominal_rate),
        "allowOverdraft": a.allow_overdraft,
        "enforceMinRequiredBalance": False,
        "withHoldTax": False,
        "isDormancyTrackingActive": True,
        "summary": {
            "currency": _currency(a.currency),
            "accountBalance": money(a.balance),
            "availableBalance": money(a.balance - a.on_hold),
            "totalDeposits": money(
                sum((t.amount for t in a.transactions if t.entry == "CREDIT" and not t.reversed), Decimal(0))
            ),
            "totalWithdrawals": money(
                sum((t.amount for t in a.transactions if t.entry == "DEBIT" and not t.reversed), Decimal(0))
            ),
        },
    }
    if a.allow_overdraft:
        out["overdraftLimit"] = money(a.overdraft_limit or Decimal(0))
    return out


def transaction(sim: LedgerSimulator, a: SimSavings, t: SimTransaction) -> dict[str, Any]:
    """``GetSavingsAccountTransactionsPageItem`` (the search answer's item)."""
    code, value, flag = TX_TYPES.get(t.type_id, (f"savingsAccountTransactionType.{t.type_id}", str(t.type_id), ""))
    tx_type: dict[str, Any] = {"id": t.type_id, "code": code, "value": value}
    tx_type.update({name: name == flag for name in TX_FLAGS})
    out: dict[str, Any] = {
        "id": t.id,
        "transactionType": tx_type,
        "entryType": t.entry,
        "accountId": a.id,
        "accountNo": a.account_no,
        "date": date_array(t.value_date),
        "currency": _currency(t.currency),
        "amount": money(t.amount),
        "runningBalance": money(t.running_balance),
        "reversed": t.reversed,
        "submittedOnDate": date_array(t.booking_date),
        "submittedByUsername": t.submitted_by,
        "isManualTransaction": t.is_manual,
        "isReversal": t.is_reversal,
        "originalTransactionId": t.original_id,
        "lienTransaction": False,
        "releaseTransactionId": 0,
        "chargesPaidByData": [],
    }
    if t.payment_type_id is not None:
        pt = PAYMENT_TYPES[t.payment_type_id]
        out["paymentDetailData"] = {
            "id": t.id,
            "paymentType": {
                "id": pt.id,
                "name": pt.name,
                "description": pt.description,
                "isCashPayment": pt.is_cash,
                "position": pt.id,
            },
            "accountNumber": t.counterparty_account,
            "bankNumber": t.counterparty_bank,
            "checkNumber": None,
            "routingCode": None,
            "receiptNumber": None,
        }
    if t.counterparty_name:
        out["note"] = t.counterparty_name
    if sim.malformed_tx(t.id):
        out["submittedOnDate"] = f"{t.booking_date:%Y/%m/%d}!"
    return out


DELINQUENCY_BUCKET = (
    (1, 90, "关注 special mention"),
    (91, 270, "次级 substandard"),
    (271, 360, "可疑 doubtful"),
    (361, None, "损失 loss"),
)
"""The simulator's delinquency ranges, named like a Chinese bank would configure them (illustrative)."""


def _loan_status(code: int) -> dict[str, Any]:
    return enum_obj(
        LOAN_STATUS,
        code,
        active=code == 300,
        closed=code in (600, 601),
        overpaid=code == 700,
        pendingApproval=code == 100,
        waitingForDisbursal=code == 200,
        closedObligationsMet=code == 600,
        closedWrittenOff=code == 601,
    )


def loan(sim: LedgerSimulator, ln: SimLoan, associations: set[str], *, full: bool) -> dict[str, Any]:
    """``LoanAccountData``: status, timeline and summary (``overdueSinceDate`` from the arrears-ageing columns) as
    both the list and the single read give them; ``full`` adds ``delinquent`` and ``delinquencyRange`` (single read
    only, as in Fineract), ``associations`` the schedule and transactions."""
    today = sim.today
    plan = ln.schedule(today)
    paid = [p for p in plan if p.paid]
    overdue = [p for p in plan if p.overdue]
    status = 601 if ln.charged_off else (600 if len(paid) == len(plan) else 300)
    owner = sim.clients.get(ln.client_id)
    maturity = plan[-1].due_date if plan else ln.disbursed_on
    out: dict[str, Any] = {
        "id": ln.id,
        "accountNo": ln.account_no,
        "externalId": ln.external_id,
        "status": _loan_status(status),
        "clientId": ln.client_id,
        "clientAccountNo": owner.account_no if owner else None,
        "clientName": owner.fullname if owner else None,
        "clientExternalId": owner.external_id if owner else None,
        "clientOfficeId": owner.office_id if owner else 1,
        "loanProductId": ln.product_id,
        "loanProductName": ln.product_name,
        "loanType": {"id": 1, "code": "accountType.individual", "value": "Individual"},
        "currency": _currency(ln.currency),
        "principal": money(ln.principal),
        "approvedPrincipal": money(ln.principal),
        "annualInterestRate": money(ln.annual_rate),
        "numberOfRepayments": ln.repayments,
        "repaymentEvery": 1,
        "repaymentFrequencyType": {"id": 2, "code": "repaymentFrequency.periodFrequencyType.months", "value": "Months"},
        "timeline": {
            "submittedOnDate": date_array(ln.disbursed_on),
            "approvedOnDate": date_array(ln.disbursed_on),
            "expectedDisbursementDate": date_array(ln.disbursed_on),
            "actualDisbursementDate": date_array(ln.disbursed_on),
            "expectedMaturityDate": date_array(maturity),
        },
        "inArrears": bool(overdue),
        "chargedOff": ln.charged_off,
        "fraud": False,
    }
    principal_paid = sum((p.principal for p in paid), Decimal(0))
    interest_paid = sum((p.interest for p in paid), Decimal(0))
    interest_due = sum((p.interest for p in plan), Decimal(0))
    p_overdue = sum((p.principal for p in overdue), Decimal(0))
    i_overdue = sum((p.interest for p in overdue), Decimal(0))
    oldest = overdue[0].due_date if overdue else None
    out["summary"] = {
        "currency": _currency(ln.currency),
        "principalDisbursed": money(ln.principal),
        "principalPaid": money(principal_paid),
        "principalOutstanding": money(ln.principal - principal_paid),
        "principalOverdue": money(p_overdue),
        "interestCharged": money(interest_due),
        "interestPaid": money(interest_paid),
        "interestOutstanding": money(interest_due - interest_paid),
        "interestOverdue": money(i_overdue),
        "totalExpectedRepayment": money(ln.principal + interest_due),
        "totalRepayment": money(principal_paid + interest_paid),
        "totalOutstanding": money(ln.principal - principal_paid + interest_due - interest_paid),
        "totalOverdue": money(p_overdue + i_overdue),
        "overdueSinceDate": date_array(oldest),
    }
    if full:
        dpd = ln.past_due_days(today) if overdue else 0
        upcoming = next((p.due_date for p in plan if not p.paid and not p.overdue), None)
        out["delinquent"] = {
            "pastDueDays": dpd,
            "delinquentDays": dpd,
            "delinquentDate": date_array(oldest),
            "delinquentAmount": money(p_overdue + i_overdue),
            "nextPaymentDueDate": date_array(upcoming),
            "lastPaymentDate": date_array(paid[-1].due_date if paid else None),
            "lastPaymentAmount": money(paid[-1].principal + paid[-1].interest) if paid else 0,
            "lastRepaymentDate": date_array(paid[-1].due_date if paid else None),
            "availableDisbursementAmount": 0,
            "installmentLevelDelinquency": [],
        }
        bucket = next((b for b in DELINQUENCY_BUCKET if dpd >= b[0] and (b[1] is None or dpd <= b[1])), None)
        if ln.stated_class or bucket:
            name = ln.stated_class or (bucket[2] if bucket else "")
            out["delinquencyRange"] = {
                "id": DELINQUENCY_BUCKET.index(bucket) + 1 if bucket else 9,
                "classification": name,
                "minimumAgeDays": bucket[0] if bucket else 0,
                "maximumAgeDays": bucket[1] if bucket else None,
            }
    if "repaymentSchedule" in associations:
        out["repaymentSchedule"] = _schedule(ln, plan)
    if "transactions" in associations:
        out["transactions"] = _loan_transactions(ln, plan)
    return {k: v for k, v in out.items() if v is not None}


def _schedule(ln: SimLoan, plan: list[Any]) -> dict[str, Any]:
    periods: list[dict[str, Any]] = [
        {
            "dueDate": date_array(ln.disbursed_on),
            "principalDisbursed": money(ln.principal),
            "principalLoanBalanceOutstanding": money(ln.principal),
            "complete": True,
        }
    ]
    for p in plan:
        due_total = p.principal + p.interest
        periods.append(
            {
                "period": p.number,
                "fromDate": date_array(p.from_date),
                "dueDate": date_array(p.due_date),
                "obligationsMetOnDate": date_array(p.due_date) if p.paid else None,
                "complete": p.paid,
                "daysInPeriod": (p.due_date - p.from_date).days,
                "principalDue": money(p.principal),
                "principalPaid": money(p.principal if p.paid else Decimal(0)),
                "principalOutstanding": money(Decimal(0) if p.paid else p.principal),
                "principalLoanBalanceOutstanding": money(p.balance_after),
                "interestDue": money(p.interest),
                "interestPaid": money(p.interest if p.paid else Decimal(0)),
                "interestOutstanding": money(Decimal(0) if p.paid else p.interest),
                "feeChargesDue": 0,
                "penaltyChargesDue": 0,
                "totalDueForPeriod": money(due_total),
                "totalPaidForPeriod": money(due_total if p.paid else Decimal(0)),
                "totalPaidLateForPeriod": 0,
                "totalOutstandingForPeriod": money(Decimal(0) if p.paid else due_total),
                "totalOverdue": money(due_total if p.overdue else Decimal(0)),
            }
        )
    total_interest = sum((p.interest for p in plan), Decimal(0))
    term = (plan[-1].due_date - ln.disbursed_on).days if plan else 0
    return {
        "currency": _currency(ln.currency),
        "loanTermInDays": term,
        "totalPrincipalDisbursed": money(ln.principal),
        "totalPrincipalExpected": money(ln.principal),
        "totalInterestCharged": money(total_interest),
        "totalRepaymentExpected": money(ln.principal + total_interest),
        "periods": [{k: v for k, v in p.items() if v is not None} for p in periods],
    }


def _loan_transactions(ln: SimLoan, plan: list[Any]) -> list[dict[str, Any]]:
    rows = [
        {
            "id": ln.id * 1000,
            "type": {
                "id": 1,
                "code": "loanTransactionType.disbursement",
                "value": "Disbursement",
                "disbursement": True,
            },
            "date": date_array(ln.disbursed_on),
            "amount": money(ln.principal),
            "principalPortion": 0,
            "interestPortion": 0,
            "outstandingLoanBalance": money(ln.principal),
            "manuallyReversed": False,
        }
    ]
    for p in plan:
        if p.paid:
            rows.append(
                {
                    "id": ln.id * 1000 + p.number,
                    "type": {"id": 2, "code": "loanTransactionType.repayment", "value": "Repayment", "repayment": True},
                    "date": date_array(p.due_date),
                    "amount": money(p.principal + p.interest),
                    "principalPortion": money(p.principal),
                    "interestPortion": money(p.interest),
                    "outstandingLoanBalance": money(p.balance_after),
                    "manuallyReversed": False,
                }
            )
    return rows


def audit(a: SimAudit, *, with_command: bool) -> dict[str, Any]:
    """``AuditData`` (``madeOnDate`` tenant-local; rendered as an array like every Fineract timestamp)."""
    out: dict[str, Any] = {
        "id": a.id,
        "actionName": a.action,
        "entityName": a.entity,
        "resourceId": a.resource_id,
        "subresourceId": a.subresource_id,
        "maker": a.maker,
        "madeOnDate": datetime_array(a.made_on),
        "checker": None,
        "checkedOnDate": None,
        "processingResult": "Processed",
        "officeName": a.office_name,
        "clientId": a.client_id,
        "clientName": a.client_name,
        "loanId": a.loan_id,
        "savingsAccountNo": a.savings_account_no,
        "url": a.href,
    }
    if with_command and a.command is not None:
        import json

        out["commandAsJson"] = json.dumps(a.command, ensure_ascii=False, default=str)
    return {k: v for k, v in out.items() if v is not None}


def client_accounts(sim: LedgerSimulator, c: SimClient) -> dict[str, Any]:
    """``GET /clients/{id}/accounts``: savings and loan account summaries (the only per-client loan list)."""
    saving = []
    for sid in c.savings_ids:
        a = sim.savings[sid]
        saving.append(
            {
                "id": a.id,
                "accountNo": a.account_no,
                "productId": a.product_id,
                "productName": a.product_name,
                "shortProductName": a.product_name[:4],
                "status": enum_obj(SAVINGS_STATUS, a.status, active=a.status == 300),
                "currency": _currency(a.currency),
                "accountBalance": money(a.balance),
                "accountType": {"id": 1, "code": "accountType.individual", "value": "Individual"},
                "timeline": {"activatedOnDate": date_array(a.activated_on)},
                "subStatus": _sub_status(a.sub_status),
                "depositType": {"id": 100, "code": "depositAccountType.savingsDeposit", "value": "Savings"},
            }
        )
    loans = []
    for lid in c.loan_ids:
        ln = sim.loans[lid]
        rendered = loan(sim, ln, set(), full=False)
        loans.append(
            {
                "id": ln.id,
                "accountNo": ln.account_no,
                "externalId": ln.external_id,
                "productId": ln.product_id,
                "productName": ln.product_name,
                "status": rendered["status"],
                "loanType": rendered["loanType"],
                "loanCycle": 1,
                "timeline": rendered["timeline"],
                "inArrears": rendered["inArrears"],
                "loanBalance": rendered["summary"]["principalOutstanding"],
                "amountPaid": rendered["summary"]["principalPaid"],
            }
        )
    return {"savingsAccounts": saving, "loanAccounts": loans}
