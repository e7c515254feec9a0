"""Commands for integration engineers: ``connectors check``, ``pull`` and ``push`` — see exactly what a
connector reads and writes, for any connector, without the sync engine in between."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from crmhub.cli.common import (
    ConfigOption,
    Context,
    console,
    err_console,
    load_context,
    print_proposed,
    run,
    write_json_line,
)
from crmhub.cli.reveal import ReasonOption, RevealOption, check_reveal
from crmhub.contract import (
    Channel,
    CheckResult,
    Connector,
    OutboundRecord,
    PluginContext,
    SourceRecord,
)
from crmhub.core import exit_codes
from crmhub.core.exit_codes import ExitCode
from crmhub.errors import CrmhubError, InputError
from crmhub.i18n import t
from crmhub.masking import mask_record, mask_text
from crmhub.model import Contact, CorporateClient

connectors_app = typer.Typer(help="Check the configured connectors and channels.", no_args_is_help=True)


def make_connector(ctx: Context, name: str) -> Connector[Any]:
    """Instantiate the configured connector ``name`` (clear error when it is not configured)."""
    cfg = ctx.settings.connectors.get(name)
    if cfg is None:
        raise InputError(
            t("unknown_connector", name=name, file=ctx.settings.source, names=", ".join(ctx.settings.connectors) or "-")
        )
    cls = ctx.registry.connectors[cfg.plugin]
    return cls(cfg, PluginContext(name=name, token_cache=ctx.token_cache(), rate_limits=ctx.rate_limits()))


def make_channel(ctx: Context, name: str) -> Channel[Any]:
    """Instantiate the configured channel ``name``."""
    cfg = ctx.settings.channels.get(name)
    if cfg is None:
        raise InputError(
            f"no channel named {name!r} in {ctx.settings.source}; configured: {', '.join(ctx.settings.channels) or '-'}"
        )
    cls = ctx.registry.channels[cfg.plugin]
    return cls(cfg, PluginContext(name=name, token_cache=ctx.token_cache()))


async def _check_one(plugin: Connector[Any] | Channel[Any], timeout: float) -> CheckResult:
    try:
        async with plugin:
            return await asyncio.wait_for(plugin.check(), timeout)
    except TimeoutError:
        return CheckResult(ok=False, message=f"no answer within {timeout:.0f} s")
    except CrmhubError as exc:
        return CheckResult(ok=False, message=str(exc))
    except Exception as exc:
        return CheckResult(ok=False, message=f"{type(exc).__name__}: {exc}")


async def check_all(ctx: Context, timeout: float = 30.0) -> list[tuple[str, str, CheckResult | None]]:
    """Check every configured connector and channel concurrently: (kind, name, result or None if disabled)."""
    jobs: list[tuple[str, str, Any]] = []
    for name, ccfg in ctx.settings.connectors.items():
        jobs.append(("connector", name, _check_one(make_connector(ctx, name), timeout) if ccfg.enabled else None))
    for name, hcfg in ctx.settings.channels.items():
        jobs.append(("channel", name, _check_one(make_channel(ctx, name), timeout) if hcfg.enabled else None))
    results = await asyncio.gather(*(j[2] for j in jobs if j[2] is not None))
    it = iter(results)
    return [(kind, name, next(it) if job is not None else None) for kind, name, job in jobs]


@connectors_app.command("check")
def connectors_check(
    config: Path | None = ConfigOption,
    timeout: float = typer.Option(30.0, help="Seconds to wait for each check."),
    json_out: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Authenticate against every configured connector and channel and give a verdict for each."""
    ctx = load_context(config)
    if not ctx.settings.connectors and not ctx.settings.channels:
        console.print(t("nothing_configured", file=ctx.settings.source))
        raise typer.Exit(ExitCode.USAGE)
    rows = run(check_all(ctx, timeout))
    failed = sum(1 for _, _, r in rows if r is not None and not r.ok)
    if json_out:
        write_json_line(
            {
                "results": [
                    {
                        "kind": k,
                        "name": n,
                        "ok": None if r is None else r.ok,
                        "message": "disabled" if r is None else r.message,
                        "details": {} if r is None else r.details,
                    }
                    for k, n, r in rows
                ]
            }
        )
    else:
        table = Table(title=t("check_title"))
        for col in ("col_name", "col_kind", "col_verdict", "col_detail"):
            table.add_column(t(col))
        for kind, name, result in rows:
            if result is None:
                verdict = Text(t("verdict_disabled"), style="dim")
                detail = ""
            else:
                verdict = Text(t("verdict_ok"), style="green") if result.ok else Text(t("verdict_fail"), style="red")
                detail = result.message
            table.add_row(name, t(f"kind_{kind}"), verdict, detail)
        console.print(table)
        checked = [r for _, _, r in rows if r is not None]
        console.print(t("check_summary", ok=len(checked) - failed, total=len(checked)))
    raise typer.Exit(exit_codes.for_counts(len(rows) - failed, failed))


def record_json(record: SourceRecord, *, reveal: bool) -> dict[str, Any]:
    """The JSON line ``crmhub pull`` prints: source id, deleted flag, canonical fields (masked unless revealed)."""
    out: dict[str, Any] = {"source_id": record.source_id, "deleted": record.deleted}
    if record.modified_at is not None:
        out["modified_at"] = record.modified_at.isoformat()
    if record.deletes_stream:
        out["deletes_stream"] = record.deletes_stream
    if record.data is not None:
        data = record.data.model_dump(mode="json", exclude_none=True, context=None if reveal else {"mask": True})
        from crmhub.sync.survivorship import is_blank

        for key, value in data.items():
            if is_blank(value):
                continue
            out.setdefault(key, value)
    if not reveal:  # typed fields were masked by kind; free text (names, notes) by pattern
        return mask_record(out)
    return out


async def _pull(
    ctx: Context,
    connector: str,
    stream: str,
    since: datetime | None,
    limit: int | None,
    reveal: bool,
    show_rejected: bool,
) -> tuple[int, int, int]:
    conn = make_connector(ctx, connector)
    conn.stream(stream)  # validates the stream name with a clear message
    count = rejected = pages = 0
    async with conn:
        async for page in conn.pull(stream, None, since=since):
            pages += 1
            for rej in page.rejected:
                rejected += 1
                if show_rejected:
                    write_json_line(
                        {
                            "source_id": rej.source_id,
                            "rejected": True,
                            "reason": rej.reason if reveal else mask_text(rej.reason),
                            "field": rej.field,
                        }
                    )
            for rec in page.records:
                if since is not None and rec.modified_at is not None and rec.modified_at <= since:
                    continue  # connectors read inclusively (safe for sync); the user asked for what came after
                if limit is not None and count >= limit:
                    return count, rejected, pages
                write_json_line(record_json(rec, reveal=reveal))
                count += 1
            sys.stdout.flush()
    return count, rejected, pages


def pull(
    connector: str = typer.Argument(..., help="Connector name from the config (e.g. zoho)."),
    stream: str = typer.Argument(..., help="Stream (e.g. accounts, contacts, deleted, transactions)."),
    config: Path | None = ConfigOption,
    since: str | None = typer.Option(
        None, help="Only records modified after this ISO 8601 time (e.g. the newest modified_at a pull printed)."
    ),
    limit: int | None = typer.Option(None, min=1, help="Stop after N records."),
    reveal: bool = RevealOption,
    reason: str | None = ReasonOption,
    rejected: bool = typer.Option(False, "--rejected", help="Also print rejected records as JSON lines."),
    approval: int | None = typer.Option(
        None, "--approval", help="The approved proposal of this bulk --reveal (four eyes)."
    ),
) -> None:
    """Print a stream's canonical records as JSON Lines (one per line), straight from the connector.

    Personal data (names, phones, e-mails, ID numbers) is masked; ``--reveal --reason TEXT`` prints it in clear
    and writes who and why to the audit log first.
    """
    why = check_reveal(reveal, reason)
    ctx = load_context(config)
    if why is not None:
        from crmhub.security import approvals
        from crmhub.security.guard import current_actor
        from crmhub.sync.audit import record_reveal

        details: dict[str, Any] = {"connector": connector, "stream": stream, "since": since, "limit": limit}
        with ctx.session() as s:
            # a stream read in clear is a bulk reveal: under four eyes it is proposed first, then run once with
            # the approved proposal (the same rule as `clients list --reveal`)
            if approvals.needs_four_eyes(ctx.settings, "reveal.bulk"):
                request = {"command": "pull", **details, "reason": why}
                if approval is None:
                    print_proposed(approvals.propose(s, "reveal.bulk", request, current_actor()))
                    return
                granted = approvals.consume_grant(s, approval, current_actor(), request)
                details |= {"approval": granted.id, "approved_by": granted.decided_by}
            entry = record_reveal(
                s,
                command="pull",
                reason=why,
                entity="stream",
                entity_id=f"{connector}/{stream}",
                details=details,
                actor=current_actor().name,
            )
            s.flush()
            err_console.print(t("revealed_note", entry=entry.id, who=entry.actor), style="yellow")
    since_dt: datetime | None = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since)
        except ValueError:
            raise InputError(f"--since {since!r} is not an ISO 8601 time (e.g. 2026-11-30T09:00:00+08:00)") from None
        if since_dt.tzinfo is None:
            raise InputError(f"--since {since!r} has no time zone offset; add one, e.g. +08:00")
    try:
        count, rej, pages = run(_pull(ctx, connector, stream, since_dt, limit, reveal, rejected))
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    done = t("pull_done", records=count, rejected=rej, pages=pages, connector=connector, stream=stream)
    err_console.print(done, style="dim")


def read_outbound(file: Path, stream_kind: str) -> list[tuple[int, OutboundRecord]]:
    """Parse a JSONL file of canonical records; raise `InputError` naming every bad line."""
    model: type[CorporateClient] | type[Contact] = Contact if stream_kind == "contact" else CorporateClient
    records: list[tuple[int, OutboundRecord]] = []
    problems: list[str] = []
    try:
        handle = file.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(t("bad_input_line", file=file, line=lineno, reason=f"not JSON ({exc.msg})"))
                continue
            if not isinstance(obj, dict):
                problems.append(t("bad_input_line", file=file, line=lineno, reason="expected a JSON object"))
                continue
            source_id = obj.pop("source_id", None)
            key = obj.pop("key", None)
            obj.pop("deleted", None)
            obj.pop("modified_at", None)
            fields = obj.pop("fields", None)
            try:
                data = model.model_validate(obj)
            except ValidationError as exc:
                reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
                problems.append(t("bad_input_line", file=file, line=lineno, reason=reason))
                continue
            findings = getattr(data, "data_quality", None)
            if findings:  # kept when read from a source, but crmhub never writes a code it knows is wrong
                reason = "; ".join(f"{f.field}: {f.message}" for f in findings)
                problems.append(t("bad_input_line", file=file, line=lineno, reason=reason))
                continue
            if key is None:
                digest = hashlib.sha256(line.strip().encode()).hexdigest()[:24]
                key = f"cli-push:{digest}"
            if not fields:  # a line writes the fields it carries (``"fields": [...]`` narrows them)
                fields = [name for name, value in obj.items() if value not in (None, "", [], {})]
            records.append((lineno, OutboundRecord(key=str(key), source_id=source_id, data=data, fields=tuple(fields))))
    if problems:
        raise InputError(f"{len(problems)} bad line(s) in {file}, nothing was pushed:\n  " + "\n  ".join(problems))
    return records


def push(
    connector: str = typer.Argument(..., help="Connector name from the config."),
    stream: str = typer.Argument(..., help="Writable stream (e.g. accounts)."),
    file: Path = typer.Argument(..., help="JSON Lines of canonical records (as printed by crmhub pull)."),
    config: Path | None = ConfigOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show what would be written; send nothing."),
) -> None:
    """Upsert canonical records into a connector and print one JSON result per record.

    Each line writes the canonical fields it carries (or those its ``"fields"`` list names); a line with a
    ``source_id`` updates that record, one without is matched by the connector's duplicate check or created.
    """
    ctx = load_context(config)
    conn = make_connector(ctx, connector)
    try:
        spec = conn.stream(stream)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    if not spec.writable:
        raise InputError(f"stream {connector}/{stream} is not writable")
    records = read_outbound(file, spec.kind.value)
    if dry_run:
        for lineno, rec in records:
            write_json_line(
                {
                    "index": lineno,
                    "source_id": rec.source_id,
                    "status": "planned",
                    "record": mask_record(rec.data.model_dump(mode="json", exclude_none=True, context={"mask": True})),
                }
            )
        err_console.print(t("push_dry_run", count=len(records), connector=connector, stream=stream))
        return

    async def go() -> list[Any]:
        async with conn:
            return await conn.push(stream, [r for _, r in records])

    results = run(go())
    errors = 0
    for (lineno, rec), res in zip(records, results, strict=True):
        if res.status != "ok":
            errors += 1
        write_json_line(
            {
                "index": lineno,
                "key": rec.key,
                "source_id": res.source_id or rec.source_id,
                "status": res.status,
                "action": res.action,
                "reason": mask_text(res.reason) if res.reason else res.reason,
                "field": res.field,
            }
        )
    err_console.print(t("push_done", ok=len(results) - errors, errors=errors, connector=connector, stream=stream))
    raise typer.Exit(exit_codes.for_counts(len(results) - errors, errors))
