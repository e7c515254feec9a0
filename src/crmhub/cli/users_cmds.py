"""``crmhub users`` (operators and their roles) and ``crmhub approvals`` (four-eyes proposals).

Who may run which of these is decided by the role table (`crmhub.security.roles`) like every other command;
the rules particular to them — a password only for oneself unless admin, never approving one's own proposal —
live in `crmhub.security.operators` / `crmhub.security.approvals`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from crmhub.cli.common import ConfigOption, console, load_context, write_json_line
from crmhub.core.exit_codes import ExitCode
from crmhub.display import label, local_time
from crmhub.errors import AccessError, InputError
from crmhub.i18n import bilingual
from crmhub.masking import mask_fields
from crmhub.security import approvals, operators
from crmhub.security.guard import Actor, current_actor, identify
from crmhub.store.tables import Approval

users_app = typer.Typer(help="Operators: who may use crmhub, with which roles.", no_args_is_help=True)
approvals_app = typer.Typer(
    help="Four-eyes approvals: actions proposed by one operator, decided by another.", no_args_is_help=True
)
JsonOption = typer.Option(False, "--json", help="Print JSON (raw ids, for machines).")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Operator name (what --as and CRMHUB_USER take)."),
    role: list[str] = typer.Option(
        ..., "--role", help="viewer, operator, approver, aml_officer or admin (repeatable)."
    ),
    display_name: str | None = typer.Option(None, "--display-name", help="The person's full name."),
    config: Path | None = ConfigOption,
) -> None:
    """Register an operator (the first one on an empty store is always an admin)."""
    ctx = load_context(config)
    actor = current_actor()
    with ctx.session() as s:
        first = operators.count(s) == 0
        roles = [*role, "admin"] if first else list(role)
        row = operators.add(
            s,
            name,
            roles,
            display_name=display_name,
            actor=actor.name if actor.registered else f"bootstrap:{actor.name}",
        )
        roles = list(row.roles)
    console.print(
        bilingual(
            f"已添加操作员 {name}（角色：{', '.join(roles)}）", f"operator {name} added (roles: {', '.join(roles)})"
        )
    )
    if first:
        console.print(bilingual("这是第一位操作员，已授予 admin 角色", "the first operator is always an admin"))


@users_app.command("list")
def users_list(config: Path | None = ConfigOption, json_out: bool = JsonOption) -> None:
    """List operators with their roles and whether they are enabled."""
    ctx = load_context(config)
    with ctx.session() as s:
        rows = [
            {
                "name": r.name,
                "display_name": r.display_name,
                "roles": list(r.roles),
                "enabled": r.enabled,
                "has_password": r.password_hash is not None,
                "created_at": r.created_at.isoformat(),
                "created_by": r.created_by,
            }
            for r in operators.list_all(s)
        ]
    if json_out:
        for r in rows:
            write_json_line(r)
        return
    table = Table(title=bilingual("操作员", "Operators"))
    for col in (
        bilingual("名称", "name"),
        bilingual("姓名", "display name"),
        bilingual("角色", "roles"),
        bilingual("状态", "status"),
        bilingual("创建时间", "created"),
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["display_name"] or "-"),
            ", ".join(r["roles"]),  # type: ignore[arg-type]
            bilingual("启用", "enabled") if r["enabled"] else bilingual("停用", "disabled"),
            local_time(str(r["created_at"])),
        )
    console.print(table)


@users_app.command("disable")
def users_disable(name: str = typer.Argument(..., help="Operator name."), config: Path | None = ConfigOption) -> None:
    """Disable an operator: they can no longer act (kept for the audit trail)."""
    ctx = load_context(config)
    actor = current_actor()
    if name == actor.name:
        raise InputError(
            bilingual("不能停用自己", "you cannot disable yourself"),
            hint=bilingual("请另一位管理员操作", "ask another admin"),
        )
    with ctx.session() as s:
        operators.disable(s, name, actor=actor.name)
    console.print(bilingual(f"已停用操作员 {name}", f"operator {name} disabled"))


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt(bilingual("新密码", "New password"), hide_input=True)
    second = typer.prompt(bilingual("再输入一次", "Repeat it"), hide_input=True)
    if first != second:
        raise InputError(bilingual("两次输入的密码不一致", "the two passwords differ"))
    return str(first)


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(..., help="Operator name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from one line of stdin (scripts)."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Set an operator's password (for the console): admins for anyone, everyone else for themself."""
    ctx = load_context(config)
    actor = current_actor()
    if name != actor.name and "admin" not in actor.roles:
        raise AccessError(
            bilingual(
                f"只有管理员可以修改他人（{name}）的密码", f"only an admin may set another operator's ({name}) password"
            )
        )
    password = _read_password(password_stdin)
    with ctx.session() as s:
        operators.set_password(s, name, password, actor=actor.name)
    console.print(bilingual(f"已设置 {name} 的密码", f"password of {name} set"))


def _aml_hidden(row: Approval, viewer: Actor | None) -> bool:
    """True when ``row`` concerns an AML alert and ``viewer`` is not an AML officer (the console asks the same)."""
    return approvals.aml_hidden(row.action, viewer.roles if viewer is not None else ())


def _approval_json(row: Approval) -> dict[str, object]:
    return {
        "id": row.id,
        "action": row.action,
        "payload": mask_fields(row.payload, None),
        "proposer": row.proposer,
        "created": row.created.isoformat(),
        "status": row.status,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "note": row.note,
    }


@approvals_app.command("list")
def approvals_list(
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
    status: str = typer.Option("pending", "--status", help="pending, approved, rejected, applied, failed or all."),
) -> None:
    """List proposals waiting for (or past) a second operator's decision."""
    if status != "all" and status not in approvals.STATUSES:
        raise InputError(f"--status must be one of: {', '.join(approvals.STATUSES)}, all (got {status!r})")
    ctx = load_context(config)
    viewer = identify(ctx)
    with ctx.session() as s:
        rows = [
            _approval_json(r)
            for r in approvals.list_approvals(s, None if status == "all" else status)
            if not _aml_hidden(r, viewer)
        ]
    if json_out:
        for r in rows:
            write_json_line(r)
        return
    table = Table(title=bilingual("审批单", "Approvals"))
    for col in (
        "id",
        bilingual("动作", "action"),
        bilingual("内容", "payload"),
        bilingual("提议人", "proposer"),
        bilingual("状态", "status"),
        bilingual("决定人", "decided by"),
        bilingual("创建时间", "created"),
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["action"]),
            json.dumps(r["payload"], ensure_ascii=False),
            str(r["proposer"]),
            label("approval_status", r["status"]),
            str(r["decided_by"] or "-"),
            local_time(str(r["created"])),
        )
    console.print(table)


@approvals_app.command("show")
def approvals_show(
    approval_id: int = typer.Argument(..., help="Approval id."),
    config: Path | None = ConfigOption,
    json_out: bool = JsonOption,
) -> None:
    """One proposal with its payload and decision."""
    ctx = load_context(config)
    viewer = identify(ctx)
    with ctx.session() as s:
        row = approvals.get(s, approval_id)
        if _aml_hidden(row, viewer):
            raise AccessError(
                bilingual(
                    f"审批单 {approval_id} 涉及反洗钱预警，只有 aml_officer 可以查看",
                    f"approval {approval_id} concerns an AML alert; only an aml_officer may see it",
                )
            )
        item = _approval_json(row)
    if json_out:
        write_json_line(item)
        return
    for key, value in item.items():
        console.print(f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value}")


NoteOption = typer.Option(None, "--note", help="Why (kept with the decision and in the audit log).")


@approvals_app.command("approve")
def approvals_approve(
    approval_id: int = typer.Argument(..., help="Approval id."),
    note: str | None = NoteOption,
    config: Path | None = ConfigOption,
) -> None:
    """Approve another operator's proposal: it is applied now (never one's own)."""
    ctx = load_context(config)
    with ctx.session() as s:
        row, result = approvals.approve(s, approval_id, current_actor(), note)
        status, proposer = row.status, row.proposer
    if status == "failed":
        console.print(
            bilingual(
                f"审批单 #{approval_id} 已批准但无法执行：{result.get('error')}",
                f"approval #{approval_id} approved but could not be applied: {result.get('error')}",
            )
        )
        raise typer.Exit(ExitCode.FAILED)
    console.print(
        bilingual(
            f"审批单 #{approval_id}（提议人 {proposer}）已批准：{status}",
            f"approval #{approval_id} (proposed by {proposer}) approved: {status}",
        )
    )


@approvals_app.command("reject")
def approvals_reject(
    approval_id: int = typer.Argument(..., help="Approval id."),
    note: str = typer.Option(..., "--note", help="Why it is rejected (required)."),
    config: Path | None = ConfigOption,
) -> None:
    """Reject another operator's proposal with a reason; nothing is applied."""
    ctx = load_context(config)
    with ctx.session() as s:
        approvals.reject(s, approval_id, current_actor(), note)
    console.print(bilingual(f"审批单 #{approval_id} 已拒绝", f"approval #{approval_id} rejected"))
