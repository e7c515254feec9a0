"""The simulator's state: settings, clock, users, module stores, OAuth, request log, limits counters.

One `ZohoSimulator` per app; tests and the demo reach it as ``app.simulator``. Data comes from the shared world
(``options.world``); the data-level faults (``malformed_rate``, ``duplicate_rate``, ``token_ttl``) are applied here
because only the simulator knows what a malformed Zoho record or an early-expired Zoho token looks like.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import zlib
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.worldtypes import OwnerView
from crmhub_zoho.simulator.fields import ACCOUNTS, CONTACTS, ModuleDef
from crmhub_zoho.simulator.oauth import OAuthState
from crmhub_zoho.simulator.seed import CST, account_record, contact_record, views_of, zoho_id, zoho_time
from crmhub_zoho.simulator.store import ModuleStore

EDITION_CONCURRENCY = {"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25}
"""Simultaneous calls per org per app (Kaizen #203; Airbyte ``_CONCURRENCY_API_LIMITS``)."""

DEFAULT_SETTINGS: dict[str, Any] = {
    "client_id": "1000.SANDBOXZOHOCRMCLIENT",
    "client_secret": "sandbox-zoho-client-secret",
    "refresh_token": "1000.sandbox0refresh0token.zoho0crm0simulator",
    "token_lifetime": 3600,
    "refresh_limit": 10,
    "refresh_window": 600,
    "live_tokens": 15,
    "refresh_tokens_per_user": 20,
    "edition": "standard",
    "concurrency": None,
    "heavy_concurrency": 10,
    "daily_credits": 100_000,
    "page_wall": 2000,
    "page_token_ttl": 86400,
    "page_token_limit": 100_000,
    "search_cap": 2000,
    "write_limit": 100,
    "update_success_status": 200,
    "all_failed_status": 400,
    "bulk_polls": 3,
    "bulk_downloads_per_minute": 10,
    "bulk_rows_per_file": 200_000,
    "bulk_write_polls": 2,
    "bulk_write_credits": 500,
    "log_size": 200_000,
    "org_name": "示范银行对公业务部",
}
"""Every knob; UNCONFIRMED facts (update status 200, all-failed 400, page-token reach 100,000) are knobs."""


def _roll(*parts: object) -> float:
    return zlib.crc32("|".join(map(str, parts)).encode()) / 0xFFFFFFFF


class ZohoSimulator:
    """Everything the simulated Zoho org knows."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.base_url = options.base_url.rstrip("/")
        self.settings: dict[str, Any] = {**DEFAULT_SETTINGS, **(options.settings or {})}
        if self.settings["concurrency"] is None:
            self.settings["concurrency"] = EDITION_CONCURRENCY.get(self.settings["edition"], 10)
        self.faults: FaultProfile = options.faults or FaultProfile()
        self._clock = options.clock
        self.advance = 0.0
        self.admin = OwnerView(name="CRM 管理员", user_id=zoho_id(99), email="crm-admin@bank.example.cn")
        self.users: dict[str, OwnerView] = {self.admin.user_id: self.admin}
        self.modules: dict[str, ModuleStore] = {"Accounts": ModuleStore(ACCOUNTS), "Contacts": ModuleStore(CONTACTS)}
        self.log: deque[dict[str, Any]] = deque(maxlen=self.settings["log_size"])
        self.page_secret = secrets.token_bytes(16)
        self._serial = 90_000_000
        self.credits: deque[tuple[float, int]] = deque()
        self.credits_used = 0
        self.in_flight = 0
        self.heavy_in_flight = 0
        self.peak_in_flight = 0
        self.rejected_concurrency = 0
        self.rejected_credits = 0
        self.malformed: dict[str, str] = {}
        self.duplicates: dict[str, str] = {}
        self.oauth = OAuthState(self)
        from crmhub_zoho.simulator.bulk import BulkJobs

        self.bulk = BulkJobs(self)
        from crmhub_zoho.simulator.bulk_write import BulkWrites

        self.bulk_writes = BulkWrites(self)
        if options.world is not None:
            self.load_world(options.world)

    # --- time ---------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The org's now, in +08:00 (the clock given by the runner plus any admin advance)."""
        return (self._clock() + timedelta(seconds=self.advance)).astimezone(CST)

    def epoch_now(self) -> float:
        """Now as epoch seconds."""
        return self.now().timestamp()

    def now_text(self) -> str:
        """Now as Zoho writes datetimes."""
        return zoho_time(self.now())

    # --- ids and users ------------------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh 19-digit record id."""
        self._serial += 1
        return zoho_id(self._serial)

    def user_json(self, user_id: str, *, email: bool = True) -> dict[str, str]:
        """A user lookup as Zoho reads it (owner lookups carry the email)."""
        user = self.users.get(user_id, self.admin)
        out = {"name": user.name, "id": user.user_id}
        if email:
            out["email"] = user.email
        return out

    # --- world --------------------------------------------------------------------------------------------------

    def load_world(self, world: Any) -> None:
        """Load Accounts and Contacts from the world's Zoho views, applying data-level faults.

        The shared `World` regenerates any company alone, so from ``lazy_world_min`` companies on its records are
        indexed and not kept (`crmhub_zoho.simulator.seed.load_lazily`: bounded memory at a million companies, at
        ~0.6 ms of simulator CPU per record read instead of ~20 µs); smaller worlds and any other world (a list of
        companies) are loaded as dicts."""
        from crmhub_zoho.simulator.seed import LAZY_WORLD_MIN, load_lazily

        if hasattr(world, "crm_view") and len(world) >= self.settings.get("lazy_world_min", LAZY_WORLD_MIN):
            load_lazily(self, world)
            return
        accounts: list[dict[str, Any]] = []
        contacts: list[dict[str, Any]] = []
        f = self.faults
        for view in views_of(world):
            owner = view.owner
            if not owner.user_id.isdigit():
                owner = OwnerView(owner.name, zoho_id(200 + zlib.crc32(owner.user_id.encode()) % 10_000), owner.email)
                view.owner = owner
            self.users.setdefault(owner.user_id, owner)
            rec = account_record(view, self.admin)
            if f.malformed_rate and _roll("malformed", rec["id"], f.seed) < f.malformed_rate:
                self._break(rec)
            accounts.append(rec)
            if f.duplicate_rate and _roll("duplicate", rec["id"], f.seed) < f.duplicate_rate:
                accounts.append(self._duplicate_of(rec))
            for cview in view.contacts:
                crec = contact_record(cview, view, self.admin)
                if f.malformed_rate and _roll("malformed", crec["id"], f.seed) < f.malformed_rate:
                    crec["Last_Name"] = None
                    crec["Full_Name"] = crec["First_Name"]
                    self.malformed[crec["id"]] = "missing Last_Name"
                contacts.append(crec)
        self.modules["Accounts"].load(accounts)
        self.modules["Contacts"].load(contacts)

    def _break(self, rec: dict[str, Any]) -> None:
        kind = zlib.crc32(rec["id"].encode()) % 3
        if kind == 0:
            # (a USCC failing its check is no longer a rejection but a data-quality finding: the world's views
            # carry those typos already, see crmhub.sandbox.views_gen)
            rec["Annual_Revenue"] = "约500万"
            self.malformed[rec["id"]] = "Annual_Revenue is text"
        elif kind == 1:
            rec["Account_Name"] = None
            self.malformed[rec["id"]] = "missing Account_Name"
        else:
            rec["Employees"] = f"约{rec.get('Employees') or 100}人"
            self.malformed[rec["id"]] = "Employees is text"

    def _duplicate_of(self, rec: dict[str, Any]) -> dict[str, Any]:
        dup = dict(rec)
        dup["id"] = self.new_id()
        name = rec.get("Account_Name") or ""
        dup["Account_Name"] = name.replace("有限公司", "") + "（分部）" if name else None
        dup["USCC"] = None
        dup["Created_Time"] = dup["Modified_Time"]
        self.duplicates[dup["id"]] = rec["id"]
        return dup

    # --- realistic edits ----------------------------------------------------------------------------------------

    def mutate(self, count: int, seed: int, module: str = "Accounts") -> list[str]:
        """Change ``count`` records the way users do (phone, address, revenue, owner …), bumping Modified_Time."""
        store = self.modules[module]
        rng = random.Random(seed)
        ids = [e[2] for e in store.by_id]
        chosen = rng.sample(ids, min(count, len(ids)))
        owners = [u for u in self.users.values() if u.user_id != self.admin.user_id] or [self.admin]
        for rid in chosen:
            rec = dict(store.records[rid])
            change = rng.randrange(5)
            if module == "Contacts":
                rec["Mobile"] = f"13{rng.randrange(10**9):09d}"
                rec["Title"] = rng.choice(("财务总监", "总经理", "副总经理", "财务经理"))
            elif change == 0:
                rec["Phone"] = f"0{rng.randrange(10, 99)}-{rng.randrange(10**7, 10**8)}"
            elif change == 1:
                rec["Billing_Street"] = f"{rng.choice(('人民', '中山', '解放', '建设'))}路{rng.randrange(1, 999)}号"
            elif change == 2:
                rec["Annual_Revenue"] = round(rng.uniform(1e6, 1e9), 2)
            elif change == 3:
                owner = rng.choice(owners)
                rec["Owner"] = {"name": owner.name, "id": owner.user_id, "email": owner.email}
            else:
                rec["Employees"] = rng.randrange(5, 5000)
            self.touch(rec, self.admin.user_id)
            store.put(rec)
        return chosen

    def touch(self, rec: dict[str, Any], user_id: str) -> None:
        """Stamp a write: Modified_Time now (second precision, +08:00) and Modified_By."""
        rec["Modified_Time"] = self.now_text()
        rec["Modified_By"] = self.user_json(user_id)

    # --- bookkeeping --------------------------------------------------------------------------------------------

    def spend_credits(self, cost: int) -> bool:
        """Charge ``cost`` credits in the rolling 24 h; False (and nothing charged) when the budget is spent."""
        now = self.epoch_now()
        while self.credits and now - self.credits[0][0] >= 86400:
            self.credits_used -= self.credits.popleft()[1]
        budget = self.settings["daily_credits"]
        if budget is not None and self.credits_used + cost > budget:
            return False
        self.credits.append((now, cost))
        self.credits_used += cost
        return True

    def credits_remaining(self) -> int | None:
        """Credits left today, or None when unlimited."""
        budget = self.settings["daily_credits"]
        return None if budget is None else max(0, budget - self.credits_used)

    def page_signature(self, payload: bytes) -> str:
        """A short MAC binding a page token to this simulator."""
        return hashlib.blake2s(payload, key=self.page_secret, digest_size=8).hexdigest()

    def module_def(self, name: str) -> ModuleDef | None:
        """The module called ``name`` (case-insensitive, as Zoho accepts)."""
        for key, store in self.modules.items():
            if key.lower() == name.lower():
                return store.module
        return None

    def stats(self) -> dict[str, Any]:
        """Counters for ``/_sandbox/stats`` and the serve banner."""
        by_path: dict[str, int] = {}
        for entry in self.log:
            key = f"{entry['method']} {entry['path']}"
            by_path[key] = by_path.get(key, 0) + 1
        return {
            "records": {name: len(store) for name, store in self.modules.items()},
            "requests": len(self.log),
            "by_path": by_path,
            "token_refreshes": self.oauth.refresh_calls,
            "refresh_denied": self.oauth.denied,
            "live_access_tokens": len(self.oauth.access),
            "credits_used": self.credits_used,
            "credits_remaining": self.credits_remaining(),
            "peak_in_flight": self.peak_in_flight,
            "rejected_concurrency": self.rejected_concurrency,
            "rejected_credits": self.rejected_credits,
            "malformed": len(self.malformed),
            "duplicates": len(self.duplicates),
            "now": self.now_text(),
        }
