"""The segments page: counts and exposure by segment, rating, industry, region and manager equal what the store
holds, filters narrow every breakdown, counts link to the clients list, exports are safe, both languages."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select
from tests.console.conftest import Console

from crmhub.store.tables import CreditFacilityRow, GoldenClient, SourceRecord, Xref


def _table(html: str, dim: str) -> dict[str, tuple[int, Decimal]]:
    """``data-key`` → (clients, exposure) of one breakdown table on the page."""
    section = re.search(rf'<table class="breakdown-table" data-dim="{dim}">(.*?)</table>', html, re.S)
    assert section, f"no {dim} table"
    out = {}
    for key, body in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', section.group(1), re.S):
        count = re.search(r'class="count">([\d,]+)<', body)
        exposure = re.search(r'class="num exposure">([\d,.]+)<', body)
        assert count and exposure, body
        out[key] = (int(count.group(1).replace(",", "")), Decimal(exposure.group(1).replace(",", "")))
    return out


def _store_counts(console: Console, column: Any) -> Counter[str]:
    with console.store().begin() as s:
        rows = s.execute(select(column, func.count()).where(GoldenClient.status == "active").group_by(column))
        return Counter({(k if k is not None else "-"): int(n) for k, n in rows})


def _exposure_by(console: Console, column: Any) -> dict[str, Decimal]:
    """Outstanding (else principal) of live facilities per bucket, joined the way the risk engine joins."""
    F = CreditFacilityRow
    with console.store().begin() as s:
        rows = s.execute(
            select(column, F.currency, func.sum(func.coalesce(F.outstanding_minor, F.principal_minor)))
            .join(
                SourceRecord,
                (SourceRecord.connector == F.connector)
                & (SourceRecord.source_id == F.client_source_id)
                & (SourceRecord.kind == "client"),
            )
            .join(Xref, Xref.source_record_id == SourceRecord.id)
            .join(GoldenClient, GoldenClient.id == Xref.client_id)
            .where(
                GoldenClient.status == "active",
                func.lower(F.status).not_in([s.lower() for s in console.settings.risk.closed_loan_statuses]),
            )
            .group_by(column, F.currency)
        ).all()
    assert rows and {c for _, c, _ in rows} == {"CNY"}, rows  # the sandbox ledger books in CNY
    return {(k if k is not None else "-"): Decimal(v) / 100 for k, _, v in rows}


def test_counts_and_exposure_equal_the_store(console: Console) -> None:
    client = console.login("victor")  # a viewer may read it ("clients list" is a read)
    page = client.get("/segments")
    assert page.status_code == 200, page.text[:500]
    for dim, column in (("segment", GoldenClient.segment), ("rating", GoldenClient.rating)):
        shown = _table(page.text, dim)
        expected = _store_counts(console, column)
        assert {k: v[0] for k, v in shown.items()} == dict(expected)
        exposure = _exposure_by(console, column)
        assert {k: v[1] for k, v in shown.items() if v[1]} == {k: v for k, v in exposure.items() if v}
    with console.store().begin() as s:
        total = s.scalar(select(func.count()).select_from(GoldenClient).where(GoldenClient.status == "active"))
        outstanding = s.scalar(select(func.sum(CreditFacilityRow.outstanding_minor)))
    assert re.search(r'id="total-clients">([\d,]+)<', page.text).group(1).replace(",", "") == str(total)  # type: ignore[union-attr]
    # every sandbox facility is live and linked: the total is the ledger's outstanding sum
    shown_total = re.search(r'id="total-exposure">([\d,.]+)<', page.text).group(1)  # type: ignore[union-attr]
    assert Decimal(shown_total.replace(",", "")) == Decimal(outstanding) / 100
    for dim in ("industry", "region", "manager"):  # every breakdown adds up to the whole book
        assert sum(v[0] for v in _table(page.text, dim).values()) == total
        assert sum(v[1] for v in _table(page.text, dim).values()) == Decimal(outstanding) / 100
    assert page.text.count('class="chart') == 5 and "data-chart=" in page.text


def test_a_filter_narrows_every_breakdown_and_counts_link_to_clients(console: Console) -> None:
    client = console.login("alice")
    whole = _table(client.get("/segments").text, "segment")
    page = client.get("/segments?segment=high")
    assert page.status_code == 200
    high = whole["high"][0]
    assert _table(page.text, "segment") == {"high": whole["high"]}
    for dim in ("rating", "industry", "region", "manager"):
        assert sum(v[0] for v in _table(page.text, dim).values()) == high
    with console.store().begin() as s:
        ratings = {r for (r,) in s.execute(select(GoldenClient.rating).where(GoldenClient.segment == "high"))}
    assert set(_table(page.text, "rating")) == ratings
    link = re.search(r'<tr data-key="CCC">.*?<a href="([^"]+)" class="count">', page.text, re.S)
    assert link, "the CCC count links to the clients list"
    target = urlparse(link.group(1).replace("&amp;", "&"))
    assert target.path == "/clients" and parse_qs(target.query) == {"segment": ["high"], "rating": ["CCC"]}
    # the clients page's own names and forms: rm for the manager, a province by its short name
    managers = client.get("/segments?region=浙江省").text
    link = re.search(
        r'<table class="breakdown-table" data-dim="manager">.*?<a href="([^"]+)" class="count">', managers, re.S
    )
    assert link, "a manager count links to the clients list"
    args = parse_qs(urlparse(link.group(1).replace("&amp;", "&")).query)
    assert args["region"] == ["浙江"] and set(args) == {"region", "rm"}
    # two filters: the intersection
    both = client.get("/segments?segment=high&rating=CCC")
    with console.store().begin() as s:
        n = s.scalar(
            select(func.count())
            .select_from(GoldenClient)
            .where(GoldenClient.segment == "high", GoldenClient.rating == "CCC", GoldenClient.status == "active")
        )
    assert _table(both.text, "rating") == {"CCC": (n, _table(page.text, "rating")["CCC"][1])}


def test_region_industry_and_manager_filters(console: Console) -> None:
    client = console.login("alice")
    whole = client.get("/segments").text
    regions = _table(whole, "region")
    province = next(k for k in regions if k != "-")
    narrowed = client.get("/segments", params={"region": province}).text
    assert _table(narrowed, "region") == {province: regions[province]}
    assert sum(v[0] for v in _table(narrowed, "segment").values()) == regions[province][0]
    industries = _table(whole, "industry")
    section = next(k for k in industries if k != "-")
    narrowed = client.get("/segments", params={"industry": section}).text
    assert _table(narrowed, "industry") == {section: industries[section]}
    managers = _table(whole, "manager")
    manager = next(k for k in managers if k != "-")
    narrowed = client.get("/segments", params={"manager": manager}).text
    assert _table(narrowed, "manager") == {manager: managers[manager]}
    unknown = client.get("/segments", params={"region": "-"}).text  # the "not known" bucket can be narrowed to
    assert set(_table(unknown, "region")) <= {"-"}
    # the clients page cannot select "not known": no count links to it there
    assert not re.search(r'<a href="/clients[^"]*" class="count"', unknown)


def test_a_bad_filter_is_a_clear_message(console: Console) -> None:
    client = console.login("alice")
    answer = client.get("/segments?rating=ZZZ")
    assert answer.status_code == 400 and "rating" in answer.text and "AAA" in answer.text
    assert "Traceback" not in answer.text


def test_csv_export_has_the_filtered_breakdown_and_neutralises_formulas(console: Console) -> None:
    with console.store().begin() as s:  # a manager name from a CRM that a spreadsheet would run as a formula
        row = s.scalars(select(GoldenClient).where(GoldenClient.segment == "high").order_by(GoldenClient.id)).first()
        assert row is not None
        row.name = '=HYPERLINK("http://evil.example","x")'
        row.data = {
            **row.data,
            "name": row.name,
            "relationship_manager": {"name": '=cmd|"/c calc"!A1', "email": "rm@bank.example"},
        }
    client = console.login("bob", lang="en")
    answer = client.get("/segments?segment=high&format=csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="segments.csv"' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0] == ["dimension", "value", "label", "clients", "share %", "exposure CNY"]
    segments = [r for r in rows[1:] if r[0] == "Risk segment"]
    assert [r[1] for r in segments] == ["high"]  # filtered
    managers = [r for r in rows[1:] if r[0] == "Relationship manager"]
    assert any(r[1] == '\'=cmd|"/c calc"!A1' and r[2].startswith("'=") for r in managers), managers
    assert not any(cell.startswith("=") for r in rows for cell in r)
    assert sum(int(r[3]) for r in managers) == int(segments[0][3])
    xlsx = client.get("/segments?segment=high&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


@pytest.mark.parametrize(
    "lang, words",
    [
        ("zh", ("客户分布", "风险分层", "高风险", "制造业")),
        ("en", ("Segments", "Risk segment", "High risk", "Manufacturing")),
    ],
)
def test_both_languages(console: Console, lang: str, words: tuple[str, ...]) -> None:
    page = console.login("carol", lang=lang).get("/segments")
    assert page.status_code == 200
    for word in words:
        assert word in page.text, word


def test_a_change_to_the_book_is_counted_at_the_next_view(console: Console) -> None:
    """Breakdowns are kept per app while the store's stamp holds; a client's new segment moves it."""
    from datetime import UTC, datetime

    client = console.login("alice")
    before = _table(client.get("/segments").text, "segment")
    assert _table(client.get("/segments").text, "segment") == before  # kept: the same numbers
    with console.store().begin() as s:
        row = s.scalars(select(GoldenClient).where(GoldenClient.segment == "low").order_by(GoldenClient.id)).first()
        assert row is not None
        row.segment, row.updated_at = "high", datetime.now(UTC)
    after = _table(client.get("/segments").text, "segment")
    assert after["high"][0] == before["high"][0] + 1 and after["low"][0] == before["low"][0] - 1


def test_every_count_link_lists_exactly_its_clients(console: Console) -> None:
    """Each count links to the clients page with the same filters, and that list has exactly that many clients."""
    client = console.login("alice", lang="en")
    for path in ("/segments", "/segments?segment=high", "/segments?region=广东省&industry=C"):
        page = client.get(path).text
        links = re.findall(r'<a href="(/clients\?[^"]+)" class="count">([\d,]+)<', page)
        assert links, path
        for href, count in links:
            listed = client.get(href.replace("&amp;", "&"))
            assert listed.status_code == 200
            total = re.search(r"of ([\d,]+)</span>", listed.text)
            assert total and total.group(1) == count, (path, href, count, total and total.group(1))
