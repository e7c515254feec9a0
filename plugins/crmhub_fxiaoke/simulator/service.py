"""The simulated tenant's behaviour, independent of HTTP: load, read, write, lifecycle, mutations.

`FxiaokeSimulator` is what ``app.simulator`` exposes to in-process tests and the demo. Operations raise
`ApiError` with the gateway's ``errorCode``; the HTTP layer (`crmhub_fxiaoke.simulator.app`) turns that into the
HTTP-200 envelope.
"""

from __future__ import annotations

import hashlib
import random
import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.worldtypes import CrmAccountView
from crmhub_fxiaoke import codes
from crmhub_fxiaoke.simulator import query, records
from crmhub_fxiaoke.simulator.state import Clock, ObjectTable, Quota, RequestLog, Tokens, Windows, dumps

ACCOUNT, CONTACT = "AccountObj", "ContactObj"


class ApiError(Exception):
    """An answer with a non-zero errorCode."""

    def __init__(self, code: int, message: str, description: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.description = description or message


@dataclass(slots=True)
class SimSettings:
    """Simulator settings (``SandboxOptions.settings``); defaults are the real service's."""

    # the same sandbox credentials as config/crmhub.toml's defaults, so the example config works against it
    app_id: str = "FSAID_sandbox"
    app_secret: str = "sandbox-app-secret"
    permanent_code: str = "sandbox-permanent-code"
    corp_id: str = "FSCID_" + hashlib.md5(b"crmhub-sandbox-corp", usedforsecurity=False).hexdigest().upper()
    ea: str = "crmhubsandbox"
    admin_open_user_id: str = "FSUID_SANDBOX"
    token_lifetime: float = 7200.0
    window_seconds: float = 20.0
    calls_per_window: int = 100
    token_window_seconds: float = 60.0
    token_calls_per_window: int = 10
    daily_quota: int | None = None
    duplicate_error_code: int = codes.PARAMETER_ERROR
    invalid_visible_by_default: bool = False
    uscc_field: str = "uscc__c"
    generate: int = 0
    lazy_world_min: int = 200_000  # worlds of this many companies on are served lazily (see `_load_lazily`)
    log_size: int = 10_000
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> SimSettings:
        """Build from ``SandboxOptions.settings``; unknown keys are kept in ``extra``."""
        known = set(cls.__dataclass_fields__) - {"extra"}
        out = cls(**{k: v for k, v in raw.items() if k in known})
        out.extra = {k: v for k, v in raw.items() if k not in known}
        return out


def _share(key: str, seed: int, salt: str) -> float:
    """A deterministic number in [0, 1) per record (which records are malformed/duplicated)."""
    digest = hashlib.blake2b(f"{seed}:{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FxiaokeSimulator:
    """One simulated Fenxiang tenant."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.settings = SimSettings.from_mapping(dict(options.settings))
        self.faults: FaultProfile = options.faults or FaultProfile()
        self.clock = Clock(options.clock)
        self.tokens = Tokens(self.settings.token_lifetime, self.faults.token_ttl)
        self.windows = Windows(self.settings.calls_per_window, self.settings.window_seconds)
        self.token_window = Windows(self.settings.token_calls_per_window, self.settings.token_window_seconds)
        self.quota = Quota(self.settings.daily_quota)
        self.log = RequestLog(self.settings.log_size)
        uscc = self.settings.uscc_field
        self.tables = {ACCOUNT: ObjectTable(ACCOUNT, (uscc, "name")), CONTACT: ObjectTable(CONTACT, ("account_id",))}
        self.describes = {ACCOUNT: records.describe_account(uscc), CONTACT: records.describe_contact()}
        admin = records.Employee(
            self.settings.admin_open_user_id, "1000", "crmhub 管理员", "admin@bank.example.cn", "13800000000"
        )
        self.directory = records.Directory(admin)
        self.rng = random.Random(options.seed)
        self.mutations = 0
        self.lock = threading.RLock()
        world = options.world
        if hasattr(world, "crm_view") and hasattr(world, "crm_views") and len(world) >= self.settings.lazy_world_min:
            self._load_lazily(world)
        else:
            self._load(self._views())

    # -- loading ---------------------------------------------------------------------------------------------

    def _views(self) -> Iterable[CrmAccountView]:
        world = self.options.world
        if world is not None:
            if hasattr(world, "crm_views"):  # the shared World: generate Fenxiang's views alone
                yield from world.crm_views("fxiaoke")
                return
            companies = world
            if hasattr(world, "companies"):
                try:  # the ledger's transactions are not this service's business: skip generating them
                    companies = world.companies(ledger_detail=False)
                except TypeError:
                    companies = world.companies()
            for item in companies:
                view = getattr(item, "fxiaoke", item)
                if isinstance(view, CrmAccountView):
                    yield view
        elif self.settings.generate:
            from crmhub_fxiaoke.simulator.fakeworld import generate_views

            yield from generate_views(int(self.settings.generate), self.options.seed)

    def _records_of(self, view: CrmAccountView) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
        """A view's account (malformed when the fault says so), its fault duplicate or ``None``, its contacts."""
        seed, uscc = self.options.seed, self.settings.uscc_field
        emp = self.directory.owner(view.owner)
        rng = random.Random(f"{seed}:{view.source_id}")
        acc = records.account_record(view, emp, rng, uscc)
        if self.faults.malformed_rate and _share(acc["_id"], seed, "malformed") < self.faults.malformed_rate:
            kind = records.MALFORMED_KINDS[int(_share(acc["_id"], seed, "kind") * len(records.MALFORMED_KINDS))]
            records.malform(acc, kind, uscc)
        dup = None
        if self.faults.duplicate_rate and _share(acc["_id"], seed, "dup") < self.faults.duplicate_rate:
            dup = dict(acc, _id=records.object_id(f"dup:{acc['_id']}"))
            if isinstance(dup.get("name"), str):
                dup["name"] = dup["name"].replace("有限责任公司", "有限公司") + " "
            dup["create_time"] = dup["last_modified_time"] = acc["last_modified_time"] + 1
        return acc, dup, [records.contact_record(cv, acc, emp) for cv in view.contacts]

    def _load(self, views: Iterable[CrmAccountView]) -> None:
        accounts: list[dict[str, Any]] = []
        contacts: list[dict[str, Any]] = []
        for view in views:
            acc, dup, its_contacts = self._records_of(view)
            accounts.append(acc)
            if dup is not None:
                accounts.append(dup)
            contacts.extend(its_contacts)
        self.tables[ACCOUNT].bulk_load(accounts)
        self.tables[CONTACT].bulk_load(contacts)

    def _load_lazily(self, world: Any) -> None:
        """Fill the tables from the shared world without keeping the records (bounded memory at 1M companies).

        One pass generates every Fenxiang view once (to index ids, ``last_modified_time`` and the equality
        fields, and to meet the owners in the same order as `_load`, so employee ids agree); afterwards a record
        is regenerated from its id (`World.crm_view` of the company the id encodes), identical to the loaded one,
        whenever it is read. Fault duplicates (ids not in the world) are kept as ordinary written records.
        """
        acc_rows, con_rows = self.tables[ACCOUNT].index_rows(), self.tables[CONTACT].index_rows()
        duplicates: list[dict[str, Any]] = []
        for view in world.crm_views("fxiaoke"):
            acc, dup, its_contacts = self._records_of(view)
            acc_rows.add(acc)
            if dup is not None:
                duplicates.append(dup)
            for con in its_contacts:
                con_rows.add(con)

        def regenerate(rid: str) -> dict[str, Any] | None:
            decoded = world.codec.decode_fxiaoke(rid)
            if decoded is None or decoded[0] >= world.clients:
                return None
            view = world.crm_view("fxiaoke", decoded[0])
            if view is None:
                return None
            acc, _, its_contacts = self._records_of(view)
            return next((r for r in (acc, *its_contacts) if r["_id"] == rid), None)

        self.tables[ACCOUNT].load_lazy(acc_rows, regenerate)
        self.tables[CONTACT].load_lazy(con_rows, regenerate)
        for dup in duplicates:
            self.tables[ACCOUNT].insert(dup)

    # -- auth --------------------------------------------------------------------------------------------------

    def issue_token(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer ``/cgi/corpAccessToken/get/V2``."""
        s = self.settings
        for key, code in (("appId", 10001), ("appSecret", 10002), ("permanentCode", 10012)):
            if not body.get(key):
                raise ApiError(code, f"the parameter {key} is missing or illegal", "缺少参数或参数不合法")
        if body["appId"] != s.app_id or body["appSecret"] != s.app_secret or body["permanentCode"] != s.permanent_code:
            raise ApiError(
                codes.LIVE_BAD_APP_SECRET, "the parameter appSecret is missing or illegal", "缺少参数或参数不合法"
            )
        now = self.clock.now()
        tok = self.tokens.get(now, s.app_secret)
        return {"corpAccessToken": tok.value, "corpId": s.corp_id, "expiresIn": max(0, int(tok.expires - now))}

    def issue_oauth_token(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer ``/oauth2.0/token`` (header scheme)."""
        if body.get("grantType") not in (None, "app_secret"):
            raise ApiError(codes.INVALID_PARAMETER, "grantType must be app_secret")
        answer = self.issue_token(body)
        return {
            "accessToken": answer["corpAccessToken"],
            "expiresIn": answer["expiresIn"],
            "ea": self.settings.ea,
            "appId": self.settings.app_id,
            "openUserId": self.settings.admin_open_user_id,
        }

    def authenticate(self, body: dict[str, Any], headers: dict[str, str], *, needs_user: bool) -> str:
        """Check a business call's credentials (body or header style); return the acting openUserId."""
        now = self.clock.now()
        auth = headers.get("authorization", "")
        if auth:
            value = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            if not self.tokens.alive(value, now) or headers.get("x-fs-ea") != self.settings.ea:
                raise ApiError(
                    codes.TOKEN_EXPIRED,
                    "the cropId,cropAccessToken or authorization is error",
                    "corpAccessToken不存在或者已经过期",
                )
            if not headers.get("x-fs-userid"):
                raise ApiError(30027, "x-fs-userid is required", "员工不存在")
            return self.settings.admin_open_user_id
        token = body.get("corpAccessToken")
        if not token:
            raise ApiError(codes.CORP_ID_NOT_FOUND, "corpAccessToken为必填项，不能为空", "corpId未找到")
        if (
            not isinstance(token, str)
            or not self.tokens.alive(token, now)
            or body.get("corpId") != self.settings.corp_id
        ):
            raise ApiError(
                codes.TOKEN_EXPIRED,
                "the cropId,cropAccessToken or authorization is error",
                "corpAccessToken不存在或者已经过期",
            )
        user = body.get("currentOpenUserId")
        if needs_user and user not in self.directory.by_open_id:
            raise ApiError(30027, f"currentOpenUserId {user!r} is not an employee of this enterprise", "员工不存在")
        return str(user or self.settings.admin_open_user_id)

    # -- reads -------------------------------------------------------------------------------------------------

    def table(self, data: dict[str, Any], key: str = "dataObjectApiName") -> ObjectTable:
        """The table ``data[key]`` names, or errorCode 15002."""
        name = data.get(key)
        if name not in self.tables:
            raise ApiError(
                codes.INVALID_PARAMETER, f"object {name!r} does not exist or is not open to this app", "对象不存在"
            )
        return self.tables[str(name)]

    def query(self, data: dict[str, Any], body: dict[str, Any]) -> bytes:
        """Answer ``data/query``: the JSON of ``data`` ready to embed (records are cached bytes)."""
        table = self.table(data)
        sqi = data.get("search_query_info")
        if not isinstance(sqi, dict):
            raise ApiError(codes.INVALID_PARAMETER, "search_query_info is required")
        try:
            limit, offset = int(sqi.get("limit", 20)), int(sqi.get("offset", 0))
        except (TypeError, ValueError):
            raise ApiError(codes.INVALID_PARAMETER, "limit and offset must be integers") from None
        if not 1 <= limit <= 100:
            raise ApiError(codes.INVALID_PARAMETER, f"limit {limit} is out of range 1-100", "limit 不能超过100")
        if offset < 0 or offset % limit:
            raise ApiError(
                codes.INVALID_PARAMETER,
                f"offset {offset} must be a multiple of limit {limit}",
                "offset 必须是 limit 的整数倍",
            )
        if offset > 10_000:
            raise ApiError(codes.MISSING_CORP_ACCESS_TOKEN, codes.OFFSET_OUT_OF_RANGE_MESSAGE, "offset 不能超过10000")
        try:
            filters = query.parse_filters(sqi.get("filters"))
            orders = query.parse_orders(sqi.get("orders"))
        except query.QueryError as exc:
            raise ApiError(codes.INVALID_PARAMETER, str(exc), "参数错误") from None
        want_total = (
            _truthy(data.get("find_explicit_total_num", True))
            and _truthy(data.get("need_return_count_num", True))
            and body.get("returnTotalNum", 1) not in (2, "2")
        )
        rows, total = query.run(
            table,
            filters,
            orders,
            offset,
            limit,
            want_total=want_total,
            include_invalid_by_default=self.settings.invalid_visible_by_default,
        )
        projection = sqi.get("fieldProjection") or []
        if projection:
            keep = set(projection) | {"_id"}
            items = [dumps({k: v for k, v in r.items() if k in keep}) for r in rows]
        else:
            items = [table.encoded(r) for r in rows]
        return (
            b'{"dataList":['
            + b",".join(items)
            + b'],"offset":'
            + str(offset).encode()
            + b',"limit":'
            + str(limit).encode()
            + b',"total":'
            + str(total).encode()
            + b"}"
        )

    def get(self, data: dict[str, Any]) -> dict[str, Any]:
        """Answer ``data/get``."""
        table = self.table(data)
        rec = table.records.get(str(data.get("objectDataId")))
        if rec is None:
            raise ApiError(codes.PARAMETER_ERROR, f"data {data.get('objectDataId')!r} does not exist", "数据不存在")
        return rec

    # -- writes ------------------------------------------------------------------------------------------------

    def _clean(self, table: ObjectTable, fields: dict[str, Any], user: str) -> dict[str, Any]:
        describe = self.describes[table.api_name]["fields"]
        out: dict[str, Any] = {}
        for key, value in fields.items():
            spec = describe.get(key)
            if spec is None or spec["define_type"] == "system" or key in ("owner", "life_status", "lock_status"):
                continue
            if (
                value is not None
                and spec["type"] == "select_one"
                and spec.get("options")
                and str(value) not in {o["value"] for o in spec["options"]}
            ):
                raise ApiError(
                    codes.PARAMETER_ERROR, f"{spec['label']}({key}): option {value!r} does not exist", "选项值不存在"
                )
            if value is not None and spec["type"] not in ("employee", "department") and isinstance(value, dict | list):
                raise ApiError(codes.PARAMETER_ERROR, f"{spec['label']}({key}): wrong value type", "字段类型错误")
            out[key] = value
        if table.api_name == CONTACT and out.get("account_id"):
            account = self.tables[ACCOUNT].records.get(str(out["account_id"]))
            if account is None:
                raise ApiError(
                    codes.PARAMETER_ERROR, f"account_id {out['account_id']!r} does not exist", "关联数据不存在"
                )
            out["account_id__r"] = account.get("name")
        return out

    def create(self, data: dict[str, Any], user: str) -> str:
        """Answer ``data/create``: the new record's id."""
        obj = data.get("object_data")
        if not isinstance(obj, dict):
            raise ApiError(codes.INVALID_PARAMETER, "object_data is required")
        table = self.table(obj)
        fields = self._clean(table, obj, user)
        if not isinstance(fields.get("name"), str) or not fields["name"].strip():
            raise ApiError(codes.PARAMETER_ERROR, "名称(name) is required", "必填字段未填写")
        option = data.get("optionInfo") or {}
        uscc_field = self.settings.uscc_field
        if table.api_name == ACCOUNT and _truthy(option.get("isDuplicateSearch", False)) and fields.get(uscc_field):
            for other_id in sorted(table.equality[uscc_field].get(str(fields[uscc_field]), ())):
                other = table.records[other_id]
                if other.get("life_status") != "invalid":
                    raise ApiError(
                        self.settings.duplicate_error_code,
                        f"duplicate data: 统一社会信用代码 {fields[uscc_field]} 与已有客户 "
                        f"{other.get('name')} ({other_id}) 重复",
                        "数据重复",
                    )
        emp = self.directory.by_open_id.get(user, self.directory.admin)
        owner = obj.get("owner")
        if isinstance(owner, list) and owner and owner[0] in self.directory.by_open_id:
            emp = self.directory.by_open_id[owner[0]]
        now = self.clock.now_ms()
        self.mutations += 1
        rec_id = f"{int(now / 1000):08x}{self.rng.getrandbits(64):016x}"
        rec: dict[str, Any] = {"_id": rec_id}
        rec.update(records.system_values(emp, now, now, 1, table.api_name))
        rec["created_by"] = rec["last_modified_by"] = [user]
        rec.update({k: v for k, v in fields.items() if v is not None})
        table.insert(rec)
        return rec_id

    def _bump(self, table: ObjectTable, rec_id: str, changes: dict[str, Any], user: str) -> dict[str, Any]:
        rec = table.records[rec_id]
        changes = dict(
            changes,
            last_modified_time=max(self.clock.now_ms(), rec["last_modified_time"] + 1),
            version=str(int(rec.get("version", "1")) + 1),
            last_modified_by=[user],
        )
        updated = table.replace(rec_id, changes)
        if table.api_name == ACCOUNT and "name" in changes:
            contacts = self.tables[CONTACT]
            for cid in list(contacts.equality["account_id"].get(rec_id, ())):
                contacts.replace(cid, {"account_id__r": changes["name"]})
        return updated

    def _live(self, table: ObjectTable, rec_id: object) -> dict[str, Any]:
        rec = table.records.get(str(rec_id))
        if rec is None or rec.get("life_status") == "invalid":
            raise ApiError(
                codes.PARAMETER_ERROR, f"data {rec_id!r} does not exist or has been invalidated", "数据不存在或已作废"
            )
        return rec

    def update(self, data: dict[str, Any], user: str) -> str:
        """Answer ``data/update``."""
        obj = data.get("object_data")
        if not isinstance(obj, dict) or not obj.get("_id"):
            raise ApiError(codes.INVALID_PARAMETER, "object_data._id is required")
        table = self.table(obj)
        rec = self._live(table, obj["_id"])
        fields = self._clean(table, {k: v for k, v in obj.items() if k != "_id"}, user)
        if "name" in fields and (not isinstance(fields["name"], str) or not fields["name"].strip()):
            raise ApiError(codes.PARAMETER_ERROR, "名称(name) must not be blank", "必填字段未填写")
        self.mutations += 1
        self._bump(table, rec["_id"], fields, user)
        return str(rec["_id"])

    def invalid(self, data: dict[str, Any], user: str) -> None:
        """Answer ``data/invalid`` (作废): the record leaves normal views, stays queryable by filter."""
        table = self.table(data)
        rec = self._live(table, data.get("object_data_id"))
        self.mutations += 1
        self._bump(table, rec["_id"], {"life_status": "invalid", "is_deleted": True}, user)

    def recover(self, data: dict[str, Any], user: str) -> None:
        """Answer ``data/recover`` (shape UNCONFIRMED: ``object_data_id`` or ``idList``)."""
        table = self.table(data)
        ids = data.get("idList") or [data.get("object_data_id")]
        for rec_id in ids:
            rec = table.records.get(str(rec_id))
            if rec is None or rec.get("life_status") != "invalid":
                raise ApiError(codes.PARAMETER_ERROR, f"data {rec_id!r} is not invalidated", "数据未作废")
        for rec_id in ids:
            self._bump(table, str(rec_id), {"life_status": "normal", "is_deleted": False}, user)

    def delete(self, data: dict[str, Any]) -> None:
        """Answer ``data/delete``: hard delete, only of invalidated records, all or nothing."""
        table = self.table(data)
        ids = data.get("idList")
        if not isinstance(ids, list) or not ids:
            raise ApiError(codes.INVALID_PARAMETER, "idList is required")
        for rec_id in ids:
            rec = table.records.get(str(rec_id))
            if rec is None or rec.get("life_status") != "invalid":
                raise ApiError(
                    codes.PARAMETER_ERROR,
                    f"data {rec_id!r} must be invalidated before it can be deleted",
                    "只能删除已作废的数据",
                )
        for rec_id in ids:
            table.remove(str(rec_id))
        self.mutations += 1

    # -- sandbox admin -----------------------------------------------------------------------------------------

    def mutate(self, count: int, seed: int) -> list[str]:
        """Change ``count`` live accounts the way salespeople do; bumps last_modified_time and version."""
        rng = random.Random(seed)
        table = self.tables[ACCOUNT]
        # (sampled by position among the live ids, as sampling the list of live ids would pick, without
        # building that list: a lazy table would regenerate every record to know it)
        invalid = [bisect_left(table.by_id, i) for i in table.invalid_ids()]
        live = len(table.by_id) - len(invalid)
        chosen = [table.by_id[_live_position(j, invalid)] for j in rng.sample(range(live), min(count, live))]
        for rec_id in chosen:
            rec = table.records[rec_id]
            kind = rng.randrange(4)
            if kind == 0:
                change = {"tel": f"0{rng.randrange(10, 99)}-{rng.randrange(10**7, 10**8)}"}
            elif kind == 1:
                change = {"address": f"{rng.choice(('人民路', '建设路', '科技路'))}{rng.randrange(1, 999)}号"}
            elif kind == 2 and isinstance(rec.get("name"), str):
                name = rec["name"]
                change = {
                    "name": name.replace("有限公司", "有限责任公司")
                    if name.endswith("有限公司") and not name.endswith("有限责任公司")
                    else name.replace("有限责任公司", "有限公司")
                }
            else:
                change = {"account_level": rng.choice(("A", "B", "C"))}
            self._bump(table, rec_id, change, self.settings.admin_open_user_id)
        self.mutations += len(chosen)
        return chosen

    def stats(self) -> dict[str, Any]:
        """Counts for ``/_sandbox/stats``."""
        return {
            "records": {name: len(t) for name, t in self.tables.items()},
            "invalid": {name: len(t.invalid_ids()) for name, t in self.tables.items()},
            "calls": dict(self.log.calls),
            "codes": {p: dict(c) for p, c in self.log.codes.items()},
            "tokens_issued": self.tokens.issued,
            "quota": {"limit": self.quota.limit, "used": self.quota.used, "day": self.quota.day},
            "mutations": self.mutations,
            "clock": datetime.fromtimestamp(self.clock.now()).isoformat(),
        }


def _live_position(j: int, invalid: list[int]) -> int:
    """The position in ``by_id`` of the ``j``-th live id, given the sorted positions of the invalid ones."""
    for q in invalid:
        if q > j:
            break
        j += 1
    return j


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "")
    return bool(value)
