"""The ledger simulator over a big world, in bounded memory: rows regenerated from the world on demand.

The shared `crmhub.sandbox.world.World` regenerates any company's ledger view alone, so a lazily loaded simulator
keeps, per company, only what its indexes need (sorted id columns, the audit history's columns: ~70 bytes) and
rebuilds a company's client, accounts and loans when one of them is read (`Companies`, a small LRU). Rows written
since the load (`LazyRows.pin`, new rows) live in an overlay that hides the regenerated version — the same scheme
as `crmhub.sandbox.overlay.RecordMap`, over the simulator's row objects instead of JSON records. Writers must pin
a row before changing it (`LedgerSimulator.writable`): a regenerated row changed in place would be rebuilt
unchanged the next time it is read.

The answers are byte-identical to an eagerly loaded simulator's (tests/plugins/ledger/test_ledger_lazy_sim.py).
"""

from __future__ import annotations

import bisect
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from crmhub.sandbox.overlay import sorted_order, take
from crmhub_ledger.sandbox.records import SimAudit, SimClient, SimLoan, SimSavings

if TYPE_CHECKING:
    from crmhub_ledger.sandbox.state import LedgerSimulator

T = TypeVar("T")
Built = tuple[SimClient, dict[int, SimSavings], dict[int, SimLoan]]
EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)


def micros(when: datetime) -> int:
    """A naive tenant-local time as microseconds since 1970 (exact; the audit column's unit)."""
    return (when - EPOCH) // _MICRO


class Companies:
    """Client id → the company's rows as loaded (client, accounts, loans), rebuilt by ``build`` and kept in a small
    LRU. `evict` forgets one, so a row pinned by a writer is never also handed out as the loaded version."""

    def __init__(self, build: Callable[[int], Built], size: int = 1024) -> None:
        self.build = build
        self.size = size
        self._cache: OrderedDict[int, Built] = OrderedDict()

    def get(self, cid: int) -> Built:
        found = self._cache.get(cid)
        if found is not None:
            self._cache.move_to_end(cid)
            return found
        built = self.build(cid)
        self._cache[cid] = built
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return built

    def evict(self, cid: int) -> None:
        self._cache.pop(cid, None)


class LazyRows(Mapping[int, T], Generic[T]):
    """Id → row: the loaded rows (sorted ``ids``, each with its client in ``owners``) regenerated through
    `Companies`, under an overlay of pinned and new rows. Iterates like the eager dict: loaded ids in order, then
    the rows created since."""

    def __init__(
        self, ids: array[int], owners: array[int], companies: Companies, pick: Callable[[Built, int], T | None]
    ) -> None:
        order = sorted_order(ids)
        self.ids, self.owners = take(ids, order), take(owners, order)
        self.companies = companies
        self.pick = pick
        self.overlay: dict[int, T] = {}
        self.created: list[int] = []

    def _owner(self, ident: int) -> int | None:
        pos = bisect.bisect_left(self.ids, ident)
        return self.owners[pos] if pos < len(self.ids) and self.ids[pos] == ident else None

    def __getitem__(self, ident: int) -> T:
        row = self.overlay.get(ident)
        if row is not None:
            return row
        owner = self._owner(ident) if isinstance(ident, int) else None
        row = self.pick(self.companies.get(owner), ident) if owner is not None else None
        if row is None:
            raise KeyError(ident)
        return row

    def __contains__(self, ident: object) -> bool:
        return ident in self.overlay or (isinstance(ident, int) and self._owner(ident) is not None)

    def __len__(self) -> int:
        return len(self.ids) + len(self.created)

    def __iter__(self) -> Iterator[int]:
        yield from self.ids
        yield from self.created

    def __setitem__(self, ident: int, row: T) -> None:
        """A new row (`LedgerSimulator._insert`)."""
        if ident not in self:
            self.created.append(ident)
        self.overlay[ident] = row

    def pin(self, ident: int) -> T:
        """The row, moved to the overlay so a writer may change it in place."""
        row = self[ident]
        if ident not in self.overlay:
            owner = self._owner(ident)
            if owner is not None:
                self.companies.evict(owner)
            self.overlay[ident] = row
        return row


class AuditLog(Sequence[SimAudit]):
    """The audit trail: the loaded history as columns (time, client, CREATE/UPDATE), rebuilt into `SimAudit` rows
    on read, then the rows audited since (a list). Slices are lazy views, so ``log[::-1][offset:end]`` renders a
    page without building the other rows."""

    def __init__(
        self,
        made_on: array[int],
        clients: array[int],
        updates: array[int],
        row: Callable[[int, int, int, int], SimAudit],
    ) -> None:
        self.made_on, self.clients, self.updates = made_on, clients, updates
        self.row = row
        self.appended: list[SimAudit] = []

    def append(self, audit: SimAudit) -> None:
        self.appended.append(audit)

    def __len__(self) -> int:
        return len(self.made_on) + len(self.appended)

    def at(self, i: int) -> SimAudit:
        n = len(self.made_on)
        if i >= n:
            return self.appended[i - n]
        return self.row(i + 1, self.made_on[i], self.clients[i], self.updates[i])

    @overload
    def __getitem__(self, index: int) -> SimAudit: ...
    @overload
    def __getitem__(self, index: slice) -> AuditView: ...

    def __getitem__(self, index: int | slice) -> SimAudit | AuditView:
        return AuditView(self, range(len(self)))[index]


class AuditView(Sequence[SimAudit]):
    """Rows ``positions`` of an `AuditLog` (a range: slicing composes, nothing is built until read)."""

    def __init__(self, log: AuditLog, positions: range) -> None:
        self.log, self.positions = log, positions

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, index: int) -> SimAudit: ...
    @overload
    def __getitem__(self, index: slice) -> AuditView: ...

    def __getitem__(self, index: int | slice) -> SimAudit | AuditView:
        if isinstance(index, slice):
            return AuditView(self.log, self.positions[index])
        return self.log.at(self.positions[index])

    def __iter__(self) -> Iterator[SimAudit]:
        for i in self.positions:
            yield self.log.at(i)


def history_columns(
    when: array[int], clients: array[int], updates: array[int], now: datetime
) -> tuple[array[int], array[int], array[int]]:
    """(made on, client, is-update) of the loaded history rows in the eager trail's order — by (time, client id),
    made on = min(time, now) — from rows in load order (times in `micros`)."""
    order = sorted_order(when, clients)
    cap = micros(now)
    return array("q", (min(when[i], cap) for i in order)), take(clients, order), take(updates, order)


class LiveRows(Sequence[SimSavings]):
    """Accounts by id, each read when used: a lazy simulator's written row is the pinned one, not a stale copy."""

    def __init__(self, table: Mapping[int, SimSavings], ids: list[int]) -> None:
        self.table, self.ids = table, ids

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> SimSavings: ...
    @overload
    def __getitem__(self, index: slice) -> list[SimSavings]: ...

    def __getitem__(self, index: int | slice) -> SimSavings | list[SimSavings]:
        if isinstance(index, slice):
            return [self.table[i] for i in self.ids[index]]
        return self.table[self.ids[index]]


def load_lazy(sim: LedgerSimulator, world: Any, detail: bool | str) -> int:
    """Index every ledger view of ``world`` without keeping its rows: ids, the identifier id each client got, its
    offices and industry codes (numbered in load order, as `LedgerSimulator.add_view` numbers them) and the audit
    history's columns. Rows are rebuilt from ``world`` when read, against today as of the load."""
    from crmhub_ledger.sandbox.state import _identifier as sim_identifier

    today = sim.today
    keys, cids, idents = array("q"), array("q"), array("q")
    savings, savings_owner, loans, loans_owner = array("q"), array("q"), array("q"), array("q")
    when, who, updates = array("q"), array("q"), array("b")
    for view in world.ledger_views(ledger_detail=detail):
        cid = int(view.source_id)
        sim._office_id(view.office_name)
        if view.industry_code:
            sim.industry_code_value(view.industry_code)
        keys.append(view.company_key)
        cids.append(cid)
        idents.append(sim._identifier(view.uscc).id if view.uscc else 0)
        sim._next["client"] = max(sim._next["client"], cid + 1)
        for sv in view.savings:
            savings.append(sv.id)
            savings_owner.append(cid)
            sim._next["savings"] = max(sim._next["savings"], sv.id + 1)
            for tv in sv.transactions:
                sim._next["tx"] = max(sim._next["tx"], tv.id + 1)
        for lv in view.loans:
            loans.append(lv.id)
            loans_owner.append(cid)
            sim._next["loan"] = max(sim._next["loan"], lv.id + 1)
        created, modified = sim._local(view.created_at), sim._local(view.modified_at)
        if created is not None:
            when.append(micros(created))
            who.append(cid)
            updates.append(0)
        if modified is not None and (created is None or modified > created):
            when.append(micros(modified))
            who.append(cid)
            updates.append(1)
    order = sorted_order(cids)
    cid_column, key_column, ident_column = take(cids, order), take(keys, order), take(idents, order)

    def build(cid: int) -> tuple[SimClient, dict[int, SimSavings], dict[int, SimLoan]]:
        pos = bisect.bisect_left(cid_column, cid)
        view = world.ledger_view(key_column[pos], ledger_detail=detail)
        ident = sim_identifier(ident_column[pos], view.uscc) if ident_column[pos] else None
        return sim._build(view, ident, today)

    companies = Companies(build)
    client_rows: LazyRows[SimClient] = LazyRows(cid_column, cid_column, companies, lambda b, i: b[0])
    savings_rows: LazyRows[SimSavings] = LazyRows(savings, savings_owner, companies, lambda b, i: b[1].get(i))
    loan_rows: LazyRows[SimLoan] = LazyRows(loans, loans_owner, companies, lambda b, i: b[2].get(i))
    sim.clients, sim.savings, sim.loans = client_rows, savings_rows, loan_rows  # type: ignore[assignment]
    # the id orders the handlers page (they grow with new rows, apart from the base's columns)
    sim.client_order = array("q", cid_column)  # type: ignore[assignment]
    sim.savings_order = array("q", savings_rows.ids)  # type: ignore[assignment]
    sim.loan_order = array("q", loan_rows.ids)  # type: ignore[assignment]

    def history(audit_id: int, made_on: int, cid: int, update: int) -> SimAudit:
        client = companies.get(cid)[0]
        return SimAudit(
            id=audit_id,
            action="UPDATE" if update else "CREATE",
            entity="CLIENT",
            resource_id=cid,
            made_on=EPOCH + timedelta(microseconds=made_on),
            href=f"/clients/{cid}" if update else "/clients",
            client_id=cid,
            client_name=client.fullname,
            office_name=client.office_name,
        )

    sim.audits = AuditLog(*history_columns(when, who, updates, sim.now()), history)  # type: ignore[assignment]
    sim.lazy = True
    return len(cids)


__all__ = ["AuditLog", "AuditView", "Companies", "LazyRows", "LiveRows", "history_columns", "load_lazy", "micros"]
