"""Console access: login, throttling, sessions on the server, CSRF, security headers, and the role check of every
route — walked from the route table, so a page added later is covered without a new test."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from tests.console.conftest import OPERATORS, Console, csrf_of, login_as

from crmhub.console import web
from crmhub.console.app import routes
from crmhub.security import operators
from crmhub.security.roles import ROLES, rule_for
from crmhub.store.tables import AuditLog, ConsoleSession


def _concrete(path: str) -> str:
    """A path with its parameters filled in (``{id:int}`` → 1)."""
    return re.sub(r"\{[^}]+\}", "1", path)


def test_anonymous_requests_go_to_the_login_page(console: Console) -> None:
    routes()
    client = console.client()
    assert web.SPECS, "no console routes are declared"
    for spec in web.SPECS:
        path = _concrete(spec.path)
        if spec.method == "GET":
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), spec
        else:
            answer = client.post(path, data={"_csrf": "x"})
            assert answer.status_code == 401, spec
    assert client.get("/login").status_code == 200


def test_every_route_refuses_a_user_without_its_role(console: Console) -> None:
    """For each action route, every operator lacking the command's roles gets 403 (with a valid CSRF token)."""
    routes()
    clients = {name: console.login(name) for name in OPERATORS}
    tokens = {name: csrf_of(client) for name, client in clients.items()}
    checked = 0
    for spec in web.SPECS:
        rule = rule_for(spec.command)
        needed = set(spec.roles) or (set(rule.roles) if rule.kind == "act" else set(ROLES))
        for name, roles in OPERATORS.items():
            if set(roles) & needed:
                continue
            client, path = clients[name], _concrete(spec.path)
            answer = client.get(path) if spec.method == "GET" else client.post(path, data={"_csrf": tokens[name]})
            assert answer.status_code == 403, (spec, name, answer.status_code)
            checked += 1
    restricted = [s for s in web.SPECS if s.roles or rule_for(s.command).kind == "act"]
    assert checked >= len(restricted)


def test_posts_without_the_csrf_token_are_refused(console: Console) -> None:
    routes()
    client = console.login("root")
    for spec in web.SPECS:
        if spec.method == "POST":
            answer = client.post(_concrete(spec.path), data={"note": "x"})
            assert answer.status_code == 403 and "CSRF" in answer.text, spec
            forged = client.post(_concrete(spec.path), data={"_csrf": "forged"})
            assert forged.status_code == 403, spec


def test_login_sets_a_hardened_cookie_and_leaves_audit_entries(console: Console) -> None:
    client = console.client()
    answer = login_as(client, "alice")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    page = client.get("/")
    assert page.status_code == 200 and 'data-user="alice"' in page.text
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"):
        assert header in page.headers, header
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    with console.store().begin() as s:
        actions = [a for (a,) in s.execute(select(AuditLog.action).where(AuditLog.actor == "alice"))]
    assert "console.login" in actions


def test_wrong_password_is_refused_then_throttled(console: Console) -> None:
    client = console.client()
    for _ in range(5):
        answer = login_as(client, "bob", "wrong-password")
        assert answer.status_code == 401 and "sessionid" not in answer.headers.get("set-cookie", "")
    locked = login_as(client, "bob", "pw-bob-2026")  # the right password, but the account is locked now
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    with console.store().begin() as s:
        failed = s.scalars(select(AuditLog).where(AuditLog.action == "console.login_failed")).all()
    assert len(failed) == 5 and all(a.entity_id == "bob" for a in failed)


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(console: Console) -> None:
    client = console.client()
    unknown = login_as(client, "mallory", "whatever-123")
    wrong = login_as(client, "alice", "whatever-123")
    assert unknown.status_code == wrong.status_code == 401
    assert re.sub(r'value="[^"]*"', "", unknown.text) == re.sub(r'value="[^"]*"', "", wrong.text)


def test_logout_and_disabling_end_the_session_on_the_server(console: Console) -> None:
    client = console.login("alice")
    assert client.post("/logout", data={"_csrf": csrf_of(client)}).status_code == 303
    assert client.get("/").status_code == 303
    second = console.login("olga")
    with console.store().begin() as s:
        operators.disable(s, "olga", actor="root")
    assert second.get("/").status_code == 303
    with console.store().begin() as s:
        assert not s.scalars(select(ConsoleSession).where(ConsoleSession.operator == "olga")).all()


def test_a_forged_next_parameter_stays_on_the_console(console: Console) -> None:
    client = console.client()
    form = client.get("/login?next=//evil.example/x")
    nonce = re.search(r'name="_nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    answer = client.post(
        "/login",
        data={
            "_nonce": nonce.group(1),
            "username": "alice",
            "password": "pw-alice-2026",
            "next": "https://evil.example/",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"


@pytest.mark.parametrize("lang, word", [("zh", "退出"), ("en", "Log out")])
def test_language_is_kept_per_user(console: Console, lang: str, word: str) -> None:
    client = console.login("carol", lang=lang)
    assert word in client.get("/").text
    other = console.login("carol")  # another browser: the choice follows the operator
    assert word in other.get("/").text
