"""The synthetic world: a deterministic population of corporate clients with ground truth and per-system views.

``World(seed, clients, today)`` describes ``clients`` companies, keys ``0 … clients-1``. Each company is derived
from its own random streams seeded by ``(seed, key, stage)``, so `World.companies` streams them in constant memory
and `World.company` regenerates any one alone — a million-client world never holds a million anything. The
simulators (Zoho, Fenxiang, ledger) render the views into native records; the ground truth lets tests score
matching (`truth`, `truth_key`, `same_company_pairs`) and the risk engine (`Company.expected_alerts`).

Distributions (shares of all companies unless stated; the tests check them within tolerances):

- **Kind**: 90 % enterprises (``91…``, 有限公司 / 有限责任公司 / 股份有限公司 / 集团有限公司), 3.5 % 个体工商户
  (``92…``), 1.5 % 农民专业合作社 (``93…``), 2.5 % 事业单位 (``12…``), 2.5 % 民办非企业单位 (``52…``). About 3 %
  of keys are **branches** (分公司) of an earlier enterprise (`Company.parent_key`), registered in another city
  with their own USCC: the same name plus ``上海分公司``; never the same company as the parent.
- **Systems**: 88 % of companies are ledger clients (branches 85 %, 个体工商户 70 %); of those, 50 % are also in
  Zoho and 40 % in Fenxiang independently (so ≈ 20 % in all three, ≈ 30 % ledger-only). The 12 % outside the
  ledger are CRM prospects: Zoho only 45 %, Fenxiang only 35 %, both 20 %. Every company is in ≥ 1 system.
- **Profiles** (ledger clients; others are ``prospect``): healthy 79 %, overdraft 4 %, past_due 4.5 % (DPD 30 /
  120 / 400 in equal parts), large_value 3 %, structuring 2 %, pass_through 2 %, fan_in 1.5 %, fan_out 1.5 %,
  dormant_reactivation 2.5 %. See `crmhub.sandbox.ledger_gen` for what each plants and the thresholds.
- **Drift** (see `crmhub.sandbox.views_gen`): CRM names differ from the legal name in ≈ 40 % (Zoho) / 45 %
  (Fenxiang) of records, the ledger's in ≈ 8 %; USCC missing in 22 % / 28 % / 4 %, mistyped (invalid) in 1 % of
  CRM records; stale phones, addresses, owners and conflicting industries at 5-15 %. A quarter of the ledger
  clients also in Zoho carry the Zoho id as ``externalId`` (a known cross-reference).
- **Matching cases** (own random stream per company, `World.cases`): ≈ 2 % of enterprises are the subsidiary of
  the enterprise before them, which then carries 集团 in its name (北京星河科技集团有限公司 / 北京星河科技有限公司,
  separate companies, a third sharing the group's phone); 35 % of the companies of 深圳, 杭州 and 济南 are in a
  district created since 2016 (龙华, 坪山, 光明, 临平, 钱塘, 莱芜, 钢城), written into the name of most enterprises
  registered after it existed; CRM views shorten 股份有限公司 to 股份公司, and Fenxiang holds some USCCs in
  full-width characters (see `crmhub.sandbox.views_gen`).
- **Names** are unique up to rare coincidences (two different companies, different USCCs, same legal name):
  about 1 in 10,000 companies at 30,000 clients, growing with the square of the world's size.

API: `World.companies` / `World.company` (views), `World.identity` (the full truth: region, industry, people,
finances), `World.plan` / `World.profile_of` (cheap: no views built), `World.truth`, `World.records_of`,
`World.same_company_pairs`, `World.truth_key`, `World.key_for_uscc` (ground truth for matching),
`World.relationship_managers` (the fixed RM pool, with each RM's Zoho and Fenxiang ids).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmhub.model import uscc as uscc_mod
from crmhub.sandbox.identity_gen import Cases, Identity, build_identity
from crmhub.sandbox.ids import MAX_CLIENTS, IdCodec, world_random
from crmhub.sandbox.people_gen import RM_POOL, RelationshipManager
from crmhub.sandbox.views_gen import crm_view, ledger_view
from crmhub.sandbox.worldtypes import ALERT_KINDS, SYSTEMS, Company, CrmAccountView, LedgerClientView, System

__all__ = ["DEFAULT_TODAY", "EXPECTED_ALERTS", "PROFILES", "SHANGHAI", "Plan", "World"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_TODAY = date(2026, 11, 30)

PROFILES: tuple[tuple[str, float], ...] = (
    ("healthy", 79.0),
    ("overdraft", 4.0),
    ("past_due", 4.5),
    ("large_value", 3.0),
    ("structuring", 2.0),
    ("pass_through", 2.0),
    ("fan_in", 1.5),
    ("fan_out", 1.5),
    ("dormant_reactivation", 2.5),
)
"""Ledger behaviour profiles and their shares (percent of ledger clients)."""

EXPECTED_ALERTS: dict[str, tuple[str, ...]] = {p: (p,) for p in ALERT_KINDS}
"""Profile → the alert kinds it must raise (healthy, overdraft, past_due and prospect raise none)."""

KINDS: tuple[tuple[str, float], ...] = (("91", 90.0), ("92", 3.5), ("93", 1.5), ("12", 2.5), ("52", 2.5))
BRANCH_RATE = 0.03
SUBSIDIARY_RATE = 0.02
RECENT_DISTRICT_RATE = 0.35
DISTRICT_IN_NAME_RATE = 0.6
_MEMO_SIZE = 64
_LEDGER_RATE = {"91": 0.88, "92": 0.70, "93": 0.80, "12": 0.95, "52": 0.90, "branch": 0.85}


@dataclass(frozen=True, slots=True)
class Plan:
    """The cheap decisions for one company — enough for ids and ground truth without building views."""

    key: int
    kind: str
    parent_key: int | None
    established_on: date
    profile: str
    in_zoho: bool
    in_fxiaoke: bool
    in_ledger: bool
    zoho_created: datetime
    fxiaoke_created: datetime
    zoho_contacts: int
    fxiaoke_contact_created: tuple[datetime, ...]

    @property
    def expected_alerts(self) -> tuple[str, ...]:
        return EXPECTED_ALERTS.get(self.profile, ())


_rng = world_random


class World:
    """A reproducible synthetic population; see the module docstring for its shape."""

    def __init__(self, seed: int = 0, clients: int = 2000, today: date | None = None) -> None:
        if not 0 <= clients <= MAX_CLIENTS:
            raise ValueError(f"clients must be between 0 and {MAX_CLIENTS}, got {clients}")
        self.seed = seed
        self.clients = clients
        self.today = today or DEFAULT_TODAY
        self.now = datetime.combine(self.today, time(9, 0), tzinfo=SHANGHAI)
        self.codec = IdCodec(seed)
        self.relationship_managers: tuple[RelationshipManager, ...] = RM_POOL
        # small memo tables: a company's plan and identity are read by several stages (and a branch's parent by
        # every branch); cleared when full, so memory stays bounded whatever the world's size
        self._plans: dict[int, Plan] = {}
        self._identities: dict[int, Identity] = {}

    def __repr__(self) -> str:
        return f"World(seed={self.seed}, clients={self.clients}, today={self.today.isoformat()})"

    def __len__(self) -> int:
        return self.clients

    # --- the plan stage: cheap, recomputable ------------------------------------------------------------------
    def _head(self, key: int) -> tuple[random.Random, bool, str]:
        """The first draws of a company's plan stream: is it a branch candidate, and its kind."""
        rng = _rng(self.seed, key, "plan")
        branch = rng.random() < BRANCH_RATE and key > 0
        kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        return rng, branch, kind

    def _can_parent(self, key: int) -> bool:
        _, branch, kind = self._head(key)
        return not branch and kind == "91"

    def plan(self, key: int) -> Plan:
        """The plan of company ``key`` (kind, branch parent, profile, systems, CRM creation times)."""
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        self._check_key(key)
        plan = self._make_plan(key)
        if len(self._plans) >= _MEMO_SIZE:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _make_plan(self, key: int) -> Plan:
        rng, branch, kind = self._head(key)
        parent: int | None = None
        if branch:
            for _ in range(20):
                cand = key - 1 - rng.randrange(min(key, 500))
                if self._can_parent(cand):
                    parent = cand
                    break
            kind = "branch" if parent is not None else "91"
        today = self.today
        if parent is not None:
            p_est = self.plan(parent).established_on
            span = max(30, (today - p_est).days - 60)
            established = p_est + timedelta(days=30 + rng.randrange(span))
        else:
            oldest = {"91": 32, "92": 20, "93": 18, "12": 40, "52": 25}[kind] * 365
            established = today - timedelta(days=60 + int(rng.random() ** 1.6 * oldest))
        in_ledger = rng.random() < _LEDGER_RATE[kind]
        profile = rng.choices([p for p, _ in PROFILES], weights=[w for _, w in PROFILES])[0]
        # ledger clients bank here for the whole transaction window; dormant ones for years
        min_age = 900 if profile == "dormant_reactivation" else 200
        if in_ledger and (today - established).days < min_age:
            if parent is None:
                established = today - timedelta(days=min_age + rng.randrange(3000 if min_age > 200 else 400))
            else:
                in_ledger = False  # a branch opened too recently to have a history here
        if in_ledger:
            in_zoho, in_fx = rng.random() < 0.5, rng.random() < 0.4
        else:
            profile = "prospect"
            r = rng.random()
            in_zoho, in_fx = r < 0.65, r >= 0.45
        crm_epoch = datetime(2016, 3, 1, 9, tzinfo=SHANGHAI)
        first = max(crm_epoch, datetime.combine(established, time(9), tzinfo=SHANGHAI) + timedelta(days=7))
        span_s = max(3600, int((self.now - first).total_seconds()) - 86400)
        zoho_created = first + timedelta(seconds=rng.randrange(span_s))
        fx_created = first + timedelta(seconds=rng.randrange(span_s))
        zoho_contacts = rng.choice((0, 1, 1, 2, 2, 3, 4)) if in_zoho else 0
        fx_n = rng.choice((0, 1, 1, 2, 2, 3, 4)) if in_fx else 0
        fx_contacts = tuple(
            fx_created + timedelta(seconds=rng.randrange(max(60, int((self.now - fx_created).total_seconds()))))
            for _ in range(fx_n)
        )
        return Plan(
            key,
            kind,
            parent,
            established,
            profile,
            in_zoho,
            in_fx,
            in_ledger,
            zoho_created,
            fx_created,
            zoho_contacts,
            fx_contacts,
        )

    def _check_key(self, key: int) -> None:
        if not 0 <= key < self.clients:
            raise KeyError(f"company key {key} is outside this world (0 … {self.clients - 1})")

    # --- companies --------------------------------------------------------------------------------------------
    def identity(self, key: int) -> Identity:
        """The true attributes of company ``key`` (name parts, region, industry, people, finances)."""
        cached = self._identities.get(key)
        if cached is not None:
            return cached
        plan = self.plan(key)
        parent = self.identity(plan.parent_key) if plan.parent_key is not None else None
        ident = build_identity(_rng(self.seed, key, "identity"), self.codec, plan, parent, self.today, self.cases(key))
        if len(self._identities) >= _MEMO_SIZE:
            self._identities.clear()
        self._identities[key] = ident
        return ident

    def _case_draws(self, key: int) -> tuple[float, float, float, float, float]:
        """The ``cases`` stream's draws for ``key``: subsidiary, share form, shared phone, district, name."""
        rng = _rng(self.seed, key, "cases")
        return rng.random(), rng.random(), rng.random(), rng.random(), rng.random()

    def _enterprise(self, key: int) -> bool:
        _, branch, kind = self._head(key)
        return not branch and kind == "91"

    def subsidiary_of(self, key: int) -> int | None:
        """The 集团 company whose subsidiary ``key`` is (always ``key - 1``), or None (cheap: no identity built)."""
        if key <= 0 or not self._enterprise(key) or not self._enterprise(key - 1):
            return None
        if self._case_draws(key)[0] >= SUBSIDIARY_RATE or self._case_draws(key - 1)[0] < SUBSIDIARY_RATE:
            return None  # (a subsidiary is never itself a group parent: no chains)
        return key - 1

    def cases(self, key: int) -> Cases:
        """The matching test cases company ``key`` is part of (see `crmhub.sandbox.identity_gen.Cases`)."""
        self._check_key(key)
        draws = self._case_draws(key)
        group_of = self.subsidiary_of(key)
        parent_of_next = key + 1 < self.clients and self.subsidiary_of(key + 1) == key
        recent = draws[3] / RECENT_DISTRICT_RATE if draws[3] < RECENT_DISTRICT_RATE else None
        return Cases(
            group_parent=parent_of_next,
            group_share_form=draws[1] < 0.3,
            group_of=self.identity(group_of) if group_of is not None else None,
            shares_phone=draws[2] < 0.3,
            recent_district=recent,
            district_in_name=draws[4] < DISTRICT_IN_NAME_RATE,
        )

    def company(self, key: int, *, ledger_detail: bool | str = True) -> Company:
        """Company ``key`` with every view; ``ledger_detail=False`` skips accounts, transactions and loans
        (for consumers that only need the client records — the rest of the company is identical), ``"loans"``
        keeps the loans alone."""
        plan = self.plan(key)
        ident = self.identity(key)
        return Company(
            key=key,
            uscc=ident.uscc,
            name=ident.name,
            profile=plan.profile,
            expected_alerts=plan.expected_alerts,
            parent_key=plan.parent_key,
            zoho=self.crm_view("zoho", key),
            fxiaoke=self.crm_view("fxiaoke", key),
            ledger=self.ledger_view(key, ledger_detail=ledger_detail),
        )

    def crm_view(self, system: System, key: int) -> CrmAccountView | None:
        """Zoho's or Fenxiang's view of company ``key`` alone (``None`` when that CRM does not hold it) — what a
        simulator regenerates on demand instead of holding every record; identical to `company`'s."""
        plan = self.plan(key)
        if not (plan.in_zoho if system == "zoho" else plan.in_fxiaoke if system == "fxiaoke" else False):
            return None
        return crm_view(_rng(self.seed, key, system), system, self.codec, plan, self.identity(key), self.now)

    def ledger_view(self, key: int, *, ledger_detail: bool | str = True) -> LedgerClientView | None:
        """The ledger's view of company ``key`` alone (``None`` when it is not a ledger client)."""
        plan = self.plan(key)
        if not plan.in_ledger:
            return None
        return ledger_view(
            _rng(self.seed, key, "ledger-view"),
            _rng(self.seed, key, "ledger"),
            self.codec,
            plan,
            self.identity(key),
            self.today,
            self.now,
            zoho_id=self.codec.zoho_id(key, 1) if plan.in_zoho else None,
            detail=ledger_detail,
        )

    def companies(
        self, start: int = 0, stop: int | None = None, *, ledger_detail: bool | str = True
    ) -> Iterator[Company]:
        """Stream companies ``start … stop-1`` (default: all), one at a time."""
        stop = self.clients if stop is None else min(stop, self.clients)
        for key in range(start, stop):
            yield self.company(key, ledger_detail=ledger_detail)

    def crm_views(self, system: System, start: int = 0, stop: int | None = None) -> Iterator[CrmAccountView]:
        """Stream one CRM's views of companies ``start … stop-1`` (only those it holds); cheaper than
        `companies` for a simulator, which needs its own system's view alone."""
        stop = self.clients if stop is None else min(stop, self.clients)
        for key in range(start, stop):
            view = self.crm_view(system, key)
            if view is not None:
                yield view

    def ledger_views(
        self, start: int = 0, stop: int | None = None, *, ledger_detail: bool | str = True
    ) -> Iterator[LedgerClientView]:
        """Stream the ledger's views of companies ``start … stop-1`` (ledger clients only)."""
        stop = self.clients if stop is None else min(stop, self.clients)
        for key in range(start, stop):
            view = self.ledger_view(key, ledger_detail=ledger_detail)
            if view is not None:
                yield view

    # --- ground truth -----------------------------------------------------------------------------------------
    def records_of(self, key: int, *, contacts: bool = False) -> list[tuple[System, str]]:
        """(system, native id) of every record of company ``key``, from the plan alone (no views built)."""
        plan = self.plan(key)
        out: list[tuple[System, str]] = []
        if plan.in_zoho:
            out.append(("zoho", self.codec.zoho_id(key, 1)))
            if contacts:
                out.extend(("zoho", self.codec.zoho_id(key, 2 + i)) for i in range(plan.zoho_contacts))
        if plan.in_fxiaoke:
            out.append(("fxiaoke", self.codec.fxiaoke_id(key, 0, plan.fxiaoke_created)))
            if contacts:
                out.extend(
                    ("fxiaoke", self.codec.fxiaoke_id(key, 1 + i, ts))
                    for i, ts in enumerate(plan.fxiaoke_contact_created)
                )
        if plan.in_ledger:
            out.append(("ledger", str(self.codec.ledger_client_id(key))))
        return out

    def truth(self, *, contacts: bool = False) -> Iterator[tuple[str, str, int]]:
        """(system, source_id, company key) for every account/client record (and contact, if asked)."""
        for key in range(self.clients):
            for system, source_id in self.records_of(key, contacts=contacts):
                yield system, source_id, key

    def same_company_pairs(self) -> Iterator[tuple[tuple[str, str], tuple[str, str]]]:
        """Every pair of account/client records that are the same company (a match's true positives)."""
        for key in range(self.clients):
            recs = self.records_of(key)
            for i, a in enumerate(recs):
                for b in recs[i + 1 :]:
                    yield a, b

    def truth_key(self, system: str, source_id: str) -> int | None:
        """The company key of native record ``(system, source_id)`` (account, client or contact), or ``None``."""
        key: int | None
        if system == "zoho":
            decoded = self.codec.decode_zoho(source_id)
            if decoded is None:
                return None
            key, slot = decoded
            if key >= self.clients or slot < 1:
                return None
            plan = self.plan(key)
            ok = plan.in_zoho and slot <= 1 + plan.zoho_contacts
        elif system == "fxiaoke":
            fx = self.codec.decode_fxiaoke(source_id)
            if fx is None:
                return None
            key, slot, ts = fx
            if key >= self.clients:
                return None
            plan = self.plan(key)
            stamps = (plan.fxiaoke_created, *plan.fxiaoke_contact_created)
            ok = plan.in_fxiaoke and slot < len(stamps) and int(stamps[slot].timestamp()) == ts
        elif system == "ledger":
            key = self.codec.decode_ledger_client(source_id)
            if key is None or key >= self.clients:
                return None
            ok = self.plan(key).in_ledger
        else:
            raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
        return key if ok else None

    def key_for_uscc(self, code: str) -> int | None:
        """The company whose true USCC is ``code`` (any spacing/case), or ``None``."""
        if not uscc_mod.is_valid(code):
            return None
        parts = uscc_mod.parse(code)
        key = self.codec.key_for_uscc_body(parts.org_code[:8])
        if key is None or key >= self.clients or self.identity(key).uscc != parts.code:
            return None
        return key

    def profile_of(self, key: int) -> str:
        """The behaviour profile of company ``key`` (cheap: no views are built)."""
        return self.plan(key).profile
