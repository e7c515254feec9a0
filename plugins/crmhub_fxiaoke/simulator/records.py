"""The simulator tenant's objects: ``describe`` payloads and world views turned into AccountObj / ContactObj.

Records look like the vendor's example answers (fact sheet §5.1): 24-hex ``_id``, ``owner`` as a list of
``FSUID_…`` with ``owner__r``/``owner__l`` expansions, millisecond times, ``version`` as a string, lookups as
``account_id`` + ``account_id__r``. Business fields are the tenant's own (UNCONFIRMED in the real product), with
crmhub's custom fields ``uscc__c``, ``risk_rating__c`` and ``risk_segment__c`` declared in ``describe``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmhub.sandbox.worldtypes import ContactView, CrmAccountView, OwnerView
from crmhub_fxiaoke import industry

RATING_OPTIONS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")
SEGMENT_OPTIONS = (("low", "低风险"), ("medium", "中风险"), ("high", "高风险"))
DEPARTMENT_ID = "1000"
DEPARTMENT_NAME = "对公业务部"


def _field(
    api: str,
    label: str,
    kind: str,
    define: str = "package",
    required: bool = False,
    options: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "api_name": api,
        "label": label,
        "type": kind,
        "define_type": define,
        "is_required": required,
        "is_active": True,
    }
    if options is not None:
        out["options"] = options
    out.update(extra)
    return out


def _system_fields() -> list[dict[str, Any]]:
    return [
        _field("_id", "ID", "text", "system"),
        _field("owner", "负责人", "employee", "package", True),
        _field("created_by", "创建人", "employee", "system"),
        _field("last_modified_by", "最后修改人", "employee", "system"),
        _field("create_time", "创建时间", "date_time", "system"),
        _field("last_modified_time", "最后修改时间", "date_time", "system"),
        _field(
            "life_status",
            "生命状态",
            "select_one",
            "package",
            options=[
                {"value": "normal", "label": "正常"},
                {"value": "invalid", "label": "作废"},
                {"value": "under_review", "label": "审核中"},
                {"value": "ineffective", "label": "未生效"},
            ],
        ),
        _field(
            "lock_status",
            "锁定状态",
            "select_one",
            "package",
            options=[{"value": "0", "label": "未锁定"}, {"value": "1", "label": "锁定"}],
        ),
        _field("is_deleted", "is_deleted", "true_or_false", "system"),
        _field("version", "version", "number", "system"),
        _field(
            "record_type",
            "业务类型",
            "record_type",
            "package",
            options=[{"value": "default__c", "label": "预设业务类型"}],
        ),
        _field("owner_department", "负责人主属部门", "text", "package"),
        _field("data_own_department", "归属部门", "department", "package"),
    ]


def describe_account(uscc_field: str = "uscc__c") -> dict[str, Any]:
    """The ``describe`` of AccountObj for this tenant."""
    fields = [
        *_system_fields(),
        _field("name", "客户名称", "text", "package", True, max_length=100),
        _field("account_no", "客户编号", "auto_number", "package"),
        _field("tel", "电话", "phone_number", "package"),
        _field("email", "邮件", "email", "package"),
        _field("url", "网址", "url", "package"),
        _field("country", "国家", "text", "package"),
        _field("province", "省", "text", "package"),
        _field("city", "市", "text", "package"),
        _field("district", "区", "text", "package"),
        _field("address", "详细地址", "text", "package"),
        _field(
            "industry",
            "行业",
            "select_one",
            "package",
            options=[{"value": o.value, "label": o.label} for o in industry.OPTIONS],
        ),
        _field(
            "account_level",
            "客户级别",
            "select_one",
            "package",
            options=[
                {"value": "A", "label": "重要客户"},
                {"value": "B", "label": "普通客户"},
                {"value": "C", "label": "一般客户"},
            ],
        ),
        _field("remark", "备注", "long_text", "package"),
        _field(uscc_field, "统一社会信用代码", "text", "custom", max_length=18),
        _field("legal_representative__c", "法定代表人", "text", "custom"),
        _field(
            "risk_rating__c",
            "风险评级",
            "select_one",
            "custom",
            options=[{"value": r, "label": r} for r in RATING_OPTIONS],
        ),
        _field(
            "risk_segment__c",
            "风险分层",
            "select_one",
            "custom",
            options=[{"value": v, "label": label} for v, label in SEGMENT_OPTIONS],
        ),
    ]
    return {
        "api_name": "AccountObj",
        "display_name": "客户",
        "label": "客户",
        "define_type": "package",
        "fields": {f["api_name"]: f for f in fields},
    }


def describe_contact() -> dict[str, Any]:
    """The ``describe`` of ContactObj for this tenant."""
    fields = [
        *_system_fields(),
        _field("name", "姓名", "text", "package", True),
        _field("account_id", "客户名称", "object_reference", "package", target_api_name="AccountObj"),
        _field("mobile1", "手机1", "phone_number", "package"),
        _field("tel1", "电话1", "phone_number", "package"),
        _field("email", "邮件", "email", "package"),
        _field("job_title", "职务", "text", "package"),
        _field("department", "部门", "text", "package"),
    ]
    return {
        "api_name": "ContactObj",
        "display_name": "联系人",
        "label": "联系人",
        "define_type": "package",
        "fields": {f["api_name"]: f for f in fields},
    }


def ms(dt: datetime) -> int:
    """Milliseconds since the epoch."""
    return int(dt.timestamp() * 1000)


def open_user_id(key: str) -> str:
    """A stable ``FSUID_<32 hex>`` for an employee key."""
    return "FSUID_" + hashlib.md5(key.encode(), usedforsecurity=False).hexdigest().upper()


def object_id(key: str) -> str:
    """A stable 24-hex record id for a key (used for records the simulator creates itself)."""
    return hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:24]


@dataclass(slots=True)
class Employee:
    """One employee in the tenant's directory (owners, the acting admin)."""

    open_user_id: str
    employee_id: str
    name: str
    email: str
    mobile: str

    def ref(self) -> dict[str, Any]:
        """The ``owner__r`` expansion."""
        return {
            "id": self.employee_id,
            "name": self.name,
            "nickname": self.name,
            "email": self.email,
            "phone": "",
            "dept": DEPARTMENT_ID,
            "status": 0,
            "openUserId": self.open_user_id,
        }


class Directory:
    """The tenant's employees, keyed by openUserId; owners from the world join on first sight."""

    def __init__(self, admin: Employee) -> None:
        self.admin = admin
        self.by_open_id: dict[str, Employee] = {admin.open_user_id: admin}

    def owner(self, view: OwnerView) -> Employee:
        """The employee for a world owner (created on first use)."""
        oid = open_user_id(view.user_id)
        emp = self.by_open_id.get(oid)
        if emp is None:
            n = len(self.by_open_id)
            emp = Employee(oid, str(1000 + n), view.name, view.email, f"139{n:08d}"[:11])
            self.by_open_id[oid] = emp
        return emp


def system_values(emp: Employee, created: int, modified: int, version: int, api: str) -> dict[str, Any]:
    """The system fields every record carries, owned by ``emp``."""
    return {
        "owner": [emp.open_user_id],
        "owner__r": emp.ref(),
        "owner__l": [emp.ref()],
        "created_by": [emp.open_user_id],
        "last_modified_by": [emp.open_user_id],
        "create_time": created,
        "last_modified_time": modified,
        "life_status": "normal",
        "lock_status": "0",
        "is_deleted": False,
        "version": str(version),
        "record_type": "default__c",
        "object_describe_api_name": api,
        "data_own_department": [DEPARTMENT_ID],
        "owner_department": DEPARTMENT_NAME,
        "owner_department_id": DEPARTMENT_ID,
        "relevant_team": [
            {"teamMemberEmployee": [emp.open_user_id], "teamMemberRole": "1", "teamMemberPermissionType": "2"}
        ],
    }


def account_record(view: CrmAccountView, emp: Employee, rng: random.Random, uscc_field: str) -> dict[str, Any]:
    """An AccountObj record for a world view (``None`` values are left out, as the gateway does)."""
    created, modified = ms(view.created_at), max(ms(view.modified_at), ms(view.created_at))
    rec: dict[str, Any] = {"_id": view.source_id, "name": view.name}
    rec.update(system_values(emp, created, modified, 1 + rng.randrange(6) if modified > created else 1, "AccountObj"))
    business = {
        uscc_field: view.uscc,
        "tel": view.phone,
        "email": view.email,
        "url": view.website,
        "country": "中国",
        "province": view.province,
        "city": view.city,
        "district": view.district,
        "address": view.street,
        "industry": industry.simulated_choice(view.industry_code, rng),
        "account_level": rng.choice(("A", "B", "B", "C")),
        "legal_representative__c": view.legal_representative.name if view.legal_representative else None,
    }
    rec.update({k: v for k, v in business.items() if v is not None})
    return rec


def contact_record(view: ContactView, account: dict[str, Any], emp: Employee) -> dict[str, Any]:
    """A ContactObj record linked to ``account`` through ``account_id`` / ``account_id__r``."""
    created = ms(view.created_at) if view.created_at else account["create_time"]
    modified = max(ms(view.modified_at) if view.modified_at else created, created)
    rec: dict[str, Any] = {
        "_id": view.source_id,
        "name": view.name,
        "account_id": account["_id"],
        "account_id__r": account.get("name"),
    }
    rec.update(system_values(emp, created, modified, 1 if modified == created else 2, "ContactObj"))
    business = {"mobile1": view.mobile, "tel1": view.phone, "email": view.email, "job_title": view.title}
    rec.update({k: v for k, v in business.items() if v is not None})
    return rec


MALFORMED_KINDS = ("bad_uscc", "missing_name", "wrong_type")


def malform(rec: dict[str, Any], kind: str, uscc_field: str) -> None:
    """Damage a record the way dirty tenant data is damaged (deterministic per kind)."""
    if kind == "bad_uscc" and isinstance(rec.get(uscc_field), str) and len(rec[uscc_field]) == 18:
        code = rec[uscc_field]
        wrong = "0" if code[-1] != "0" else "1"
        rec[uscc_field] = code[:17] + wrong
    elif kind == "bad_uscc":
        rec[uscc_field] = "91110000ABCDEFGHIO"
    elif kind == "missing_name":
        rec.pop("name", None)
    else:
        rec["name"] = 20240101  # a number where text belongs (a broken import)
