"""`LedgerSimulator`: the ledger's data, indexes, clock, audited write commands and sandbox mutations.

Everything the HTTP layer serves lives here, so tests and the demo can drive the simulator in-process (add a
client, deposit, advance the clock) and then watch the connector read the result over real HTTP. Rows are kept
in id order and transactions in booking order, so list and search answers page without re-sorting.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crmhub.sandbox.worldtypes import LedgerClientView, LoanView, SavingsView
from crmhub_ledger.sandbox.errors import SimError, not_found, validation
from crmhub_ledger.sandbox.lazy import LiveRows
from crmhub_ledger.sandbox.records import (
    PAYMENT_TYPES,
    Clock,
    SimAudit,
    SimClient,
    SimIdentifier,
    SimLoan,
    SimSavings,
    SimTransaction,
)

USCC_DOCUMENT_TYPE = (21, "统一社会信用代码 (USCC)")
"""Identifier document type for the USCC; 21 is also the AML report's ID type for a business licence."""

_CODE_VALUE_BASE = 40
LAZY_WORLD_MIN = 200_000
"""Worlds of at least this many companies are served lazily (setting ``lazy_world_min``; `_load_lazy`)."""


def _identifier(ident_id: int, uscc: str) -> SimIdentifier:
    return SimIdentifier(ident_id, USCC_DOCUMENT_TYPE[0], USCC_DOCUMENT_TYPE[1], uscc, "营业执照 business licence")


def _share(seed: int, kind: str, ident: int) -> float:
    """A deterministic number in [0, 1) for (seed, kind, id): decides malformed and duplicated rows."""
    digest = hashlib.blake2b(f"{seed}:{kind}:{ident}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class LedgerSimulator:
    """In-memory Fineract tenant with the indexes, clock and audit trail the HTTP layer needs."""

    def __init__(
        self,
        *,
        seed: int = 0,
        today: date | None = None,
        now: datetime | None = None,
        timezone: str = "Asia/Shanghai",
        malformed_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        settings: dict[str, Any] | None = None,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.wall = wall or (lambda: datetime.now(UTC))
        self.tz = ZoneInfo(timezone)
        self.settings = dict(settings or {})
        self.malformed_rate = malformed_rate
        self.duplicate_rate = duplicate_rate
        wall_now = self._wall_utc()
        local_now = (
            now.astimezone(self.tz).replace(tzinfo=None) if now and now.tzinfo else now
        ) or wall_now.astimezone(self.tz).replace(tzinfo=None)
        if today is not None:
            local_now = datetime.combine(today, local_now.time())
        self.clock = Clock(base=local_now, started=wall_now)
        self.tenants = {str(t) for t in self.settings.get("tenants", ["default"])}
        self.users = dict(self.settings.get("users", {"mifos": "password"}))
        self.clients: dict[int, SimClient] = {}
        self.client_order: list[int] = []
        self.savings: dict[int, SimSavings] = {}
        self.savings_order: list[int] = []
        self.loans: dict[int, SimLoan] = {}
        self.loan_order: list[int] = []
        self.audits: list[SimAudit] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=int(self.settings.get("request_log_size", 20000)))
        self.request_count = 0
        self.code_values: dict[str, int] = {}
        self._next = {"client": 1, "savings": 1, "tx": 1, "loan": 1, "identifier": 1}
        self.lazy = False  # rows regenerated from the world on read (`_load_lazy`)

    # --- clock ----------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Tenant-local now (naive), moved by `advance`."""
        return self.clock.now(self._wall_utc())

    def _wall_utc(self) -> datetime:
        value = self.wall()
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @property
    def today(self) -> date:
        """The ledger's business date; loan DPD is computed against it."""
        return self.now().date()

    def advance(self, days: int) -> date:
        """Move the business date ``days`` forward (negative moves back); returns the new today."""
        self.clock.offset_days += int(days)
        self.clock.last = None
        return self.today

    # --- loading --------------------------------------------------------------------------------------------

    def load_world(self, world: Any, *, detail: bool | str = True) -> int:
        """Load every company's ledger view from a `crmhub.sandbox.world.World`; returns clients loaded.

        ``detail=False`` loads the clients without their accounts, transactions and loans (benchmarks of the
        client sync over very large worlds, where millions of transactions would only cost memory); ``"loans"``
        loads the clients and their loans (the same loans as the full world), without accounts or transactions.
        Only the ledger's views are generated when the world offers them alone (`World.ledger_views`).
        """
        lazy_min = self.settings.get("lazy_world_min", LAZY_WORLD_MIN)
        if hasattr(world, "ledger_view") and hasattr(world, "ledger_views") and len(world) >= lazy_min:
            return self._load_lazy(world, detail)
        count = 0
        if hasattr(world, "ledger_views"):
            views = world.ledger_views(ledger_detail=detail)
        else:
            views = (
                c.ledger
                for c in (world.companies() if detail is True else world.companies(ledger_detail=detail))
                if getattr(c, "ledger", None) is not None
            )
        for view in views:
            self.add_view(view)
            count += 1
        self._audit_history()
        return count

    def _load_lazy(self, world: Any, detail: bool | str) -> int:
        """Serve ``world`` without holding its rows (`crmhub_ledger.sandbox.lazy.load_lazy`)."""
        from crmhub_ledger.sandbox.lazy import load_lazy

        return load_lazy(self, world, detail)

    def writable(self, table: Any, ident: int) -> Any:
        """Row ``ident`` of ``table`` for a writer to change in place (a lazy table pins it; KeyError if none)."""
        return table.pin(ident) if self.lazy else table[ident]

    def load_views(self, views: Iterable[LedgerClientView]) -> int:
        """Load ledger views directly (tests, before a `World` exists)."""
        count = 0
        for view in views:
            self.add_view(view)
            count += 1
        self._audit_history()
        return count

    def industry_code_value(self, code: str) -> int:
        """The ``mainBusinessLine`` code-value id standing for GB/T 4754 ``code``."""
        if code not in self.code_values:
            self.code_values[code] = _CODE_VALUE_BASE + len(self.code_values)
        return self.code_values[code]

    def add_view(self, view: LedgerClientView) -> SimClient:
        """Turn one world ledger view into a client with its savings accounts, transactions and loans."""
        cid = int(view.source_id)
        if cid in self.clients:
            raise ValueError(f"ledger client {cid} loaded twice")
        ident = self._identifier(view.uscc) if view.uscc else None
        client, savings, loans = self._build(view, ident, self.today)
        self._insert(self.clients, self.client_order, cid, client)
        self._next["client"] = max(self._next["client"], cid + 1)
        for account in savings.values():
            for tx in account.transactions:
                self._next["tx"] = max(self._next["tx"], tx.id + 1)
            self._insert(self.savings, self.savings_order, account.id, account)
            self._next["savings"] = max(self._next["savings"], account.id + 1)
        for loan in loans.values():
            self._insert(self.loans, self.loan_order, loan.id, loan)
            self._next["loan"] = max(self._next["loan"], loan.id + 1)
        return client

    def _build(
        self, view: LedgerClientView, ident: SimIdentifier | None, today: date
    ) -> tuple[SimClient, dict[int, SimSavings], dict[int, SimLoan]]:
        """The rows of one ledger view (no table touched): what `add_view` loads and a lazy load regenerates."""
        cid = int(view.source_id)
        client = SimClient(
            id=cid,
            fullname=view.fullname,
            external_id=view.external_id,
            incorp_number=view.uscc,
            office_id=self._office_id(view.office_name),
            office_name=view.office_name,
            mobile=view.mobile,
            email=None,
            industry_code=view.industry_code,
            activation_date=view.activation_date,
            submitted_on=view.created_at.date() if view.created_at else view.activation_date,
            created_at=view.created_at,
            modified_at=view.modified_at,
        )
        if view.industry_code:
            self.industry_code_value(view.industry_code)
        if ident is not None:
            client.identifiers.append(ident)
        if self.malformed_rate and _share(self.seed, "client", cid) < self.malformed_rate:
            client.malformed = "bad_uscc" if view.uscc and _share(self.seed, "kind", cid) < 0.67 else "wrong_type"
        savings = {sv.id: self._savings_of(client, sv) for sv in view.savings}
        loans = {lv.id: self._loan_of(client, lv, today) for lv in view.loans}
        return client, savings, loans

    def _office_id(self, name: str) -> int:
        offices = self.settings.setdefault("_offices", {"Head Office": 1})
        if name not in offices:
            offices[name] = len(offices) + 1
        return int(offices[name])

    def _identifier(self, uscc: str) -> SimIdentifier:
        ident = _identifier(self._next["identifier"], uscc)
        self._next["identifier"] += 1
        return ident

    @staticmethod
    def _insert(table: dict[int, Any], order: list[int], ident: int, row: Any) -> None:
        table[ident] = row
        if not order or ident > order[-1]:
            order.append(ident)
        else:
            bisect.insort(order, ident)

    def _savings_of(self, client: SimClient, sv: SavingsView) -> SimSavings:
        account = SimSavings(
            id=sv.id,
            account_no=sv.account_no,
            client_id=client.id,
            currency=sv.currency,
            product_id=1 if sv.currency == "CNY" else 2,
            product_name=sv.product_name,
            opening_balance=sv.opening_balance,
            balance=sv.opening_balance,
            sub_status=sv.sub_status,
            allow_overdraft=sv.allow_overdraft,
            overdraft_limit=sv.overdraft_limit,
            activated_on=sv.activated_on,
        )
        balance = sv.opening_balance
        for tv in sorted(sv.transactions, key=lambda t: (t.booking_date, t.id)):
            if not tv.reversed:
                balance += tv.amount if tv.entry == "CREDIT" else -tv.amount
            payment = (
                None
                if tv.type_id not in (1, 2)
                else (1 if tv.is_cash else (4 if tv.counterparty_bank and "SWIFT" in tv.counterparty_bank else 2))
            )
            account.append(
                SimTransaction(
                    id=tv.id,
                    account_id=sv.id,
                    type_id=tv.type_id,
                    entry=tv.entry,
                    amount=tv.amount,
                    currency=tv.currency,
                    value_date=tv.value_date,
                    booking_date=tv.booking_date,
                    running_balance=balance,
                    payment_type_id=payment,
                    counterparty_account=tv.counterparty_account,
                    counterparty_name=tv.counterparty_name,
                    counterparty_bank=tv.counterparty_bank,
                    is_manual=tv.is_manual,
                    reversed=tv.reversed,
                )
            )
        account.balance = balance
        client.savings_ids.append(sv.id)
        return account

    @staticmethod
    def _loan_of(client: SimClient, lv: LoanView, today: date) -> SimLoan:
        overdue_since = None
        if lv.past_due_days > 0:
            overdue_since = today - timedelta(days=lv.past_due_days)
        loan = SimLoan(
            id=lv.id,
            account_no=lv.account_no,
            client_id=client.id,
            product_id=1,
            product_name=lv.product_name,
            principal=lv.principal,
            currency=lv.currency,
            annual_rate=lv.annual_interest_rate,
            disbursed_on=lv.disbursed_on,
            repayments=lv.number_of_repayments,
            overdue_since=overdue_since,
            external_id=lv.external_id,
        )
        client.loan_ids.append(lv.id)
        return loan

    def _audit_history(self) -> None:
        """Audit rows for loaded clients' creation and last update (migrated transactions carry none)."""
        if self.audits:
            return
        rows: list[tuple[datetime, str, SimClient]] = []
        for client in self.clients.values():
            created = self._local(client.created_at)
            modified = self._local(client.modified_at)
            if created is not None:
                rows.append((created, "CREATE", client))
            if modified is not None and (created is None or modified > created):
                rows.append((modified, "UPDATE", client))
        now = self.now()
        for when, action, client in sorted(rows, key=lambda r: (r[0], r[2].id)):
            self._audit(
                action,
                "CLIENT",
                client.id,
                f"/clients/{client.id}" if action == "UPDATE" else "/clients",
                client=client,
                made_on=min(when, now),
            )

    def _local(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            return value.astimezone(self.tz).replace(tzinfo=None, microsecond=0)
        return value.replace(microsecond=0)

    # --- audit ----------------------------------------------------------------------------------------------

    def _audit(
        self,
        action: str,
        entity: str,
        resource_id: int | None,
        href: str,
        *,
        client: SimClient | None,
        savings: SimSavings | None = None,
        loan_id: int | None = None,
        command: dict[str, Any] | None = None,
        made_on: datetime | None = None,
    ) -> SimAudit:
        row = SimAudit(
            id=len(self.audits) + 1,
            action=action,
            entity=entity,
            resource_id=resource_id,
            made_on=made_on or self.now(),
            href=href,
            client_id=client.id if client else None,
            client_name=client.fullname if client else None,
            savings_id=savings.id if savings else None,
            savings_account_no=savings.account_no if savings else None,
            loan_id=loan_id,
            office_name=client.office_name if client else "Head Office",
            command=command,
        )
        self.audits.append(row)
        return row

    # --- write commands -------------------------------------------------------------------------------------

    def create_client(self, body: dict[str, Any], *, maker: str = "mifos") -> dict[str, Any]:
        """``POST /clients`` for an entity client; audited as CREATE CLIENT."""
        from crmhub_ledger.sandbox.writes import parse_client_create

        fields = parse_client_create(body, self)
        cid = self._next["client"]
        self._next["client"] += 1
        client = SimClient(id=cid, **fields)
        if client.incorp_number:
            client.identifiers.append(self._identifier(client.incorp_number))
        self._insert(self.clients, self.client_order, cid, client)
        self._audit("CREATE", "CLIENT", cid, "/clients", client=client, command=body)
        return {"officeId": client.office_id, "clientId": cid, "resourceId": cid}

    def update_client(self, cid: int, body: dict[str, Any], *, maker: str = "mifos") -> dict[str, Any]:
        """``PUT /clients/{id}``: changes the given fields; audited as UPDATE CLIENT."""
        from crmhub_ledger.sandbox.writes import apply_client_update

        self.client(cid)
        client = self.writable(self.clients, cid)
        changes = apply_client_update(client, body, self)
        if changes:
            self._audit("UPDATE", "CLIENT", cid, f"/clients/{cid}", client=client, command=body)
        return {"officeId": client.office_id, "clientId": cid, "resourceId": cid, "changes": changes}

    def savings_command(self, sid: int, command: str, body: dict[str, Any], *, maker: str = "mifos") -> dict[str, Any]:
        """``POST /savingsaccounts/{id}/transactions?command=deposit|withdrawal``; audited per command."""
        from crmhub_ledger.sandbox.writes import parse_savings_transaction

        self.account(sid)
        account = self.writable(self.savings, sid)
        if command not in ("deposit", "withdrawal"):
            raise validation(
                "command",
                f"Unrecognized command {command!r}; supported: deposit, withdrawal",
                "error.msg.savingsaccount.transaction.unknown.command",
                command,
            )
        if account.status != 300:
            raise SimError(
                403,
                "error.msg.savingsaccount.transaction.account.is.not.active",
                f"Savings account {sid} is not active",
                parameter="id",
                value=sid,
            )
        parsed = parse_savings_transaction(body, self.today)
        tx = self.book(
            account,
            "CREDIT" if command == "deposit" else "DEBIT",
            parsed["amount"],
            value_date=parsed["date"],
            payment_type_id=parsed["payment_type_id"],
            counterparty_account=parsed["account_number"],
            counterparty_bank=parsed["bank_number"],
            counterparty_name=parsed["note"],
            submitted_by=maker,
        )
        client = self.clients.get(account.client_id)
        self._audit(
            command.upper(),
            "SAVINGSACCOUNT",
            tx.id,
            f"/savingsaccounts/{sid}/transactions?command={command}",
            client=client,
            savings=account,
            command=body,
        )
        return {
            "officeId": client.office_id if client else 1,
            "clientId": account.client_id,
            "savingsId": sid,
            "resourceId": tx.id,
            "changes": {},
        }

    def book(
        self,
        account: SimSavings,
        entry: str,
        amount: Decimal,
        *,
        value_date: date | None = None,
        payment_type_id: int | None = 2,
        counterparty_account: str | None = None,
        counterparty_bank: str | None = None,
        counterparty_name: str | None = None,
        submitted_by: str = "mifos",
        type_id: int | None = None,
    ) -> SimTransaction:
        """Book a deposit (CREDIT) or withdrawal (DEBIT) today, enforcing the overdraft limit."""
        if amount <= 0:
            raise validation(
                "transactionAmount",
                "The parameter `transactionAmount` must be greater than 0.",
                "validation.msg.savingsaccount.transaction.transactionAmount.not.greater.than.zero",
                str(amount),
            )
        new_balance = account.balance + (amount if entry == "CREDIT" else -amount)
        floor = -(account.overdraft_limit or Decimal(0)) if account.allow_overdraft else Decimal(0)
        if entry == "DEBIT" and new_balance < floor:
            raise SimError(
                403,
                "error.msg.savingsaccount.transaction.insufficient.account.balance",
                f"Insufficient account balance on savings account {account.id}",
                parameter="amount",
                value=str(amount),
            )
        if payment_type_id is not None and payment_type_id not in PAYMENT_TYPES:
            raise validation(
                "paymentTypeId",
                f"Payment type with identifier {payment_type_id} does not exist",
                "error.msg.payment.type.id.invalid",
                payment_type_id,
            )
        tx = SimTransaction(
            id=self._next["tx"],
            account_id=account.id,
            type_id=type_id or (1 if entry == "CREDIT" else 2),
            entry=entry,
            amount=amount,
            currency=account.currency,
            value_date=value_date or self.today,
            booking_date=self.today,
            running_balance=new_balance,
            payment_type_id=payment_type_id,
            counterparty_account=counterparty_account,
            counterparty_name=counterparty_name,
            counterparty_bank=counterparty_bank,
            submitted_by=submitted_by,
        )
        self._next["tx"] += 1
        account.append(tx)
        account.balance = new_balance
        if account.sub_status in (100, 200):
            account.sub_status = 0  # a customer-initiated transaction reactivates an inactive/dormant account
        return tx

    # --- lookups --------------------------------------------------------------------------------------------

    def client(self, cid: int) -> SimClient:
        """The client or a Fineract 404."""
        try:
            return self.clients[cid]
        except KeyError:
            raise not_found("Client", cid) from None

    def account(self, sid: int) -> SimSavings:
        """The savings account or a Fineract 404."""
        try:
            return self.savings[sid]
        except KeyError:
            raise not_found("SavingsAccount", sid) from None

    def loan(self, lid: int) -> SimLoan:
        """The loan or a Fineract 404."""
        try:
            return self.loans[lid]
        except KeyError:
            raise not_found("Loan", lid) from None

    def duplicated(self, kind: str, ident: int) -> bool:
        """Whether the duplicate fault repeats this row in list answers."""
        return bool(self.duplicate_rate) and _share(self.seed, f"dup-{kind}", ident) < self.duplicate_rate

    def malformed_tx(self, tx_id: int) -> bool:
        """Whether the malformed fault breaks this transaction's date in search answers."""
        return bool(self.malformed_rate) and _share(self.seed, "tx", tx_id) < self.malformed_rate

    # --- sandbox mutations ----------------------------------------------------------------------------------

    def mutate(self, count: int, seed: int | None = None) -> list[dict[str, Any]]:
        """Apply ``count`` realistic changes (deposits, withdrawals, reactivations, loan slips, client edits)."""
        rng = random.Random(self.seed * 7919 + (seed if seed is not None else len(self.audits)))
        changes: list[dict[str, Any]] = []
        active = LiveRows(self.savings, [i for i in self.savings_order if self.savings[i].status == 300])
        for _ in range(count):
            roll = rng.random()
            try:
                if roll < 0.08:
                    change = self._slip_loan(rng)
                elif roll < 0.15 and self.client_order:
                    change = self._edit_client(rng)
                elif active:
                    change = self._move_money(rng, active, reactivate=roll < 0.2)
                else:
                    change = None
            except SimError:
                change = None
            if change is not None:
                changes.append(change)
        return changes

    def _move_money(self, rng: random.Random, active: Sequence[SimSavings], *, reactivate: bool) -> dict[str, Any]:
        dormant = [a for a in active if a.sub_status in (100, 200)] if reactivate else []
        account = rng.choice(dormant) if reactivate and dormant else rng.choice(active)
        was = account.sub_status
        deposit = reactivate or account.balance <= 0 or rng.random() < 0.6
        scale = Decimal(rng.choice([5_000, 20_000, 80_000, 300_000, 1_200_000]))
        amount = (scale * Decimal(str(round(rng.uniform(0.4, 1.6), 2)))).quantize(Decimal("0.01"))
        if not deposit:
            amount = min(amount, max(account.balance, Decimal("1.00")))
        cash = rng.random() < 0.12
        body = {
            "transactionDate": self.today.strftime("%d %B %Y"),
            "transactionAmount": str(amount),
            "paymentTypeId": 1 if cash else 2,
            "locale": "en",
            "dateFormat": "dd MMMM yyyy",
        }
        if not cash:
            body["accountNumber"] = f"62{rng.randrange(10**15, 10**16)}"
            body["bankNumber"] = rng.choice(["102100099996", "103100000026", "104100000004", "105100000017"])
            body["note"] = rng.choice(["上海远航贸易有限公司", "深圳市华创电子有限公司", "北京恒泰物流有限公司"])
        result = self.savings_command(account.id, "deposit" if deposit else "withdrawal", body)
        return {
            "kind": "deposit" if deposit else "withdrawal",
            "account_id": account.id,
            "client_id": account.client_id,
            "transaction_id": result["resourceId"],
            "amount": str(amount),
            "reactivated": was in (100, 200),
        }

    def _slip_loan(self, rng: random.Random) -> dict[str, Any] | None:
        """A loan misses a repayment (performing) or simply ages (already overdue); no command, no audit row."""
        if not self.loan_order:
            return None
        loan = self.writable(self.loans, rng.choice(self.loan_order))
        today = self.today
        if loan.overdue_since is None:
            past = [d for d in loan.due_dates() if d < today]
            if not past:
                return None
            loan.overdue_since = past[-1]
        return {
            "kind": "loan_past_due",
            "loan_id": loan.id,
            "client_id": loan.client_id,
            "past_due_days": loan.past_due_days(today),
        }

    def _edit_client(self, rng: random.Random) -> dict[str, Any]:
        cid = rng.choice(self.client_order)
        mobile = f"1{rng.choice('3578')}{rng.randrange(10**8, 10**9)}"
        self.update_client(cid, {"mobileNo": mobile})
        return {"kind": "client_update", "client_id": cid, "field": "mobileNo"}

    def stats(self) -> dict[str, Any]:
        """Counts for ``GET /_sandbox/stats``."""
        return {
            "today": self.today.isoformat(),
            "now": self.now().isoformat(sep=" "),
            "clients": len(self.clients),
            "savings_accounts": len(self.savings),
            "transactions": sum(len(a.transactions) for a in self.savings.values()),
            "loans": len(self.loans),
            "audits": len(self.audits),
            "requests": self.request_count,
        }
