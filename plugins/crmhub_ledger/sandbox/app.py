"""The simulator's HTTP face: a Starlette app under ``/fineract-provider/api/v1`` plus ``/_sandbox`` admin routes.

Tenancy and auth follow Fineract's filter chain: the tenant comes first (``Fineract-Platform-TenantId`` header,
any case, or the legacy ``tenantIdentifier`` query parameter), then HTTP Basic. A missing tenant is answered
400 with Fineract's own wording; the real status is UNCONFIRMED (design note), and 400 was chosen because the
request, not the credentials, is at fault. ``build(options)`` wraps the app in `FaultMiddleware` and exposes the
`LedgerSimulator` as ``.simulator``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultMiddleware, FaultProfile
from crmhub_ledger.fineract import (
    API_PREFIX,
    CLIENT_STATUS,
    DEFAULT_LIMIT,
    TENANT_HEADER,
    DateParseError,
    parse_java_date,
)
from crmhub_ledger.sandbox import render
from crmhub_ledger.sandbox.errors import SimError, validation
from crmhub_ledger.sandbox.state import LedgerSimulator

Handler = Callable[[Request, LedgerSimulator], Awaitable[Any]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation(name, f"The parameter `{name}` must be an integer.", value=raw) from None


def _bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    return None if raw in (None, "") else raw.lower() == "true"


def _window(request: Request, total: int) -> tuple[int, int]:
    """(offset, end) from ``offset``/``limit``: absent limit → 200, ``limit <= 0`` → everything."""
    offset = max(0, _int(request, "offset", 0) or 0)
    limit = _int(request, "limit", DEFAULT_LIMIT)
    end = total if limit is None or limit <= 0 else min(total, offset + limit)
    return offset, end


def _sort_desc(request: Request, default_desc: bool = False) -> bool:
    raw = (request.query_params.get("sortOrder") or "").upper()
    if raw not in ("", "ASC", "DESC"):
        raise validation("sortOrder", "The parameter `sortOrder` must be ASC or DESC.", value=raw)
    return raw == "DESC" if raw else default_desc


def _page_ids(
    request: Request,
    ids: list[int],
    key: Callable[[int], Any] | None,
    kind: str,
    sim: LedgerSimulator,
    render_one: Callable[[int], dict[str, Any]],
) -> dict[str, Any]:
    """A Fineract ``Page``: ids already filtered; sort only when ``orderBy`` is not the id order kept."""
    desc = _sort_desc(request)
    order = ids if key is None else sorted(ids, key=key)
    if desc:
        order = order[::-1]
    offset, end = _window(request, len(order))
    items: list[dict[str, Any]] = []
    for ident in order[offset:end]:
        item = render_one(ident)
        items.append(item)
        if sim.duplicated(kind, ident):
            items.append(item)
    return {"totalFilteredRecords": len(order), "pageItems": items}


def _query_date(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if not raw:
        return None
    fmt = request.query_params.get("dateFormat") or "yyyy-MM-dd"
    locale = request.query_params.get("locale") or "en"
    try:
        return parse_java_date(raw, fmt, locale)
    except DateParseError as exc:
        raise validation(name, f"The parameter `{name}` is invalid: {exc}.", value=raw) from None


# --- clients ------------------------------------------------------------------------------------------------

_CLIENT_KEYS: dict[str, Callable[[Any], Any]] = {
    "displayName": lambda c: c.fullname,
    "accountNo": lambda c: c.account_no,
    "officeId": lambda c: c.office_id,
    "externalId": lambda c: c.external_id or "",
    "activationDate": lambda c: c.activation_date,
}


async def clients_list(request: Request, sim: LedgerSimulator) -> Any:
    q = request.query_params
    ids = sim.client_order
    office = _int(request, "officeId")
    if office is not None or q.get("externalId") or q.get("displayName") or q.get("status") or q.get("legalForm"):
        status = (q.get("status") or "").lower()
        name = (q.get("displayName") or "").lower()
        legal = _int(request, "legalForm")
        ids = [
            i
            for i in ids
            if (office is None or sim.clients[i].office_id == office)
            and (not q.get("externalId") or sim.clients[i].external_id == q.get("externalId"))
            and (not name or name in sim.clients[i].fullname.lower())
            and (legal is None or sim.clients[i].legal_form == legal)
            and (not status or CLIENT_STATUS[sim.clients[i].status][1].lower() == status)
        ]
    order_by = q.get("orderBy") or "id"
    if order_by not in ("id", *_CLIENT_KEYS):
        raise validation("orderBy", f"The parameter `orderBy` does not support {order_by!r}.", value=order_by)
    key = None if order_by == "id" else (lambda i: _CLIENT_KEYS[order_by](sim.clients[i]))
    details = bool(sim.settings.get("details_on_list", True))
    return _page_ids(request, ids, key, "client", sim, lambda i: render.client(sim, sim.clients[i], details=details))


async def client_one(request: Request, sim: LedgerSimulator) -> Any:
    client = sim.client(int(request.path_params["cid"]))
    return render.client(sim, client, details=bool(sim.settings.get("details_on_single", False)))


async def client_by_external(request: Request, sim: LedgerSimulator) -> Any:
    eid = request.path_params["eid"]
    for c in sim.clients.values():
        if c.external_id == eid:
            if request.method == "PUT":
                return sim.update_client(c.id, await _body(request), maker=request.state.user)
            return render.client(sim, c, details=bool(sim.settings.get("details_on_single", False)))
    raise SimError(
        404,
        "error.msg.client.external.id.invalid",
        f"Client with external id {eid} does not exist",
        parameter="externalId",
        value=eid,
    )


async def client_accounts(request: Request, sim: LedgerSimulator) -> Any:
    return render.client_accounts(sim, sim.client(int(request.path_params["cid"])))


async def client_identifiers(request: Request, sim: LedgerSimulator) -> Any:
    client = sim.client(int(request.path_params["cid"]))
    return [render.identifier(client, i) for i in range(len(client.identifiers))]


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise validation("body", "The request body is not valid JSON.") from None


async def clients_create(request: Request, sim: LedgerSimulator) -> Any:
    return sim.create_client(await _body(request), maker=request.state.user)


async def client_update(request: Request, sim: LedgerSimulator) -> Any:
    return sim.update_client(int(request.path_params["cid"]), await _body(request), maker=request.state.user)


# --- savings ------------------------------------------------------------------------------------------------


async def savings_list(request: Request, sim: LedgerSimulator) -> Any:
    ids = sim.savings_order
    order_by = request.query_params.get("orderBy") or "id"
    keys: dict[str, Callable[[int], Any]] = {
        "accountNo": lambda i: sim.savings[i].account_no,
        "clientId": lambda i: (sim.savings[i].client_id, i),
    }
    if order_by != "id" and order_by not in keys:
        raise validation("orderBy", f"The parameter `orderBy` does not support {order_by!r}.", value=order_by)
    return _page_ids(request, ids, keys.get(order_by), "savings", sim, lambda i: render.savings(sim, sim.savings[i]))


async def savings_one(request: Request, sim: LedgerSimulator) -> Any:
    account = sim.account(int(request.path_params["sid"]))
    out = render.savings(sim, account)
    assoc = (request.query_params.get("associations") or "").split(",")
    if "all" in assoc or "transactions" in assoc:
        out["transactions"] = [render.transaction(sim, account, t) for t in reversed(account.transactions)]
    return out


async def savings_transaction_one(request: Request, sim: LedgerSimulator) -> Any:
    account = sim.account(int(request.path_params["sid"]))
    tid = int(request.path_params["tid"])
    for t in account.transactions:
        if t.id == tid:
            return render.transaction(sim, account, t)
    raise SimError(
        404,
        "error.msg.saving.account.transaction.id.invalid",
        f"Savings account transaction with identifier {tid} does not exist",
        value=tid,
    )


_TX_KEYS: dict[str, Callable[[Any], Any]] = {
    "id": lambda t: t.id,
    "createdDate": lambda t: (t.booking_date, t.id),
    "submittedOnDate": lambda t: (t.booking_date, t.id),
    "transactionDate": lambda t: (t.value_date, t.id),
    "dateOf": lambda t: (t.value_date, t.id),
    "amount": lambda t: (t.amount, t.id),
}


async def transactions_search(request: Request, sim: LedgerSimulator) -> Any:
    """``…/transactions/search``: bisect the booking-date index, filter, page; ``{total, content}``."""
    account = sim.account(int(request.path_params["sid"]))
    q = request.query_params
    lo_day, hi_day = _query_date(request, "fromSubmittedDate"), _query_date(request, "toSubmittedDate")
    lo = bisect.bisect_left(account.booking_dates, lo_day) if lo_day else 0
    hi = bisect.bisect_right(account.booking_dates, hi_day) if hi_day else len(account.booking_dates)
    rows = account.transactions[lo:hi]
    from_value, to_value = _query_date(request, "fromDate"), _query_date(request, "toDate")
    try:
        from_amount = Decimal(q["fromAmount"]) if q.get("fromAmount") else None
        to_amount = Decimal(q["toAmount"]) if q.get("toAmount") else None
        types = {int(x) for x in q["types"].split(",") if x.strip()} if q.get("types") else None
    except (InvalidOperation, ValueError):
        raise validation("fromAmount", "Amount and type filters must be numbers.") from None
    credit, debit = _bool(request, "credit"), _bool(request, "debit")
    entries = {"CREDIT"} if credit and not debit else {"DEBIT"} if debit and not credit else None
    if from_value or to_value or from_amount is not None or to_amount is not None or types or entries:
        rows = [
            t
            for t in rows
            if (from_value is None or t.value_date >= from_value)
            and (to_value is None or t.value_date <= to_value)
            and (from_amount is None or t.amount >= from_amount)
            and (to_amount is None or t.amount <= to_amount)
            and (types is None or t.type_id in types)
            and (entries is None or t.entry in entries)
        ]
    order = [p.strip() for p in (q.get("orderBy") or "createdDate,transactionDate,id").split(",") if p.strip()]
    for part in order:
        if part not in _TX_KEYS:
            raise validation("orderBy", f"The parameter `orderBy` does not support {part!r}.", value=part)
    desc = _sort_desc(request, default_desc=not q.get("sortOrder"))
    if not (account.id_ordered and order in _STORED_ORDERS):
        keys = [_TX_KEYS[p] for p in order]
        rows = sorted(rows, key=lambda t: tuple(k(t) for k in keys))
    if desc:
        rows = rows[::-1]
    offset, end = _window(request, len(rows))
    content: list[dict[str, Any]] = []
    for t in rows[offset:end]:
        item = render.transaction(sim, account, t)
        content.append(item)
        if sim.duplicated("tx", t.id):
            content.append(item)
    return {"total": len(rows), "content": content}


_STORED_ORDERS = (["id"], ["createdDate"], ["submittedOnDate"], ["createdDate", "id"], ["submittedOnDate", "id"])
"""Orders the booking-order index already has when ids grow with booking (then no sort is needed)."""


async def savings_command(request: Request, sim: LedgerSimulator) -> Any:
    command = request.query_params.get("command") or ""
    return sim.savings_command(int(request.path_params["sid"]), command, await _body(request), maker=request.state.user)


# --- loans and audits ---------------------------------------------------------------------------------------


async def loans_list(request: Request, sim: LedgerSimulator) -> Any:
    q = request.query_params
    ids = sim.loan_order
    if q.get("externalId") or q.get("accountNo"):
        ids = [
            i
            for i in ids
            if (not q.get("externalId") or sim.loans[i].external_id == q.get("externalId"))
            and (not q.get("accountNo") or sim.loans[i].account_no == q.get("accountNo"))
        ]
    order_by = q.get("orderBy") or "id"
    keys: dict[str, Callable[[int], Any]] = {
        "accountNo": lambda i: sim.loans[i].account_no,
        "clientId": lambda i: (sim.loans[i].client_id, i),
    }
    if order_by != "id" and order_by not in keys:
        raise validation("orderBy", f"The parameter `orderBy` does not support {order_by!r}.", value=order_by)
    return _page_ids(
        request, ids, keys.get(order_by), "loan", sim, lambda i: render.loan(sim, sim.loans[i], set(), full=False)
    )


async def loan_one(request: Request, sim: LedgerSimulator) -> Any:
    ln = sim.loan(int(request.path_params["lid"]))
    raw = request.query_params.get("associations") or "all"
    assoc = {a.strip() for a in raw.split(",")}
    if "all" in assoc:
        assoc |= {"repaymentSchedule", "transactions"}
    assoc -= {e.strip() for e in (request.query_params.get("exclude") or "").split(",")}
    out = render.loan(sim, ln, assoc, full=True)
    fields = request.query_params.get("fields")
    if fields:
        keep = {f.strip() for f in fields.split(",")} | {"id"}
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _audit_time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise validation(
            name, f"The parameter `{name}` must be yyyy-MM-dd HH:mm:ss (tenant-local).", value=raw
        ) from None


async def audits(request: Request, sim: LedgerSimulator) -> Any:
    """``GET /audits``: write commands in tenant-local time, newest (highest id) first."""
    q = request.query_params
    rows = sim.audits
    start, stop = _audit_time(request, "makerDateTimeFrom"), _audit_time(request, "makerDateTimeTo")
    if start is not None:
        rows = rows[bisect.bisect_left(rows, start, key=lambda a: a.made_on) :]  # (a lazy trail builds log n rows)
    if stop is not None:
        rows = [a for a in rows if a.made_on <= stop]
    filters = {"entityName": "entity", "actionName": "action"}
    for param, attr in filters.items():
        if q.get(param):
            rows = [a for a in rows if getattr(a, attr) == q[param].upper()]
    for param, attr in (
        ("resourceId", "resource_id"),
        ("clientId", "client_id"),
        ("loanid", "loan_id"),
        ("savingsAccountId", "savings_id"),
    ):
        value = _int(request, param)
        if value is not None:
            rows = [a for a in rows if getattr(a, attr) == value]
    desc = _sort_desc(request, default_desc=True)
    ordered = rows[::-1] if desc else rows
    with_json = _bool(request, "includeJson") is True
    if _bool(request, "paged"):
        offset, end = _window(request, len(ordered))
        return {
            "totalFilteredRecords": len(ordered),
            "pageItems": [render.audit(a, with_command=with_json) for a in ordered[offset:end]],
        }
    return [render.audit(a, with_command=with_json) for a in ordered]


async def authentication(request: Request, sim: LedgerSimulator) -> Any:
    """``POST /authentication``: checks the password and returns the Basic key to send from now on."""
    body = await _body(request) if request.headers.get("content-length", "0") != "0" else {}
    user = body.get("username") or request.query_params.get("username")
    password = body.get("password") or request.query_params.get("password")
    if not user or sim.users.get(str(user)) != password:
        raise SimError(401, "error.msg.not.authenticated", "Invalid authentication details were passed in api request.")
    key = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {
        "username": user,
        "userId": 1,
        "base64EncodedAuthenticationKey": key,
        "authenticated": True,
        "officeId": 1,
        "officeName": "Head Office",
        "roles": [{"id": 1, "name": "Super user"}],
        "permissions": ["ALL_FUNCTIONS"],
        "shouldRenewPassword": False,
        "isTwoFactorAuthenticationRequired": False,
    }


ROUTES: list[tuple[str, str, Handler, bool]] = [
    ("GET", "/clients", clients_list, False),
    ("POST", "/clients", clients_create, True),
    ("GET", "/clients/external-id/{eid}", client_by_external, False),
    ("PUT", "/clients/external-id/{eid}", client_by_external, True),
    ("GET", "/clients/{cid:int}", client_one, False),
    ("PUT", "/clients/{cid:int}", client_update, True),
    ("GET", "/clients/{cid:int}/accounts", client_accounts, False),
    ("GET", "/clients/{cid:int}/identifiers", client_identifiers, False),
    ("GET", "/savingsaccounts", savings_list, False),
    ("GET", "/savingsaccounts/{sid:int}", savings_one, False),
    ("GET", "/savingsaccounts/{sid:int}/transactions/search", transactions_search, False),
    ("GET", "/savingsaccounts/{sid:int}/transactions/{tid:int}", savings_transaction_one, False),
    ("POST", "/savingsaccounts/{sid:int}/transactions", savings_command, True),
    ("GET", "/loans", loans_list, False),
    ("GET", "/loans/{lid:int}", loan_one, False),
    ("GET", "/audits", audits, False),
    ("POST", "/authentication", authentication, True),
]


def _authenticate(request: Request, sim: LedgerSimulator, public: bool) -> None:
    tenant = request.headers.get(TENANT_HEADER) or request.query_params.get("tenantIdentifier")
    if not tenant:
        raise SimError(
            400,
            "error.msg.tenant.identifier.missing",
            f"No tenant identifier found: Add request header of '{TENANT_HEADER}' or add the parameter "
            "'tenantIdentifier' to query string of request URL.",
            parameter=TENANT_HEADER,
        )
    if tenant not in sim.tenants:
        raise SimError(
            400,
            "error.msg.tenant.identifier.invalid",
            f"The tenant identifier: {tenant} is invalid",
            parameter=TENANT_HEADER,
            value=tenant,
        )
    request.state.tenant = tenant
    request.state.user = "-"
    if public:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Basic realm="Fineract Platform API"'}
    if scheme.lower() != "basic" or not token:
        raise SimError(401, "error.msg.not.authenticated", "Full authentication is required", headers=challenge)
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SimError(401, "error.msg.not.authenticated", "Malformed Basic credentials", headers=challenge) from None
    if sim.users.get(user) != password:
        raise SimError(401, "error.msg.not.authenticated", "Bad credentials", headers=challenge)
    request.state.user = user


def _endpoint(
    sim: LedgerSimulator, handler: Handler, method: str, path: str
) -> Callable[[Request], Awaitable[Response]]:
    public = path == "/authentication"

    async def endpoint(request: Request) -> Response:
        status = 500
        try:
            _authenticate(request, sim, public)
            with sim.lock:
                data = await handler(request, sim)
            status = 200
            return _json(data)
        except SimError as exc:
            status = exc.status
            return _json(exc.body(), exc.status, exc.headers)
        finally:
            sim.request_count += 1
            sim.requests.append(
                {
                    "at": sim.now().isoformat(sep=" "),
                    "method": method,
                    "path": request.url.path,
                    "query": request.url.query,
                    "status": status,
                    "tenant": getattr(request.state, "tenant", None),
                    "user": getattr(request.state, "user", None),
                }
            )

    return endpoint


def create_app(sim: LedgerSimulator) -> Starlette:
    """The bare Starlette app (no faults) serving ``sim``."""
    from crmhub_ledger.sandbox import admin

    routes = [
        Route(API_PREFIX + path, _endpoint(sim, handler, method, path), methods=[method])
        for method, path, handler, _ in ROUTES
    ]
    routes += admin.routes(sim)
    app = Starlette(routes=routes)
    app.state.simulator = sim
    return app


def build(options: SandboxOptions) -> FaultMiddleware:
    """The `SandboxApp.build` factory: a simulator loaded from ``options.world``, wrapped in fault injection."""
    profile = options.faults if isinstance(options.faults, FaultProfile) else FaultProfile()
    world = options.world
    settings = dict(options.settings)
    sim = LedgerSimulator(
        seed=options.seed,
        today=getattr(world, "today", None),
        now=getattr(world, "now", None),
        timezone=str(settings.get("timezone", "Asia/Shanghai")),
        malformed_rate=profile.malformed_rate,
        duplicate_rate=profile.duplicate_rate,
        settings=settings,
        wall=options.clock,
    )
    if world is not None:
        detail = settings.get("detail", True)
        sim.load_world(world, detail=detail if detail == "loans" else bool(detail))
    app = create_app(sim)
    wrapped = FaultMiddleware(app, profile)
    wrapped.simulator = sim  # type: ignore[attr-defined]
    app.state.faults = wrapped
    return wrapped
