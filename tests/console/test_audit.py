"""The audit page: who may read it, filters, server-side paging newest first, masked details, the chain's
verification status (cached, "verify now", a tampered entry shown in red) and an export that is itself audited."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.console.conftest import Console, csrf_of

from crmhub.store.tables import AuditLog
from crmhub.sync import audit
from crmhub.sync.audit_query import CSV_COLUMNS

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def _seqs(html: str) -> list[int]:
    table = re.search(r'<table class="audit" id="audit-entries">(.*?)</table>', html, re.S)
    assert table, html[:500]
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', table.group(1))]


def _total(html: str) -> int:
    found = re.search(r"of ([\d,]+)</span>", html) or re.search(r"共 ([\d,]+) 条", html)
    assert found, html[:500]
    return int(found.group(1).replace(",", ""))


def _store_seqs(console: Console, *where: Any) -> list[int]:
    with console.store().begin() as s:
        return list(s.scalars(select(AuditLog.seq).where(*where).order_by(AuditLog.seq.desc())))


def _settled(client: Any, path: str = "/audit") -> str:
    """The page once the first background verification has finished (it waits briefly; a loaded machine may
    need a reload)."""
    deadline = time.monotonic() + 30
    while True:
        page = client.get(path)
        assert page.status_code == 200, page.text[:300]
        if 'id="chain-status"' in page.text and ("chain-ok" in page.text or "chain-problem" in page.text):
            return str(page.text)
        assert time.monotonic() < deadline, page.text[:1000]
        time.sleep(0.2)


@pytest.mark.parametrize(
    "name, allowed", [("bob", True), ("root", True), ("carol", True), ("alice", False), ("victor", False)]
)
def test_who_may_read_the_audit_trail(console: Console, name: str, allowed: bool) -> None:
    client = console.login(name, lang="en")
    page = client.get("/audit")
    assert page.status_code == (200 if allowed else 403)
    export = client.post("/audit/export", data={"format": "csv", "_csrf": csrf_of(client)})
    assert export.status_code == (200 if allowed else 403)
    assert ('id="audit-export"' in page.text) == allowed
    assert ('data-nav="/audit"' in client.get("/").text) == allowed


def test_newest_first_paged_on_the_server(console: Console) -> None:
    client = console.login("root", lang="en")
    page = _settled(client)
    everything = _store_seqs(console)
    size = console.settings.console.page_size
    assert _total(page) == len(everything) and len(everything) > size
    assert _seqs(page) == everything[:size]
    second = client.get("/audit?page=2").text
    assert _seqs(second) == everything[size : 2 * size]


def test_filters_by_actor_action_run_object_date_and_text(console: Console) -> None:
    client = console.login("bob", lang="en")
    fixture = client.get("/audit?actor=fixture").text
    assert _seqs(fixture) == _store_seqs(console, AuditLog.actor == "fixture") and _seqs(fixture)
    added = client.get("/audit?action=operator.add").text
    assert _seqs(added) == _store_seqs(console, AuditLog.action == "operator.add") and len(_seqs(added)) == 6
    prefix = client.get("/audit?action=operator.*").text
    assert _seqs(prefix) == _store_seqs(console, AuditLog.action.like("operator.%"))
    with console.store().begin() as s:
        run = s.scalar(select(func.max(AuditLog.run_id)))
    assert run is not None
    by_run = client.get(f"/audit?run={run}").text
    assert _total(by_run) == len(_store_seqs(console, AuditLog.run_id == run)) > 0
    assert set(_seqs(by_run)) <= set(_store_seqs(console, AuditLog.run_id == run))
    bob = client.get("/audit?entity=operator:bob").text
    assert _seqs(bob) == _store_seqs(console, AuditLog.entity == "operator", AuditLog.entity_id == "bob")
    assert client.get("/audit?from=2000-01-01&to=2000-01-31").text.count("<tr data-seq=") == 0
    assert _total(client.get("/audit?from=2000-01-01").text) == len(_store_seqs(console))
    carol = client.get("/audit?q=Carol").text  # free text in the details (display_name "Carol")
    assert _seqs(carol) and all(s in _store_seqs(console, AuditLog.entity_id == "carol") for s in _seqs(carol))
    with console.store().begin() as s:  # Chinese text (SQLite keeps it \u-escaped in the JSON)
        audit.append(
            s, actor="fixture", action="note.test", entity="client", entity_id="1", details={"branch": "杭州分行测试"}
        )
    hangzhou = client.get("/audit", params={"q": "杭州分行测试"}).text
    assert len(_seqs(hangzhou)) == 1
    bad = client.get("/audit?run=abc")
    assert bad.status_code == 400 and "run" in bad.text and "Traceback" not in bad.text
    bad = client.get("/audit?from=yesterday")
    assert bad.status_code == 400 and "from" in bad.text


def test_details_are_masked(console: Console) -> None:
    with console.store().begin() as s:  # a writer that passed personal data through unmasked
        audit.append(
            s,
            actor="fixture",
            action="note.test",
            entity="client",
            entity_id="1",
            details={"phone": "13812345678", "id_number": "110101199003071234"},
        )
    page = console.login("carol").get("/audit?action=note.test").text
    assert "13812345678" not in page and "110101199003071234" not in page
    assert "note.test" in page


def test_a_tampered_entry_is_shown_after_verify_now(console: Console) -> None:
    client = console.login("root", lang="en")
    first = _settled(client)
    assert 'id="chain-ok"' in first and "Audit chain intact" in first
    head = max(_store_seqs(console))
    assert re.search(r'id="chain-ok" data-seq="(\d+)"', first).group(1) == str(head)  # type: ignore[union-attr]
    victim = 10
    with console.store().begin() as s:
        s.execute(update(AuditLog).where(AuditLog.seq == victim).values(details={"tampered": True}))
    cached = client.get("/audit").text  # the last walk is under a minute old: shown as it was
    assert 'id="chain-ok"' in cached
    answer = client.post("/audit/verify", data={"_csrf": csrf_of(client)})
    assert answer.status_code == 303 and "broken" in answer.headers["location"]
    page = client.get(answer.headers["location"]).text
    problem = re.search(r'id="chain-problem" data-seq="(\d+)" data-kind="(\w+)"', page)
    assert problem and problem.groups() == (str(victim), "edited"), page[:2000]
    assert "chain-bad" in page and "Audit chain broken" in page
    assert f'<tr data-seq="{victim}" class="bad-entry">' in client.get(f"/audit?upto={victim}").text


def test_a_fresh_console_shows_the_tampered_entry(console: Console) -> None:
    with console.store().begin() as s:
        s.execute(update(AuditLog).where(AuditLog.seq == 3).values(actor="mallory"))
    page = _settled(console.login("carol", lang="zh"))
    assert re.search(r'id="chain-problem" data-seq="3" data-kind="edited"', page)
    assert "审计链已损坏" in page


def test_export_is_audited_and_names_the_operator(console: Console) -> None:
    client = console.login("root", lang="en")
    before = max(_store_seqs(console))
    page = client.get("/audit?actor=fixture").text  # the export form carries the page's filters
    assert '<input type="hidden" name="actor" value="fixture">' in page
    token = csrf_of(client)
    assert client.post("/audit/export", data={"actor": "fixture", "format": "csv"}).status_code == 403  # no token
    answer = client.post("/audit/export", data={"actor": "fixture", "format": "csv", "_csrf": token})
    assert answer.status_code == 200 and 'filename="audit.csv"' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = _store_seqs(console, AuditLog.actor == "fixture")
    assert [int(r[0]) for r in rows[1:]] == expected
    assert all(r[3] == "fixture" for r in rows[1:])
    with console.store().begin() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.seq > before)).one()
    assert entry.action == "audit.export" and entry.actor == "root"
    assert entry.details["format"] == "csv" and entry.details["entries"] == len(expected)
    assert entry.details["actor"] == "fixture" and entry.details["via"] == "console"
    everything = client.post("/audit/export", data={"format": "xlsx", "_csrf": token})
    assert everything.status_code == 200 and everything.content[:2] == b"PK"
    with console.store().begin() as s:
        last = s.scalars(select(AuditLog).order_by(AuditLog.seq.desc())).first()
    assert last is not None and last.action == "audit.export" and last.details["format"] == "xlsx"
    assert last.details["entries"] == last.seq - 1  # every entry before it (numbers have no gaps), not itself


def test_a_filtered_count_stops_at_the_cap_and_the_pager_still_pages(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmhub.console.pages import audit as audit_page

    size = console.settings.console.page_size
    with console.store().begin() as s:  # more matches than two pages
        for i in range(2 * size + 3):
            audit.append(s, actor="fixture", action="note.cap", entity="client", entity_id=str(i), details={})
    matching = _store_seqs(console, AuditLog.action == "note.cap")
    monkeypatch.setattr(audit_page, "COUNT_CAP", size)  # counted up to one page (and one more row)
    client = console.login("root", lang="en")
    first = client.get("/audit?action=note.cap").text
    assert f"1–{size} of more than {size}</span>" in first and 'rel="next"' in first
    assert _seqs(first) == matching[:size]
    second = client.get("/audit?action=note.cap&page=2").text  # the count reaches past the page asked for
    assert _seqs(second) == matching[size : 2 * size] and 'rel="next"' in second
    last = client.get("/audit?action=note.cap&page=3").text
    assert _seqs(last) == matching[2 * size :] and 'rel="next"' not in last
    assert _total(last) == len(matching)
    monkeypatch.setattr(audit_page, "COUNT_CAP", 10_000)
    assert _total(client.get("/audit?action=note.cap").text) == len(matching)  # below the cap: exact


def test_text_search_says_it_reads_every_entry(console: Console) -> None:
    client = console.login("root", lang="en")
    assert 'id="text-search-note"' in client.get("/audit?q=Carol").text
    assert 'id="text-search-note"' not in client.get("/audit?actor=fixture").text


def test_the_page_never_waits_for_the_chain_walk(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from crmhub.console import chain

    release = threading.Event()
    real_run = chain.subprocess.run

    def held(*args: Any, **kwargs: Any) -> Any:  # a walk that takes as long as the test wants
        assert release.wait(30)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(chain.subprocess, "run", held)
    client = console.login("root", lang="en")
    started = time.monotonic()
    page = client.get("/audit").text
    assert time.monotonic() - started < 5
    assert 'id="chain-running"' in page and "verification running" in page
    release.set()
    assert 'id="chain-ok"' in _settled(client)  # the walk's result, on a later view
