"""The true identity of one synthetic company: where it is registered, its legal name and USCC, industry, size,
legal representative, contact people and relationship manager.

This is the ground truth the views drift away from, so it is internally consistent: the USCC's division code is
the registering authority's (district, city or province of the registered address, and a code that existed when
the company was registered), the organisation-code body is digits for registrations before the USCC reform
(2015-10-01) and ``MA…`` for market registrations after it, branch names extend the parent's name, sizes drive
capital, revenue and staff.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from crmhub.model.uscc import make as make_uscc
from crmhub.sandbox.geo import BUILDINGS, CITIES, CITY_WEIGHTS, ROADS, City, District
from crmhub.sandbox.ids import IdCodec
from crmhub.sandbox.names_gen import (
    COOPERATIVES,
    ENTERPRISE_FORMS,
    INSTITUTIONS_LOCAL,
    INSTITUTIONS_NAMED,
    NON_PROFITS,
    SHOPS,
    TRADE_WEIGHTS,
    TRADES,
    NameParts,
    region_prefix,
    zihao,
)
from crmhub.sandbox.people_gen import CONTACT_TITLES, RM_POOL, Person, RelationshipManager, person

if TYPE_CHECKING:
    from crmhub.sandbox.world import Plan

USCC_REFORM = date(2015, 10, 1)
_TYPE_CODE = {"91": "91", "branch": "91", "92": "92", "93": "93", "12": "12", "52": "52"}

SIZES: dict[str, tuple[int, tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    # weight, registered capital (yuan), annual revenue (yuan), employees
    "micro": (50, (100_000, 2_000_000), (300_000, 10_000_000), (2, 20)),
    "small": (30, (2_000_000, 20_000_000), (10_000_000, 100_000_000), (20, 100)),
    "medium": (15, (20_000_000, 100_000_000), (100_000_000, 800_000_000), (100, 1000)),
    "large": (5, (100_000_000, 2_000_000_000), (800_000_000, 20_000_000_000), (1000, 20000)),
}
"""Enterprise size classes (统计上大中小微型企业划分办法, simplified) and the ranges they draw from."""


@dataclass(frozen=True, slots=True)
class Cases:
    """Matching test cases a company is part of, drawn from its own ``cases`` stream (`World.cases`) so that adding
    them left every other draw of the world unchanged.

    - ``group_parent``: the next company is its subsidiary, so its name carries 集团 (北京星河科技集团有限公司);
    - ``group_of``: it is the subsidiary of that 集团 company — same city, region, 字号 and trade words, legal form
      without 集团 (北京星河科技有限公司), its own USCC; sometimes the group's switchboard. A separate borrower: the
      matcher must never merge the two;
    - ``recent_district``: a draw in [0, 1) that moves a company of 深圳/杭州/济南 to a district created since 2016
      (龙华, 坪山, 光明, 临平, 钱塘, 莱芜, 钢城); ``district_in_name`` writes it into an enterprise's name
      (深圳市龙华区星河科技有限公司) when the company was registered after the district existed.
    """

    group_parent: bool = False
    group_share_form: bool = False
    group_of: Identity | None = None
    shares_phone: bool = False
    recent_district: float | None = None
    district_in_name: bool = False


@dataclass(frozen=True, slots=True)
class ContactPerson:
    """A person at the company the bank talks to."""

    person: Person
    title: str
    email: str | None
    wecom_user_id: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    """Ground truth for one company (beyond what `Company` carries)."""

    key: int
    kind: str
    city: City
    district: District
    authority_code: str
    parts: NameParts
    name: str
    uscc: str
    industry_code: str
    size: str
    phone: str
    old_phone: str
    street: str
    old_street: str
    postcode: str
    domain: str | None
    website: str | None
    email: str | None
    legal_rep: Person
    registered_capital: int | None
    annual_revenue: int
    employees: int
    established_on: date
    contacts: tuple[ContactPerson, ...]
    rm: RelationshipManager


def _log_uniform(rng: random.Random, lo: int, hi: int) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _round_capital(v: float) -> int:
    unit = 10_000_000 if v >= 50_000_000 else 1_000_000 if v >= 5_000_000 else 100_000
    return max(unit, int(v // unit * unit))


def _phone(rng: random.Random, city: City) -> str:
    n = 8 if len(city.area_code) == 3 or rng.random() < 0.5 else 7
    return f"{city.area_code}-{rng.randrange(2, 9)}{rng.randrange(10 ** (n - 1)):0{n - 1}d}"


def _street(rng: random.Random) -> str:
    """``科技路88号``, often with a building and room (``A座1203室``, ``国际中心15层``)."""
    street = f"{rng.choice(ROADS)}{rng.randrange(1, 900)}号"
    r = rng.random()
    if r < 0.35:
        street += f"{rng.choice('ABCDE')}座{rng.randrange(2, 30)}{rng.randrange(1, 20):02d}室"
    elif r < 0.6:
        street += f"{rng.choice(BUILDINGS)}{rng.randrange(2, 40)}层"
    return street


def _wecom_external_id(seed: int, key: int, i: int) -> str:
    digest = hashlib.blake2b(f"crmhub-wecom:{seed}:{key}:{i}".encode(), digest_size=24).digest()
    return "wm" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:30]


def _authority(rng: random.Random, kind: str, city: City, district: District, established: date) -> str:
    """The registering authority's division code: district, city or province level, existing at registration."""
    r = rng.random()
    local = kind in ("92", "93", "52") or r < 0.6
    if local and district.since <= established.year and district.code != city.code:
        return district.code
    if (kind == "12" and r < 0.8) or r < 0.9 or city.municipality:
        return city.province_code if city.municipality else city.code
    return city.province_code


def _pick_city(rng: random.Random, avoid: str | None = None) -> City:
    while True:
        city = rng.choices(CITIES, weights=CITY_WEIGHTS)[0]
        if city.code != avoid:
            return city


def _rm_for(rng: random.Random, city: City) -> RelationshipManager:
    local = [rm for rm in RM_POOL if rm.office.startswith(city.short)]
    return rng.choice(local) if local and rng.random() < 0.85 else rng.choice(RM_POOL)


def build_identity(
    rng: random.Random, codec: IdCodec, plan: Plan, parent: Identity | None, today: date, cases: Cases | None = None
) -> Identity:
    """Draw the true attributes of ``plan.key`` (``parent`` is the parent's identity for a branch; ``cases`` the
    matching test cases it is part of)."""
    cases = cases or Cases()
    kind = plan.kind
    group = cases.group_of if kind == "91" else None
    city = _pick_city(rng, parent.city.code if parent else None)
    if group is not None:
        city = group.city  # the hard case: a subsidiary in its group's city
    district = rng.choice(city.districts)
    moved = cases.recent_district is not None and bool(city.recent) and group is None
    if moved:
        district = city.recent[int((cases.recent_district or 0.0) * len(city.recent))]
    dist_name = district.name if district.code != city.code else ""
    z, z_pinyin = zihao(rng)
    size = rng.choices(list(SIZES), weights=[v[0] for v in SIZES.values()])[0]
    if kind == "branch" and parent is not None:
        place = city.short
        if dist_name and rng.random() < 0.5:  # 深圳南山分公司: also keeps two branches in one city apart
            place += (
                dist_name.removesuffix("新区")
                if dist_name.endswith("新区")
                else dist_name[:-1]
                if len(dist_name) > 2 and dist_name.endswith(("区", "县"))
                else dist_name
            )
        parts = NameParts(
            parent.parts.region,
            parent.parts.zihao,
            parent.parts.trade,
            parent.parts.form,
            parent.parts.bracketed,
            f"{place}分公司",
        )
        industry = parent.industry_code
        size = "micro" if parent.size in ("micro", "small") else "small"
    elif kind == "91":
        trade = rng.choices(TRADES, weights=TRADE_WEIGHTS)[0]
        forms = [(f, w) for f, w in ENTERPRISE_FORMS if size in ("medium", "large") or not f.startswith("集团")]
        form = rng.choices([f for f, _ in forms], weights=[w for _, w in forms])[0]
        region = region_prefix(rng, city)
        bracketed = rng.random() < 0.1
        if moved and cases.district_in_name and not bracketed and plan.established_on.year >= district.since:
            region = city.name + dist_name
        if cases.group_parent:
            form = "集团股份有限公司" if cases.group_share_form else "集团有限公司"
        parts = NameParts(city.short if bracketed else region, z, rng.choice(trade.words), form, bracketed)
        industry = trade.code
        if group is not None:
            form = group.parts.form.replace("集团", "") if "集团" in group.parts.form else group.parts.form
            parts = replace(group.parts, form=form, branch="")
            industry = group.industry_code
    elif kind == "92":
        shop, industry = rng.choice(SHOPS)
        parts = NameParts(city.name + dist_name, z, "", shop)
        size = "micro"
    elif kind == "93":
        line, industry = rng.choice(COOPERATIVES)
        parts = NameParts(city.name + dist_name, z, line, "专业合作社")
        size = "micro"
    elif kind == "12":
        if rng.random() < 0.04:  # one per district: a small name space, so kept rare (names stay unique)
            field, unit, industry = rng.choice(INSTITUTIONS_LOCAL)
            parts = NameParts(city.name + dist_name, "", field, unit)
        else:
            field, unit, industry = rng.choice(INSTITUTIONS_NAMED)
            parts = NameParts(city.name + (dist_name if unit != "学院" else ""), z, field, unit)
        size = rng.choice(("small", "medium"))
    else:  # 52
        field, unit, industry = rng.choice(NON_PROFITS)
        parts = NameParts(city.name + dist_name, z, field, unit)
        size = "micro"
    established = plan.established_on
    authority = _authority(rng, kind, city, district, established)
    # market registrations after the reform get ``MA…`` bodies; what other authorities issue after it is
    # UNCONFIRMED, so 事业单位 and 民办非企业单位 keep all-digit bodies
    legacy = established < USCC_REFORM or kind in ("12", "52")
    uscc = make_uscc(_TYPE_CODE[kind] + authority, codec.uscc_body(plan.key, legacy=legacy))
    _, cap_range, rev_range, emp_range = SIZES[size]
    if kind in ("branch", "92"):
        capital = None
    else:
        capital = _round_capital(_log_uniform(rng, *cap_range))
        if kind in ("93", "52"):
            capital = min(capital, 5_000_000)
    revenue = int(_log_uniform(rng, *rev_range)) // 10_000 * 10_000
    if kind == "92":
        revenue = min(revenue, 3_000_000)
    employees = int(_log_uniform(rng, *emp_range))
    if kind == "92":
        employees = min(employees, 8)
    domain = website = email = None
    if kind == "branch" and parent is not None:
        domain, website = parent.domain, parent.website
        email = f"branch{plan.key % 1000:03d}@{domain}" if domain else None
    elif kind not in ("92", "93") and (rng.random() < 0.7 or size in ("medium", "large")):
        tld = rng.choice(("com", "com", "cn", "com.cn", "net"))
        suffix = rng.choice(("", "", "-tech", "group", "gs"))
        domain = f"{z_pinyin or 'org'}{suffix}.{tld}"
        website = f"www.{domain}" if rng.random() < 0.8 else f"http://www.{domain}"
        email = f"{rng.choice(('info', 'service', 'contact', 'admin', 'office'))}@{domain}"
    rep = person(rng, today, min_age=28, max_age=68)
    n_contacts = max(plan.zoho_contacts, len(plan.fxiaoke_contact_created)) + rng.randrange(0, 2)
    contacts = []
    for i in range(n_contacts):
        p = person(rng, today)
        mail_domain = domain if domain and rng.random() < 0.7 else rng.choice(("163.com", "qq.com", "126.com"))
        mail = f"{p.pinyin}{'' if mail_domain == domain else rng.randrange(10, 99)}@{mail_domain}"
        contacts.append(
            ContactPerson(
                person=p,
                title=rng.choice(CONTACT_TITLES),
                email=mail if rng.random() < 0.85 else None,
                wecom_user_id=_wecom_external_id(codec.seed, plan.key, i) if rng.random() < 0.3 else None,
            )
        )
    phone = _phone(rng, city)
    if group is not None and cases.shares_phone:
        phone = group.phone
    return Identity(
        key=plan.key,
        kind=kind,
        city=city,
        district=district,
        authority_code=authority,
        parts=parts,
        name=parts.render(),
        uscc=uscc,
        industry_code=industry,
        size=size,
        phone=phone,
        old_phone=_phone(rng, city),
        street=_street(rng),
        old_street=_street(rng),
        postcode=city.postcode[:4] + f"{rng.randrange(0, 100):02d}",
        domain=domain,
        website=website,
        email=email,
        legal_rep=rep,
        registered_capital=capital,
        annual_revenue=revenue,
        employees=employees,
        established_on=established,
        contacts=tuple(contacts),
        rm=_rm_for(rng, city),
    )
