"""Console pages: dead letters — the list (filters, new versus repeat per run, export), one dead letter (reason,
masked payload, history) and Retry, which runs exactly what ``crmhub deadletter retry`` runs
(`crmhub.sync.deadletter_retry.retry_dead_letters`: same connectors, same history entries, same audit entry)."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from starlette.responses import Response

from crmhub import plugins
from crmhub.console.export import export_response
from crmhub.console.web import Req, page, paginate
from crmhub.contract import PayloadNames, StreamKind
from crmhub.core.pages import keyset_pages
from crmhub.display import label, local_time, reason
from crmhub.errors import InputError
from crmhub.i18n import MESSAGES, Lang
from crmhub.masking import mask_text
from crmhub.store import deadletter_history as dl_history
from crmhub.store import deadletter_query as dq
from crmhub.store.tables import DeadLetter
from crmhub.sync.deadletter_retry import retry_dead_letters

RETRY_LIMIT = 1000
"""At most this many dead letters per "retry all matching" click (the request waits for them); the notice says
when more remain, and another click retries the next ones."""
EXPORT_BATCH = 500
FILTER_KEYS = ("status", "connector", "stream", "run", "reason", "seen")


def _registry(req: Req) -> plugins.Registry:
    """The console's plugin registry, loaded once when the app was made without one."""
    if req.state.registry is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            req.state.registry = plugins.load()
    return req.state.registry


def _streams(req: Req) -> dict[str, list[tuple[str, bool]]]:
    """Configured connector → its streams as (name, is a contact stream), for the filter and for masking."""
    registry = req.state.registry
    out: dict[str, list[tuple[str, bool]]] = {}
    for name, cfg in req.state.settings.connectors.items():
        cls = registry.connectors.get(cfg.plugin) if registry is not None else None
        out[name] = [(s.name, s.kind is StreamKind.CONTACT) for s in cls.streams] if cls is not None else []
    return out


def _payload_names(req: Req) -> PayloadNames:
    """Which payload keys name a record's company and the record itself: every installed connector's own
    (``Connector.payload_names``) and the generic ones — also for a dead letter of a connector no longer
    configured."""
    return dq.payload_names(cls.payload_names for cls in _registry(req).connectors.values())


def _contact_streams(streams: dict[str, list[tuple[str, bool]]]) -> set[tuple[str, str]]:
    return {(c, s) for c, items in streams.items() for s, contact in items if contact}


def _filter_from(get: Any) -> dq.DeadLetterFilter:
    return dq.DeadLetterFilter.parse(**{key: get(key) for key in FILTER_KEYS})


@dataclass(frozen=True, slots=True)
class Row:
    """One dead letter as the list and the export show it (personal data masked, texts in the user's language)."""

    id: int
    company: str | None
    client_id: int | None
    direction: str
    connector: str
    stream: str
    source_id: str | None
    reason: str
    field: str | None
    created: str
    updated: str
    attempts: int
    status: str
    status_label: str
    run_id: int | None
    first_run: int | None
    seen: str

    @property
    def open(self) -> bool:
        return self.status == "open"


def _row(
    r: DeadLetter,
    names: dict[tuple[str, str, str], tuple[int, str]],
    contacts: set[tuple[str, str]],
    keys: PayloadNames,
    lang: Lang,
) -> Row:
    golden = names.get((r.connector, r.stream, r.source_id or ""))
    contact = (r.connector, r.stream) in contacts or "contact" in r.stream.lower()
    company = golden[1] if golden else dq.payload_company(r.payload, names=keys, stream_is_contact=contact)
    first = dl_history.history_of(r)[0].get("run_id")
    first_run = first if isinstance(first, int) else r.run_id
    seen = "" if r.run_id is None else ("new" if first_run == r.run_id else "repeat")
    return Row(
        r.id,
        company,
        golden[0] if golden else None,
        r.direction,
        r.connector,
        r.stream,
        r.source_id,
        mask_text(reason(r.reason, lang)),
        r.field,
        local_time(r.created_at),
        local_time(r.updated_at),
        r.attempts,
        r.status,
        label("dead_letter_status", r.status, lang),
        r.run_id,
        first_run,
        seen,
    )


@page("GET", "/deadletters", command="deadletter list")
def deadletters(req: Req) -> Response:
    """Dead letters, newest first: filters, which are new in a run and which are repeats, Retry, export."""
    f = _filter_from(req.arg)
    streams = _streams(req)
    contacts = _contact_streams(streams)
    keys = _payload_names(req)
    if req.arg("format"):
        req.audit_export("dead_letter")
        return _export(req, f, contacts, keys)
    with req.db() as s:
        pager = paginate(s, dq.listing(f), req.page_number(), req.state.settings.console.page_size)
        names = dq.golden_names(s, pager.rows)
        rows = [_row(r, names, contacts, keys, req.lang) for r in pager.rows]
        counts = dq.run_counts(s, f.run_id) if f.run_id is not None else None
        retryable = dq.count(s, f.only_open()) if req.may("deadletter retry") and f.status in ("open", "all") else 0
    pager = replace(pager, rows=rows)
    return req.render(
        "deadletters/list.html.j2",
        active="/deadletters",
        pager=pager,
        f=f,
        streams=streams,
        counts=counts,
        retryable=retryable,
        retry_limit=RETRY_LIMIT,
        back=_here(req),
        statuses=dq.STATUSES,
    )


def _export(req: Req, f: dq.DeadLetterFilter, contacts: set[tuple[str, str]], keys: PayloadNames) -> Response:
    """Every matching dead letter as CSV or Excel, read in short transactions of `EXPORT_BATCH` rows (keyset on
    the id), so a slow download never holds the store's write lock."""
    store, lang = req.state.store, req.lang
    headers = [
        "id",
        req.text("公司", "company"),
        req.text("方向", "direction"),
        req.text("连接器", "connector"),
        req.text("数据流", "stream"),
        req.text("源记录", "source id"),
        req.text("原因", "reason"),
        req.text("字段", "field"),
        req.text("首次被拒的运行", "first refused in run"),
        req.text("最近被拒的运行", "last refused in run"),
        req.text("首次出现", "first seen"),
        req.text("最近尝试", "last tried"),
        req.text("次数", "attempts"),
        req.text("状态", "status"),
    ]

    def rows() -> Iterator[list[Any]]:
        def page(before: int | None) -> list[Any]:  # newest first: the next page is below the last id
            with store.begin() as s:
                q = dq.listing(f).limit(EXPORT_BATCH)
                if before is not None:
                    q = q.where(DeadLetter.id < before)
                batch: list[DeadLetter] = list(s.scalars(q))
                names = dq.golden_names(s, batch)
                return [_row(r, names, contacts, keys, lang) for r in batch]

        for views in keyset_pages(page, lambda v: int(v.id), EXPORT_BATCH):
            for v in views:
                yield [
                    v.id,
                    v.company,
                    label("direction", v.direction, lang),
                    v.connector,
                    v.stream,
                    v.source_id,
                    v.reason,
                    v.field,
                    v.first_run,
                    v.run_id,
                    v.created,
                    v.updated,
                    v.attempts,
                    v.status_label,
                ]

    return export_response(req.arg("format"), headers, rows(), "deadletters")


def _here(req: Req) -> str:
    query = req.request.url.query
    return req.request.url.path + (f"?{query}" if query else "")


@page("GET", "/deadletters/{id:int}", command="deadletter show")
def deadletter(req: Req) -> Response:
    """One dead letter: the reason and field, the payload (personal data masked), its history, Retry."""
    dead_id = int(req.request.path_params["id"])
    streams = _streams(req)
    contacts = _contact_streams(streams)
    keys = _payload_names(req)
    with req.db() as s:
        r = s.get(DeadLetter, dead_id)
        if r is None:
            return req.render(
                "error.html.j2",
                status_code=404,
                title=req.text("找不到死信", "No such dead letter"),
                message=req.text(f"没有编号为 {dead_id} 的死信。", f"There is no dead letter {dead_id}."),
            )
        view = _row(r, dq.golden_names(s, [r]), contacts, keys, req.lang)
        contact = (r.connector, r.stream) in contacts or "contact" in r.stream.lower()
        payload = json.dumps(
            dq.masked_payload(r.payload, names=keys, stream_is_contact=contact),
            ensure_ascii=False,
            indent=2,
            default=str,
        )
        first_reason = mask_text(reason(dl_history.first_reason(r), req.lang))
        history = [_event(h, req.lang) for h in dl_history.history_of(r)]
    return req.render(
        "deadletters/show.html.j2",
        active="/deadletters",
        d=view,
        payload=payload,
        first_reason=first_reason,
        history=history,
        back=_here(req),
    )


def _event(h: dict[str, Any], lang: Lang) -> dict[str, Any]:
    event = str(h.get("event") or "")
    key = f"dl_event_{event}"
    times = dl_history.times(h)
    again = (
        ""
        if times <= 1
        else (
            f" ×{times}，最近一次 {local_time(h.get('last_at'))}"
            if lang == "zh"
            else f" ×{times}, last {local_time(h.get('last_at'))}"
        )
    )
    return {
        "event": event,
        "label": (MESSAGES[key][lang] if key in MESSAGES else event) + again,
        "at": local_time(h.get("at")),
        "run_id": h.get("run_id"),
        "reason": mask_text(reason(str(h.get("reason") or ""), lang)),
    }


@page("POST", "/deadletters/retry", command="deadletter retry")
def retry(req: Req) -> Response:
    """Retry the ticked dead letters (``ids``) or every open one matching the filters (``all=1``)."""
    back = _safe_back(req.field("back"))
    with req.db() as s:
        if req.field("all") == "1":
            f = _filter_from(req.field)
            ids = dq.matching_ids(s, f.only_open(), RETRY_LIMIT + 1) if f.status in ("open", "all") else []
            skipped = 0
        else:
            wanted = _ids(req)
            ids = list(
                s.scalars(
                    select(DeadLetter.id)
                    .where(DeadLetter.id.in_(wanted), DeadLetter.status == "open")
                    .order_by(DeadLetter.id)
                )
            )
            skipped = len(wanted) - len(ids)
    more = len(ids) > RETRY_LIMIT
    ids = ids[:RETRY_LIMIT]
    if not ids:
        return req.redirect(
            back,
            notice=req.text(
                "没有可重试的待处理死信（可能已被解决）。",
                "Nothing to retry: no open dead letter matches (already resolved?).",
            ),
        )
    try:
        outcomes = asyncio.run(
            retry_dead_letters(
                req.state.settings, _registry(req), req.state.store, ids, req.user.actor.name, via="console"
            )
        )
    except InputError as exc:  # another operator (or a sync) resolved one of them a moment ago
        return req.redirect(back, notice=exc.message)
    ok = sum(o.ok for o in outcomes)
    failed = len(outcomes) - ok
    notice = req.text(
        f"已重试 {len(outcomes)} 条：成功 {ok} 条，仍失败 {failed} 条。",
        f"{len(outcomes)} retried: {ok} ok, {failed} still failing.",
    )
    if skipped:
        notice += req.text(f" 跳过 {skipped} 条（已不是待处理状态）。", f" {skipped} skipped (no longer open).")
    if more:
        notice += req.text(
            f" 每次最多重试 {RETRY_LIMIT} 条，其余的请再点一次。",
            f" At most {RETRY_LIMIT} at a time: click again for the rest.",
        )
    if ok:
        notice += req.text(
            " 重新映射的记录将在下次同步时并入客户主记录。", " Re-mapped records join golden clients at the next sync."
        )
    return req.redirect(back, notice=notice)


def _ids(req: Req) -> list[int]:
    raw = req.fields("ids")
    if not raw:
        raise InputError(req.text("请先勾选要重试的死信。", "Tick the dead letters to retry first."))
    bad = [v for v in raw if not v.isdigit() or len(v) > 12]
    if bad:
        raise InputError(req.text(f"死信编号无效：{bad[0][:40]!r}", f"not a dead letter id: {bad[0][:40]!r}"))
    return sorted({int(v) for v in raw})


def _safe_back(target: str) -> str:
    """Where to go after a retry: a dead-letter page of this console, never another site."""
    if target.startswith("/deadletters") and not target.startswith("//") and "\\" not in target:
        path, _, query = target.partition("?")
        kept = urlencode([(k, v) for k, v in parse_qsl(query) if k != "notice"])
        return f"{path}?{kept}" if kept else path
    return "/deadletters"
