"""The AML alert pages over HTTP: the queue (filters, paging, deadlines, chart, export), one alert's evidence, and
acknowledging or closing it — four eyes by default, with a second AML officer approving through the domain
function (the approvals inbox is another page)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from tests.console.conftest import Console, csrf_of

from crmhub.errors import AccessError
from crmhub.security import approvals, operators
from crmhub.security.guard import Actor
from crmhub.store.tables import Alert, Approval, AuditLog


def _rows(html: str) -> list[dict[str, str]]:
    """The queue's rows as {id, kind, status, deadline, class}."""
    found = []
    for m in re.finditer(
        r'<tr class="([^"]*)" data-alert="(\d+)" data-kind="(\w+)" data-status="(\w+)">(.*?)</tr>', html, re.S
    ):
        deadline = re.search(r'data-deadline="([^"]*)"', m.group(5))
        found.append(
            {
                "class": m.group(1),
                "id": m.group(2),
                "kind": m.group(3),
                "status": m.group(4),
                "deadline": deadline.group(1) if deadline else "",
                "body": m.group(5),
            }
        )
    return found


def _working_days_after(day: date, n: int) -> date:
    """An independent count of n weekdays after ``day`` (the world configures no holidays)."""
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _alerts(console: Console) -> list[Alert]:
    with console.store().begin() as s:
        rows = list(s.scalars(select(Alert).order_by(Alert.id)))
        s.expunge_all()
    return rows


def _add_aml_officer(console: Console, name: str = "dave") -> Actor:
    with console.store().begin() as s:
        operators.add(s, name, ["aml_officer"], display_name=name.title(), actor="test")
        operators.set_password(s, name, f"pw-{name}-2026", actor="test")
    return Actor(name, frozenset({"aml_officer"}))


def test_carol_sees_every_alert_with_deadlines_and_a_chart(console: Console) -> None:
    alerts = _alerts(console)
    assert len(alerts) == 30 and all(a.status == "new" for a in alerts)
    carol = console.login("carol", lang="en")
    page = carol.get("/alerts?status=all")
    assert page.status_code == 200
    assert "1–30 of 30" in page.text and "AML alerts" in page.text
    rows = _rows(page.text)
    assert sorted(int(r["id"]) for r in rows) == [a.id for a in alerts]
    by_id = {a.id: a for a in alerts}
    days = [by_id[int(r["id"])].day for r in rows]
    assert days == sorted(days)  # oldest first: the queue's natural order
    large = [r for r in rows if r["kind"] == "large_value"]
    assert large and all(r["deadline"] for r in large)
    for r in large:  # five working days after the transaction day; long past in this world, so overdue
        alert = by_id[int(r["id"])]
        assert alert.day is not None
        assert r["deadline"] == _working_days_after(alert.day, 5).isoformat()
        assert r["class"] == "overdue" and "overdue" in r["body"]
    assert all(r["deadline"] == "" and r["class"] == "" for r in rows if r["kind"] != "large_value")
    assert "Large-value transaction" in page.text and "Pass-through funds" in page.text
    chart = re.search(r'data-chart="([^"]+)"', page.text)
    assert chart and "Large-value transaction" in chart.group(1).replace("&#34;", '"')
    assert 'href="/clients/' in page.text


def test_due_soon_and_fresh_deadlines(console: Console) -> None:
    today = _today()
    alerts = [a for a in _alerts(console) if a.kind == "large_value"]
    soon, fresh = alerts[0].id, alerts[1].id
    back, day = 0, today
    while back < 4:  # four working days ago: due on the next working day
        day -= timedelta(days=1)
        if day.weekday() < 5:
            back += 1
    with console.store().begin() as s:
        s.get(Alert, soon).day = day  # type: ignore[union-attr]
        s.get(Alert, fresh).day = today  # type: ignore[union-attr]
        waiting = s.get(Alert, fresh)
        assert waiting is not None
        waiting.created_at = datetime.now(UTC) - timedelta(days=20, hours=1)  # raised 20 days ago
    carol = console.login("carol", lang="en")
    rows = {int(r["id"]): r for r in _rows(carol.get("/alerts?kind=large_value").text)}
    assert rows[soon]["class"] == "due_soon" and "due soon" in rows[soon]["body"]
    assert rows[soon]["deadline"] == _working_days_after(day, 5).isoformat()
    assert rows[fresh]["class"] == "" and rows[fresh]["deadline"] == _working_days_after(today, 5).isoformat()
    old = _rows(carol.get("/alerts?age=%3E10").text)  # days waiting, since raised: the dashboard's buckets
    assert [int(r["id"]) for r in old] == [fresh] and '<td class="num">20</td>' in old[0]["body"]
    young = {int(r["id"]) for r in _rows(carol.get("/alerts?age=0-1").text)}
    assert len(young) == 29 and fresh not in young


def test_filters_and_paging_work_on_the_server(console: Console) -> None:
    console.settings.console.page_size = 5
    alerts = _alerts(console)
    carol = console.login("carol", lang="en")
    first = carol.get("/alerts?status=all")
    assert "1–5 of 30" in first.text and "1 / 6" in first.text
    second = carol.get("/alerts?status=all&page=2")
    assert "6–10 of 30" in second.text
    ids1, ids2 = {r["id"] for r in _rows(first.text)}, {r["id"] for r in _rows(second.text)}
    assert len(ids1) == len(ids2) == 5 and not ids1 & ids2
    assert 'href="/alerts?status=all&amp;page=3"' in second.text  # the next link keeps the filters
    last = carol.get("/alerts?status=all&page=99")
    assert "26–30 of 30" in last.text  # clamped to the last page

    console.settings.console.page_size = 50
    kinds = {a.kind for a in alerts}
    for kind in kinds:
        rows = _rows(carol.get(f"/alerts?kind={kind}").text)
        assert rows and all(r["kind"] == kind for r in rows)
        assert len(rows) == sum(1 for a in alerts if a.kind == kind)
    target = alerts[0]
    assert target.uscc
    mine = _rows(carol.get(f"/alerts?q={target.uscc.lower()[2:12]}").text)
    assert {int(r["id"]) for r in mine} == {a.id for a in alerts if a.uscc == target.uscc}
    assert len(_rows(carol.get("/alerts?age=0-1").text)) == 30  # the world's alerts were all raised just now
    assert _rows(carol.get("/alerts?age=2-5").text) == []
    assert _rows(carol.get("/alerts?status=closed").text) == []
    bad = carol.get("/alerts?kind=nonsense")
    assert bad.status_code == 400 and "kind &#39;nonsense&#39; is not one of" in bad.text


def test_only_aml_officers_reach_the_alert_pages(console: Console) -> None:
    alert_id = _alerts(console)[0].id
    for name in ("alice", "victor", "bob"):
        client = console.login(name)
        token = csrf_of(client)
        assert client.get("/alerts").status_code == 403, name
        assert client.get(f"/alerts/{alert_id}").status_code == 403, name
        assert client.get("/alerts?format=csv").status_code == 403, name
        ack = client.post(f"/alerts/{alert_id}/ack", data={"_csrf": token})
        close = client.post(
            f"/alerts/{alert_id}/close", data={"_csrf": token, "disposition": "not_suspicious", "note": "x"}
        )
        assert ack.status_code == close.status_code == 403, name
        assert 'data-nav="/alerts"' not in client.get("/").text  # no nav link to a page they may not open
    with console.store().begin() as s:
        assert s.get(Alert, alert_id).status == "new"  # type: ignore[union-attr]
    assert 'data-nav="/alerts"' in console.login("carol").get("/").text


def test_alert_page_shows_evidence_rule_client_and_deadline(console: Console) -> None:
    alert = next(a for a in _alerts(console) if a.kind == "large_value")
    carol = console.login("carol", lang="en")
    page = carol.get(f"/alerts/{alert.id}")
    assert page.status_code == 200
    ev = alert.evidence
    for tx in ev["transactions"]:
        assert f'data-tx="{tx["id"]}"' in page.text
        assert tx["counterparty_account"] is None or tx["counterparty_account"] in page.text
        if tx["counterparty_account"]:
            assert "*" in tx["counterparty_account"]  # stored masked, shown masked
    assert ev["rule"]["id"] in page.text and alert.rule_version in page.text
    assert f'href="/clients/{alert.client_id}"' in page.text and str(alert.uscc) in page.text
    assert alert.day is not None and _working_days_after(alert.day, 5).isoformat() in page.text
    assert 'id="close-form"' in page.text and 'id="ack-form"' in page.text
    for d in approvals.DISPOSITIONS:
        assert f'<option value="{d}"' in page.text
    assert carol.get("/alerts/999999").status_code == 404


def test_acknowledge(console: Console) -> None:
    alert_id = _alerts(console)[0].id
    carol = console.login("carol", lang="en")
    token = csrf_of(carol)
    done = carol.post(f"/alerts/{alert_id}/ack", data={"_csrf": token, "note": "looking into it"})
    assert done.status_code == 303 and done.headers["location"].startswith(f"/alerts/{alert_id}?notice=")
    with console.store().begin() as s:
        assert s.get(Alert, alert_id).status == "acknowledged"  # type: ignore[union-attr]
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "alert.acknowledged")).one()
        assert entry.actor == "carol" and entry.entity_id == str(alert_id)
        assert entry.details["note"] == "looking into it"
    page = carol.get(f"/alerts/{alert_id}")
    assert 'data-status="acknowledged"' in page.text and 'id="ack-form"' not in page.text
    assert 'data-action="alert.acknowledged" data-actor="carol"' in page.text
    again = carol.post(f"/alerts/{alert_id}/ack", data={"_csrf": token})
    assert again.status_code == 400 and "acknowledged" in again.text


def test_closing_needs_a_note_and_a_disposition(console: Console) -> None:
    alert_id = _alerts(console)[0].id
    carol = console.login("carol", lang="en")
    token = csrf_of(carol)
    no_note = carol.post(f"/alerts/{alert_id}/close", data={"_csrf": token, "disposition": "reported", "note": " "})
    assert no_note.status_code == 400
    assert "closing an alert needs a note with the reasons for the disposition" in no_note.text
    assert '<option value="reported" selected' in no_note.text  # what was chosen is kept
    no_choice = carol.post(f"/alerts/{alert_id}/close", data={"_csrf": token, "note": "because"})
    assert no_choice.status_code == 400 and "choose a disposition" in no_choice.text and "because" in no_choice.text
    zh_client = console.login("carol", lang="zh")  # the language is the operator's preference
    zh = zh_client.post(f"/alerts/{alert_id}/close", data={"_csrf": csrf_of(zh_client), "disposition": "reported"})
    assert zh.status_code == 400 and "关闭预警必须填写处置理由" in zh.text
    with console.store().begin() as s:
        assert s.get(Alert, alert_id).status == "new"  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(Approval)) == 0


def _propose(console: Console, client: Any, alert_id: int, disposition: str, note: str) -> int:
    answer = client.post(
        f"/alerts/{alert_id}/close", data={"_csrf": csrf_of(client), "disposition": disposition, "note": note}
    )
    assert answer.status_code == 303, answer.text[:500]
    with console.store().begin() as s:
        proposal = s.scalars(
            select(Approval).where(Approval.action == "alert.close").order_by(Approval.id.desc())
        ).first()
        assert proposal is not None
        return proposal.id


def test_four_eyes_close_is_a_proposal_until_another_aml_officer_approves(console: Console) -> None:
    alert_id = _alerts(console)[3].id
    carol = console.login("carol", lang="en")
    answer = carol.post(
        f"/alerts/{alert_id}/close",
        data={"_csrf": csrf_of(carol), "disposition": "not_suspicious", "note": "normal supplier payments"},
    )
    assert answer.status_code == 303 and "another+AML+officer+must+approve" in answer.headers["location"]
    with console.store().begin() as s:
        proposal = s.scalars(select(Approval)).one()
        assert proposal.status == "pending" and proposal.proposer == "carol"
        assert proposal.payload == {
            "alert_id": alert_id,
            "disposition": "not_suspicious",
            "note": "normal supplier payments",
        }
        assert s.get(Alert, alert_id).status == "new"  # type: ignore[union-attr]
    page = carol.get(answer.headers["location"])
    assert "another AML officer must approve it" in page.text
    assert 'id="pending-close"' in page.text and f'href="/approvals/{proposal.id}"' in page.text
    assert 'id="close-form"' not in page.text
    queue = carol.get("/alerts?status=pending")
    assert [int(r["id"]) for r in _rows(queue.text)] == [alert_id]
    assert f'href="/approvals/{proposal.id}"' in queue.text
    twice = carol.post(
        f"/alerts/{alert_id}/close", data={"_csrf": csrf_of(carol), "disposition": "reported", "note": "again"}
    )
    assert twice.status_code == 400 and f"approval {proposal.id}" in twice.text and "already waiting" in twice.text

    with console.store().begin() as s, pytest.raises(AccessError):
        approvals.approve(s, proposal.id, Actor("carol", frozenset({"aml_officer"})), None)  # not her own
    with console.store().begin() as s, pytest.raises(AccessError):
        approvals.approve(s, proposal.id, Actor("bob", frozenset({"approver"})), None)  # not an AML officer
    dave = _add_aml_officer(console)
    with console.store().begin() as s:
        row, result = approvals.approve(s, proposal.id, dave, "agreed")
        assert row.status == "applied" and result == {"from": "new", "to": "closed"}
    with console.store().begin() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.status == "closed"
        assert alert.evidence["disposition"] == {
            "value": "not_suspicious",
            "note": "normal supplier payments",
            "by": "carol+dave",
        }
        closed = s.scalars(select(AuditLog).where(AuditLog.action == "alert.closed")).one()
        assert closed.actor == "carol+dave" and closed.details["disposition"] == "not_suspicious"
        approved = s.scalars(select(AuditLog).where(AuditLog.action == "approval.approve")).one()
        assert approved.actor == "dave" and approved.details["proposer"] == "carol"
    page = carol.get(f"/alerts/{alert_id}")
    assert 'data-status="closed"' in page.text and 'data-disposition="not_suspicious"' in page.text
    assert "not suspicious — normal supplier payments (carol+dave)" in page.text
    for action, actor in (("approval.propose", "carol"), ("alert.closed", "carol+dave"), ("approval.approve", "dave")):
        assert f'data-action="{action}" data-actor="{actor}"' in page.text, action
    assert 'id="close-form"' not in page.text and 'id="pending-close"' not in page.text
    assert [int(r["id"]) for r in _rows(carol.get("/alerts?status=closed").text)] == [alert_id]
    assert alert_id not in {int(r["id"]) for r in _rows(carol.get("/alerts").text)}


def test_without_four_eyes_the_close_applies_at_once(console: Console) -> None:
    console.settings.security.four_eyes.alert_close = False
    alert_id = _alerts(console)[5].id
    carol = console.login("carol", lang="en")
    page = carol.get(f"/alerts/{alert_id}")
    assert "The alert closes at once." in page.text and ">Close alert<" in page.text
    answer = carol.post(
        f"/alerts/{alert_id}/close",
        data={"_csrf": csrf_of(carol), "disposition": "reported", "note": "reported to CAMLMAC"},
    )
    assert answer.status_code == 303 and "closed+%28reported%29" in answer.headers["location"]
    with console.store().begin() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.status == "closed"
        assert alert.evidence["disposition"]["value"] == "reported" and alert.evidence["disposition"]["by"] == "carol"
        assert s.scalar(select(func.count()).select_from(Approval)) == 0
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "alert.closed")).one()
        assert entry.actor == "carol" and entry.details["note"] == "reported to CAMLMAC"
    closed_again = carol.post(
        f"/alerts/{alert_id}/close", data={"_csrf": csrf_of(carol), "disposition": "reported", "note": "x"}
    )
    assert closed_again.status_code == 400 and "closed" in closed_again.text


def test_pages_render_in_chinese_and_english(console: Console) -> None:
    alert_id = next(a for a in _alerts(console) if a.kind == "large_value").id
    zh = console.login("carol", lang="zh")  # the language is the operator's preference: one at a time
    zh_list, zh_page = zh.get("/alerts").text, zh.get(f"/alerts/{alert_id}").text
    en = console.login("carol", lang="en")
    en_list, en_page = en.get("/alerts").text, en.get(f"/alerts/{alert_id}").text
    assert "反洗钱预警" in zh_list and "大额交易" in zh_list and "报告截止日" in zh_list and "已逾期" in zh_list
    assert "AML alerts" in en_list and "Large-value transaction" in en_list and "Report deadline" in en_list
    assert "反洗钱预警" not in en_list and "AML alerts" not in zh_list
    assert "证据交易" in zh_page and "不可疑" in zh_page and "提议关闭" in zh_page
    assert "Evidence transactions" in en_page and "not suspicious" in en_page and "Propose closing" in en_page


def test_export_is_the_filtered_queue_and_is_audited(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crmhub.console.pages.alerts.EXPORT_CHUNK", 4)  # several chunks, read one by one
    alerts = _alerts(console)
    carol = console.login("carol", lang="en")
    answer = carol.get("/alerts?format=csv&status=all&kind=large_value")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "kind", "status"] and "report deadline" in rows[0]
    expected = [a for a in alerts if a.kind == "large_value"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(a.id for a in expected)
    assert all(r[1] == "Large-value transaction" and r[10] for r in rows[1:])
    everything = list(csv.reader(io.StringIO(carol.get("/alerts?format=csv&status=all").text.lstrip("\ufeff"))))
    assert [int(r[0]) for r in everything[1:]] == sorted(a.id for a in alerts)  # by id, none twice
    xlsx = carol.get("/alerts?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert carol.get("/alerts?format=pdf").status_code == 400
    with console.store().begin() as s:
        exports = s.scalars(select(AuditLog).where(AuditLog.action == "alert.export")).all()
        assert [e.details["format"] for e in exports] == ["csv", "csv", "xlsx"] and exports[0].actor == "carol"
        assert exports[0].details["filters"]["kind"] == "large_value"
