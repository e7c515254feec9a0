"""Risk commands: ``crmhub risk assess | explain | scorecard`` and ``crmhub alerts list | show | ack | close``.

Text is zh or en (``--lang``); JSON is one object per line. Personal data is masked: counterparty account numbers
6+4 and any phone or ID number inside free text; company names and USCCs are not personal data and stay readable.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from crmhub.cli.common import (
    AllOption,
    ConfigOption,
    LimitOption,
    console,
    load_context,
    note_cut,
    row_limit,
    write_json_line,
)
from crmhub.display import label, local_time
from crmhub.errors import InputError
from crmhub.i18n import bilingual, current_lang
from crmhub.masking import mask_text
from crmhub.risk import explain as explain_mod
from crmhub.risk.alerts import STATUSES, alert_json, list_alerts
from crmhub.risk.alerts.store import acknowledge, masked
from crmhub.risk.runner import AssessOutcome, assess
from crmhub.sync import queries

risk_app = typer.Typer(help="Credit risk: scorecard, rating, segment, policy.", no_args_is_help=True)
alerts_app = typer.Typer(help="AML and risk alerts: large-value reports and suspicious patterns.", no_args_is_help=True)


JsonOption = typer.Option(False, "--json", help="Print JSON (raw ids, for machines).")
NoteOption = typer.Option(None, "--note", help="Why (kept in the audit log).")


def _today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--today must be a date like 2026-11-30 (got {value!r})") from None


@risk_app.command("assess")
def risk_assess(
    usccs: list[str] | None = typer.Argument(None, help="USCCs to assess (default: clients whose inputs changed)."),
    all_: bool = typer.Option(False, "--all", help="Assess every active client."),
    today: str | None = typer.Option(None, "--today", help="Assess as of this day (YYYY-MM-DD)."),
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as one JSON object."),
    wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for a running sync to finish its merge."),
    config: Path | None = ConfigOption,
) -> None:
    """Score clients, update their rating and segment, raise alerts (reruns with unchanged inputs store nothing)."""
    if usccs and all_:
        raise InputError("give USCCs or --all, not both")
    from crmhub.store.locks import LockSet
    from crmhub.sync.engine import MERGE_LOCK

    ctx = load_context(config)
    store = ctx.open_store()
    lock = LockSet(store, [MERGE_LOCK])
    try:
        lock.acquire(wait=wait)
        try:
            outcome = assess(store, ctx.settings, ctx.registry, usccs or None, all_, today=_today(today))
        finally:
            lock.release()
    finally:
        store.dispose()
    if json_out:
        write_json_line(_outcome_json(outcome))
        return
    _print_outcome(outcome)


def _outcome_json(o: AssessOutcome) -> dict[str, Any]:
    return {
        "today": o.today.isoformat(),
        "clients": o.clients,
        "assessed": o.assessed,
        "first": o.first,
        "unchanged": o.unchanged,
        "rating_changes": o.rating_changes,
        "alerts_raised": o.alerts_raised,
        "alerts_updated": o.alerts_updated,
        "results": o.results,
    }


def _print_outcome(o: AssessOutcome) -> None:
    console.print(
        bilingual(
            f"评估日 {o.today}：共 {o.clients} 个客户，新评估 {o.assessed}（首次 {o.first}），输入未变 {o.unchanged}，"
            f"评级/分层变化 {o.rating_changes}，新增预警 {o.alerts_raised}",
            f"As of {o.today}: {o.clients} client(s), {o.assessed} new assessment(s) ({o.first} first), "
            f"{o.unchanged} unchanged, {o.rating_changes} rating/segment change(s), {o.alerts_raised} new alert(s)",
        )
    )
    if not o.results:
        return
    table = Table()
    for col in (
        "id",
        "USCC",
        bilingual("名称", "name"),
        bilingual("评分", "score"),
        bilingual("评级", "rating"),
        bilingual("分层", "segment"),
        bilingual("授信政策", "credit policy"),
        bilingual("结果", "outcome"),
    ):
        table.add_column(col)
    outcome_zh = {"first": "首次", "changed": "已变化", "rescored": "重新评分", "unchanged": "未变化"}
    for r in o.results:
        p = r.get("policy") or {}
        if not p:
            policy = "-"
        elif p.get("new_credit", True):
            policy = bilingual(
                f"+{p.get('pricing_addon_bp')} bp，{p.get('review_months')} 个月复审，{p.get('collateral_zh')}",
                f"+{p.get('pricing_addon_bp')} bp, review {p.get('review_months')} mo, {p.get('collateral_en')}",
            )
        else:
            policy = bilingual(p.get("action_zh") or "不得新增授信", p.get("action_en") or "no new credit")
        table.add_row(
            str(r["id"]),
            r["uscc"] or "-",
            r["name"],
            f"{r['score']:.2f}",
            r["rating"],
            _segment(r["segment"]),
            policy,
            bilingual(outcome_zh.get(r["outcome"], r["outcome"]), r["outcome"]),
        )
    console.print(table)


def _segment(value: str) -> str:
    from crmhub.model import Segment

    return bilingual(Segment(value).label_zh, value)


def _fmt_value(value: Any, unit: str) -> str:
    if value is None:
        return bilingual("缺失", "missing")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        if unit == "CNY":
            return f"{value:,.2f} " + bilingual("元", "CNY")
        if unit in ("days", "count"):
            return f"{value:,.0f}" + (bilingual(" 天", " days") if unit == "days" else "")
        if unit == "years":
            return f"{value:.2f}" + bilingual(" 年", " years")
        return f"{value:.4g}"
    return mask_text(str(value))


@risk_app.command("explain")
def risk_explain(
    uscc: str = typer.Argument(..., help="USCC or hub id."),
    json_out: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Why a client has its rating: score, each factor's input, bin, points and reason, overrides, policy."""
    ctx = load_context(config)
    with ctx.session() as s:
        golden = queries.find_client(s, uscc)
        data = explain_mod.explanation(s, golden)
        data["history"] = explain_mod.history(s, golden.id, limit=5)
    if json_out:
        write_json_line(data)
        return
    _print_explanation(data)


def _print_explanation(d: dict[str, Any]) -> None:
    zh = current_lang() == "zh"
    console.print(f"[bold]{escape(str(d['name']))}[/bold]  USCC {escape(d['uscc'] or '-')}  (#{d['id']})", markup=True)
    console.print(
        bilingual(
            f"评分 {Decimal(str(d['score'])):.2f}，评级 {d['rating']}（{d['rating_numeric']}/10），{d['segment_zh']}；"
            f"仅凭评分为 {d['scored_rating']}；评分卡 {d['scorecard_version']}，评估日 {d['as_of']}",
            f"Score {Decimal(str(d['score'])):.2f}, rating {d['rating']} ({d['rating_numeric']}/10), "
            f"{d['segment']} risk; the score alone gives {d['scored_rating']}; scorecard {d['scorecard_version']}, "
            f"as of {d['as_of']}",
        )
    )
    if d["overrides"]:
        for o in d["overrides"]:
            console.print(
                bilingual("[yellow]调整规则[/yellow] ", "[yellow]Override[/yellow] ")
                + escape(f"{o['code']} → {o['rating']}: {o['reason_zh'] if zh else o['reason_en']}"),
                markup=True,
            )
    else:
        console.print(bilingual("调整规则：无", "Overrides: none"))
    p = d.get("policy") or {}
    if p and not p.get("new_credit", True):
        console.print(
            bilingual(
                f"授信政策：{p.get('action_zh') or '不得新增授信'}；{p.get('collateral_zh', '')}；"
                f"复审周期 {p['review_months']} 个月；{p.get('approval_zh', '')}",
                f"Credit policy: {p.get('action_en') or 'no new credit'}; {p.get('collateral_en', '')}; review every "
                f"{p['review_months']} month(s); {p.get('approval_en', '')}",
            )
        )
    elif p:
        collateral_zh = p.get("collateral_zh") or ("需担保" if p["collateral_required"] else "可信用")
        collateral_en = p.get("collateral_en") or (
            "collateral required" if p["collateral_required"] else "unsecured allowed"
        )
        console.print(
            bilingual(
                f"授信政策：定价加点 +{p['pricing_addon_bp']} bp；{collateral_zh}；复审周期 {p['review_months']} 个月；"
                f"{p.get('approval_zh', '')}",
                f"Credit policy: pricing +{p['pricing_addon_bp']} bp; {collateral_en}; review every "
                f"{p['review_months']} month(s); {p.get('approval_en', '')}",
            )
        )
    table = Table(title=bilingual("评分明细（示例参数）", "Points breakdown (illustrative parameters)"))
    for col in (
        bilingual("因子", "factor"),
        bilingual("输入值", "input"),
        bilingual("分档", "bin"),
        bilingual("档位分", "bin points"),
        bilingual("权重", "weight"),
        bilingual("得分", "points"),
        bilingual("原因", "reason"),
    ):
        table.add_column(col)
    for f in d["factors"]:
        table.add_row(
            f["label_zh"] if zh else f["label_en"],
            _fmt_value(f["value"], f["unit"]),
            f["bin_zh"] if zh else f["bin_en"],
            f"{f['bin_points']}/{f['max_points']}",
            str(f["weight"]),
            str(f["points"]),
            f["reason_zh"] if zh else f["reason_en"],
        )
    console.print(table)
    if d["reason_codes"]:
        reasons = "; ".join(
            f"{i}. {r['reason_zh'] if zh else r['reason_en']} ({r['factor']})"
            for i, r in enumerate(d["reason_codes"], 1)
        )
        console.print(bilingual("主要扣分原因：", "Main reasons: ") + reasons)
    past = d.get("history") or []
    if len(past) > 1:
        console.print(
            bilingual("评级历史：", "History: ")
            + ", ".join(
                f"{h['assessed_at'][:10]} {h['rating']}/{h['segment']} ({h['scorecard_version']})" for h in past
            )
        )


@risk_app.command("scorecard")
def risk_scorecard(json_out: bool = JsonOption, config: Path | None = ConfigOption) -> None:
    """Print the scorecard in force: every factor, bin and point, grades, segments, overrides, policy."""
    ctx = load_context(config, required=False)
    table_data = explain_mod.points_table(ctx.settings.risk.card())
    if json_out:
        write_json_line(table_data)
        return
    zh = current_lang() == "zh"
    note = bilingual("（示例参数，非银行校准值）", " (illustrative, not calibrated)")
    note = note if table_data["illustrative"] else ""
    console.print(
        f"[bold]{escape(table_data['title_zh'] if zh else table_data['title_en'])}[/bold] "
        f"{escape(str(table_data['version']))}{escape(note)}",
        markup=True,
    )
    table = Table()
    for col in (
        bilingual("因子", "factor"),
        bilingual("权重", "weight"),
        bilingual("分档", "bin"),
        bilingual("档位分", "points"),
        bilingual("加权分", "weighted"),
    ):
        table.add_column(col)
    for f in table_data["factors"]:
        for i, b in enumerate(f["bins"]):
            table.add_row(
                (f["label_zh"] if zh else f["label_en"]) if i == 0 else "",
                f["weight"] if i == 0 else "",
                b["zh"] if zh else b["en"],
                b["points"],
                b["weighted"],
            )
    console.print(table)
    console.print(
        bilingual("评级切分：", "Grades: ")
        + ", ".join(
            f"{g['rating']}({g['numeric']}) ≥ {g['min_score']}" if g["min_score"] else f"{g['rating']}({g['numeric']})"
            for g in table_data["grades"]
        )
    )
    console.print(
        bilingual("分层：", "Segments: ") + ", ".join(f"{s['segment']} ≤ {s['worst']}" for s in table_data["segments"])
    )
    for o in table_data["overrides"]:
        console.print(f"{o['code']}: {o['reason_zh'] if zh else o['reason_en']}")


# --- alerts ---------------------------------------------------------------------------------------------------


@alerts_app.command("list")
def alerts_list(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
    status: str = typer.Option(
        "open", "--status", help="new, acknowledged, closed, open (= new + acknowledged) or all."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="large_value, structuring, pass_through, fan_in, fan_out, dormant_reactivation."
    ),
    uscc: str | None = typer.Option(None, "--uscc", help="Only this client (USCC or hub id)."),
    limit: int = LimitOption,
    all_rows: bool = AllOption,
    offset: int = typer.Option(0, min=0),
    config: Path | None = ConfigOption,
) -> None:
    """List alerts, newest first."""
    statuses = {"open": ["new", "acknowledged"], "all": None}.get(status, [status])
    ctx = load_context(config)
    with ctx.session() as s:
        client_id = queries.find_client(s, uscc).id if uscc else None
        total, rows = list_alerts(
            s, statuses=statuses, kind=kind, client_id=client_id, limit=row_limit(limit, all_rows), offset=offset
        )
        items = [masked(alert_json(r)) for r in rows]
    if json_out:
        for it in items:
            write_json_line(it)
        note_cut(len(items), total, offset=offset)
        return
    table = Table(title=bilingual(f"预警（共 {total} 条）", f"Alerts ({total} in all)"))
    for col in (
        "id",
        bilingual("状态", "status"),
        bilingual("类型", "kind"),
        "USCC",
        bilingual("日期", "day"),
        bilingual("金额", "amount"),
        bilingual("交易", "transactions"),
        bilingual("说明", "summary"),
    ):
        table.add_column(col)
    zh = current_lang() == "zh"
    for it in items:
        n = (it["evidence"] or {}).get("transactions_total", len(it["transaction_ids"]))
        table.add_row(
            str(it["id"]),
            _status(it["status"]),
            label("alert_kind", it["kind"]),
            it["uscc"] or "-",
            it["day"] or "-",
            f"{Decimal(it['amount']):,.2f} {it['currency']}" if it["amount"] else "-",
            str(n),
            it["summary_zh"] if zh else it["summary_en"],
        )
    console.print(table)
    note_cut(len(items), total, offset=offset)


def _status(value: str) -> str:
    """An alert status as a word: 待处理 / 已受理 / 已关闭 (never 已确认, which reads as "confirmed suspicious")."""
    return label("alert_status", value)


@alerts_app.command("show")
def alerts_show(
    alert_id: int = typer.Argument(...),
    config: Path | None = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print the alert as one JSON object."),
) -> None:
    """One alert with all its evidence."""
    ctx = load_context(config)
    with ctx.session() as s:
        from crmhub.store.tables import Alert

        row = s.get(Alert, alert_id)
        if row is None:
            raise InputError(f"no alert {alert_id}", hint="list alerts with `crmhub alerts list`")
        item = masked(alert_json(row))
    if json_out:
        write_json_line(item)
        return
    _print_alert(item)


def _disposition(it: dict[str, Any]) -> str:
    """How a closed alert was disposed of, by whom and why ("-" while open)."""
    d = (it.get("evidence") or {}).get("disposition") or {}
    if not d:
        return "-"
    return f"{label('alert_disposition', d.get('value'))} — {d.get('note') or ''} ({d.get('by')})"


def _print_alert(it: dict[str, Any]) -> None:
    """An alert as labelled rows and its evidence transactions (ids as words, times local)."""
    zh = current_lang() == "zh"
    head = Table(title=bilingual(f"预警 #{it['id']}", f"Alert #{it['id']}"), show_header=False)
    head.add_column(style="bold")
    head.add_column()
    rule = (it.get("evidence") or {}).get("rule") or {}
    for name, value in (
        (bilingual("状态", "status"), _status(it["status"])),
        (bilingual("类型", "kind"), label("alert_kind", it["kind"])),
        ("USCC", it.get("uscc") or "-"),
        (bilingual("日期", "day"), it.get("day") or "-"),
        (bilingual("金额", "amount"), f"{Decimal(it['amount']):,.2f} {it['currency']}" if it.get("amount") else "-"),
        (bilingual("说明", "summary"), it["summary_zh"] if zh else it["summary_en"]),
        (bilingual("规则", "rule"), f"{rule.get('id') or '-'} v{it.get('rule_version') or '-'}"),
        (bilingual("处置", "disposition"), _disposition(it)),
        (bilingual("创建时间", "created"), local_time(it.get("created_at"))),
        (bilingual("更新时间", "updated"), local_time(it.get("updated_at"))),
    ):
        head.add_row(name, str(value))
    console.print(head)
    txs = (it.get("evidence") or {}).get("transactions") or []
    if not txs:
        return
    table = Table(title=bilingual("证据交易", "Evidence transactions"))
    for col in (
        bilingual("交易", "transaction"),
        bilingual("日期", "day"),
        bilingual("方向", "direction"),
        bilingual("金额", "amount"),
        bilingual("现金", "cash"),
        bilingual("对手方", "counterparty"),
        bilingual("对手方账户", "counterparty account"),
    ):
        table.add_column(col)
    for tx in txs:
        amount = f"{Decimal(str(tx['amount'])):,.2f} {tx.get('currency') or ''}" if tx.get("amount") else "-"
        table.add_row(
            str(tx.get("id") or "-"),
            str(tx.get("day") or "-"),
            label("tx_direction", tx.get("direction")),
            amount,
            bilingual("是", "yes") if tx.get("cash") else bilingual("否", "no"),
            str(tx.get("counterparty") or "-"),
            str(tx.get("counterparty_account") or "-"),
        )
    console.print(table)


def _move(alert_id: int, note: str | None, config: Path | None) -> None:
    from crmhub.security.guard import current_actor

    ctx = load_context(config)
    with ctx.session() as s:
        before, _ = acknowledge(s, alert_id, actor=current_actor().name, note=note)
    console.print(
        bilingual(
            f"预警 #{alert_id}：{_status(before)} → {_status('acknowledged')}",
            f"alert #{alert_id}: {_status(before)} → {_status('acknowledged')}",
        )
    )


@alerts_app.command("ack")
def alerts_ack(
    alert_id: int = typer.Argument(...), note: str | None = NoteOption, config: Path | None = ConfigOption
) -> None:
    """Acknowledge an alert (someone is looking at it)."""
    _move(alert_id, note, config)


@alerts_app.command("close")
def alerts_close(
    alert_id: int = typer.Argument(...),
    disposition: str = typer.Option(..., "--disposition", help="reported, not_suspicious, escalated or duplicate."),
    note: str = typer.Option(..., "--note", help="The reasons for the disposition (required)."),
    config: Path | None = ConfigOption,
) -> None:
    """Close an alert with a disposition and its reasons (four eyes: another AML officer approves)."""
    from crmhub.cli.sync_cmds import _submit
    from crmhub.security.approvals import DISPOSITIONS

    if disposition not in DISPOSITIONS:
        raise InputError(
            bilingual(
                f"--disposition 必须是 {', '.join(DISPOSITIONS)} 之一（收到 {disposition!r}）",
                f"--disposition must be one of: {', '.join(DISPOSITIONS)} (got {disposition!r})",
            )
        )
    if not note.strip():
        raise InputError(bilingual("关闭预警必须用 --note 说明理由", "closing an alert needs the reasons in --note"))
    result = _submit(config, "alert.close", {"alert_id": alert_id, "disposition": disposition, "note": note.strip()})
    if result is not None:
        console.print(
            bilingual(
                f"预警 #{alert_id}：{_status(result['from'])} → {_status('closed')}",
                f"alert #{alert_id}: {_status(result['from'])} → {_status('closed')}",
            )
        )


__all__ = ["STATUSES", "alerts_app", "risk_app"]
