"""Turn world companies into Zoho records, and a small deterministic world for when none is given.

`crmhub.sandbox.world.World` is the shared ground truth; its `Company.zoho` views become Accounts (and their
contacts Contacts) here. `synthetic_companies` makes views of the same shape for tests and benchmarks that need a
Zoho-only world of an exact size (it is not a substitute for the shared world in end-to-end runs).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from crmhub.model.uscc import ALPHABET, make
from crmhub.sandbox.worldtypes import Company, ContactView, CrmAccountView, OwnerView
from crmhub_zoho.industry import picklist_value_for

CST = timezone(timedelta(hours=8))
ZOHO_ID_BASE = 4970762000000000000


def zoho_id(serial: int) -> str:
    """A 19-digit Zoho record id string."""
    return str(ZOHO_ID_BASE + serial)


def zoho_time(value: datetime) -> str:
    """ISO 8601 in the org's time zone (+08:00), second precision, never ``Z`` — as Zoho answers."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CST).replace(microsecond=0).isoformat()


def _stable(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


SYSTEM_KEYS: dict[str, Any] = {
    "$currency_symbol": "¥",
    "$approved": True,
    "$editable": True,
    "$state": "save",
    "$approval": {"delegate": False, "takeover": False, "approve": False, "reject": False, "resubmit": False},
    "$process_flow": False,
    "$review_process": {"approve": False, "reject": False, "resubmit": False},
    "$in_merge": False,
    "$approval_state": "approved",
    "$pathfinder": False,
    "$field_states": None,
    "$zia_owner_assignment": "owner_recommendation_unavailable",
}


def owner_json(owner: OwnerView) -> dict[str, str]:
    """An owner lookup as Zoho reads it back: name, id and email."""
    return {"name": owner.name, "id": owner.user_id, "email": owner.email}


def account_record(view: CrmAccountView, admin: OwnerView) -> dict[str, Any]:
    """One Accounts record (all fields) from a world view."""
    street = " ".join(p for p in (view.district, view.street) if p) or None
    revenue = float(view.annual_revenue) if view.annual_revenue is not None else None
    return {
        "id": view.source_id,
        "Account_Name": view.name,
        "Account_Number": None,
        "Account_Site": None,
        "Account_Type": "Customer",
        "Parent_Account": None,
        "Phone": view.phone,
        "Fax": None,
        "Website": view.website,
        "Industry": picklist_value_for(view.industry_code, _stable("industry", view.company_key)),
        "Ownership": "Private",
        "Rating": "-None-",
        "SIC_Code": None,
        "Ticker_Symbol": None,
        "Annual_Revenue": revenue,
        "Employees": view.employees,
        "Billing_Street": street,
        "Billing_City": view.city,
        "Billing_State": view.province,
        "Billing_Code": view.postcode,
        "Billing_Country": "China",
        "Shipping_Street": None,
        "Shipping_City": None,
        "Shipping_State": None,
        "Shipping_Code": None,
        "Shipping_Country": None,
        "Description": None,
        "USCC": view.uscc,
        "Risk_Rating": None,
        "Risk_Segment": None,
        "Owner": owner_json(view.owner),
        "Created_By": owner_json(admin),
        "Modified_By": owner_json(view.owner),
        "Created_Time": zoho_time(view.created_at),
        "Modified_Time": zoho_time(view.modified_at),
        "Last_Activity_Time": zoho_time(view.modified_at),
        "Currency": view.currency or "CNY",
        "Exchange_Rate": 1.0,
        "Tag": [],
        "Record_Status__s": "Available",
        "Locked__s": False,
        **SYSTEM_KEYS,
    }


def split_name(name: str) -> tuple[str | None, str]:
    """(First_Name, Last_Name): a Chinese name's surname is its first character; Western names split at the end."""
    name = name.strip()
    if " " in name:
        first, _, last = name.rpartition(" ")
        return first, last
    if len(name) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in name):
        return name[1:], name[0]
    return None, name


def contact_record(view: ContactView, account: CrmAccountView, admin: OwnerView) -> dict[str, Any]:
    """One Contacts record from a world contact view, linked to its account by an ``Account_Name`` lookup."""
    first, last = split_name(view.name)
    cjk = first is not None and " " not in view.name
    created = view.created_at or account.created_at
    modified = view.modified_at or created
    return {
        "id": view.source_id,
        "Salutation": None,
        "First_Name": first,
        "Last_Name": last,
        "Full_Name": (last + first) if cjk and first else view.name,
        "Account_Name": {"name": account.name, "id": account.source_id},
        "Email": view.email,
        "Secondary_Email": None,
        "Phone": view.phone,
        "Mobile": view.mobile,
        "Home_Phone": None,
        "Other_Phone": None,
        "Fax": None,
        "Title": view.title,
        "Department": None,
        "Date_of_Birth": None,
        "Reporting_To": None,
        "Lead_Source": "-None-",
        "Email_Opt_Out": False,
        "Mailing_Street": " ".join(p for p in (account.district, account.street) if p) or None,
        "Mailing_City": account.city,
        "Mailing_State": account.province,
        "Mailing_Zip": account.postcode,
        "Mailing_Country": "China",
        "Description": None,
        "Owner": owner_json(account.owner),
        "Created_By": owner_json(admin),
        "Modified_By": owner_json(account.owner),
        "Created_Time": zoho_time(created),
        "Modified_Time": zoho_time(modified),
        "Last_Activity_Time": None,
        "Currency": account.currency or "CNY",
        "Exchange_Rate": 1.0,
        "Tag": [],
        "Record_Status__s": "Available",
        "Locked__s": False,
        **SYSTEM_KEYS,
    }


# --- a deterministic Zoho-only world ------------------------------------------------------------------------

_PLACES = (
    ("上海市", "上海市", "浦东新区", "310115", "200120"),
    ("北京市", "北京市", "朝阳区", "110105", "100020"),
    ("广东省", "深圳市", "南山区", "440305", "518057"),
    ("浙江省", "杭州市", "西湖区", "330106", "310013"),
    ("江苏省", "苏州市", "工业园区", "320571", "215021"),
    ("福建省", "福州市", "鼓楼区", "350102", "350001"),
    ("四川省", "成都市", "高新区", "510109", "610041"),
    ("湖北省", "武汉市", "洪山区", "420111", "430070"),
)
_WORDS = (
    "华信",
    "宏达",
    "远航",
    "瑞丰",
    "精工",
    "恒通",
    "嘉禾",
    "博源",
    "天成",
    "鼎盛",
    "永安",
    "中科",
    "联创",
    "金桥",
    "海纳",
    "明德",
    "启航",
    "星辰",
    "云帆",
    "汇丰",
)
_TRADES = (
    ("C39", "电子科技"),
    ("I65", "软件技术"),
    ("I63", "通信服务"),
    ("C26", "化工"),
    ("F51", "贸易"),
    ("E47", "建设工程"),
    ("K70", "置业"),
    ("J66", "融资租赁"),
    ("G54", "物流"),
    ("H62", "餐饮管理"),
    ("M75", "科技服务"),
    ("C31", "钢铁"),
    ("L72", "咨询"),
    ("S", "公共服务"),
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞", "平", "刚")
_TITLES = ("财务总监", "总经理", "采购经理", "法务", "董事会秘书", "出纳")


def default_owners(count: int = 12) -> list[OwnerView]:
    """The relationship managers (Zoho users) of the synthetic org."""
    return [
        OwnerView(
            name=f"{_SURNAMES[i % len(_SURNAMES)]}{_GIVEN[i % len(_GIVEN)]}经理",
            user_id=zoho_id(100 + i),
            email=f"rm{i + 1:02d}@bank.example.cn",
        )
        for i in range(count)
    ]


def _uscc(rng: random.Random, division: str) -> str:
    body = "".join(rng.choice(ALPHABET[:10] if i < 2 else ALPHABET) for i in range(8))
    return make("91" + division, body)


def synthetic_companies(
    count: int, seed: int = 0, *, start: datetime | None = None, contacts_per_company: int = 2
) -> Iterator[Company]:
    """``count`` companies, each with a Zoho view (and contacts); same seed, same companies."""
    rng = random.Random(seed)
    owners = default_owners()
    start = start or datetime(2021, 1, 1, tzinfo=CST)
    span = 3 * 365 * 86400
    used: set[str] = set()
    contact_serial = 10_000_000
    for key in range(1, count + 1):
        province, city, district, division, postcode = _PLACES[rng.randrange(len(_PLACES))]
        industry, trade = _TRADES[rng.randrange(len(_TRADES))]
        word = _WORDS[rng.randrange(len(_WORDS))] + _WORDS[rng.randrange(len(_WORDS))]
        name = f"{city.removesuffix('市')}{word}{trade}有限公司" if key % 7 else f"{word}{trade}股份有限公司"
        if name in used:
            name = name.replace("有限公司", f"（{key}）有限公司")
        used.add(name)
        uscc = _uscc(rng, division)
        created = start + timedelta(seconds=rng.randrange(span))
        modified = created + timedelta(seconds=rng.randrange(86400 * 200))
        owner = owners[rng.randrange(len(owners))]
        contacts = []
        for c in range(rng.randrange(contacts_per_company + 1)):
            contact_serial += 1
            cname = _SURNAMES[rng.randrange(len(_SURNAMES))] + _GIVEN[rng.randrange(len(_GIVEN))] * (1 + c % 2)
            contacts.append(
                ContactView(
                    source_id=zoho_id(contact_serial),
                    name=cname,
                    title=_TITLES[rng.randrange(len(_TITLES))],
                    mobile=f"13{rng.randrange(10**9):09d}",
                    phone=None,
                    email=f"c{contact_serial}@corp.example.cn",
                    created_at=created,
                    modified_at=modified,
                )
            )
        view = CrmAccountView(
            system="zoho",
            source_id=zoho_id(1_000_000 + key),
            company_key=key,
            name=name,
            uscc=uscc,
            phone=f"0{rng.randrange(10, 99)}-{rng.randrange(10**7, 10**8)}",
            email=None,
            website=f"https://www.c{key}.example.cn",
            province=province,
            city=city,
            district=district,
            street=f"{_WORDS[rng.randrange(len(_WORDS))]}路{rng.randrange(1, 999)}号",
            postcode=postcode,
            industry_code=industry,
            legal_representative=None,
            registered_capital=None,
            annual_revenue=Decimal(rng.randrange(10**6, 10**10)) / 100,
            currency="CNY",
            employees=rng.randrange(5, 5000),
            established_on=None,
            owner=owner,
            created_at=created,
            modified_at=modified,
            contacts=contacts,
        )
        yield Company(key=key, uscc=uscc, name=name, profile="normal", zoho=view)


def views_of(world: Any) -> Iterable[CrmAccountView]:
    """The Zoho views of a world (anything with ``companies()``) or of an iterable of companies."""
    if hasattr(world, "crm_views"):  # the shared World: generate Zoho's views alone (no ledger detail)
        yield from world.crm_views("zoho")
        return
    companies = world.companies() if hasattr(world, "companies") else world
    for company in companies:
        if company.zoho is not None:
            yield company.zoho


# --- a world-backed, lazily regenerated org ------------------------------------------------------------------

LAZY_WORLD_MIN = 200_000
"""Worlds of at least this many companies are served lazily (setting ``lazy_world_min``): below it the records
are kept, so benchmarks at 100,000 companies do not pay regeneration in the simulator's CPU."""


def _fix_owner(sim: Any, view: CrmAccountView) -> None:
    """Owners with non-numeric ids (another CRM's users) get a stable Zoho user id; every owner is a user."""
    owner = view.owner
    if not owner.user_id.isdigit():
        owner = OwnerView(owner.name, zoho_id(200 + zlib.crc32(owner.user_id.encode()) % 10_000), owner.email)
        view.owner = owner
    sim.users.setdefault(owner.user_id, owner)


def _account(sim: Any, view: CrmAccountView) -> dict[str, Any]:
    from crmhub_zoho.simulator.state import _roll

    rec = account_record(view, sim.admin)
    f = sim.faults
    if f.malformed_rate and _roll("malformed", rec["id"], f.seed) < f.malformed_rate:
        sim._break(rec)
    return rec


def _contact(sim: Any, cview: ContactView, view: CrmAccountView) -> dict[str, Any]:
    from crmhub_zoho.simulator.state import _roll

    crec = contact_record(cview, view, sim.admin)
    f = sim.faults
    if f.malformed_rate and _roll("malformed", crec["id"], f.seed) < f.malformed_rate:
        crec["Last_Name"] = None
        crec["Full_Name"] = crec["First_Name"]
        sim.malformed[crec["id"]] = "missing Last_Name"
    return crec


def load_lazily(sim: Any, world: Any) -> None:
    """Fill ``sim``'s Accounts and Contacts from the shared world without keeping the records.

    One pass generates every Zoho view once (to index ``Modified_Time``, ``Created_Time`` and the duplicate-check
    fields, and to learn the owners and the malformed records); afterwards a record is regenerated from its id
    (`World.crm_view` of the company the id encodes), identical to the loaded one, whenever it is read. Fault
    duplicates (new ids, not in the world) are kept as ordinary written records.
    """
    accounts, contacts = sim.modules["Accounts"], sim.modules["Contacts"]
    account_rows, contact_rows = accounts.index_rows(), contacts.index_rows()
    duplicates: list[dict[str, Any]] = []
    f = sim.faults
    for view in world.crm_views("zoho"):
        _fix_owner(sim, view)
        rec = _account(sim, view)
        account_rows.add(rec)
        if f.duplicate_rate and _roll_dup(rec["id"], f.seed) < f.duplicate_rate:
            duplicates.append(sim._duplicate_of(rec))
        for cview in view.contacts:
            contact_rows.add(_contact(sim, cview, view))

    def regenerate(rid: str) -> dict[str, Any] | None:
        decoded = world.codec.decode_zoho(rid)
        if decoded is None or decoded[0] >= world.clients:
            return None
        key, slot = decoded
        view = world.crm_view("zoho", key)
        if view is None:
            return None
        _fix_owner(sim, view)
        if slot == 1:
            return _account(sim, view)
        if 2 <= slot < 2 + len(view.contacts):
            return _contact(sim, view.contacts[slot - 2], view)
        return None

    accounts.load_index(account_rows, regenerate)
    contacts.load_index(contact_rows, regenerate)
    for dup in duplicates:
        accounts.put(dup)


def _roll_dup(rid: str, seed: int) -> float:
    from crmhub_zoho.simulator.state import _roll

    return _roll("duplicate", rid, seed)
