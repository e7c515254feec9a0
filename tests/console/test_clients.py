"""The console's client pages over HTTP: search and filters against the world's clients, paging, export, the
client 360 (lineage, source records side by side, risk, ledger, alerts, interactions), masking, and the audited
reveal (who may, with a reason only, one audit entry naming the operator)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.console.conftest import Console, csrf_of

from crmhub.masking import mask
from crmhub.notify.followup import record_interaction
from crmhub.store.tables import (
    Alert,
    AuditLog,
    FieldLineage,
    GoldenClient,
    LedgerTransaction,
    SourceRecord,
    Xref,
)
from crmhub.sync.audit import REVEAL_ACTION

MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _ids(html: str) -> list[int]:
    """The client ids listed on a list page, in order."""
    return [int(i) for i in re.findall(r'<tr data-client="(\d+)"', html)]


def _total(html: str) -> int:
    found = re.search(r"of ([\d,]+)</span>|共 ([\d,]+) 条", html)
    assert found, html[:2000]
    return int((found.group(1) or found.group(2)).replace(",", ""))


def _clients(console: Console) -> list[dict[str, Any]]:
    with console.store().begin() as s:
        return [
            {
                "id": g.id,
                "uscc": g.uscc,
                "name": g.name,
                "segment": g.segment,
                "rating": g.rating,
                "data": dict(g.data or {}),
                "status": g.status,
            }
            for g in s.scalars(select(GoldenClient).order_by(GoldenClient.id))
        ]


def _all_pages(client: Any, url: str) -> list[int]:
    ids: list[int] = []
    for page in range(1, 20):
        html = client.get(f"{url}&page={page}" if "?" in url else f"{url}?page={page}").text
        ids += _ids(html)
        if 'rel="next"' not in html:
            return ids
    raise AssertionError("more pages than expected")


def _three_system_client(console: Console) -> int:
    with console.store().begin() as s:
        return int(
            s.execute(
                select(Xref.client_id)
                .join(SourceRecord, SourceRecord.id == Xref.source_record_id)
                .where(SourceRecord.kind == "client")
                .group_by(Xref.client_id)
                .having(func.count(func.distinct(SourceRecord.connector)) == 3)
                .order_by(Xref.client_id)
            )
            .scalars()
            .first()
        )


def _client_with_mobile(console: Console) -> tuple[int, str]:
    """A client of three systems with a contact's mobile number (the personal data the page must mask)."""
    for c in _clients(console):
        for contact in c["data"].get("contacts") or []:
            if MOBILE.match(contact.get("mobile") or ""):
                return c["id"], contact["mobile"]
    raise AssertionError("the world has no contact with a mobile number")


def _reveals(console: Console) -> list[AuditLog]:
    with console.store().begin() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == REVEAL_ACTION).order_by(AuditLog.id)))
        s.expunge_all()
        return rows


# --- the list --------------------------------------------------------------------------------------------------


def test_search_by_name_fragment_and_uscc(console: Console) -> None:
    clients = [c for c in _clients(console) if c["status"] == "active"]
    client = console.login("alice", lang="en")
    fragment = next(c["name"] for c in clients if c["name"].startswith("深圳市"))[3:6]
    expected = [c["id"] for c in clients if fragment in c["name"]]
    assert 0 < len(expected) < 50
    html = client.get("/clients", params={"q": fragment}).text
    assert _ids(html) == expected and _total(html) == len(expected)
    target = next(c for c in clients if c["uscc"])
    exact = client.get("/clients", params={"q": target["uscc"]}).text
    assert _ids(exact) == [target["id"]]
    prefix = target["uscc"][:6]
    assert _ids(client.get("/clients", params={"q": prefix.lower()}).text) == [
        c["id"] for c in clients if (c["uscc"] or "").startswith(prefix) or prefix.lower() in c["name"].lower()
    ]
    nothing = client.get("/clients", params={"q": "%_no such client_%"}).text
    assert _ids(nothing) == [] and "No client matches" in nothing  # LIKE wildcards are literal


def test_segment_rating_industry_region_and_manager_filters(console: Console) -> None:
    clients = [c for c in _clients(console) if c["status"] == "active"]
    client = console.login("victor", lang="en")  # a viewer may search
    high_ccc = [c["id"] for c in clients if c["segment"] == "high" and c["rating"] == "CCC"]
    assert high_ccc
    assert _all_pages(client, "/clients?segment=high&rating=CCC") == high_ccc
    low = [c["id"] for c in clients if c["segment"] == "low"]
    assert _all_pages(client, "/clients?segment=low") == low and len(low) > 0
    section = next(c["data"]["industry"]["code"][0] for c in clients if c["data"].get("industry"))
    assert _all_pages(client, f"/clients?industry={section}") == [
        c["id"] for c in clients if (c["data"].get("industry") or {}).get("code", "").startswith(section)
    ]
    region = "广东"
    in_region = [
        c["id"]
        for c in clients
        if any(region in ((c["data"].get("registered_address") or {}).get(k) or "") for k in ("province", "city"))
    ]
    assert in_region and _all_pages(client, f"/clients?region={region}") == in_region
    manager = next(c["data"]["relationship_manager"]["name"] for c in clients if c["data"].get("relationship_manager"))
    by_manager = [
        c["id"]
        for c in clients  # the name exactly, as /segments counts a manager
        if ((c["data"].get("relationship_manager") or {}).get("name") or "") == manager
    ]
    assert _all_pages(client, f"/clients?rm={manager}&segment=medium") == [
        i for i in by_manager if next(c for c in clients if c["id"] == i)["segment"] == "medium"
    ]


def test_bad_filter_values_are_explained_not_a_traceback(console: Console) -> None:
    client = console.login("alice", lang="en")
    answer = client.get("/clients", params={"segment": "bogus", "rating": "Z9", "industry": "??", "page": "x"})
    text = unescape(answer.text)
    assert answer.status_code == 200
    assert "unknown segment 'bogus'" in text and "unknown rating 'Z9'" in text
    assert "is not a GB/T 4754 code" in text
    assert _total(answer.text) == len([c for c in _clients(console) if c["status"] == "active"])


def test_paging_walks_every_client_once(console: Console) -> None:
    active = [c["id"] for c in _clients(console) if c["status"] == "active"]
    client = console.login("alice", lang="en")
    first = client.get("/clients").text
    assert _total(first) == len(active) == 152 and len(_ids(first)) == 50 and 'rel="next"' in first
    assert _all_pages(client, "/clients?q=") == active
    last = client.get("/clients", params={"page": "99"}).text  # past the end: the last page
    assert _ids(last) == active[150:]
    deep = client.get("/clients", params={"region": "市", "page": "2"}).text  # a filter on the document
    matching = [
        c["id"]
        for c in _clients(console)
        if "市" in "".join((c["data"].get("registered_address") or {}).get(k) or "" for k in ("province", "city"))
    ]
    assert _total(deep) == len(matching) and _ids(deep) == matching[50:100]


def test_export_csv_of_a_filtered_search(console: Console) -> None:
    clients = [c for c in _clients(console) if c["status"] == "active"]
    client = console.login("alice", lang="en")
    answer = client.get("/clients", params={"segment": "high", "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="clients.csv"' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8").lstrip("\ufeff"))))
    assert rows[0] == [
        "id",
        "USCC",
        "name",
        "industry code",
        "industry",
        "region",
        "segment",
        "rating",
        "relationship manager",
        "updated",
    ]
    high = [c for c in clients if c["segment"] == "high"]
    assert [int(r[0]) for r in rows[1:]] == [c["id"] for c in high]
    assert all(r[6] == "high" for r in rows[1:]) and rows[1][2] == high[0]["name"]
    xlsx = client.get("/clients", params={"segment": "high", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


# --- the 360 ---------------------------------------------------------------------------------------------------


def test_client_360_shows_lineage_and_the_source_records_side_by_side(console: Console) -> None:
    cid = _three_system_client(console)
    with console.store().begin() as s:
        fields = set(s.scalars(select(FieldLineage.field).where(FieldLineage.client_id == cid)))
        records = s.execute(
            select(SourceRecord.connector, SourceRecord.stream, SourceRecord.source_id)
            .join(Xref, Xref.source_record_id == SourceRecord.id)
            .where(Xref.client_id == cid, SourceRecord.kind == "client")
        ).all()
    client = console.login("alice", lang="en")
    html = client.get(f"/clients/{cid}").text
    lineage = html[html.index('id="lineage-table"') : html.index('id="sources"')]
    assert set(re.findall(r'<tr data-field="([a-z_]+)"', lineage)) == fields and "uscc" in fields
    shown = set(re.findall(r'data-record="([^"]+)"', html))
    assert shown == {f"{c}:{st}/{sid}" for c, st, sid in records} and len({c for c, _, _ in records}) == 3
    assert "source priority" in lineage or "most recent" in lineage  # the rule, in words
    assert 'class="differs"' in html  # the records disagree somewhere (names differ across the systems)


def test_client_360_risk_chart_ledger_and_transactions(console: Console) -> None:
    cid = _three_system_client(console)
    client = console.login("alice", lang="en")
    html = client.get(f"/clients/{cid}").text
    assert 'id="risk-chart"' in html and "data-chart=" in html and '"type": "bar"' in html.replace("&#34;", '"')
    assert len(re.findall(r'<tr data-factor="', html)) >= 5
    with console.store().begin() as s:
        links = s.execute(
            select(SourceRecord.connector, SourceRecord.source_id)
            .join(Xref, Xref.source_record_id == SourceRecord.id)
            .where(Xref.client_id == cid, SourceRecord.kind == "client")
        ).all()
        T = LedgerTransaction
        count = sum(
            s.scalar(select(func.count()).where(T.connector == c, T.client_source_id == sid, T.reversed.is_(False)))
            or 0
            for c, sid in links
        )
    if count:
        assert f"{count:,} transactions (reversals excluded)" in html
    assert 'id="accounts"' in html and 'id="facilities"' in html and 'id="follow-up"' in html


def test_contact_phone_is_masked_by_default(console: Console) -> None:
    cid, mobile = _client_with_mobile(console)
    client = console.login("alice", lang="en")
    html = client.get(f"/clients/{cid}").text
    masked = mask(mobile, "phone")
    assert re.fullmatch(r"1\d\d\*{4}\d{4}", masked)  # 138****5678
    assert masked in html and mobile not in html
    assert 'id="reveal-form"' in html


def test_alice_reveals_with_a_reason_and_it_is_audited(console: Console) -> None:
    cid, mobile = _client_with_mobile(console)
    client = console.login("alice", lang="en")
    answer = client.post(
        f"/clients/{cid}/reveal", data={"_csrf": csrf_of(client), "reason": "KYC refresh call, ticket 4711"}
    )
    assert answer.status_code == 200 and mobile in answer.text and 'id="revealed"' in answer.text
    entries = _reveals(console)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor == "alice" and entry.entity == "client" and entry.entity_id == str(cid)
    assert entry.details["reason"] == "KYC refresh call, ticket 4711" and entry.details["command"] == "clients show"
    assert f"#{entry.id}" in answer.text
    again = client.get(f"/clients/{cid}").text  # for that response only
    assert mobile not in again


def test_reveal_without_a_reason_is_refused(console: Console) -> None:
    cid, mobile = _client_with_mobile(console)
    client = console.login("alice", lang="en")
    answer = client.post(f"/clients/{cid}/reveal", data={"_csrf": csrf_of(client), "reason": "   "})
    assert answer.status_code == 400 and mobile not in answer.text and 'id="reveal-error"' in answer.text
    too_long = client.post(f"/clients/{cid}/reveal", data={"_csrf": csrf_of(client), "reason": "x" * 501})
    assert too_long.status_code == 400 and mobile not in too_long.text
    assert _reveals(console) == []


def test_a_viewer_sees_no_reveal_form_and_may_not_post_it(console: Console) -> None:
    cid, mobile = _client_with_mobile(console)
    client = console.login("victor", lang="en")
    page = client.get(f"/clients/{cid}")
    assert page.status_code == 200 and 'id="reveal-form"' not in page.text and mobile not in page.text
    answer = client.post(f"/clients/{cid}/reveal", data={"_csrf": csrf_of(client), "reason": "curious"})
    assert answer.status_code == 403 and mobile not in answer.text
    assert _reveals(console) == []


def test_a_merged_client_redirects_to_its_survivor_and_unknown_ids_are_404(console: Console) -> None:
    with console.store().begin() as s:  # any two active clients (the world's ids vary from build to build)
        absorbed, survivor = s.scalars(
            select(GoldenClient).where(GoldenClient.status == "active").order_by(GoldenClient.id).limit(2)
        ).all()
        absorbed.status, absorbed.merged_into = "merged", survivor.id
        gone, kept = absorbed.id, survivor.id
    client = console.login("alice", lang="en")
    answer = client.get(f"/clients/{gone}")
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/clients/{kept}?notice=")
    assert gone not in _ids(client.get("/clients").text)  # the list shows active clients only
    missing = client.get("/clients/999999")
    assert missing.status_code == 404 and "No such client" in missing.text


def test_alerts_only_for_those_who_may_read_them(console: Console) -> None:
    with console.store().begin() as s:
        cid, n = s.execute(
            select(Alert.client_id, func.count())
            .group_by(Alert.client_id)
            .order_by(func.count().desc(), Alert.client_id)
        ).first()  # type: ignore[misc]
    carol = console.login("carol", lang="en").get(f"/clients/{cid}").text
    assert 'id="client-alerts"' in carol and f'Alerts <span class="muted">({n})</span>' in carol
    alice = console.login("alice", lang="en").get(f"/clients/{cid}").text
    assert 'id="client-alerts"' not in alice


def test_interactions_and_follow_up_with_a_masked_summary(console: Console) -> None:
    cid, _ = _client_with_mobile(console)
    with console.store().begin() as s:
        golden = s.get(GoldenClient, cid)
        assert golden is not None
        record_interaction(
            s,
            golden,
            "visit",
            at=datetime.now(UTC) - timedelta(days=3),
            by="chenjing",
            summary="Met the CFO, call back on 13912345678",
        )
    client = console.login("alice", lang="en")
    html = client.get(f"/clients/{cid}").text
    listed = html[html.index('id="interaction-list"') :]
    assert "visit" in listed and "chenjing" in listed and "139****5678" in listed and "13912345678" not in html
    assert "Next follow-up:" in html
    revealed = client.post(f"/clients/{cid}/reveal", data={"_csrf": csrf_of(client), "reason": "follow-up call"})
    assert "13912345678" in revealed.text


WORDS = {
    "zh": ["源记录对照", "风险评级", "联系记录与跟进", "名称或统一社会信用代码"],
    "en": ["Source records side by side", "Risk rating", "Interactions and follow-up", "Name or USCC"],
}


@pytest.mark.parametrize(("lang", "words"), sorted(WORDS.items()))
def test_pages_render_in_both_languages(console: Console, lang: str, words: list[str]) -> None:
    client = console.login("alice", lang=lang)
    cid = _three_system_client(console)
    text = client.get("/clients").text + client.get(f"/clients/{cid}").text
    for word in words:
        assert word in text, word


def _statements(console: Console, client: Any, url: str) -> int:
    """How many SQL statements one request runs."""
    from sqlalchemy import event

    engine = console.store().engine
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_no_query_per_row(console: Console) -> None:
    """A page costs the same number of statements whatever its rows: 50 clients or 2, 3 source records or 1."""
    client = console.login("carol", lang="en")
    full = _statements(console, client, "/clients")
    assert _statements(console, client, "/clients?page=4") == full  # 2 rows on the last page
    on_document = _statements(console, client, "/clients?region=市")
    assert _statements(console, client, "/clients?region=市&page=2") == on_document
    with console.store().begin() as s:
        single = (
            s.execute(
                select(Xref.client_id).group_by(Xref.client_id).having(func.count() == 1).order_by(Xref.client_id)
            )
            .scalars()
            .first()
        )
    busy = _three_system_client(console)
    assert single is not None
    assert _statements(console, client, f"/clients/{busy}") <= _statements(console, client, f"/clients/{single}") + 1
    assert _statements(console, client, f"/clients/{busy}") < 30


def test_show_value_and_filters_without_a_store() -> None:
    from crmhub.console.client_list import ClientFilters
    from crmhub.console.pages.clients import show_value

    assert show_value({"amount": "1000.00", "currency": "CNY"}, "en") == "1000.00 CNY"
    assert show_value({"code": "E", "name_zh": "建筑业", "name_en": "Construction"}, "zh") == "E 建筑业"
    address = {"province": "广东省", "city": "深圳市", "street": "深南大道1号"}
    assert show_value(address, "zh") == "广东省 深圳市 深南大道1号"
    assert show_value({"products_of_interest": [], "tags": []}, "en") == "—" and show_value(None, "zh") == "—"
    assert show_value(["a", {"name": "张*"}], "en") == "a | name: 张*"
    args = {"q": " x" * 80, "segment": "HIGH", "rating": "bbb", "industry": "c39"}
    f = ClientFilters.parse(lambda n: args.get(n, "").strip())
    assert (f.segment, f.rating, f.industry, len(f.q), f.problems) == ("high", "BBB", "C39", 100, ())
    assert f.on_document  # the industry is read from the JSON document
    assert not ClientFilters.parse(lambda n: {"segment": "low", "q": "x"}.get(n, "")).on_document
    bad = ClientFilters.parse(lambda n: {"industry": "Z1", "segment": "x"}.get(n, ""))
    assert bad.industry == "" and bad.segment == "" and len(bad.problems) == 2 and not bad.active


def test_a_bare_client_without_sources_ledger_or_assessment(console: Console) -> None:
    now = datetime.now(UTC)
    with console.store().begin() as s:
        bare = GoldenClient(name="空白测试有限公司", data={"name": "空白测试有限公司"}, created_at=now, updated_at=now)
        s.add(bare)
        s.flush()
        cid = bare.id
    html = console.login("carol", lang="en").get(f"/clients/{cid}").text
    for empty in (
        "Not assessed yet.",
        "No source record is linked.",
        "No accounts.",
        "No transactions.",
        "No facilities.",
        "No alerts.",
        "No interactions recorded.",
        "No contacts.",
    ):
        assert empty in html, empty
