"""The dashboard, the run list, the run page and the drill-downs behind every count, over HTTP.

The world (tests/console/conftest.py) has 2 runs: #1 created 152 golden clients, wrote 27 records back (13 to
Zoho, 14 to Fenxiang), queued 2 review items and raised 30 alerts; #2 rejected 15 records (14 Fenxiang accounts
with a mis-mapped field and one broken Zoho contact). Expected numbers are read from the store, not typed in.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.console.conftest import Console

from crmhub.jobs.settings import JobSettings
from crmhub.store.tables import Alert, Approval, AuditLog, DeadLetter, Outbox, ReviewItem, SyncRun, SyncRunStream


def _counts(page: str) -> dict[str, int]:
    """``data-count="what">N<`` pairs of a page (linked or not)."""
    return {k: int(v.replace(",", "")) for k, v in re.findall(r'data-count="([^"]+)">([\d,]+)<', page)}


def _chart(page: str, chart_id: str) -> dict[str, Any]:
    found = re.search(rf'id="{chart_id}" data-chart="([^"]+)"', page)
    assert found, f"no chart {chart_id}"
    option: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return option


def _rows(page: str) -> list[str]:
    body = page.split('id="records"', 1)
    return re.findall(r'<tr data-row="([^"]+)"', body[1]) if len(body) == 2 else []


def _all_rows(client: Any, url: str) -> tuple[list[str], int]:
    """Every row of a paginated drill-down, following its "next" links; and how many pages there were."""
    rows: list[str] = []
    pages = 0
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text[:500]
        pages += 1
        rows += _rows(answer.text)
        nxt = re.search(r'<a rel="next" href="([^"]+)"', answer.text)
        url = html.unescape(nxt.group(1)) if nxt else ""
        assert pages < 100
    return rows, pages


def _add_runs(console: Console, n: int, status: str = "failed") -> list[int]:
    """``n`` more finished runs with small reports (to exceed a page, or to filter by)."""
    now = datetime.now(UTC)
    ids = []
    with console.store().begin() as s:
        for i in range(n):
            started = now - timedelta(days=40, minutes=i)
            row = SyncRun(
                kind="sync",
                trigger="scheduler",
                job="nightly",
                status=status,
                dry_run=False,
                connectors=["zoho"],
                started_at=started,
                finished_at=started + timedelta(seconds=3),
                report={
                    "status": status,
                    "duration_s": 3.0,
                    "started_at": started.isoformat(),
                    "totals": {"clients_created": 1, "dead_letters": 2},
                    "connectors": {},
                    "phases": {},
                },
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def test_dashboard_shows_the_runs_open_work_and_trends(console: Console) -> None:
    client = console.login("alice", lang="en")
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    with console.store().begin() as s:
        review = s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open"))
        dead = s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "open"))
        approvals = s.scalar(select(func.count()).select_from(Approval).where(Approval.status == "pending"))
        read = dict(
            s.execute(
                select(SyncRunStream.run_id, func.sum(SyncRunStream.stats["read"].as_integer())).group_by(
                    SyncRunStream.run_id
                )
            ).all()
        )
        created = s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "client.create"))
    counts = _counts(text)
    assert (counts["review"], counts["deadletters"], counts["approvals"]) == (review, dead, approvals)
    assert (review, dead) == (2, 15)
    assert 'href="/review"' in text and 'href="/deadletters"' in text and 'href="/approvals"' in text
    for connector in ("zoho", "fxiaoke", "ledger"):  # each connector's last run is #2
        row = text.split(f'<tr data-connector="{connector}">', 1)[1].split("</tr>", 1)[0]
        assert 'data-run-link="2"' in row, connector
    fx = text.split('<tr data-connector="fxiaoke">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/runs/2/records?what=rejected&amp;connector=fxiaoke"' in fx
    option = _chart(text, "chart-read")
    assert option["xAxis"]["data"] == ["#1", "#2"]
    assert option["series"][0]["data"] == [read[1], read[2]]
    clients = _chart(text, "chart-clients")
    assert [len(s["data"]) for s in clients["series"]] == [2, 2, 2]
    assert clients["series"][0]["data"] == [created, 0]
    problems = _chart(text, "chart-problems")
    assert problems["series"][0]["data"] == [0, 15] and problems["series"][1]["data"] == [30, 0]
    assert len(_chart(text, "chart-duration")["series"][0]["data"]) == 2
    recent = text.split('id="recent-runs"', 1)[1]
    assert 'href="/runs/1/records?what=created"' in recent and 'href="/runs/2/records?what=rejected"' in recent
    assert "chart-alert-ages" not in text and 'data-card="alerts"' not in text  # AML data: not for an operator


def test_the_alert_age_chart_is_for_aml_officers_only(console: Console) -> None:
    now = datetime.now(UTC)
    with console.store().begin() as s:
        ids = list(s.scalars(select(Alert.id).order_by(Alert.id)))
        assert len(ids) == 30
        for days, chunk in ((3, ids[:5]), (7, ids[5:9]), (12, ids[9:12])):
            s.execute(update(Alert).where(Alert.id.in_(chunk)).values(created_at=now - timedelta(days=days, hours=1)))
        s.execute(update(Alert).where(Alert.id == ids[12]).values(status="closed"))
        s.execute(update(Alert).where(Alert.id == ids[13]).values(status="acknowledged"))
    assert "chart-alert-ages" not in console.login("alice").get("/").text
    page = console.login("carol", lang="en").get("/").text
    ages = dict(re.findall(r'data-age="([^"]+)"><a class="big" href="/alerts\?age=[^"]+">(\d+)<', html.unescape(page)))
    assert ages == {"0-1": "17", "2-5": "5", "6-10": "4", ">10": "3"}  # 30 - 12 moved back - 1 closed = 17
    option = _chart(page, "chart-alert-ages")
    assert option["series"][0]["data"] == [17, 5, 4, 3]
    assert _counts(page)["open-alerts"] == 29


def test_scheduled_jobs_show_their_next_tick_and_last_result(console: Console) -> None:
    settings = console.app.state.console.settings
    settings.jobs["nightly"] = JobSettings(cron="0 2 * * *", command="sync")
    settings.jobs["paused"] = JobSettings(cron="0 3 * * *", command="risk assess", enabled=False)
    from crmhub.jobs import state as job_state

    store = console.store()
    job_state.record_finish(store, "nightly", {"status": "succeeded", "run_id": 2})
    page = console.login("alice", lang="en").get("/").text
    nightly = page.split('<tr data-job="nightly">', 1)[1].split("</tr>", 1)[0]
    assert re.search(r"\d{4}-\d\d-\d\d 02:00", nightly), nightly
    assert 'data-status="succeeded"' in nightly and 'href="/runs/2"' in nightly
    paused = page.split('<tr data-job="paused">', 1)[1].split("</tr>", 1)[0]
    assert "disabled" in paused and "never run" in paused


def test_run_list_filters_pages_and_exports(console: Console) -> None:
    extra = _add_runs(console, 55)
    client = console.login("alice", lang="en")
    first = client.get("/runs")
    assert first.status_code == 200
    ids = [int(i) for i in re.findall(r'<tr data-run="(\d+)"', first.text)]
    size = console.settings.console.page_size
    assert len(ids) == size and ids == sorted(ids, reverse=True) and ids[0] == max(extra)
    second = client.get("/runs?page=2")
    rest = [int(i) for i in re.findall(r'<tr data-run="(\d+)"', second.text)]
    assert sorted(ids + rest) == sorted([1, 2, *extra])
    ok = client.get("/runs?status=succeeded").text
    assert [int(i) for i in re.findall(r'<tr data-run="(\d+)"', ok)] == [2, 1]
    failed = client.get("/runs?status=failed&page=2").text
    assert set(map(int, re.findall(r'<tr data-run="(\d+)"', failed))) <= set(extra)
    assert "51–55 of 55" in failed
    assert re.findall(r'<tr data-run="(\d+)"', client.get("/runs?job=nightly&trigger=scheduler").text)
    assert not re.findall(r'<tr data-run="(\d+)"', client.get("/runs?trigger=manual&status=failed").text)
    today = datetime.now(UTC).date()
    recent = client.get(f"/runs?from={(today - timedelta(days=1)).isoformat()}").text
    assert sorted(map(int, re.findall(r'<tr data-run="(\d+)"', recent))) == [1, 2]
    old = client.get(f"/runs?to={(today - timedelta(days=30)).isoformat()}&page=2").text
    assert "51–55 of 55" in old
    row2 = ok.split('<tr data-run="2">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/runs/2/records?what=rejected"' in row2 and ">15<" in row2
    bad = client.get("/runs?status=nonsense")
    assert bad.status_code == 400 and "nonsense" in bad.text
    assert client.get("/runs?from=31-12-2026").status_code == 400
    export = client.get("/runs?format=csv&status=succeeded")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["id", "kind", "trigger", "job", "status"]
    assert [(r[0], r[10]) for r in rows[1:]] == [("2", "0"), ("1", "152")]
    xlsx = client.get("/runs?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_run_page_shows_the_report_and_links_each_count(console: Console) -> None:
    client = console.login("alice", lang="en")
    page = client.get("/runs/2")
    assert page.status_code == 200
    text = page.text
    assert "Sync run report #2" in text and 'data-status="succeeded"' in text
    fx = text.split('<tr data-stream="fxiaoke/accounts">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/runs/2/records?what=rejected&amp;connector=fxiaoke&amp;stream=accounts"' in fx and ">14<" in fx
    dead = text.split('<tr data-total="dead_letters">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/runs/2/records?what=rejected"' in dead and ">15<" in dead
    ledger = text.split('<tr data-connector="ledger">', 1)[1].split("</tr>", 1)[0]
    with console.store().begin() as s:
        calls = int(s.get(SyncRun, 2).report["connectors"]["ledger"]["api"]["api_calls"])
    assert calls > 0 and f">{calls}<" in ledger  # API calls, as the stored report counted them
    for word in ("API calls", "retries", "429s", "Time per phase", "Records per stream", "Totals", "ingest"):
        assert word in text, word
    assert _chart(text, "chart-phases")["series"][0]["data"]
    assert len(_chart(text, "chart-streams")["yAxis"]["data"]) == 10
    one = client.get("/runs/1").text
    written = one.split('<tr data-connector="zoho">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/runs/1/records?what=written_back&amp;connector=zoho"' in written and ">13<" in written
    created = one.split('<tr data-total="clients_created">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/runs/1/records?what=created"' in created and ">152<" in created
    alerts = one.split('<tr data-total="alerts_raised">', 1)[1].split("</tr>", 1)[0]
    assert "href=" not in alerts  # alerts are for AML officers: no link for an operator
    carol = console.login("carol").get("/runs/1").text
    assert 'href="/runs/1/records?what=alerts"' in carol
    missing = client.get("/runs/999")
    assert missing.status_code == 404 and "There is no run 999" in missing.text
    assert client.get("/runs/999/records?what=created").status_code == 404


def test_run_page_masks_errors_and_shows_notifications(console: Console) -> None:
    now = datetime.now(UTC)
    with console.store().begin() as s:
        row = SyncRun(
            kind="sync",
            trigger="manual",
            status="failed",
            started_at=now,
            finished_at=now,
            connectors=["zoho"],
            error="boom: call 13812345678",
            report={
                "status": "failed",
                "started_at": now.isoformat(),
                "duration_s": 1.5,
                "error": "boom: call 13812345678",
                "connectors": {
                    "zoho": {
                        "status": "failed",
                        "error": "owner li@qq.com refused",
                        "streams": {"accounts": {"read": 3, "error": "bad 13900001111"}},
                    }
                },
                "notifications": {
                    "planned": 2,
                    "delivered": 1,
                    "unconfirmed": 1,
                    "uncertain": [
                        {"id": 7, "event": "sync_failed", "channel": "mail", "recipients": ["wang.wei@163.com"]}
                    ],
                    "unconfirmed_total": 1,
                },
            },
        )
        s.add(row)
        s.flush()
        run_id = row.id
    text = console.login("alice", lang="en").get(f"/runs/{run_id}").text
    assert "13812345678" not in text and "li@qq.com" not in text and "13900001111" not in text
    assert "wang.wei@163.com" not in text and "w***@163.com" in text
    assert 'id="run-error"' in text and "[zoho/accounts]" in text and "[zoho]" in text
    assert "planned 2, delivered 1" in text and "#7 sync_failed via mail" in text


def test_run_page_says_what_write_back_is_still_queued_and_the_cpu_per_phase(console: Console) -> None:
    now = datetime.now(UTC)
    with console.store().begin() as s:
        row = SyncRun(
            kind="sync",
            trigger="manual",
            status="succeeded",
            started_at=now,
            finished_at=now,
            connectors=["fxiaoke"],
            report={
                "status": "succeeded",
                "started_at": now.isoformat(),
                "duration_s": 9.0,
                "phases": {"ingest": 4.0, "deliver": 2.0},
                "phase_cpu": {"ingest": 1.25},
                "connectors": {
                    "fxiaoke": {"status": "ok", "written_back": 500, "write_queued": 93000, "write_eta_s": 18600.0}
                },
            },
        )
        s.add(row)
        s.flush()
        run_id = row.id
    text = console.login("alice", lang="en").get(f"/runs/{run_id}").text
    fx = text.split('<tr data-connector="fxiaoke">', 1)[1].split("</tr>", 1)[0]
    assert "93,000" in fx
    assert "[fxiaoke] 93,000 write-backs queued — about 5 h 10 min at this run's pace" in html.unescape(text)
    assert "crmhub deliver" in text and "1.250 s CPU" in text
    zh = console.login("alice", lang="zh").get(f"/runs/{run_id}").text
    assert "93,000 条回写排队中，按本次速度约需 5 小时 10 分" in zh


def test_a_run_without_a_report_and_a_dry_run_plan(console: Console) -> None:
    now = datetime.now(UTC)
    plan = [
        {
            "connector": "zoho",
            "stream": "accounts",
            "action": "update",
            "client_id": 3,
            "client_name": "测试有限公司",
            "source_id": f"Z{i}",
            "fields": {"phone": {"before": "13812345678", "after": "13912345678"}},
        }
        for i in range(60)
    ]
    with console.store().begin() as s:
        running = SyncRun(
            kind="sync", trigger="manual", status="running", started_at=now, connectors=["zoho"], report={}
        )
        dry = SyncRun(
            kind="sync",
            trigger="manual",
            status="succeeded",
            dry_run=True,
            started_at=now,
            finished_at=now,
            connectors=["zoho"],
            report={
                "status": "succeeded",
                "dry_run": True,
                "started_at": now.isoformat(),
                "totals": {"planned_writes": 60},
                "plan": plan,
            },
        )
        s.add_all([running, dry])
        s.flush()
        s.add(SyncRunStream(run_id=running.id, connector="zoho", stream="accounts", stats={"read": 7}))
        running_id, dry_id = running.id, dry.id
    client = console.login("alice", lang="en")
    page = client.get(f"/runs/{running_id}").text
    assert 'data-status="running"' in page and '<tr data-stream="zoho/accounts">' in page
    dry_page = client.get(f"/runs/{dry_id}").text
    assert 'id="dry-run"' in dry_page and f'href="/runs/{dry_id}/records?what=planned"' in dry_page
    rows, pages = _all_rows(client, f"/runs/{dry_id}/records?what=planned")
    assert len(rows) == 60 and pages == 2
    listing = client.get(f"/runs/{dry_id}/records?what=planned").text
    assert "13812345678" not in listing and "138****5678" in listing
    assert _rows(client.get(f"/runs/{dry_id}/records?what=planned&connector=fxiaoke").text) == []


def test_each_drill_down_lists_the_records_behind_its_count(console: Console) -> None:
    client = console.login("alice", lang="en")
    with console.store().begin() as s:
        dead2 = sorted(str(i) for i in s.scalars(select(DeadLetter.id).where(DeadLetter.run_id == 2)))
        fx_dead = sorted(
            str(i)
            for i in s.scalars(
                select(DeadLetter.id).where(
                    DeadLetter.run_id == 2, DeadLetter.connector == "fxiaoke", DeadLetter.stream == "accounts"
                )
            )
        )
        created1 = sorted(
            e
            for e in s.scalars(
                select(AuditLog.entity_id).where(AuditLog.run_id == 1, AuditLog.action == "client.create")
            )
        )
        zoho_out = sorted(
            str(i)
            for i in s.scalars(
                select(Outbox.id).where(Outbox.run_id == 1, Outbox.target == "zoho", Outbox.state == "confirmed")
            )
        )
        reviews = sorted(f"review-{i}" for i in s.scalars(select(ReviewItem.id)))
        alerts1 = sorted(str(i) for i in s.scalars(select(Alert.id).where(Alert.run_id == 1)))
    rows, _ = _all_rows(client, "/runs/2/records?what=rejected")
    assert sorted(rows) == dead2 and len(dead2) == 15
    page = client.get("/runs/2/records?what=rejected").text
    assert f'href="/deadletters/{dead2[0]}"' in page and "fxiaoke" in page
    assert (
        sorted(_rows(client.get("/runs/2/records?what=rejected&connector=fxiaoke&stream=accounts").text)) == fx_dead
        and len(fx_dead) == 14
    )
    rows, pages = _all_rows(client, "/runs/1/records?what=created")
    assert sorted(rows) == created1 and len(rows) == 152 and len(set(rows)) == 152
    assert pages == -(-152 // console.settings.console.page_size)
    first = client.get("/runs/1/records?what=created").text
    assert f'href="/clients/{rows[0]}"' in first and "Changes (masked)" in first
    assert _rows(client.get("/runs/2/records?what=created").text) == []
    assert _rows(client.get("/runs/1/records?what=updated").text) == []
    assert sorted(_rows(client.get("/runs/1/records?what=written_back&connector=zoho").text)) == zoho_out
    assert len(_all_rows(client, "/runs/1/records?what=written_back")[0]) == 27
    assert _rows(client.get("/runs/1/records?what=write_failed").text) == []
    assert sorted(_rows(client.get("/runs/1/records?what=conflicted").text)) == reviews and len(reviews) == 2
    assert _rows(client.get("/runs/2/records?what=conflicted").text) == []
    chooser = client.get("/runs/1/records")  # no kind chosen: every kind this user may open is offered
    assert chooser.status_code == 200 and 'data-tab="rejected"' in chooser.text
    assert 'data-tab="alerts"' not in chooser.text and 'data-tab="planned"' not in chooser.text
    bad = client.get("/runs/1/records?what=everything")
    assert bad.status_code == 400 and "everything" in bad.text and "written_back" in bad.text
    assert client.get("/runs/1/records?what=alerts").status_code == 403
    carol = console.login("carol")
    assert 'data-tab="alerts"' in carol.get("/runs/1/records?what=created").text
    assert sorted(_all_rows(carol, "/runs/1/records?what=alerts")[0]) == alerts1 and len(alerts1) == 30


@pytest.mark.parametrize(
    "lang, words",
    [
        ("zh", ("概览", "各连接器最近一次运行", "同步运行报告", "本次运行拒收的记录")),
        ("en", ("Dashboard", "Last run per connector", "Sync run report", "Records this run rejected")),
    ],
)
def test_pages_render_in_both_languages(console: Console, lang: str, words: tuple[str, ...]) -> None:
    client = console.login("root", lang=lang)
    pages = [client.get(u) for u in ("/", "/runs", "/runs/2", "/runs/2/records?what=rejected")]
    assert all(p.status_code == 200 for p in pages)
    text = "".join(p.text for p in pages)
    for word in words:
        assert word in text, word


def test_a_viewer_can_read_runs(console: Console) -> None:
    victor = console.login("victor")
    for url in (
        "/",
        "/runs",
        "/runs/1",
        "/runs/2",
        "/runs/1/records?what=created",
        "/runs/2/records?what=rejected",
        "/runs/1/records?what=conflicted",
        "/runs?format=csv",
    ):
        assert victor.get(url).status_code == 200, url
    assert victor.get("/runs/1/records?what=alerts").status_code == 403
