"""The template contexts of every notification kind, built from store rows — masked before they are stored.

A context is plain JSON (it lives in the outbox row's payload, so a re-send after a crash renders the identical
message). Personal data never enters it unmasked: names of companies, USCCs, ratings and amounts are not personal
data, but any free text (alert summaries, error messages, CRM-supplied names) passes `crmhub.masking.mask_text`,
and phone numbers are masked by kind. Channel templates mask once more on the way out.

Dates are rendered in the bank's time zone as ``YYYY-MM-DD HH:MM`` so a message reads the same in every channel.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crmhub.display import label
from crmhub.masking import mask, mask_text
from crmhub.notify.recipients import Manager
from crmhub.notify.settings import Lang, NotifySettings
from crmhub.risk.alerts.deadlines import reference_day, report_deadline
from crmhub.store.tables import Alert, GoldenClient, Outbox, RiskAssessmentRow, SyncRun


def masked(value: Any) -> Any:
    """``value`` with every string passed through `mask_text` (dicts and lists recursively)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def masked_dict(value: dict[str, Any]) -> dict[str, Any]:
    """`masked` for a context dict (typed)."""
    return {k: masked(v) for k, v in value.items()}


def local(value: datetime | date | None, settings: NotifySettings) -> str | None:
    """``value`` in the bank's time zone as ``YYYY-MM-DD HH:MM`` (dates as ``YYYY-MM-DD``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _url(template: str | None, **values: Any) -> str | None:
    if not template:
        return None
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def client_info(g: GoldenClient | None, settings: NotifySettings) -> dict[str, Any]:
    """``{id, name, uscc}`` of a client (the name masked: CRMs put phone numbers in names)."""
    if g is None:
        return {}
    return {"id": g.id, "name": mask_text(g.name), "uscc": g.uscc}


def _base(settings: NotifySettings, now: datetime, url: str | None) -> dict[str, Any]:
    return {"now": local(now, settings), "url": url}


def _reasons(row: RiskAssessmentRow, lang: Lang) -> list[str]:
    """Overrides first, then the factors the scorecard names as moving the score most."""
    assessment = (row.data or {}).get("assessment") or {}
    suffix = "zh" if lang == "zh" else "en"
    reasons = [str(o.get(f"reason_{suffix}") or o.get("code") or "") for o in assessment.get("overrides") or []]
    factors = {f.get("factor"): f for f in assessment.get("factors") or [] if isinstance(f, dict)}
    for code in assessment.get("reason_codes") or []:
        factor = factors.get(code) or {}
        reasons.append(str(factor.get(f"reason_{suffix}") or code))
    return [r for r in dict.fromkeys(reasons) if r]


def _score(value: float | Decimal | None) -> float | None:
    return round(float(value), 1) if value is not None else None


_UNITS = {"CNY": ("元", "CNY"), "days": ("天", "days"), "years": ("年", "years")}


def _shown(value: Any, unit: str, lang: Lang) -> str:
    """An input value as a message shows it: ``2,260,000 元`` / ``120 days`` / ``数据缺失``."""
    if value is None:
        return "数据缺失" if lang == "zh" else "missing"
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return str(value)
    zh, en = _UNITS.get(unit, ("", ""))
    number = (
        f"{value:,.1f}"
        if unit == "years"
        else (f"{value:,.0f}" if unit in _UNITS or unit == "count" else f"{value:.4g}")
    )
    suffix = zh if lang == "zh" else en
    return f"{number} {suffix}" if suffix else number


def _changes(previous: RiskAssessmentRow, current: RiskAssessmentRow, lang: Lang) -> list[str]:
    """What moved the rating down: overrides that newly fired, then every factor that lost points (most lost
    first) with its input before and after, and a scorecard change. Empty when nothing comparable changed."""
    old = (previous.data or {}).get("assessment") or {}
    new = (current.data or {}).get("assessment") or {}
    details = (current.data or {}).get("factors") or {}
    suffix = "zh" if lang == "zh" else "en"
    fired_before = {o.get("code") for o in old.get("overrides") or []}
    out = [
        str(o.get(f"reason_{suffix}") or o.get("code"))
        for o in new.get("overrides") or []
        if o.get("code") not in fired_before
    ]
    before = {f.get("factor"): f for f in old.get("factors") or [] if isinstance(f, dict)}
    lost: list[tuple[Decimal, str]] = []
    for f in new.get("factors") or []:
        prior = before.get(f.get("factor")) if isinstance(f, dict) else None
        if prior is None:
            continue
        try:
            p0, p1 = Decimal(str(prior["points"])), Decimal(str(f["points"]))
        except (KeyError, ArithmeticError, ValueError):
            continue
        if p1 >= p0:
            continue
        d = details.get(f["factor"]) or {}
        label, unit = d.get(f"label_{suffix}") or f["factor"], d.get("unit", "")
        v0, v1 = _shown(prior.get("value"), unit, lang), _shown(f.get("value"), unit, lang)
        lost.append(
            (
                p1 - p0,
                f"{label}：{v0} → {v1}（得分 {p0} → {p1}）"
                if lang == "zh"
                else f"{label}: {v0} → {v1} (points {p0} → {p1})",
            )
        )
    out += [text for _, text in sorted(lost, key=lambda x: x[0])]
    if previous.scorecard_version != current.scorecard_version:
        out.append(
            f"评分卡由 {previous.scorecard_version} 更新为 {current.scorecard_version}"
            if lang == "zh"
            else f"scorecard changed from {previous.scorecard_version} to {current.scorecard_version}"
        )
    return out


def downgrade_context(
    current: RiskAssessmentRow,
    before_rating: str,
    before_score: float | None,
    client: GoldenClient | None,
    lang: Lang,
    settings: NotifySettings,
    now: datetime,
    *,
    previous: RiskAssessmentRow | None = None,
) -> dict[str, Any]:
    """``rating_downgrade``: client, before {rating, score}, after {rating, score, segment}, reasons.

    ``reasons`` name what changed since ``previous`` (`_changes`); only when nothing comparable changed (an
    assessment stored without factor points) do they fall back to the current assessment's own reasons.
    """
    info = client_info(client, settings)
    return masked_dict(
        {
            **_base(settings, now, _url(settings.client_url, id=current.client_id, uscc=info.get("uscc") or "")),
            "client": info,
            "before": {"rating": before_rating, "score": _score(before_score)},
            "after": {"rating": current.rating, "score": _score(current.score), "segment": current.segment},
            "reasons": (_changes(previous, current, lang) if previous is not None else []) or _reasons(current, lang),
            "assessed_at": local(current.assessed_at, settings),
        }
    )


def alert_context(
    alert: Alert, client: GoldenClient | None, lang: Lang, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """``alert``: AML-confidential, so only {id, kind, day, deadline, command} and a link to the alert console.

    Never the client's name or USCC, amounts, counterparties, summaries or any other evidence (《反洗钱法》: no
    tipping-off; domain.md §11): the message is a pointer, the evidence stays behind ``crmhub alerts show ID``.
    The deadline is the large-value report's (``aml_report_working_days`` after the transaction day); a
    suspicious-pattern report's deadline runs from the AML team's own determination, so it has none yet.
    ``client`` is accepted for the signature every context builder shares and deliberately not used.
    """
    day = reference_day(alert, settings)
    deadline = report_deadline(alert, settings)
    return {
        **_base(settings, now, _url(settings.alert_url, id=alert.id)),
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "aml": True,
            "day": day.isoformat(),
            "deadline": deadline.isoformat() if deadline else None,
            "working_days": settings.aml_report_working_days,
            "command": f"crmhub alerts show {alert.id}",
        },
    }


def _failed_connectors(run: SyncRun) -> list[tuple[str, str | None]]:
    connectors = (run.report or {}).get("connectors") or {}
    out = []
    for name, rep in connectors.items():
        errors = [
            str(s["error"]) for s in (rep.get("streams") or {}).values() if isinstance(s, dict) and s.get("error")
        ]
        if rep.get("status") in ("failed", "stopped") or errors:
            out.append((name, rep.get("error") or (errors[0] if errors else None)))
    return out


def sync_failed_context(run: SyncRun, lang: Lang, settings: NotifySettings, now: datetime) -> dict[str, Any]:
    """``sync_failed``: connector(s), run id, error, hint, started_at."""
    failed = _failed_connectors(run)
    status = label("run_status", run.status, lang)
    error = run.error or next((e for _, e in failed if e), None) or status
    hint = (
        f"运行状态：{status}。查看 `crmhub report {run.id}` 了解每个连接器的结果"
        if lang == "zh"
        else f"run status {run.status}: see `crmhub report {run.id}` for each connector's outcome"
    )
    if run.status == "interrupted":
        hint = (
            f"运行进程已终止（被杀死、内存不足或断电）；已提交的数据保留，下次同步从断点继续。"
            f"查看 `crmhub report {run.id}` 了解中断前已完成的部分"
            if lang == "zh"
            else f"the process running it died (killed, out of memory or power loss); what it committed is kept and "
            f"the next sync resumes from there. See `crmhub report {run.id}` for what it had done"
        )
    return masked_dict(
        {
            **_base(settings, now, _url(settings.run_url, id=run.id)),
            "connector": ", ".join(n for n, _ in failed) or ", ".join(run.connectors or []) or "—",
            "run_id": run.id,
            "status": run.status,
            "error": error,
            "hint": hint,
            "started_at": local(run.started_at, settings),
        }
    )


def job_failed_context(
    job: str, entry: dict[str, Any], lang: Lang, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """``sync_failed`` for a scheduled job that failed without a sync run to report (``risk assess``,
    ``notify run``, ``report digest``, or a sync that could not start): the job, its error, what to do."""
    command = str(entry.get("command") or "")
    hint = (
        f"查看 `crmhub jobs list` 与调度器日志；修复后可用 `crmhub jobs run {job}` 立即重跑"
        if lang == "zh"
        else f"see `crmhub jobs list` and the scheduler's log; once fixed, `crmhub jobs run {job}` runs it now"
    )
    started = entry.get("started_at")
    return masked_dict(
        {
            **_base(settings, now, None),
            "job": f"{job} ({command})",
            "connector": None,
            "run_id": entry.get("run_id"),
            "status": entry.get("status"),
            "error": entry.get("error") or label("run_status", entry.get("status"), lang),
            "hint": hint,
            "started_at": local(datetime.fromisoformat(str(started)), settings) if started else None,
        }
    )


def audit_chain_context(
    job: str, entry: dict[str, Any], found: dict[str, Any], lang: Lang, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """``sync_failed`` for a broken audit chain found by a job's head check: the first bad entry and what to do."""
    seq = found.get("seq")
    error = (
        f"审计链已损坏（条目 #{seq}）：{found.get('detail')}"
        if lang == "zh"
        else f"audit chain broken at entry #{seq}: {found.get('detail')}"
    )
    hint = (
        "运行 `crmhub audit verify --from-checkpoint 文件` 查看完整结果；查明原因之前不要写入新的检查点"
        if lang == "zh"
        else "run `crmhub audit verify --from-checkpoint FILE` for the full result; do not take a "
        "new checkpoint until the cause is known"
    )
    what = f"审计链（作业 {job} 检查）" if lang == "zh" else f"audit chain (checked by job {job})"
    return {**job_failed_context(job, entry, lang, settings, now), "job": what, "error": error, "hint": hint}


def dead_letters_context(
    run: SyncRun,
    groups: list[tuple[str, str, int]],
    examples: list[tuple[str | None, str]],
    settings: NotifySettings,
    now: datetime,
) -> dict[str, Any]:
    """``dead_letters``: connector(s), stream(s), count and a few examples of one run."""
    return masked_dict(
        {
            **_base(settings, now, _url(settings.run_url, id=run.id)),
            "connector": ", ".join(dict.fromkeys(c for c, _, _ in groups)) or "—",
            "stream": ", ".join(dict.fromkeys(s for _, s, _ in groups)) or None,
            "count": sum(n for _, _, n in groups),
            "run_id": run.id,
            "retry": "crmhub deadletter retry --all",
            "examples": [{"source_id": sid or "—", "reason": reason} for sid, reason in examples],
        }
    )


def digest_context(
    run: SyncRun, downgrades: int, lang: Lang, settings: NotifySettings, now: datetime
) -> dict[str, Any]:
    """``digest``: period, counts and one line per connector of a scheduled run."""
    report = run.report or {}
    totals = report.get("totals") or {}
    items = []
    for name, rep in (report.get("connectors") or {}).items():
        streams = rep.get("streams") or {}
        read = sum(int(s.get("read", 0) or 0) for s in streams.values() if isinstance(s, dict))
        changed = sum(
            int(s.get("created", 0) or 0) + int(s.get("updated", 0) or 0)
            for s in streams.values()
            if isinstance(s, dict)
        )
        status, written = label("connector_status", rep.get("status", "?"), lang), rep.get("written_back", 0)
        detail = (
            f"{status}：读取 {read}，变更 {changed}，回写 {written}"
            if lang == "zh"
            else f"{status}: {read} read, {changed} changed, {written} written back"
        )
        items.append({"title": name, "detail": detail})
    return masked_dict(
        {
            **_base(settings, now, _url(settings.run_url, id=run.id)),
            "period": local(run.started_at, settings),
            "run_id": run.id,
            "status": run.status,
            "counts": {
                "new_clients": totals.get("clients_created", 0),
                "changed_clients": totals.get("clients_updated", 0),
                "downgrades": downgrades,
                "alerts": totals.get("alerts_raised", 0),
                "dead_letters": totals.get("dead_letters", 0),
            },
            "items": items,
        }
    )


def follow_up_context(
    client: GoldenClient,
    due_on: date,
    last_touch: datetime,
    touched_by: str | None,
    lang: Lang,
    settings: NotifySettings,
    now: datetime,
) -> dict[str, Any]:
    """``follow_up_reminder``: client, due_on, owner and a note on the last contact (phones masked)."""
    manager = Manager.of(client.data, client.rm_user_id)
    last = local(last_touch, settings)
    if touched_by:
        note = f"上次联系：{last}（{touched_by}）" if lang == "zh" else f"Last contact: {last} ({touched_by})"
    else:
        note = (
            f"尚无联系记录（客户于 {last} 建档）"
            if lang == "zh"
            else f"No contact recorded yet (client on file since {last})"
        )
    contact = _primary_contact(client.data or {})
    if contact:
        note += f"；联系人：{contact}" if lang == "zh" else f"; contact: {contact}"
    info = client_info(client, settings)
    return masked_dict(
        {
            **_base(settings, now, _url(settings.client_url, id=client.id, uscc=info.get("uscc") or "")),
            "client": info,
            "due_on": due_on.isoformat(),
            "owner": manager.name or manager.user_id,
            "segment": client.segment,
            "note": note,
        }
    )


def _primary_contact(data: dict[str, Any]) -> str | None:
    """The first contact's masked name and phone (张* 138****5678: enough to find the contact in the CRM)."""
    contacts = sorted(
        (c for c in data.get("contacts") or [] if isinstance(c, dict) and c.get("name")),
        key=lambda c: not c.get("is_primary"),
    )
    first = contacts[0] if contacts else None
    if first is None:
        return None
    phone = first.get("mobile") or first.get("phone")
    name = mask(str(first["name"]), "name")
    return f"{name} {mask(str(phone), 'phone')}" if phone else name


def undelivered_context(row: Outbox, settings: NotifySettings, now: datetime) -> dict[str, Any]:
    """``dead_letters`` template for a notification that failed or is unconfirmed: which, to whom, why."""
    event = (row.payload or {}).get("event", row.stream)
    to = ", ".join((row.payload or {}).get("recipients") or [])
    return masked_dict(
        {
            **_base(settings, now, None),
            "connector": f"notify → {row.target}",
            "stream": f"{row.state}: {event}",
            "count": 1,
            "retry": f"crmhub notify retry {row.id}",
            "examples": [{"source_id": f"#{row.id} {event} → {to}", "reason": row.last_error or row.state}],
        }
    )


def test_context(channel: str, settings: NotifySettings, now: datetime) -> dict[str, Any]:
    """``test``: the channel and when the message was made."""
    return {**_base(settings, now, None), "channel": channel, "sent_at": local(now, settings)}
