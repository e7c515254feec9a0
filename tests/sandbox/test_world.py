"""The synthetic world: deterministic, streamable, valid identifiers, unique ids, drift and overlap at the rates the
docstrings promise, branches kept apart, and every behaviour profile planting exactly the alerts it claims.

One 3,000-client world is walked once (the ``census`` fixture) and summarised; the tests assert on the summary, so
the file stays well under 20 s without holding 3,000 companies' transactions in memory. Id uniqueness is checked on
a 5,000-client world without ledger detail (ids do not depend on it).
"""

from __future__ import annotations

import inspect
import re
import sys
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from crmhub.model import industry, uscc
from crmhub.sandbox import geo
from crmhub.sandbox.ids import MAX_CLIENTS, KeyPermutation
from crmhub.sandbox.ledger_gen import PAST_DUE_DAYS, WINDOW_DAYS
from crmhub.sandbox.names_gen import TRADITIONAL
from crmhub.sandbox.people_gen import RM_BY_USER_ID, resident_id_check
from crmhub.sandbox.world import World
from crmhub.sandbox.worldtypes import ALERT_KINDS, Company

from .world_rules import alerts, large_value, pass_through

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

CLIENTS = 3000
MOBILE = re.compile(r"^1[3-9]\d{9}$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
CJK_FULLWIDTH = re.compile(r"[\uff01-\uff5e]")
FULL_NAME_ENDINGS = ("公司", "店", "社", "所", "院", "园", "校", "中心", "馆", "站", "部", "行", "学", "司")


@dataclass
class Census:
    """What one walk over the world found."""

    world: World
    companies: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    systems: Counter[tuple[str, ...]] = field(default_factory=Counter)
    views: Counter[str] = field(default_factory=Counter)
    name_drift: Counter[str] = field(default_factory=Counter)
    uscc_missing: Counter[str] = field(default_factory=Counter)
    uscc_invalid: Counter[str] = field(default_factory=Counter)
    industry_conflict: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    ids: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    legal_names: Counter[str] = field(default_factory=Counter)
    bad_usccs: list[str] = field(default_factory=list)
    bad_ids: list[str] = field(default_factory=list)
    bad_mobiles: list[str] = field(default_factory=list)
    bad_times: list[str] = field(default_factory=list)
    bad_transactions: list[str] = field(default_factory=list)
    alert_mismatch: list[tuple[int, str, set[str]]] = field(default_factory=list)
    strict_false_positives: list[tuple[int, str]] = field(default_factory=list)
    profiles: Counter[str] = field(default_factory=Counter)
    structuring_amounts: list[tuple[bool, Decimal]] = field(default_factory=list)
    past_due: list[tuple[int, date | None]] = field(default_factory=list)
    overdraft_lows: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    negative_healthy: list[int] = field(default_factory=list)
    branches: list[Company] = field(default_factory=list)
    flags: Counter[str] = field(default_factory=Counter)
    owners: set[str] = field(default_factory=set)


def _check_times(c: Census, company: Company, now: Any) -> None:
    for view in (company.zoho, company.fxiaoke):
        if view is None:
            continue
        stamps = [(view.created_at, view.modified_at)] + [(x.created_at, x.modified_at) for x in view.contacts]
        for created, modified in stamps:
            if created is None or modified is None or created.tzinfo is None or not created <= modified <= now:
                c.bad_times.append(f"{view.source_id}: {created} / {modified}")


def _running_low(savings: Any) -> Decimal:
    balance = low = savings.opening_balance
    for t in savings.transactions:
        if not t.reversed:
            balance += t.amount if t.entry == "CREDIT" else -t.amount
            low = min(low, balance)
    return low


def _walk_ledger(c: Census, company: Company, today: date) -> None:
    ledger = company.ledger
    assert ledger is not None
    c.ids["ledger"].append(int(ledger.source_id))
    if ledger.mobile and not MOBILE.match(ledger.mobile):
        c.bad_mobiles.append(ledger.mobile)
    window_start = today - timedelta(days=WINDOW_DAYS)
    for s in ledger.savings:
        c.ids["savings"].append(s.id)
        for t in s.transactions:
            c.ids["transaction"].append(t.id)
            ok = (
                t.amount > 0
                and t.amount.as_tuple().exponent == -2
                and t.booking_date >= t.value_date
                and t.value_date < today
                and (t.type_id, t.entry) in ((1, "CREDIT"), (2, "DEBIT"))
                and t.value_date >= s.activated_on
                and (t.value_date >= window_start or company.profile == "dormant_reactivation")
            )
            if not ok:
                c.bad_transactions.append(f"{company.key}/{s.id}/{t.id}: {t}")
            c.flags["reversed"] += t.reversed
            c.flags["manual"] += t.is_manual
            c.flags["cash"] += t.is_cash
            c.flags["booked_late"] += t.booking_date > t.value_date
            c.flags["transactions"] += 1
            if company.profile == "structuring" and t.amount >= 45_000:
                c.structuring_amounts.append((t.is_cash, t.amount))
        if s.transactions:
            ids = [t.id for t in s.transactions]
            if ids != sorted(ids):
                c.bad_transactions.append(f"{company.key}/{s.id}: ids not in booking order")
        low = _running_low(s)
        if company.profile == "overdraft" and s.allow_overdraft:
            assert s.overdraft_limit is not None
            c.overdraft_lows.append((low, s.overdraft_limit))
        elif low < 0:
            c.negative_healthy.append(company.key)
        c.flags["dormant_sub_status"] += s.sub_status == 200
        c.flags[f"currency_{s.currency}"] += 1
    for loan in ledger.loans:
        c.ids["loan"].append(loan.id)
        if loan.past_due_days:
            c.past_due.append((loan.past_due_days, loan.overdue_since))
        c.flags["loans"] += 1
    found = alerts(ledger, today)
    if found != set(company.expected_alerts):
        c.alert_mismatch.append((company.key, company.profile, found))
    if company.profile in ("healthy", "overdraft", "past_due") and (
        large_value(ledger, two_sided_cash=True) or pass_through(ledger, share=Decimal("0.8"))
    ):
        c.strict_false_positives.append((company.key, company.profile))


def _walk(world: World) -> Census:
    c = Census(world)
    for company in world.companies():
        c.companies += 1
        ident = world.identity(company.key)
        c.kinds["branch" if company.parent_key is not None else company.uscc[:2]] += 1
        c.profiles[company.profile] += 1
        c.legal_names[company.name] += 1
        c.systems[tuple(s for s, _ in company.views())] += 1
        c.ids["uscc"].append(company.uscc)
        if (
            not uscc.is_valid(company.uscc)
            or uscc.warnings(company.uscc)
            or company.uscc[2:8] not in geo.DIVISION_NAMES
            or not stdnum_uscc.is_valid(company.uscc)
        ):
            c.bad_usccs.append(company.uscc)
        rep = ident.legal_rep
        if rep.id_number[17] != resident_id_check(rep.id_number[:17]) or not stdnum_ric.is_valid(rep.id_number):
            c.bad_ids.append(rep.id_number)
        if company.parent_key is not None:
            c.branches.append(company)
        for view in (company.zoho, company.fxiaoke):
            if view is None:
                continue
            system = view.system
            c.views[system] += 1
            c.ids[system].append(view.source_id)
            c.ids[system].extend(x.source_id for x in view.contacts)
            c.owners.add(view.owner.user_id)
            c.name_drift[system] += view.name != company.name
            c.uscc_missing[system] += view.uscc is None
            c.uscc_invalid[system] += view.uscc is not None and not uscc.is_valid(view.uscc)
            c.industry_conflict[system] += (
                view.industry_code is not None and view.industry_code[0] != ident.industry_code[0]
            )
            if view.industry_code is not None:
                industry.normalize_code(view.industry_code)
            lr = view.legal_representative
            if lr is not None and lr.id_number not in (None, ident.legal_rep.id_number):
                c.bad_ids.append(f"{view.source_id}: legal representative's ID differs from the truth")
            for mobile in [lr.mobile if lr else None] + [x.mobile for x in view.contacts]:
                if mobile is not None and not MOBILE.match(mobile):
                    c.bad_mobiles.append(mobile)
            c.flags["wecom_contacts"] += sum(x.wecom_user_id is not None for x in view.contacts)
            c.flags["contacts"] += len(view.contacts)
            name = view.name
            c.variants["fullwidth"] += bool(CJK_FULLWIDTH.search(name)) and "（" not in company.name
            c.variants["halfwidth_bracket"] += "(" in name
            c.variants["traditional"] += any(ch in TRADITIONAL.values() for ch in name)
            c.variants["form_synonym"] += ("有限责任公司" in name) != ("有限责任公司" in company.name)
            c.variants["short_name"] += not name.endswith(FULL_NAME_ENDINGS)
            c.variants["blank"] += " " in name.strip() or "\u3000" in name
        _check_times(c, company, world.now)
        if company.ledger is not None:
            c.views["ledger"] += 1
            c.name_drift["ledger"] += company.ledger.fullname != company.name
            c.uscc_missing["ledger"] += company.ledger.uscc is None
            _walk_ledger(c, company, world.today)
    return c


@pytest.fixture(scope="module")
def census() -> Census:
    return _walk(World(seed=11, clients=CLIENTS))


# --- determinism and streaming -----------------------------------------------------------------------------------


def test_same_seed_same_world_and_random_access_matches_stream() -> None:
    """Two worlds of one seed are equal; company(key) equals the streamed company; a bigger world agrees."""
    a = list(World(seed=3, clients=120).companies())
    b = list(World(seed=3, clients=120).companies())
    assert a == b
    big = World(seed=3, clients=400)
    for key in (0, 1, 57, 119):
        assert big.company(key) == a[key]
    assert list(World(seed=4, clients=120).companies()) != a


def test_ledger_detail_off_changes_nothing_else() -> None:
    """``ledger_detail=False`` leaves every view identical apart from accounts and loans."""
    world = World(seed=5, clients=80)
    for full, light in zip(world.companies(), world.companies(ledger_detail=False), strict=True):
        if full.ledger is not None:
            assert light.ledger is not None and light.ledger.savings == [] and light.ledger.loans == []
            full.ledger.savings, full.ledger.loans = [], []
        assert full == light


def test_companies_streams_lazily_in_constant_memory() -> None:
    """companies() is a lazy generator (the first of ten million comes at once) whose memory does not grow with
    the number of companies walked: nothing is retained, and the peak for 600 is the peak for 100 (the world's
    memo tables are small and bounded)."""
    huge = World(seed=1, clients=MAX_CLIENTS)
    stream = huge.companies()
    assert inspect.isgenerator(stream) and next(stream).key == 0

    world = World(seed=1, clients=20_000)

    def peak(n: int, *, detail: bool) -> int:
        tracemalloc.start()
        for _ in world.companies(0, n, ledger_detail=detail):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(100, detail=False), peak(600, detail=False)
    assert large < small * 1.5 + 256 * 1024, (small, large)
    assert peak(30, detail=True) < 4 * 1024 * 1024
    before = sys.getallocatedblocks()
    for _ in world.companies(600, 3600, ledger_detail=False):
        pass
    assert sys.getallocatedblocks() - before < 50_000


def test_world_size_limits() -> None:
    """A world is bounded by the id space; keys outside it are refused with a message naming the range."""
    with pytest.raises(ValueError, match="clients must be between"):
        World(clients=MAX_CLIENTS + 1)
    with pytest.raises(KeyError, match="outside this world"):
        World(clients=10).company(10)
    perm = KeyPermutation.derive(0, "zoho")
    assert [perm.inverse(perm(k)) for k in (0, 1, MAX_CLIENTS - 1)] == [0, 1, MAX_CLIENTS - 1]


def test_defaults() -> None:
    """Default today is fixed (reproducible) and now is 09:00 Asia/Shanghai on it."""
    world = World()
    assert (world.seed, world.clients, world.today) == (0, 2000, date(2026, 11, 30))
    assert world.now.isoformat() == "2026-11-30T09:00:00+08:00"


# --- identifiers ---------------------------------------------------------------------------------------------------


def test_every_uscc_and_resident_id_is_valid(census: Census) -> None:
    """USCCs pass our validator without warnings, python-stdnum, and carry a real division code; IDs pass GB 11643."""
    assert census.bad_usccs == []
    assert census.bad_ids == []
    assert census.bad_mobiles == []


def test_kinds_of_organisation(census: Census) -> None:
    """Mostly 91 enterprises, with 92, 93, 12, 52 and branches all present at about their documented shares."""
    k = census.kinds
    assert 0.84 < k["91"] / CLIENTS < 0.92
    for kind, share in (("92", 0.035), ("93", 0.015), ("12", 0.025), ("52", 0.025), ("branch", 0.03)):
        assert share / 2 < k[kind] / CLIENTS < share * 1.6, (kind, k[kind])


def test_ids_unique_and_native_shaped(census: Census) -> None:
    """Every id in the world is unique within its kind and shaped like the system's own ids."""
    for kind, values in census.ids.items():
        assert len(values) == len(set(values)), kind
    seen: set[tuple[str, str]] = set()
    usccs: set[str] = set()
    world = World(seed=12, clients=5000)
    for key in range(world.clients):
        records = world.records_of(key, contacts=True)
        assert not seen & set(records)
        seen.update(records)
        code = world.identity(key).uscc
        assert code not in usccs
        usccs.add(code)
    assert len(seen) > 5000 * 2
    assert all(len(z) == 19 and z.isdigit() and z.startswith("4970762") for z in census.ids["zoho"])
    assert all(HEX24.match(f) for f in census.ids["fxiaoke"])
    assert all(
        isinstance(i, int) and i > 0 for k in ("ledger", "savings", "loan", "transaction") for i in census.ids[k]
    )
    assert census.owners <= set(RM_BY_USER_ID) and len(census.owners) == 20


def test_legal_names_are_practically_unique(census: Census) -> None:
    """Two companies share a legal name only by rare coincidence (names are unique per registry in reality)."""
    duplicates = sum(n - 1 for n in census.legal_names.values() if n > 1)
    assert duplicates <= CLIENTS // 1000


# --- ground truth --------------------------------------------------------------------------------------------------


def test_truth_round_trips_every_record() -> None:
    """truth() lists exactly the views' records and truth_key maps each (contacts too) back to its company."""
    world = World(seed=2, clients=300)
    from_views = {(s, i, c.key) for c in world.companies(ledger_detail=False) for s, i in c.views()}
    assert set(world.truth()) == from_views
    with_contacts = list(world.truth(contacts=True))
    assert len(with_contacts) > len(from_views)
    for system, source_id, key in with_contacts:
        assert world.truth_key(system, source_id) == key
    company = world.company(7)
    assert world.key_for_uscc(company.uscc.lower()) == 7


def test_truth_key_rejects_foreign_ids() -> None:
    """Ids this world did not issue map to None, including well-shaped ones beyond the world's size."""
    small, big = World(seed=2, clients=50), World(seed=2, clients=5000)
    outside = next(c for c in big.companies(4000) if c.zoho and c.fxiaoke and c.ledger)
    assert outside.zoho and outside.fxiaoke and outside.ledger
    for system, source_id in outside.views():
        assert big.truth_key(system, source_id) == outside.key
        assert small.truth_key(system, source_id) is None
    for system, source_id in (
        ("zoho", "4970762000000326001"),
        ("zoho", "x"),
        ("fxiaoke", "5f3a3de57c604a00017dc5ee"),
        ("fxiaoke", "zz"),
        ("ledger", "0"),
        ("ledger", "abc"),
    ):
        assert small.truth_key(system, source_id) is None
    with pytest.raises(ValueError, match="unknown system"):
        small.truth_key("salesforce", "1")


def test_same_company_pairs_count() -> None:
    """same_company_pairs yields n·(n-1)/2 pairs per company with n records, all truly the same company."""
    world = World(seed=9, clients=400)
    pairs = list(world.same_company_pairs())
    expected = sum(len(r) * (len(r) - 1) // 2 for r in (world.records_of(k) for k in range(400)))
    assert len(pairs) == expected > 300
    assert all(world.truth_key(*a) == world.truth_key(*b) is not None for a, b in pairs)


# --- overlap and drift ---------------------------------------------------------------------------------------------


def test_overlap_between_systems(census: Census) -> None:
    """Most companies are in the ledger; one, two and three systems all occur at their documented shares."""
    s = census.systems
    assert sum(s.values()) == CLIENTS and () not in s
    in_ledger = sum(n for k, n in s.items() if "ledger" in k) / CLIENTS
    assert 0.82 < in_ledger < 0.92
    assert 0.15 < s[("zoho", "fxiaoke", "ledger")] / CLIENTS < 0.24
    assert 0.22 < s[("ledger",)] / CLIENTS < 0.33
    assert s[("zoho",)] and s[("fxiaoke",)] and s[("zoho", "fxiaoke")]


def test_drift_rates(census: Census) -> None:
    """Names, USCCs and industries drift between systems at about the documented rates."""
    rate = {k: census.name_drift[k] / census.views[k] for k in census.views}
    assert 0.30 < rate["zoho"] < 0.45 and 0.35 < rate["fxiaoke"] < 0.50 and 0.03 < rate["ledger"] < 0.12
    missing = {k: census.uscc_missing[k] / census.views[k] for k in census.views}
    assert 0.18 < missing["zoho"] < 0.26 and 0.24 < missing["fxiaoke"] < 0.32 and 0.02 < missing["ledger"] < 0.07
    assert census.uscc_invalid["zoho"] > 0 and census.uscc_invalid["fxiaoke"] > 0
    assert census.industry_conflict["zoho"] > 0 and census.industry_conflict["fxiaoke"] > 0
    for variant in ("fullwidth", "halfwidth_bracket", "traditional", "form_synonym", "short_name", "blank"):
        assert census.variants[variant] > 10, variant


def test_homophone_typo_and_region_variants() -> None:
    """The drift table's variants appear on real names: homophones, dropped or bracketed region, expanded region."""
    world = World(seed=11, clients=1500)
    seen: Counter[str] = Counter()
    for company in world.companies(ledger_detail=False):
        ident = world.identity(company.key)
        z = ident.parts.zihao
        for view in (company.zoho, company.fxiaoke):
            if view is None or view.name == company.name or not z or z.isascii():
                continue
            if z not in view.name and len(view.name) >= len(company.name) - 1 and ident.parts.trade in view.name:
                seen["homophone"] += 1
            if ident.parts.region and not ident.parts.bracketed and f"({ident.city.short})" in view.name:
                seen["bracket"] += 1
            if ident.parts.region and not view.name.startswith(ident.parts.region) and view.name.startswith(z):
                seen["no_region"] += 1
            if view.name.startswith(ident.city.province) and not company.name.startswith(ident.city.province):
                seen["region_expand"] += 1
    assert all(seen[k] >= 3 for k in ("homophone", "bracket", "no_region", "region_expand")), seen


def test_contacts_and_timestamps(census: Census) -> None:
    """Contacts exist, some reachable on WeCom; created ≤ modified ≤ now everywhere, tz-aware."""
    assert census.bad_times == []
    assert census.flags["contacts"] > CLIENTS // 2
    assert 0.2 < census.flags["wecom_contacts"] / census.flags["contacts"] < 0.4


def test_branches_are_separate_companies(census: Census) -> None:
    """A branch extends its parent's name with 分公司, has its own USCC and registering city, never the parent's."""
    assert len(census.branches) > CLIENTS * 0.015
    world = census.world
    for branch in census.branches:
        assert branch.parent_key is not None and branch.parent_key < branch.key
        parent = world.company(branch.parent_key, ledger_detail=False)
        assert parent.parent_key is None and parent.uscc[:2] == "91"
        assert branch.name.startswith(parent.name) and branch.name.endswith("分公司")
        assert branch.uscc != parent.uscc
        assert world.identity(branch.key).city != world.identity(parent.key).city
        assert not set(branch.views()) & set(parent.views())


# --- ledger behaviour ----------------------------------------------------------------------------------------------


def test_every_profile_present_and_raises_exactly_its_alerts(census: Census) -> None:
    """Each profile's transactions satisfy its alert's definition, and no other rule fires on them."""
    for profile in ("healthy", "overdraft", "past_due", *ALERT_KINDS):
        assert census.profiles[profile] >= 20, profile
    assert census.alert_mismatch == []


def test_healthy_clients_stay_clear_even_under_stricter_rules(census: Census) -> None:
    """Two-sided cash sums and an 80 % pass-through share still raise nothing on healthy clients."""
    assert census.strict_false_positives == []
    assert census.negative_healthy == []


def test_structuring_amounts_sit_just_under_the_thresholds(census: Census) -> None:
    """Structured transfers lie in [1,800,000, 2,000,000), structured cash in [45,000, 50,000)."""
    transfers = [a for cash, a in census.structuring_amounts if not cash and a >= 1_800_000]
    cash = [a for is_cash, a in census.structuring_amounts if is_cash and 45_000 <= a < 50_000]
    assert len(transfers) >= 3 * 25 and len(cash) >= 3
    assert all(1_800_000 <= a < 2_000_000 for a in transfers)


def test_past_due_and_overdraft(census: Census) -> None:
    """Past-due loans are 30/120/400 days overdue since the right date; overdrafts dip below zero."""
    today = census.world.today
    assert {d for d, _ in census.past_due} == set(PAST_DUE_DAYS)
    assert all(since == today - timedelta(days=d) for d, since in census.past_due)
    assert census.overdraft_lows and all(low < 0 for low, _ in census.overdraft_lows)
    beyond = sum(low < -limit for low, limit in census.overdraft_lows)
    assert 0 < beyond < len(census.overdraft_lows) / 3


def test_transactions_are_well_formed(census: Census) -> None:
    """Amounts have two decimals, types match entries, ids follow booking order; corrections and cash occur."""
    assert census.bad_transactions == []
    f = census.flags
    assert f["transactions"] > CLIENTS * 30
    for flag in ("reversed", "manual", "cash", "booked_late", "dormant_sub_status", "loans", "currency_USD"):
        assert f[flag] > 0, flag
    assert f["reversed"] / f["transactions"] < 0.01
