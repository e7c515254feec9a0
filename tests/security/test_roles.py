"""The role table is complete, matches docs/security.md, and the guard refuses every data-changing command to an
operator without the role — before the command does anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select

from crmhub.cli.app import app
from crmhub.security.guard import ENV_USER, TEST_SWITCH
from crmhub.security.passwords import verify_password
from crmhub.security.roles import COMMANDS, render_markdown
from crmhub.store import Store
from crmhub.store.tables import AuditLog, Operator

from .conftest import Cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _leaves() -> dict[str, Any]:
    from typer._click import Context

    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        ctx = Context(command)
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
        else:
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), [])
    return found


def _argv(path: str, command: Any) -> list[str]:
    """The command with a placeholder for every required argument and option (the guard runs before the body)."""
    argv = path.split()
    for param in command.params:
        if not param.required:
            continue
        if param.param_type_name == "argument":
            argv.append("1")
        else:
            argv += [param.opts[0], "1"]
    return argv


def test_every_command_has_a_rule_and_every_rule_a_command() -> None:
    assert set(_leaves()) == set(COMMANDS)


def test_docs_show_the_same_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.index("<!-- roles-table -->"), text.index("<!-- /roles-table -->")
    assert text[start + len("<!-- roles-table -->") : end].strip() == render_markdown()


ACT = sorted(c for c, rule in COMMANDS.items() if rule.kind == "act" and c != "users passwd")


@pytest.mark.parametrize("command", ACT)
def test_operator_without_the_role_is_refused(command: str, people: Store, config: str, cli: Cli) -> None:
    rule = COMMANDS[command]
    outsider = "viewer" if "viewer" not in rule.roles else None
    assert outsider is not None
    with people.begin() as s:
        before = s.scalar(select(func.count()).select_from(AuditLog))
    code, _, err = cli("--as", outsider, *_argv(command, _leaves()[command]), "-c", config)
    assert code == 2, err
    assert f"may not run `{command}`" in err and ", ".join(rule.roles) in err
    with people.begin() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == before


def test_unknown_user_is_refused_in_both_languages(
    people: Store, config: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli("--as", "ghost", "sync", "-c", config)
    assert code == 2 and "operator 'ghost' (from --as) is not registered" in err
    monkeypatch.setenv(ENV_USER, "ghost")
    code, _, err = cli("--lang", "zh", "deadletter", "retry", "--all", "-c", config)
    assert code == 2 and "操作员 'ghost'（来自 CRMHUB_USER）未注册" in err
    monkeypatch.setenv(ENV_USER, "maker")
    code, _, err = cli("deadletter", "retry", "--all", "-c", config)
    assert code == 0, err


def test_os_login_must_be_registered_and_the_test_switch_does_nothing_once_operators_exist(
    people: Store, config: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    monkeypatch.setenv(TEST_SWITCH, "1")
    code, _, err = cli("deadletter", "retry", "--all", "-c", config)
    assert code == 2 and f"operator {getpass.getuser()!r} (from os) is not registered" in err


def test_bootstrap_first_user_is_admin_then_admin_only(
    store: Store, config: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TEST_SWITCH)
    code, _, err = cli("sync", "-c", config)
    assert code == 2 and "is not registered" in err  # an empty store is not open for changes
    code, out, err = cli("users", "add", "boss", "--role", "operator", "-c", config)
    assert code == 0 and "the first operator is always an admin" in out, err
    code, _, err = cli("users", "add", "eve", "--role", "admin", "-c", config)
    assert code == 2 and "is not registered" in err
    assert cli("--as", "boss", "users", "add", "maker", "--role", "operator", "-c", config)[0] == 0
    code, _, err = cli("--as", "maker", "users", "add", "eve", "--role", "admin", "-c", config)
    assert code == 2 and "may not run `users add`" in err
    code, _, err = cli("--as", "boss", "users", "add", "x", "--role", "wizard", "-c", config)
    assert code == 2 and "unknown role(s): wizard" in err
    with store.begin() as s:
        roles = {o.name: o.roles for o in s.scalars(select(Operator))}
    assert roles == {"boss": ["operator", "admin"], "maker": ["operator"]}


def test_closed_reads_and_reveal_need_a_registered_operator_with_a_role(
    people: Store, config: str, cli: Cli, tmp_path: Path
) -> None:
    assert cli("--as", "nobody", "clients", "list", "-c", config)[0] == 0  # open reads (the default)
    closed = tmp_path / "closed.toml"
    closed.write_text(Path(config).read_text(encoding="utf-8") + "[security]\nopen_reads = false\n", encoding="utf-8")
    code, _, err = cli("--as", "nobody", "clients", "list", "-c", str(closed))
    assert code == 2 and "not registered" in err
    assert cli("--as", "viewer", "clients", "list", "-c", str(closed))[0] == 0
    code, _, err = cli("--as", "viewer", "clients", "show", "1", "--reveal", "--reason", "KYC", "-c", config)
    assert code == 2 and "may not use --reveal" in err
    code, _, err = cli("--as", "nobody", "clients", "show", "1", "--reveal", "--reason", "KYC", "-c", config)
    assert code == 2 and "not registered" in err


def test_passwords_are_hashed_and_only_admins_set_others(
    people: Store, config: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert cli("--as", "maker", "users", "passwd", "maker", "--password-stdin", "-c", config)[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another password\n"))
    code, _, err = cli("--as", "maker", "users", "passwd", "checker", "--password-stdin", "-c", config)
    assert code == 2 and "only an admin" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("admin-set password\n"))
    assert cli("--as", "admin", "users", "passwd", "checker", "--password-stdin", "-c", config)[0] == 0
    with people.begin() as s:
        rows = {o.name: o.password_hash for o in s.scalars(select(Operator))}
        audited = s.scalars(select(AuditLog.details).where(AuditLog.action == "operator.password")).all()
    assert verify_password("correct horse battery", rows["maker"]) and not verify_password("wrong", rows["maker"])
    assert verify_password("admin-set password", rows["checker"]) and rows["maker"].startswith("scrypt$")  # type: ignore[union-attr]
    assert "correct horse" not in str(audited)


def test_as_is_taken_from_anywhere_on_the_line(people: Store, config: str, cli: Cli) -> None:
    assert cli("deadletter", "retry", "--all", "--as=maker", "-c", config)[0] == 0
    assert cli("deadletter", "--as", "maker", "retry", "--all", "-c", config)[0] == 0
    code, _, err = cli("deadletter", "retry", "--all", "-c", config, "--as=viewer")
    assert code == 2 and "operator viewer (roles: viewer) may not run `deadletter retry`" in err
    with pytest.raises(SystemExit) as exc:  # like a bad --lang: refused before anything runs
        cli("deadletter", "retry", "--all", "-c", config, "--as=")
    assert exc.value.code == 2
