"""Log in, log out, switch language. Every login, failed login and logout is an audit entry.

The login form has its own CSRF defence (a double-submitted random value: a SameSite=Strict cookie and a hidden
field that must match), since there is no session yet. Failed attempts are throttled per account and per address
(`crmhub.console.throttle`); a locked account is refused without its password being checked, and the answer
never says whether the account exists.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from crmhub.console import sessions
from crmhub.console.state import ConsoleState
from crmhub.console.web import Req, page
from crmhub.i18n import Lang
from crmhub.security import operators
from crmhub.security.passwords import verify_password
from crmhub.sync import audit

LOGIN_COOKIE = "crmhub_login"


def _safe_next(target: str | None) -> str:
    """Only a path on this console (never another site: an open redirect would help phishing)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _lang(request: Request, state: ConsoleState) -> Lang:
    wanted = request.query_params.get("lang")
    if wanted in ("zh", "en"):
        return wanted  # type: ignore[return-value]
    return "en" if request.cookies.get("crmhub_lang") == "en" else state.default_lang


def set_session_cookie(response: Response, state: ConsoleState, name: str, value: str, *, max_age: int | None) -> None:
    """A cookie with the console's flags: HttpOnly, SameSite=Strict, Secure (``[console] secure_cookie``)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=state.settings.console.secure_cookie,
        path="/",
    )


def _login_page(
    request: Request, state: ConsoleState, *, error: str | None = None, status: int = 200, username: str = ""
) -> HTMLResponse:
    lang = _lang(request, state)
    nonce = secrets.token_urlsafe(24)
    html = state.render(
        "login.html.j2",
        lang=lang,
        nonce=nonce,
        error=error,
        username=username,
        next=_safe_next(request.query_params.get("next")),
    )
    response = HTMLResponse(html, status_code=status)
    set_session_cookie(response, state, LOGIN_COOKIE, nonce, max_age=1800)
    response.set_cookie(
        "crmhub_lang",
        lang,
        max_age=365 * 86400,
        samesite="strict",
        path="/",
        secure=state.settings.console.secure_cookie,
    )
    return response


async def login_form(request: Request) -> Response:
    """GET /login: the form (already logged in: straight to the dashboard)."""
    state: ConsoleState = request.app.state.console
    if await run_in_threadpool(state.resume, request.cookies.get(sessions.COOKIE)):
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request, state)


def _check_password(state: ConsoleState, name: str, password: str, client: str) -> tuple[bool, dict[str, Any]]:
    with state.store.begin() as s:
        row = operators.get(s, name)
        ok = row is not None and row.enabled and verify_password(password, row.password_hash)
        if not ok:
            audit.append(
                s,
                actor=name[:64] if row is not None else "anonymous",
                action="console.login_failed",
                entity="operator",
                entity_id=name[:64] if row is not None else None,
                details={"client": client, **({} if row is not None else {"name": name[:64]})},
            )
            return False, {}
        assert row is not None
        sessions.purge_expired(s, idle=state.idle)
        token = sessions.start(s, row.name, client=client)
        audit.append(
            s, actor=row.name, action="console.login", entity="operator", entity_id=row.name, details={"client": client}
        )
        return True, {"token": token, "lang": row.lang}


async def login_submit(request: Request) -> Response:
    """POST /login: check the double-submitted nonce, the throttle, then the password."""
    state: ConsoleState = request.app.state.console
    form = await request.form(max_files=0, max_fields=10)
    nonce, cookie = form.get("_nonce"), request.cookies.get(LOGIN_COOKIE)
    if not isinstance(nonce, str) or not cookie or not hmac.compare_digest(nonce.encode(), cookie.encode()):
        return _login_page(request, state, status=403, error="form expired, please try again / 表单已过期，请重试")
    name = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")
    client = request.client.host if request.client else "unknown"
    lang = _lang(request, state)
    wait = state.throttle.retry_after(f"user:{name}", f"ip:{client}")
    if wait > 0:
        msg = (
            f"尝试次数过多，请 {int(wait) + 1} 秒后再试"
            if lang == "zh"
            else f"Too many attempts; try again in {int(wait) + 1} s"
        )
        locked = _login_page(request, state, status=429, error=msg, username=name)
        locked.headers["Retry-After"] = str(int(wait) + 1)
        return locked
    ok, info = await run_in_threadpool(_check_password, state, name, password, client)
    if not ok:
        state.throttle.failed(f"user:{name}", f"ip:{client}")
        msg = "用户名或密码错误" if lang == "zh" else "Wrong user name or password"
        return _login_page(request, state, status=401, error=msg, username=name)
    state.throttle.succeeded(f"user:{name}")
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
    set_session_cookie(response, state, sessions.COOKIE, info["token"], max_age=None)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@page("POST", "/logout", command="console")
def logout(req: Req) -> Response:
    """End the session on the server and clear the cookie."""
    with req.db() as s:
        sessions.end(s, req.request.cookies.get(sessions.COOKIE))
        audit.append(
            s, actor=req.user.name, action="console.logout", entity="operator", entity_id=req.user.name, details={}
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@page("POST", "/lang", command="console")
def switch_language(req: Req) -> Response:
    """Keep the user's console language (zh/en) on their operator row: it follows them to any browser."""
    lang = req.field("lang")
    if lang in ("zh", "en"):
        with req.db() as s:
            row = operators.get(s, req.user.name)
            if row is not None:
                row.lang = lang
    return req.redirect(_safe_next(req.field("next") or "/"))


PUBLIC_ROUTES = [
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login_submit, methods=["POST"], name="login_submit"),
]
"""Routes open without a session: only the login page (everything else is declared with `page`)."""
