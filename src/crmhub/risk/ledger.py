"""Ledger facts for a batch of golden clients, read with a few GROUP BY queries (SQLite and PostgreSQL alike).

Why aggregated in SQL: a large book has hundreds of transactions per client; the engine only ever needs per-day,
per-account sums (balances, turnover, large-value totals, pass-through), per-day distinct counterparty counts
(fan-in/out) and the few transactions near a reporting threshold (structuring). Those come back from the database
already small; individual transactions are fetched only as evidence for an alert. Memory is bounded by the batch,
never by the book.

A golden client's ledger identity: its cross-references to source records of kind ``client`` from *ledger-like*
connectors (those with rows in the ledger tables). Transactions are joined by ``client_source_id`` (indexed with
the booking date), falling back to the account's owner for rows stored without one (statement imports).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import String, and_, case, distinct, exists, false, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from crmhub.core.chunks import chunked
from crmhub.risk.settings import RiskSettings
from crmhub.store.tables import CreditFacilityRow, LedgerAccount, LedgerTransaction, SourceRecord, Xref

Key = tuple[str, str]
"""(connector, source id) of a ledger client or account."""
T = LedgerTransaction
CHUNK = 900
SLACK_DAYS = 10
"""Booking dates are read this many days before the window, for value-dated rows booked late."""


@dataclass(slots=True)
class Account:
    """One account with its current balance and per-day net postings in the window (ordinal → minor units)."""

    key: Key
    currency: str
    balance_minor: int
    sub_status: str = "none"
    overdraft_limit_minor: int | None = None
    opened_on: date | None = None
    known: bool = True
    nets: dict[int, int] = field(default_factory=dict)


class Flow(NamedTuple):
    """Non-reversed postings of one account on one day in one direction, cash or not, summed (a tuple: a batch
    holds one per account-day-direction, so creation cost matters)."""

    account: Key
    day: int
    credit: bool
    cash: bool
    currency: str
    bank: bool
    amount_minor: int
    transactions: int


@dataclass(frozen=True, slots=True)
class Loan:
    """A live credit facility's exposure and delinquency."""

    currency: str
    outstanding_minor: int
    days_past_due: int
    classification: str
    status: str


@dataclass(frozen=True, slots=True)
class TxRow:
    """One transaction, as evidence."""

    id: int
    connector: str
    source_id: str
    account_source_id: str
    day: date
    amount_minor: int
    currency: str
    credit: bool
    cash: bool
    counterparty_name: str | None
    counterparty_account: str | None

    @property
    def counterparty(self) -> str | None:
        """Who the other side is: the account number when known, else the name."""
        return self.counterparty_account or self.counterparty_name


@dataclass(frozen=True, slots=True)
class Scope:
    """How rows of one query find their golden client: by ledger client id or, for orphans, by account id."""

    by_client: bool
    ids: dict[str, int]

    def __call__(self, client_sid: str | None, account_sid: str) -> int | None:
        return self.ids.get(client_sid) if self.by_client else self.ids.get(account_sid)  # type: ignore[arg-type]


@dataclass(slots=True)
class ClientFacts:
    """Everything the ledger says about one golden client in the window."""

    client_id: int
    links: list[Key] = field(default_factory=list)
    accounts: dict[Key, Account] = field(default_factory=dict)
    flows: list[Flow] = field(default_factory=list)
    reversed_days: dict[int, int] = field(default_factory=dict)
    counterparties: dict[tuple[int, bool], int] = field(default_factory=dict)
    near_threshold: list[TxRow] = field(default_factory=list)
    loans: list[Loan] = field(default_factory=list)


def ledger_connectors(session: Session) -> list[str]:
    """Connectors whose client records are ledger clients: those with rows in any ledger table."""
    names = list(session.scalars(select(SourceRecord.connector).where(SourceRecord.kind == "client").distinct()))
    out = []
    for name in names:
        for table in (LedgerAccount, CreditFacilityRow, LedgerTransaction):
            if session.scalar(select(exists().where(table.connector == name))):
                out.append(name)
                break
    return sorted(out)


def has_orphan_transactions(session: Session) -> bool:
    """Whether any transaction was stored without its client id (then accounts are used to find the owner)."""
    return bool(session.scalar(select(exists().where(T.client_source_id.is_(None)))))


class LedgerReader:
    """Reads one batch's ledger facts inside the caller's session."""

    def __init__(
        self, session: Session, settings: RiskSettings, today: date, connectors: Sequence[str], *, orphans: bool = False
    ) -> None:
        self.session = session
        self.settings = settings
        self.today = today
        self.connectors = list(connectors)
        self.orphans = orphans
        self.first = today - timedelta(days=settings.read_days)
        self.first_ord = self.first.toordinal()
        self.day = func.coalesce(T.value_date, T.booking_date)
        # the same expression read raw (SQLite: 'YYYY-MM-DD' text, PostgreSQL: a date) and turned into an ordinal
        # through a cache: a book has a few hundred distinct days but millions of rows
        self.raw_day = type_coerce(self.day, String)
        self._ordinals: dict[Any, int] = {}
        self.bank_kinds = list(settings.bank_initiated_kinds)
        self.skip_kinds = list(settings.non_posting_kinds)
        self.conn = session.connection()

    def ordinal(self, raw: Any) -> int:
        """A raw day value from the database → proleptic ordinal (cached)."""
        found = self._ordinals.get(raw)
        if found is None:
            day = date.fromisoformat(raw[:10]) if isinstance(raw, str) else raw
            found = self._ordinals[raw] = day.toordinal()
        return found

    # --- identity -------------------------------------------------------------------------------------------

    def links(self, client_ids: Sequence[int]) -> dict[int, list[Key]]:
        """Golden id → its ledger client keys."""
        out: dict[int, list[Key]] = defaultdict(list)
        if not self.connectors:
            return out
        for chunk in chunked(client_ids, CHUNK):
            rows = self.conn.execute(
                select(Xref.client_id, SourceRecord.connector, SourceRecord.source_id)
                .join(SourceRecord, SourceRecord.id == Xref.source_record_id)
                .where(
                    Xref.client_id.in_(chunk),
                    SourceRecord.kind == "client",
                    SourceRecord.connector.in_(self.connectors),
                    SourceRecord.deleted.is_(False),
                )
            )
            for cid, connector, sid in rows:
                out[cid].append((connector, sid))
        return out

    # --- the batch ------------------------------------------------------------------------------------------

    def load(self, client_ids: Sequence[int]) -> dict[int, ClientFacts]:
        """Facts for every client in the batch (clients without a ledger link get empty facts)."""
        facts = {cid: ClientFacts(cid) for cid in client_ids}
        owner: dict[Key, int] = {}
        for cid, keys in self.links(client_ids).items():
            facts[cid].links = keys
            for key in keys:
                owner[key] = cid
        if not owner:
            return facts
        by_connector: dict[str, list[str]] = defaultdict(list)
        for connector, sid in owner:
            by_connector[connector].append(sid)
        account_owner: dict[Key, int] = {}
        for connector, sids in by_connector.items():
            self._accounts(connector, sids, owner, facts, account_owner)
            self._loans(connector, sids, owner, facts)
            for where, resolve in self._scopes(connector, sids, owner, account_owner):
                self._flows(connector, where, resolve, facts)
                self._near_threshold(connector, where, resolve, facts)
        return facts

    def _scopes(
        self, connector: str, sids: list[str], owner: dict[Key, int], account_owner: dict[Key, int]
    ) -> Iterator[tuple[Any, Scope]]:
        """WHERE clauses selecting the batch's transactions, with how each row finds its golden client."""
        by_client = Scope(True, {sid: cid for (c, sid), cid in owner.items() if c == connector})
        for chunk in chunked(sids, CHUNK):
            yield and_(T.connector == connector, T.client_source_id.in_(chunk)), by_client
        if self.orphans:
            by_account = Scope(False, {sid: cid for (c, sid), cid in account_owner.items() if c == connector})
            accounts = list(by_account.ids)
            for chunk in chunked(accounts, CHUNK):
                yield (
                    and_(T.connector == connector, T.client_source_id.is_(None), T.account_source_id.in_(chunk)),
                    by_account,
                )

    def _window(self) -> Any:
        return and_(T.booking_date >= self.first - timedelta(days=SLACK_DAYS), T.kind.not_in(self.skip_kinds))

    def _accounts(
        self,
        connector: str,
        sids: list[str],
        owner: dict[Key, int],
        facts: dict[int, ClientFacts],
        account_owner: dict[Key, int],
    ) -> None:
        A = LedgerAccount
        for chunk in chunked(sids, CHUNK):
            rows = self.conn.execute(
                select(
                    A.source_id,
                    A.client_source_id,
                    A.currency,
                    A.balance_minor,
                    A.sub_status,
                    A.allow_overdraft,
                    A.overdraft_limit_minor,
                    A.data,
                ).where(A.connector == connector, A.client_source_id.in_(chunk))
            )
            for sid, client_sid, currency, balance, sub_status, allow, limit, data in rows:
                cid = owner[(connector, client_sid)]
                key = (connector, sid)
                opened = (data or {}).get("opened_on")
                facts[cid].accounts[key] = Account(
                    key,
                    currency,
                    int(balance),
                    str(sub_status or "none").lower(),
                    int(limit) if allow and limit is not None else None,
                    date.fromisoformat(opened) if isinstance(opened, str) else None,
                )
                account_owner[key] = cid

    def _loans(self, connector: str, sids: list[str], owner: dict[Key, int], facts: dict[int, ClientFacts]) -> None:
        L = CreditFacilityRow
        closed = [s.lower() for s in self.settings.closed_loan_statuses]
        for chunk in chunked(sids, CHUNK):
            rows = self.conn.execute(
                select(
                    L.client_source_id,
                    L.currency,
                    L.principal_minor,
                    L.outstanding_minor,
                    L.days_past_due,
                    L.classification,
                    L.status,
                ).where(L.connector == connector, L.client_source_id.in_(chunk))
            )
            for client_sid, currency, principal, outstanding, dpd, cls, status in rows:
                if str(status or "").lower() in closed:
                    continue
                exposure = int(outstanding if outstanding is not None else principal)
                facts[owner[(connector, client_sid)]].loans.append(
                    Loan(currency, exposure, int(dpd or 0), str(cls), str(status))
                )

    def _flows(self, connector: str, where: Any, scope: Scope, facts: dict[int, ClientFacts]) -> None:
        """One GROUP BY pass: per account, day, direction, cash/transfer, currency, reversed and bank-initiated —
        the sums, the counts and the distinct counterparties (an upper bound per client-day, for fan rules)."""
        bank = case((T.kind.in_(self.bank_kinds), 1), else_=0) if self.bank_kinds else false()
        cp = func.coalesce(T.counterparty_account, T.counterparty_name)
        rows = self.conn.execute(
            select(
                T.client_source_id,
                T.account_source_id,
                self.raw_day,
                T.direction,
                T.is_cash,
                T.currency,
                T.reversed,
                bank,
                func.sum(T.amount_minor),
                func.count(),
                func.count(distinct(cp)),
            )
            .where(where, self._window())
            .group_by(
                T.client_source_id, T.account_source_id, self.day, T.direction, T.is_cash, T.currency, T.reversed, bank
            )
        )
        first = self.first_ord
        ordinal = self.ordinal
        ids, by_client = scope.ids, scope.by_client
        new = tuple.__new__  # Flow(...) without NamedTuple's Python-level __new__: one per row adds up
        for client_sid, account_sid, day, direction, cash, currency, rev, is_bank, total, count, cps in rows:
            d = ordinal(day)
            if d < first:
                continue
            cid = ids.get(client_sid if by_client else account_sid)
            if cid is None:
                continue
            f = facts[cid]
            if rev:
                f.reversed_days[d] = f.reversed_days.get(d, 0) + int(count)
                continue
            key = (connector, account_sid)
            account = f.accounts.get(key)
            if account is None:  # a transaction for an account we have not read: turnover yes, balance no
                account = f.accounts[key] = Account(key, currency, 0, known=False)
            credit = direction == "credit"
            amount = int(total)
            account.nets[d] = account.nets.get(d, 0) + (amount if credit else -amount)
            f.flows.append(new(Flow, (key, d, credit, bool(cash), currency, bool(is_bank), amount, int(count))))
            if cps and not is_bank:
                slot = f.counterparties
                slot[(d, credit)] = slot.get((d, credit), 0) + int(cps)

    def _bands(self) -> list[Any]:
        """Amount ranges just below each large-value threshold, per currency (structuring candidates)."""
        lv, st = self.settings.alerts.large_value, self.settings.alerts.structuring
        usd = self.settings.fx("USD")
        conditions = []
        for currency in sorted({"CNY", "USD", *self.settings.fx_to_cny}):
            for cash, cny_limit, usd_limit in (
                (True, lv.cash_cny, lv.cash_usd),
                (False, lv.transfer_cny, lv.transfer_usd),
            ):
                if currency == "CNY":
                    limit = cny_limit
                else:
                    rate = self.settings.fx(currency)
                    if rate is None or usd is None:
                        continue
                    limit = usd_limit * usd / rate
                high = int(limit * 100)
                low = int(limit * st.band_low * 100)
                conditions.append(
                    and_(T.currency == currency, T.is_cash.is_(cash), T.amount_minor >= low, T.amount_minor < high)
                )
        return conditions

    def _near_threshold(self, connector: str, where: Any, resolve: Scope, facts: dict[int, ClientFacts]) -> None:
        if not self.settings.alerts.enabled or not self.settings.alerts.structuring.enabled:
            return
        conditions = [where, self._window(), T.reversed.is_(False), or_(*self._bands())]
        if self.bank_kinds:
            conditions.append(T.kind.not_in(self.bank_kinds))
        for row in self.conn.execute(self._tx_select().where(*conditions)):
            cid = resolve(row.client_source_id, row.account_source_id)
            if cid is not None and self.ordinal(row.day) >= self.first_ord:
                facts[cid].near_threshold.append(self._tx(row))

    # --- evidence -------------------------------------------------------------------------------------------

    def _tx_select(self) -> Any:
        return select(
            T.id,
            T.connector,
            T.source_id,
            T.client_source_id,
            T.account_source_id,
            self.raw_day.label("day"),
            T.amount_minor,
            T.currency,
            T.direction,
            T.is_cash,
            T.counterparty_name,
            T.counterparty_account,
        )

    def transactions(
        self, wanted: dict[int, tuple[date, date]], facts: dict[int, ClientFacts]
    ) -> dict[int, list[TxRow]]:
        """Non-reversed, customer-initiated transactions of each client between two days (alert evidence)."""
        out: dict[int, list[TxRow]] = defaultdict(list)
        if not wanted:
            return out
        owner = {key: cid for cid in wanted for key in facts[cid].links}
        account_owner = {key: cid for cid in wanted for key in facts[cid].accounts}
        lo = min(a for a, _ in wanted.values())
        hi = max(b for _, b in wanted.values())
        by_connector: dict[str, list[str]] = defaultdict(list)
        for connector, sid in owner:
            by_connector[connector].append(sid)
        for connector, sids in by_connector.items():
            for where, resolve in self._scopes(connector, sids, owner, account_owner):
                conditions = [
                    where,
                    T.reversed.is_(False),
                    T.kind.not_in(self.skip_kinds),
                    T.booking_date >= lo - timedelta(days=SLACK_DAYS),
                    T.booking_date <= hi + timedelta(days=SLACK_DAYS),
                ]
                if self.bank_kinds:
                    conditions.append(T.kind.not_in(self.bank_kinds))
                for row in self.conn.execute(self._tx_select().where(*conditions)):
                    cid = resolve(row.client_source_id, row.account_source_id)
                    if cid is None:
                        continue
                    first, last = wanted[cid]
                    tx = self._tx(row)
                    if first <= tx.day <= last:
                        out[cid].append(tx)
        for rows in out.values():
            rows.sort(key=lambda r: (r.day, r.id))
        return out

    def last_activity(self, account: Key, before: date) -> date | None:
        """The last customer-initiated, non-reversed posting day of an account before ``before``."""
        connector, sid = account
        conditions = [
            T.connector == connector,
            T.account_source_id == sid,
            T.reversed.is_(False),
            T.kind.not_in(self.skip_kinds),
            T.booking_date < before + timedelta(days=SLACK_DAYS),
        ]
        if self.bank_kinds:
            conditions.append(T.kind.not_in(self.bank_kinds))
        days = self.conn.execute(
            select(self.raw_day).where(*conditions, self.day < before).order_by(self.day.desc()).limit(1)
        ).scalars()
        raw = next(iter(days), None)
        return None if raw is None else date.fromordinal(self.ordinal(raw))

    def _tx(self, row: Any) -> TxRow:
        return TxRow(
            row.id,
            row.connector,
            row.source_id,
            row.account_source_id,
            date.fromordinal(self.ordinal(row.day)),
            int(row.amount_minor),
            row.currency,
            row.direction == "credit",
            bool(row.is_cash),
            row.counterparty_name,
            row.counterparty_account,
        )


def flatten(groups: Iterable[list[TxRow]]) -> list[TxRow]:
    """All rows of several groups, de-duplicated and in day order."""
    seen: dict[int, TxRow] = {}
    for rows in groups:
        for r in rows:
            seen[r.id] = r
    return sorted(seen.values(), key=lambda r: (r.day, r.id))
