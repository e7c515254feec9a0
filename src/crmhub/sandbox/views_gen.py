"""Each system's view of a company: the truth with the drift real systems accumulate.

Rates per view (shares of that system's records; Zoho / Fenxiang / ledger):

| field | drift |
|---|---|
| name | differs from the legal name in 40 % / 45 % / 8 % (`names_gen.DRIFTS`; the ledger's only in form) |
| USCC | missing 22 % / 28 % / 4 %; mistyped (checksum fails) 1 % / 1 % / 0; lower-case or spaced 2 % / 2 % / 0 |

(Of the lower-case ones, Fenxiang's are full-width — typed with a Chinese IME, ``９１４４…`` — half of them also
lower case.)
| industry (GB/T 4754) | missing 40 % / 25 % / 10 %; other division 8 % / 8 % / 3 %; section only 5 % / 10 % / 0 |
| phone | missing 10 %, stale (an old number) 15 % of the rest |
| street address | stale 15 %; Zoho has no district field |
| legal representative | present 60 % / 70 %; ID number in half of those; mobile stale 15 % |
| registered capital | present 70 % / 60 %; 5 % of those entered in 万元 (10,000× too small) |
| owner (relationship manager) | another RM than the company's own in 10 % (reassignments not synced) |

CRM creation times come from the plan (Fenxiang ids embed them); modification times lie between creation and
`World.now`, a fifth of them within the last 30 days.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from crmhub.model.uscc import ALPHABET
from crmhub.sandbox.identity_gen import Identity
from crmhub.sandbox.ids import IdCodec
from crmhub.sandbox.ledger_gen import WINDOW_DAYS, LedgerInputs, build_ledger
from crmhub.sandbox.names_gen import TRADES, drifted_name
from crmhub.sandbox.people_gen import RM_POOL, mobile
from crmhub.sandbox.worldtypes import ContactView, CrmAccountView, LedgerClientView, OwnerView, PersonView, System

if TYPE_CHECKING:
    from crmhub.sandbox.world import Plan

NAME_DRIFT: dict[str, tuple[float, tuple[int, ...]]] = {
    # rate, weights over names_gen.DRIFTS: bracket_region, form_synonym, width, traditional, homophone, no_region,
    # region_expand, short_name, blank
    "zoho": (0.40, (14, 14, 12, 8, 10, 12, 8, 6, 6)),
    "fxiaoke": (0.45, (12, 14, 12, 8, 12, 10, 8, 10, 6)),
    "ledger": (0.08, (25, 35, 30, 0, 0, 0, 10, 0, 0)),
}
USCC_MISSING = {"zoho": 0.22, "fxiaoke": 0.28, "ledger": 0.04}
INDUSTRY = {"zoho": (0.60, 0.08, 0.05), "fxiaoke": (0.75, 0.08, 0.10), "ledger": (0.90, 0.03, 0.0)}
"""system → (present, conflicting division, section letter only)."""


def _at_second(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def _modified(rng: random.Random, created: datetime, now: datetime) -> datetime:
    lo = max(created, now - timedelta(days=30)) if rng.random() < 0.2 else created
    span = max(1, int((now - lo).total_seconds()) - 60)
    return _at_second(lo + timedelta(seconds=rng.randrange(span)))


def uscc_typo(rng: random.Random, code: str) -> str:
    """One character changed (never the authority/type): MOD 31-3 detects every single substitution."""
    i = rng.randrange(2, 18)
    return code[:i] + rng.choice([c for c in ALPHABET if c != code[i]]) + code[i + 1 :]


def _uscc(rng: random.Random, code: str, system: str) -> str | None:
    r = rng.random()
    if r < USCC_MISSING[system]:
        return None
    if system == "ledger":
        return code
    r = rng.random()
    if r < 0.01:
        return uscc_typo(rng, code)
    if r < 0.02:
        if system == "fxiaoke":  # a Chinese IME in full-width mode; lower case too for half of them
            wide = "".join(chr(ord(c) + 0xFEE0) for c in code)
            return wide.lower() if ord(code[17]) % 2 else wide
        return code.lower()
    if r < 0.03:
        return f"{code[:8]} {code[8:17]} {code[17]}" if rng.random() < 0.5 else f"{code[:8]}-{code[8:]}"
    return code


def _industry(rng: random.Random, code: str, system: str) -> str | None:
    present, conflict, section = INDUSTRY[system]
    if rng.random() >= present:
        return None
    r = rng.random()
    if r < conflict:
        other = rng.choice(TRADES).code
        return other if other != code else rng.choice([t.code for t in TRADES if t.code != code])
    if r < conflict + section:
        return code[0]
    return code


def _phone(rng: random.Random, ident: Identity) -> str | None:
    if rng.random() < 0.10:
        return None
    return ident.old_phone if rng.random() < 0.15 else ident.phone


def _owner(rng: random.Random, ident: Identity) -> OwnerView:
    rm = ident.rm if rng.random() < 0.9 else rng.choice(RM_POOL)
    return OwnerView(rm.name, rm.user_id, rm.email)


def crm_view(
    rng: random.Random, system: System, codec: IdCodec, plan: Plan, ident: Identity, now: datetime
) -> CrmAccountView:
    """The company as Zoho or Fenxiang holds it."""
    rate, weights = NAME_DRIFT[system]
    name, _ = drifted_name(rng, ident.parts, ident.city, rate=rate, weights=weights)
    zoho = system == "zoho"
    created = _at_second(plan.zoho_created if zoho else plan.fxiaoke_created)
    source_id = codec.zoho_id(plan.key, 1) if zoho else codec.fxiaoke_id(plan.key, 0, plan.fxiaoke_created)
    rep = None
    if rng.random() < (0.6 if zoho else 0.7):
        lr = ident.legal_rep
        rep = PersonView(
            lr.name,
            lr.id_number if rng.random() < 0.5 else None,
            (mobile(rng) if rng.random() < 0.15 else lr.mobile) if rng.random() < 0.8 else None,
        )
    capital = None
    if ident.registered_capital is not None and rng.random() < (0.7 if zoho else 0.6):
        capital = Decimal(ident.registered_capital)
        if rng.random() < 0.05:
            capital = capital / 10_000
    revenue = None
    if rng.random() < (0.6 if zoho else 0.5):
        revenue = Decimal(int(ident.annual_revenue * rng.uniform(0.85, 1.15)) // 10_000 * 10_000)
    employees = None
    if rng.random() < (0.7 if zoho else 0.6):
        employees = max(1, int(ident.employees * rng.uniform(0.8, 1.2)))
    established = None
    if rng.random() < (0.5 if zoho else 0.6):
        established = ident.established_on
        if rng.random() < 0.05:
            established -= timedelta(days=rng.randrange(1, 120))
    city = ident.city
    contacts = _contacts(rng, system, codec, plan, ident, created, now)
    return CrmAccountView(
        system=system,
        source_id=source_id,
        company_key=plan.key,
        name=name,
        uscc=_uscc(rng, ident.uscc, system),
        phone=_phone(rng, ident),
        email=ident.email if rng.random() < 0.7 else None,
        website=ident.website if rng.random() < 0.75 else None,
        province=city.province if rng.random() < (0.8 if zoho else 0.9) else None,
        city=(city.name if rng.random() < 0.8 else city.short) if rng.random() < 0.95 else None,
        district=None if zoho or ident.district.code == city.code or rng.random() < 0.3 else ident.district.name,
        street=ident.old_street if rng.random() < 0.15 else ident.street,
        postcode=ident.postcode if rng.random() < (0.7 if zoho else 0.5) else None,
        industry_code=_industry(rng, ident.industry_code, system),
        legal_representative=rep,
        registered_capital=capital,
        annual_revenue=revenue,
        currency="CNY",
        employees=employees,
        established_on=established,
        owner=_owner(rng, ident),
        created_at=created,
        modified_at=_modified(rng, created, now),
        contacts=contacts,
    )


def _contacts(
    rng: random.Random,
    system: System,
    codec: IdCodec,
    plan: Plan,
    ident: Identity,
    account_created: datetime,
    now: datetime,
) -> list[ContactView]:
    people = list(ident.contacts)
    out: list[ContactView] = []
    if system == "zoho":
        chosen = people[: plan.zoho_contacts]
        stamps = [
            account_created + timedelta(seconds=rng.randrange(max(60, int((now - account_created).total_seconds()))))
            for _ in chosen
        ]
        ids = [codec.zoho_id(plan.key, 2 + i) for i in range(len(chosen))]
    else:
        chosen = rng.sample(people, len(plan.fxiaoke_contact_created))
        stamps = list(plan.fxiaoke_contact_created)
        ids = [codec.fxiaoke_id(plan.key, 1 + i, ts) for i, ts in enumerate(stamps)]
    for cp, stamp, source_id in zip(chosen, stamps, ids, strict=True):
        p = cp.person
        created = _at_second(stamp)
        out.append(
            ContactView(
                source_id=source_id,
                name=p.name,
                title=cp.title if rng.random() < 0.9 else None,
                mobile=(mobile(rng) if rng.random() < 0.1 else p.mobile) if rng.random() < 0.9 else None,
                phone=f"{ident.phone}-{rng.randrange(800, 8999)}" if rng.random() < 0.4 else None,
                email=cp.email if rng.random() < 0.8 else None,
                wecom_user_id=cp.wecom_user_id,
                created_at=created,
                modified_at=_modified(rng, created, now),
            )
        )
    return out


def ledger_view(
    rng: random.Random,
    detail_rng: random.Random,
    codec: IdCodec,
    plan: Plan,
    ident: Identity,
    today: date,
    now: datetime,
    *,
    zoho_id: str | None,
    detail: bool | str,
) -> LedgerClientView:
    """The company as the core ledger holds it; ``detail`` adds accounts, transactions and loans (``"loans"``:
    the loans alone, the same ones)."""
    rate, weights = NAME_DRIFT["ledger"]
    name, _ = drifted_name(rng, ident.parts, ident.city, rate=rate, weights=weights)
    latest = today - timedelta(days=WINDOW_DAYS + 1 if plan.profile != "dormant_reactivation" else 600)
    earliest = max(plan.established_on + timedelta(days=3), date(2005, 1, 1))
    span = (latest - earliest).days
    activation = earliest + timedelta(days=rng.randrange(span)) if span > 0 else latest
    r = rng.random()
    external_id = zoho_id if zoho_id and r < 0.25 else codec.cif_number(plan.key) if r < 0.75 else None
    created = _at_second(
        datetime.combine(activation, datetime.min.time(), tzinfo=now.tzinfo)
        + timedelta(seconds=rng.randrange(8 * 3600, 17 * 3600))
    )
    view = LedgerClientView(
        source_id=str(codec.ledger_client_id(plan.key)),
        company_key=plan.key,
        fullname=name,
        uscc=_uscc(rng, ident.uscc, "ledger"),
        external_id=external_id,
        office_name=f"{ident.city.short}分行",
        mobile=ident.legal_rep.mobile if rng.random() < 0.75 else None,
        industry_code=_industry(rng, ident.industry_code, "ledger"),
        activation_date=activation,
        created_at=created,
        modified_at=_modified(rng, created, now),
    )
    if detail:
        inputs = LedgerInputs(
            key=plan.key,
            profile=plan.profile,
            city=ident.city,
            district=ident.district.name if ident.district.code != ident.city.code else "",
            trade_code=ident.industry_code,
            annual_revenue=ident.annual_revenue,
            employees=ident.employees,
            established_on=plan.established_on,
            activation_date=activation,
            name=ident.name,
        )
        built = build_ledger(detail_rng, codec, inputs, today, loans_only=detail == "loans")
        view.savings, view.loans = built.savings, built.loans
    return view
