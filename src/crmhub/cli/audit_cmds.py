"""``crmhub audit``: verify the keyed audit chain, export checkpoints of its head, list and export entries.

``verify`` and ``checkpoint`` exit 1 naming the first bad entry (what is wrong, its number, id, time and action);
a checkpoint file is the chain's head at one moment, to keep outside the database (WORM storage, another
machine) so that a deleted tail, which leaves a shorter but self-consistent chain, is found too.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from crmhub.cli.common import (
    AllOption,
    ConfigOption,
    LimitOption,
    console,
    err_console,
    load_context,
    note_cut,
    row_limit,
    write_json_line,
)
from crmhub.core.exit_codes import ExitCode
from crmhub.display import local_time
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.security.guard import current_actor
from crmhub.sync import audit_query
from crmhub.sync.audit import append
from crmhub.sync.audit_verify import KIND_LABELS, Checkpoint, Problem, Report, verify

audit_app = typer.Typer(
    help="The audit trail: verify the keyed chain, keep checkpoints, list and export entries.", no_args_is_help=True
)

JsonOption = typer.Option(False, "--json", help="Print JSON (raw ids, for machines).")
SinceOption = typer.Option(None, "--since", help="Only entries at or after this date or time (e.g. 2026-12-01).")
ActorOption = typer.Option(None, "--actor", help="Only entries by this actor (e.g. os:alice, sync).")
ObjectOption = typer.Option(None, "--object", help="Only entries about this object: TYPE or TYPE:ID (e.g. client:42).")


def _say_problem(problem: Problem) -> None:
    zh, en = KIND_LABELS[problem.kind]
    where = (
        bilingual(f"条目 #{problem.seq}", f"entry #{problem.seq}")
        if problem.seq is not None
        else bilingual("审计链", "the audit chain")
    )
    facts = ", ".join(
        x
        for x in (
            f"id {problem.entry_id}" if problem.entry_id is not None else "",
            local_time(problem.at) if problem.at else "",
            problem.action or "",
        )
        if x
    )
    colon = bilingual("：", ": ")
    err_console.print(
        f"[red]{bilingual('审计链已损坏', 'audit chain broken')}{colon}[/red]{where}"
        f"{f' ({escape(facts)})' if facts else ''} — {bilingual(zh, en)}{colon}{escape(problem.detail)}",
        markup=True,
    )


def _say_report(report: Report, json_out: bool) -> None:
    if json_out:
        write_json_line(report.as_dict())
    elif report.problem is not None:
        _say_problem(report.problem)
    else:
        newest = local_time(report.head_at)
        console.print(
            bilingual(
                f"审计链完整：{report.count} 个条目，最新条目 #{report.head_seq}（{newest}）",
                f"audit chain intact: {report.count} entries, newest #{report.head_seq} ({newest})",
            )
        )


@audit_app.command("verify")
def verify_cmd(
    from_checkpoint: Path | None = typer.Option(
        None, "--from-checkpoint", help="Also compare with this checkpoint file (finds a deleted tail)."
    ),
    json_out: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Check every entry of the keyed audit chain; exit 1 naming the first bad entry."""
    checkpoint = Checkpoint.read(from_checkpoint) if from_checkpoint is not None else None
    ctx = load_context(config)
    with ctx.session() as s:
        report = verify(s, checkpoint=checkpoint)
    _say_report(report, json_out)
    raise typer.Exit(ExitCode.FAILED if report.problem is not None else ExitCode.OK)


@audit_app.command("checkpoint")
def checkpoint_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the checkpoint (JSON)."),
    config: Path | None = ConfigOption,
) -> None:
    """Verify the chain, add a checkpoint entry and write the chain head to a file to keep outside the database."""
    if not output.parent.is_dir():
        raise InputError(
            bilingual(f"{output}：目录 {output.parent} 不存在", f"{output}: the folder {output.parent} does not exist"),
            hint=bilingual("请创建该目录或换一个 -o", "create it or choose another -o"),
        )
    ctx = load_context(config)
    with ctx.session() as s:
        report = verify(s)
        if report.problem is not None and report.problem.kind != "unsealed":
            _say_problem(report.problem)
            raise typer.Exit(ExitCode.FAILED)
        # the checkpoint entry itself: who took it, and (after an upgrade) the keyed entry sealing the plain ones
        row = append(
            s,
            actor=current_actor().name,
            action="audit.checkpoint",
            entity="audit_log",
            entity_id=None,
            details={"verified_entries": report.count, "file": output.name},
        )
        s.flush()
        checkpoint = Checkpoint(
            seq=row.seq,
            mac=row.hash,
            at=row.at.isoformat(),
            count=report.count + 1,
            key_id=row.key_id,
            created_at=datetime.now(UTC).isoformat(),
        )
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(checkpoint.model_dump(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, output)
    if report.plain and report.problem is not None:
        console.print(
            bilingual(
                f"已用密钥封存升级前的 {report.plain} 个普通哈希条目。",
                f"sealed the {report.plain} plain-hash entries from before the upgrade with the key.",
            )
        )
    console.print(
        bilingual(
            f"检查点已写入 {output}：条目 #{checkpoint.seq}，共 {checkpoint.count} 个条目。请将其保存在数据库之外。",
            f"checkpoint written to {output}: entry #{checkpoint.seq}, {checkpoint.count} entries. "
            "Keep it outside the database.",
        )
    )


@audit_app.command("list")
def list_cmd(
    since: str | None = SinceOption,
    actor: str | None = ActorOption,
    obj: str | None = ObjectOption,
    limit: int = LimitOption,
    all_rows: bool = AllOption,
    json_out: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """List audit entries, newest first: who did what to which object, when, in which run."""
    filters = audit_query.Filters.parse(since, actor, obj)
    ctx = load_context(config)
    cap = row_limit(limit, all_rows)
    shown = 0
    with ctx.session() as s:
        # one more than asked for tells whether the listing was cut, without counting the whole log
        items = audit_query.entries(s, filters, limit=cap + 1, newest_first=True)
        if json_out:
            for item in items:
                if shown == cap:
                    note_cut(shown, None)
                    break
                write_json_line(item)
                shown += 1
            return
        table = Table(title=bilingual("审计日志", "Audit log"))
        for col in (
            "#",
            bilingual("时间", "time"),
            bilingual("操作人", "actor"),
            bilingual("动作", "action"),
            bilingual("对象", "object"),
            bilingual("运行", "run"),
            bilingual("详情", "details"),
        ):
            table.add_column(col)
        cut = False
        for item in items:
            if shown == cap:
                cut = True
                break
            obj_text = item["object_type"] + (f":{item['object_id']}" if item["object_id"] is not None else "")
            details = json.dumps(item["details"], ensure_ascii=False, sort_keys=True)
            table.add_row(
                str(item["seq"]),
                local_time(item["at"]),
                item["actor"],
                item["action"],
                obj_text,
                str(item["run_id"] or "-"),
                details if len(details) <= 80 else details[:79] + "…",
            )
            shown += 1
    console.print(table)
    if cut:
        note_cut(shown, None)


@audit_app.command("export")
def export_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="The file to write."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    since: str | None = SinceOption,
    actor: str | None = ActorOption,
    obj: str | None = ObjectOption,
    config: Path | None = ConfigOption,
) -> None:
    """Export audit entries, oldest first, as JSON Lines or CSV (personal data masked; the export is audited)."""
    if fmt not in ("jsonl", "csv"):
        raise InputError(bilingual(f"--format {fmt!r}：请用 jsonl 或 csv", f"--format {fmt!r}: use jsonl or csv"))
    filters = audit_query.Filters.parse(since, actor, obj)
    ctx = load_context(config)
    with ctx.session() as s:
        try:
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = audit_query.write(audit_query.entries(s, filters), fmt, handle)
        except OSError as exc:
            raise InputError(
                bilingual(f"{output}：无法写入：{exc.strerror}", f"{output}: cannot write: {exc.strerror}"),
                hint=bilingual("请换一个 -o", "choose another -o"),
            ) from None
        audit_query.record_export(
            s,
            actor=current_actor().name,
            fmt=fmt,
            entries=count,
            filters={"since": since, "actor": actor, "object": obj},
        )
    console.print(bilingual(f"已导出 {count} 个条目到 {output}", f"exported {count} entries to {output}"))
