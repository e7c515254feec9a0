"""How a console page is written: one decorator (`page`) that does everything a page must never forget.

Every route is declared with the CLI command whose rule it follows (`crmhub.security.roles.COMMANDS`), so the
console and the CLI share one role table::

    @page("GET", "/deadletters", command="deadletter list")
    def deadletters(req: Req) -> Response:
        with req.db() as s:
            ...
        return req.render("deadletters/list.html.j2", rows=rows, pager=pager)

`page` resolves the session (anonymous: a redirect to the login page for a page, 401 for a POST),
checks the command's roles (403 page otherwise), checks the CSRF token of every POST (403), sets the request's
language, reads the form, and runs the (synchronous, database-bound) body in a worker thread. Errors the caller
can fix (`CrmhubError`) become a page that says what to do; the role check is never left to the body.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from crmhub.console import sessions
from crmhub.display import set_timezone
from crmhub.errors import AccessError, CrmhubError
from crmhub.i18n import Lang, set_lang
from crmhub.security.roles import REVEAL_ROLES, rule_for
from crmhub.sync import audit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crmhub.console.state import ConsoleState

Handler = Callable[["Req"], Response]
ROUTES: list[Route] = []
"""Every route declared with `page` (the app mounts them all; tests walk them for the anonymous/role checks)."""


@dataclass(frozen=True, slots=True)
class PageSpec:
    """What `page` knows of a route: the method, path and the CLI command whose rule it follows."""

    method: str
    path: str
    command: str
    roles: tuple[str, ...] = ()


SPECS: list[PageSpec] = []


@dataclass(slots=True)
class Req:
    """One authenticated request as a page body sees it."""

    request: Request
    user: sessions.ConsoleUser
    state: ConsoleState
    lang: Lang
    form: FormData | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends normally, rolled back on any error."""
        with self.state.store.begin() as s:
            yield s

    def text(self, zh: str, en: str) -> str:
        """``zh`` or ``en`` by the user's language."""
        return zh if self.lang == "zh" else en

    def arg(self, name: str, default: str = "") -> str:
        """A query-string argument, stripped ('' when absent)."""
        return (self.request.query_params.get(name) or default).strip()

    def field(self, name: str, default: str = "") -> str:
        """A form field, stripped ('' when absent)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        """Every value of a repeated form field (checkboxes)."""
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def page_number(self) -> int:
        """``?page=N`` (1-based; bad values are page 1)."""
        raw = self.arg("page", "1")
        return max(1, int(raw)) if raw.isdigit() and len(raw) < 9 else 1

    def may(self, command: str) -> bool:
        """Whether the user may do what ``command`` does (a read is open to every logged-in operator)."""
        rule = rule_for(command)
        return rule.kind != "act" or bool(self.user.roles & set(rule.roles))

    @property
    def may_reveal(self) -> bool:
        """Whether the user's roles allow revealing personal data (each reveal is audited)."""
        return bool(self.user.roles & set(REVEAL_ROLES))

    def audit_export(self, what: str) -> None:
        """Leave the audit entry of an export (who took which list out, in which format, filtered how) before the
        file is sent: what leaves the bank's screens is on the record, like the CLI's ``audit export``."""
        filters = {k: v for k, v in self.request.query_params.items() if k not in ("format", "page")}
        with self.db() as s:
            audit.append(
                s,
                actor=self.user.name,
                action="console.export",
                entity=what,
                entity_id=None,
                details={"format": self.arg("format"), "filters": filters},
            )

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render ``template`` with the user, language, CSRF token and flashes available to it."""
        return HTMLResponse(self.state.render(template, req=self, **context), status_code=status_code)

    def redirect(self, url: str, *, notice: str | None = None) -> RedirectResponse:
        """A 303 to ``url`` (after a POST), optionally with a one-line notice shown on the next page."""
        if notice:
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}{urlencode({'notice': notice[:300]})}"
        return RedirectResponse(url, status_code=303)

    def url(self, **changes: Any) -> str:
        """The current URL with query arguments changed (None removes one): filters, sorting and paging links."""
        params = dict(self.request.query_params)
        for key, value in changes.items():
            if value is None or value == "":
                params.pop(key, None)
            else:
                params[key] = str(value)
        query = urlencode(params)
        return f"{self.request.url.path}?{query}" if query else self.request.url.path


@dataclass(frozen=True, slots=True)
class Pager:
    """One page of a server-side paginated list."""

    rows: list[Any]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.size + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.size)


def paginate(session: Session, query: Select[Any], page: int, size: int, *, scalars: bool = True) -> Pager:
    """Run ``query`` for one page (LIMIT/OFFSET) and count all its rows (one COUNT over the same filters).

    ``query`` must carry its ORDER BY (a stable one: end it with the primary key). ``scalars=False`` returns
    rows (tuples) for multi-column queries.
    """
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, math.ceil(total / size))
    page = min(page, pages)
    limited = query.limit(size).offset((page - 1) * size)
    rows: list[Any] = []
    if scalars:
        rows.extend(session.scalars(limited))
    else:
        rows.extend(session.execute(limited))
    return Pager(rows, total, page, size)


def _wants_fragment(request: Request) -> bool:
    return request.method != "GET"


def page(method: str, path: str, *, command: str, roles: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Declare a console route following ``command``'s rule in the role table (see the module docstring).

    ``roles``: an extra restriction beyond the command's own (e.g. reveal needs `REVEAL_ROLES`).
    """
    rule_for(command)  # a typo in the command name fails at import, not at the first request

    def wrap(fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            state: ConsoleState = request.app.state.console
            token = request.cookies.get(sessions.COOKIE)
            user = await run_in_threadpool(state.resume, token)
            if user is None:
                if _wants_fragment(request):
                    return PlainTextResponse("login required / 请先登录", status_code=401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
            lang: Lang = "en" if user.lang == "en" else ("zh" if user.lang == "zh" else state.default_lang)
            set_lang(lang)
            set_timezone(state.settings.timezone)  # times on every page in the configuration's zone
            req = Req(request, user, state, lang)
            if method == "POST":
                form = await request.form(max_files=0, max_fields=2000)
                sent = form.get("_csrf") or request.headers.get("X-CSRF-Token") or ""
                if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), user.csrf.encode()):
                    return PlainTextResponse(
                        "CSRF token missing or wrong / 表单令牌无效，请刷新页面后重试", status_code=403
                    )
                req.form = form
            rule = rule_for(command)
            if (rule.kind == "act" and not user.roles & set(rule.roles)) or (roles and not user.roles & set(roles)):
                needed = roles or rule.roles
                return req.render(
                    "error.html.j2",
                    status_code=403,
                    title=req.text("无权操作", "Not allowed"),
                    message=req.text(
                        f"此操作需要以下角色之一：{', '.join(needed)}",
                        f"This needs one of the roles: {', '.join(needed)}",
                    ),
                )
            try:
                return await run_in_threadpool(fn, req)
            except AccessError as exc:
                return req.render(
                    "error.html.j2",
                    status_code=403,
                    title=req.text("无权操作", "Not allowed"),
                    message=exc.message,
                    hint=exc.hint,
                )
            except CrmhubError as exc:
                return req.render(
                    "error.html.j2",
                    status_code=400,
                    title=req.text("无法完成", "Could not do that"),
                    message=exc.message,
                    hint=exc.hint,
                )

        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        ROUTES.append(Route(path, endpoint, methods=[method], name=fn.__name__))
        SPECS.append(PageSpec(method, path, command, roles))
        return fn

    return wrap
