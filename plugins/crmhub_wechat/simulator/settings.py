"""The WeCom simulator's settings: the corp, its apps and robots, the member directory, and every limit.

Limits the design marks UNCONFIRMED (text size, the API-wide 45009 rate, OA details) are settings, so a test or an
operator can match whatever the real service turns out to do. Settings come from ``SandboxOptions.settings``,
either as a ``"wechat_work"`` (or ``"wecom"``) sub-table or as top-level keys named like the fields below.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from crmhub.contract import SandboxOptions

DEFAULT_CORP_ID = "ww5a7c3e0f9d1b2468"
DEFAULT_AGENT_ID = 1000002
DEFAULT_SECRET = "sandbox-wecom-app-secret-1000002-Xq7LmV2pR9sT4wY8zB3nC6dF1gH5jK0"
DEFAULT_WEBHOOK_KEY = "693a91f6-7c3e-4bc4-97a0-0ec2f1a5aaa1"
DEFAULT_OA_APP_ID = "wx5a7c3e0f9d1b2468"
DEFAULT_OA_SECRET = "sandbox-oa-app-secret-7d2c9e4b1a6f3e8d"
DEFAULT_OA_TEMPLATE = "crmhub-notice-tpl-0001"
DEFAULT_OA_FOLLOWERS = ("oCRMhubFollower000000000001", "oCRMhubFollower000000000002")
DEFAULT_OA_UNSUBSCRIBED = ("oCRMhubFormerFollower000001",)

DEFAULT_USERS: dict[str, str] = {
    "zhangsan": "张三",
    "lisi": "李四",
    "wangwu": "王五",
    "zhaoliu": "赵六",
    "sunqi": "孙七",
}
"""Relationship and risk managers every sandbox corp has (UserID → name)."""

DEFAULT_PARTIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "1": ("总行", ()),
    "2": ("公司金融部", ("zhangsan", "lisi", "wangwu")),
    "3": ("风险管理部", ("zhaoliu", "sunqi")),
}
"""Department id → (name, direct members); department 1 is the root and reaches every member."""

DEFAULT_TAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "1": ("客户经理", ("zhangsan", "lisi", "wangwu")),
    "2": ("风险经理", ("zhaoliu",)),
}


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One self-built app (自建应用) of the corp: its AgentId, Secret and name."""

    agent_id: int
    secret: str
    name: str = "crmhub 通知"


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Everything the simulator can be told; defaults follow the design fact sheet."""

    corp_id: str = DEFAULT_CORP_ID
    apps: tuple[AppSpec, ...] = (AppSpec(DEFAULT_AGENT_ID, DEFAULT_SECRET),)
    webhook_keys: tuple[str, ...] = (DEFAULT_WEBHOOK_KEY,)
    token_lifetime: float = 7200.0
    token_ttl: float | None = None
    rate_window_seconds: float = 60.0
    per_user_per_minute: int = 30
    per_user_per_hour: int = 1000
    robot_per_minute: int = 20
    api_calls_per_minute: int = 6000
    ip_allowlist: tuple[str, ...] | None = None
    concurrency_fault_rate: float = 0.0
    text_max_bytes: int = 2048
    markdown_max_bytes: int = 2048
    robot_text_max_bytes: int = 2048
    robot_markdown_max_bytes: int = 4096
    textcard_title_bytes: int = 128
    textcard_description_bytes: int = 512
    textcard_btntxt_chars: int = 4
    max_users: int = 1000
    max_parties: int = 100
    max_tags: int = 100
    duplicate_check_default_interval: int = 1800
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    unlicensed_users: tuple[str, ...] = ()
    parties: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=lambda: dict(DEFAULT_PARTIES))
    tags: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=lambda: dict(DEFAULT_TAGS))
    oa_app_id: str = DEFAULT_OA_APP_ID
    oa_secret: str = DEFAULT_OA_SECRET
    oa_followers: tuple[str, ...] = DEFAULT_OA_FOLLOWERS
    oa_unsubscribed: tuple[str, ...] = DEFAULT_OA_UNSUBSCRIBED
    oa_templates: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {DEFAULT_OA_TEMPLATE: ("keyword1", "keyword2", "keyword3")}
    )
    oa_old_token_grace: float = 300.0
    oa_dedup_seconds: float = 600.0
    world_scan_limit: int = 5000

    def app(self, agent_id: int) -> AppSpec | None:
        """The app with this AgentId, if the corp has one."""
        return next((a for a in self.apps if a.agent_id == agent_id), None)

    def app_by_secret(self, secret: str) -> AppSpec | None:
        """The app whose Secret this is (each app has its own)."""
        return next((a for a in self.apps if a.secret == secret), None)


_NAMES = {f.name for f in fields(SimSettings)}


def _tuple_of_apps(value: Any) -> tuple[AppSpec, ...]:
    apps = []
    for item in value:
        if isinstance(item, AppSpec):
            apps.append(item)
        else:
            apps.append(AppSpec(int(item["agent_id"]), str(item["secret"]), str(item.get("name", "crmhub 通知"))))
    return tuple(apps)


def _users(value: Any) -> dict[str, str]:
    """``["a", {"userid": "b", "name": "B"}]`` or ``{"a": "A"}`` → UserID → name."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in value:
        if isinstance(item, dict):
            out[str(item["userid"])] = str(item.get("name") or item["userid"])
        else:
            out[str(item)] = str(item)
    return out


def _groups(value: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {
        str(k): (str(v[0]), tuple(str(m) for m in v[1]))
        if isinstance(v, list | tuple)
        else (str(v.get("name", k)), tuple(str(m) for m in v.get("members", ())))
        for k, v in dict(value).items()
    }


def settings_from(raw: dict[str, Any], *, strict: bool) -> SimSettings:
    """Build settings from a mapping; ``users``/``parties``/``tags`` are *added* to the defaults.

    With ``strict`` an unknown key is an error naming the known ones (``crmhub sandbox serve`` passes each
    simulator its own settings, so a misspelt limit is caught instead of silently ignored).
    """
    unknown = set(raw) - _NAMES
    if strict and unknown:
        raise ValueError(
            f"unknown WeCom simulator setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_NAMES))}"
        )
    base = SimSettings()
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _NAMES:
            continue
        if key == "apps":
            changes[key] = _tuple_of_apps(value)
        elif key == "users":
            changes[key] = {**base.users, **_users(value)}
        elif key in ("parties", "tags"):
            changes[key] = {**getattr(base, key), **_groups(value)}
        elif key == "oa_templates":
            changes[key] = {str(k): tuple(v) for k, v in dict(value).items()}
        elif key in ("webhook_keys", "unlicensed_users", "oa_followers", "oa_unsubscribed") or (
            key == "ip_allowlist" and value is not None
        ):
            changes[key] = tuple(str(v) for v in value)
        else:
            changes[key] = value
    return replace(base, **changes)


def users_from_world(world: Any, *, limit: int = 5000) -> dict[str, str]:
    """Every relationship manager and contact with a WeCom UserID in the sandbox world's CRM views.

    Only the first ``limit`` companies are read (about 0.5 s per 1,000), so a million-client world does not stall
    the simulator's start; every relationship manager owns records among the first few hundred.
    """
    found: dict[str, str] = {}
    if world is None or not hasattr(world, "companies"):
        return found
    try:
        companies = world.companies(ledger_detail=False)
    except TypeError:
        companies = world.companies()
    for n, company in enumerate(companies):
        if n >= limit:
            break
        for view in (getattr(company, "zoho", None), getattr(company, "fxiaoke", None)):
            if view is None:
                continue
            owner = getattr(view, "owner", None)
            if owner is not None and getattr(owner, "user_id", None):
                found.setdefault(str(owner.user_id), str(getattr(owner, "name", owner.user_id)))
            for contact in getattr(view, "contacts", None) or ():
                uid = getattr(contact, "wecom_user_id", None)
                if uid:
                    found.setdefault(str(uid), str(getattr(contact, "name", uid)))
    return found


def settings_for(options: SandboxOptions) -> SimSettings:
    """Settings for one simulator run: the options' settings, the world's members and the fault profile's TTL."""
    raw = options.settings or {}
    section = raw.get("wechat_work", raw.get("wecom"))
    settings = settings_from(dict(section if isinstance(section, dict) else raw), strict=True)
    world_users = users_from_world(options.world, limit=settings.world_scan_limit)
    if world_users:
        settings = replace(settings, users={**world_users, **settings.users})
    ttl = getattr(options.faults, "token_ttl", None)
    if ttl is not None and settings.token_ttl is None:
        settings = replace(settings, token_ttl=float(ttl))
    return settings
