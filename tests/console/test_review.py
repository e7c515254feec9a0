"""The review queue and the approvals inbox over HTTP: what they show, and four eyes from proposal to decision.

The world has two open review items, both possible duplicates (in one build: client 144
内蒙古自治区紫星物流有限公司, one Fenxiang record, against 95 内蒙古自治区紫兴物流有限责任公司, one ledger record, score
0.767; and 147 春舟 against 108 深圳市坪山区春舟中学, 0.605). The world's connectors ingest concurrently, so its ids
differ from build to build: every id, name and source record here is read from the store
(`tests.console.review_pairs`) — ``best`` is the item with the higher score, ``other`` the second; accepting
``best`` merges its candidate into its golden client.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.console.conftest import Console, csrf_of
from tests.console.review_pairs import Pair, two_matches

from crmhub.console import compare
from crmhub.security import approvals, operators
from crmhub.security.guard import Actor
from crmhub.store.tables import Alert, Approval, AuditLog, GoldenClient, ReviewItem, SourceRecord, Xref
from crmhub.sync.scoring import Contribution, MatchScore

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


@pytest.fixture
def pairs(console: Console) -> tuple[Pair, Pair]:
    """The world's two open match items, best score first, as this build of the world numbered them."""
    return two_matches(console.store())


def _post(client: Any, path: str, **data: str) -> Any:
    return client.post(path, data={"_csrf": csrf_of(client), **data})


def _approvals(console: Console) -> list[Approval]:
    with console.store().begin() as s:
        return list(s.scalars(select(Approval).order_by(Approval.id)))


def _item(console: Console, item_id: int) -> ReviewItem:
    with console.store().begin() as s:
        item = s.get(ReviewItem, item_id)
        assert item is not None
        return item


def _client(console: Console, client_id: int) -> GoldenClient:
    with console.store().begin() as s:
        row = s.get(GoldenClient, client_id)
        assert row is not None
        return row


def _notice(answer: Any) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(answer.headers["location"]).query).get("notice", [""])[0]


# --- the queue ---------------------------------------------------------------------------------------------------


def test_the_queue_lists_open_items_by_score_with_both_names(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, other = pairs
    first, second = f'data-item="{best.item}"', f'data-item="{other.item}"'
    alice = console.login("alice", lang="en")
    page = alice.get("/review")
    assert page.status_code == 200
    for name in (best.candidate_name, best.golden_name, other.candidate_name, other.golden_name):
        assert name in page.text, name
    assert page.text.index(first) < page.text.index(second)  # the higher score first
    lowest_first = alice.get("/review?sort=asc").text
    assert lowest_first.index(second) < lowest_first.index(first)
    between = f"{(best.score + other.score) / 2:.4f}"  # a bound strictly between the two scores
    high = alice.get(f"/review?min={between}").text
    assert first in high and second not in high
    low = alice.get(f"/review?min={max(other.score - 0.1, 0):.4f}&max={between}").text
    assert second in low and first not in low
    assert "data-item=" not in alice.get("/review?kind=conflict").text
    assert f'href="/review/{best.item}"' in page.text


def test_the_queue_pages_on_the_server(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, _ = pairs
    with console.store().begin() as s:
        for n in range(12):
            s.add(
                ReviewItem(
                    kind="conflict",
                    status="open",
                    dedup_key=f"test:{n}",
                    client_id=best.golden,
                    field="phone",
                    score=None,
                    details={"values": []},
                    created_at=datetime.now(UTC),
                )
            )
    console.settings.console.page_size = 5
    alice = console.login("alice", lang="en")
    first = alice.get("/review")
    assert "1–5 of 14" in first.text and len(re.findall(r'data-item="\d+"', first.text)) == 5
    assert f'data-item="{best.item}"' in first.text  # scored items first, conflicts (no score) after
    last = alice.get("/review?page=3")
    assert "11–14 of 14" in last.text and len(re.findall(r'data-item="\d+"', last.text)) == 4
    only_conflicts = alice.get("/review?kind=conflict")
    assert "of 12" in only_conflicts.text


@pytest.mark.parametrize(
    "query, word",
    [
        ("min=abc", "score bound"),
        ("max=2", "score bound"),
        ("kind=nonsense", "kind must be one of"),
        ("status=nonsense", "status must be one of"),
    ],
)
def test_bad_filters_get_a_clear_message(console: Console, query: str, word: str) -> None:
    answer = console.login("alice", lang="en").get(f"/review?{query}")
    assert answer.status_code == 400 and word in answer.text and "Traceback" not in answer.text


# --- one item side by side ---------------------------------------------------------------------------------------


def test_an_item_compares_golden_and_candidate_field_by_field_masked(
    console: Console, pairs: tuple[Pair, Pair]
) -> None:
    best, _ = pairs
    with console.store().begin() as s:
        sides = [dict(s.get(GoldenClient, cid).data) for cid in (best.candidate, best.golden)]  # type: ignore[union-attr]
    # personal data from whichever side has it (in one build: the candidate's Fenxiang contact and legal representative)
    mobile = next(c["mobile"] for d in sides for c in d.get("contacts") or [] if c.get("mobile"))
    legal_rep = next(
        d["legal_representative"]["name"] for d in sides if (d.get("legal_representative") or {}).get("name")
    )
    uscc = next(d["uscc"] for d in sides if d.get("uscc"))
    page = console.login("alice", lang="en").get(f"/review/{best.item}")
    assert page.status_code == 200
    header = page.text[page.text.index('id="compare"') : page.text.index("</thead>", page.text.index('id="compare"'))]
    assert header.index(best.golden_name) < header.index(best.candidate_name)  # golden (kept) first, then candidate
    name_row = re.search(r'<tr class="(\w+)" data-field="name">', page.text)
    assert name_row and name_row.group(1) == "differs"
    assert 'data-field="uscc"' in page.text and uscc in page.text
    # personal data masked: the contact's mobile and the legal representative's name never appear in clear
    assert mobile not in page.text and mobile[:3] + "****" + mobile[-4:] in page.text
    assert legal_rep not in page.text and legal_rep[0] + "*" in page.text
    # the score and its per-feature evidence: every weight the matcher stored, for and against
    evidence = compare.parse_explanation(best.explanation)
    assert evidence.probability == pytest.approx(best.score, abs=5e-5) and f"{best.score:.4f}" in page.text
    assert any(c.weight > 0 for c in evidence.contributions)
    assert any(c.weight < 0 and c.comparison != "prior" for c in evidence.contributions)
    for c in evidence.contributions:
        assert f'<td class="mono">{escape(c.level)}</td><td class="num">{c.weight:+.2f}</td>' in page.text, c
    # the source records of each side
    for ref in best.candidate_sources + best.golden_sources:
        assert f'data-source="{ref}"' in page.text, ref
    # the actions, each with a required note
    assert 'id="accept"' in page.text and 'id="reject"' in page.text and 'id="split"' in page.text
    assert page.text.count('name="note"') == 2 and page.text.count("required") >= 3


def test_a_missing_item_is_a_clear_message(console: Console) -> None:
    answer = console.login("alice", lang="en").get("/review/999")
    assert answer.status_code == 404 and "no review item 999" in answer.text


def test_the_explanation_the_matcher_stores_reads_back() -> None:
    score = MatchScore(
        total=1.72,
        match_probability=0.7674,
        rule=None,
        review_only="group_mismatch",
        breakdown=(
            Contribution("prior", "base rate", -10.0),
            Contribution("name", "homophone", 8.64),
            Contribution("name", "term frequency (key_pinyin, n=2)", 0.18),
            Contribution("phone", "different", -0.74),
        ),
    )
    parsed = compare.parse_explanation(score.explain())
    assert parsed.probability == pytest.approx(0.7674) and parsed.total == pytest.approx(1.72)
    assert {(c.comparison, c.level, c.weight) for c in parsed.contributions} == {
        ("prior", "base rate", -10.0),
        ("name", "homophone", 8.64),
        ("name", "term frequency (key_pinyin, n=2)", 0.18),
        ("phone", "different", -0.74),
    }
    assert parsed.notes == ["never merged automatically: group_mismatch"]


# --- four eyes: propose, refuse, approve --------------------------------------------------------------------------


def test_alice_proposes_bob_approves_and_the_item_is_decided(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, _ = pairs
    item_id, url = best.item, f"/review/{best.item}"
    alice, bob, olga = (console.login(n, lang="en") for n in ("alice", "bob", "olga"))
    answer = _post(alice, f"{url}/accept", note="same licence number on the paper file")
    assert answer.status_code == 303 and "proposal #1 filed; another approver must approve it" in _notice(answer)
    [proposal] = _approvals(console)
    assert (proposal.action, proposal.status, proposal.proposer) == ("review.decide", "pending", "alice")
    assert proposal.payload == {"item_id": item_id, "accept": True, "note": "same licence number on the paper file"}
    assert _item(console, item_id).status == "open" and _client(console, best.candidate).status == "active"

    page = alice.get(url).text  # the item says a proposal waits and offers no second one
    assert 'href="/approvals/1"' in page and 'id="accept"' not in page and 'id="split"' not in page
    second = _post(olga, f"{url}/accept", note="me too")
    assert second.status_code == 400 and "already has a pending proposal #1" in second.text
    assert len(_approvals(console)) == 1

    own = alice.get("/approvals/1").text  # the proposer is told why there are no buttons
    assert 'id="why-not"' in own and "You proposed this" in own and 'id="approve"' not in own
    refused = _post(alice, "/approvals/1/approve")
    assert refused.status_code == 403 and "approver" in refused.text
    assert _approvals(console)[0].status == "pending" and _item(console, item_id).status == "open"

    inbox = bob.get("/approvals").text
    assert (
        f"accept review item {item_id}: merge {best.candidate_name} (#{best.candidate}) "
        f"into {best.golden_name} (#{best.golden})"
    ) in inbox and ">alice<" in inbox
    assert 'id="approve"' in bob.get("/approvals/1").text
    approved = _post(bob, "/approvals/1/approve", note="checked")
    assert approved.status_code == 303 and "approved: applied" in _notice(approved)

    proposal = _approvals(console)[0]
    assert (proposal.status, proposal.decided_by, proposal.note) == ("applied", "bob", "checked")
    item = _item(console, item_id)
    assert (item.status, item.decided_by) == ("accepted", "alice+bob")
    merged = _client(console, best.candidate)
    assert (merged.status, merged.merged_into) == ("merged", best.golden)
    with console.store().begin() as s:
        entries = {
            (a.action, a.actor): a.details
            for a in s.scalars(
                select(AuditLog).where(
                    AuditLog.action.in_(("approval.propose", "approval.approve", "review.accept", "client.merge"))
                )
            )
        }
    assert entries[("approval.propose", "alice")]["payload"]["item_id"] == item_id
    assert {"proposer": "alice", "approver": "bob"}.items() <= entries[("approval.approve", "bob")].items()
    assert entries[("review.accept", "alice+bob")]["note"] == "same licence number on the paper file"
    assert entries[("client.merge", "alice+bob")]["absorbed"] == best.candidate

    decided = bob.get(url).text  # the page says it is decided, by whom, and offers nothing more
    assert 'data-status="accepted"' in decided and "alice+bob" in decided and 'id="accept"' not in decided
    again = _post(bob, "/approvals/1/approve")
    assert again.status_code == 400 and "can no longer be decided" in again.text


def test_nobody_approves_their_own_proposal_even_with_both_roles(console: Console, pairs: tuple[Pair, Pair]) -> None:
    _, other = pairs
    with console.store().begin() as s:
        operators.add(s, "dora", ["operator", "approver"], display_name="Dora", actor="root")
        operators.set_password(s, "dora", "pw-dora-2026", actor="root")
    dora = console.login("dora", lang="en")
    assert _post(dora, f"/review/{other.item}/reject", note="a school is not a company").status_code == 303
    [proposal] = _approvals(console)
    page = dora.get(f"/approvals/{proposal.id}").text
    assert "You proposed this, so you may not decide it" in page and 'id="approve"' not in page
    refused = _post(dora, f"/approvals/{proposal.id}/approve")
    assert refused.status_code == 403 and f"dora proposed approval {proposal.id} and may not decide it" in refused.text
    assert _approvals(console)[0].status == "pending" and _item(console, other.item).status == "open"


def test_notes_are_required(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, _ = pairs
    url = f"/review/{best.item}"
    alice, bob = console.login("alice", lang="en"), console.login("bob", lang="en")
    for action in ("accept", "reject", "split"):
        answer = _post(alice, f"{url}/{action}", note="  ", record=best.split)
        assert answer.status_code == 400 and "a note saying why is required" in answer.text, action
    assert _approvals(console) == []
    assert _post(alice, f"{url}/reject", note="different companies").status_code == 303
    refused = _post(bob, "/approvals/1/reject", note="")
    assert refused.status_code == 400 and "a rejection needs a reason" in refused.text
    assert _approvals(console)[0].status == "pending"
    rejected = _post(bob, "/approvals/1/reject", note="they are the same company")
    assert rejected.status_code == 303 and "rejected" in _notice(rejected)
    assert (_approvals(console)[0].status, _item(console, best.item).status) == ("rejected", "open")  # not applied
    assert 'id="accept"' in alice.get(url).text  # the item can be proposed again


def test_a_viewer_may_read_but_not_propose_or_approve(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, _ = pairs
    url = f"/review/{best.item}"
    victor = console.login("victor", lang="en")
    page = victor.get(url)
    assert page.status_code == 200 and 'id="accept"' not in page.text and "may only read" in page.text
    assert _post(victor, f"{url}/accept", note="x").status_code == 403
    assert _post(victor, f"{url}/split", note="x", record=best.split).status_code == 403
    assert _post(console.login("alice"), f"{url}/accept", note="same").status_code == 303
    assert _post(victor, "/approvals/1/approve").status_code == 403
    assert _post(victor, "/approvals/1/reject", note="no").status_code == 403
    assert _approvals(console)[0].status == "pending" and _item(console, best.item).status == "open"


def test_without_four_eyes_a_decision_applies_at_once(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, _ = pairs
    console.settings.security.four_eyes.review_decision = False
    alice = console.login("alice", lang="en")
    assert "takes effect at once" in alice.get(f"/review/{best.item}").text
    answer = _post(alice, f"/review/{best.item}/accept", note="same company")
    assert answer.status_code == 303
    assert _notice(answer) == f"#{best.item}: merged client {best.candidate} into {best.golden}"
    assert _approvals(console) == []
    item = _item(console, best.item)
    assert (item.status, item.decided_by) == ("accepted", "alice")
    merged = _client(console, best.candidate)
    assert (merged.status, merged.merged_into) == ("merged", best.golden)


def test_a_split_is_proposed_then_applied(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, other = pairs
    url = f"/review/{best.item}"
    alice, bob = console.login("alice", lang="en"), console.login("bob", lang="en")
    wrong = _post(alice, f"{url}/split", note="x", record=other.split)  # the other item's record, not this one's
    assert wrong.status_code == 400 and "choose the source record" in wrong.text and _approvals(console) == []
    answer = _post(alice, f"{url}/split", note="this source account is another company", record=best.split)
    assert answer.status_code == 303 and "proposal #1 filed" in _notice(answer)
    [proposal] = _approvals(console)
    assert proposal.action == "client.split" and proposal.payload["client"] == best.candidate
    assert proposal.payload["record"] == best.record and proposal.payload["item_id"] == best.item
    assert 'href="/approvals/1"' in alice.get(url).text  # waiting: no second proposal offered
    assert (
        f"split record {best.record} off {best.candidate_name} (#{best.candidate}) into a new client"
        in bob.get("/approvals").text
    )
    assert _post(bob, "/approvals/1/approve").status_code == 303
    with console.store().begin() as s:
        owner = s.scalar(
            select(Xref.client_id)
            .join(SourceRecord, SourceRecord.id == Xref.source_record_id)
            .where(SourceRecord.connector == best.connector, SourceRecord.source_id == best.source_id)
        )
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "client.split")).one()
    assert owner not in (None, best.candidate, best.golden) and entry.actor == "alice+bob"
    assert entry.details["note"] == "this source account is another company"
    assert _approvals(console)[0].status == "applied"


def test_aml_proposals_are_seen_only_by_aml_officers(console: Console) -> None:
    with console.store().begin() as s:
        alert_id = s.scalar(select(func.min(Alert.id)))
        row = approvals.propose(
            s,
            "alert.close",
            {"alert_id": alert_id, "disposition": "not_suspicious", "note": "checked"},
            Actor("carol", frozenset({"aml_officer"})),
        )
        aml_id = row.id
    bob, carol = console.login("bob", lang="en"), console.login("carol", lang="en")
    assert f'data-approval="{aml_id}"' not in bob.get("/approvals?status=all").text
    assert bob.get(f"/approvals/{aml_id}").status_code == 403
    assert _post(bob, f"/approvals/{aml_id}/approve").status_code == 403
    assert bob.get("/approvals?action=alert.close").status_code == 400
    listed = carol.get("/approvals").text
    assert f'data-approval="{aml_id}"' in listed and f"close alert #{alert_id} as not suspicious" in listed


def test_the_inbox_filters_by_status_and_action(console: Console, pairs: tuple[Pair, Pair]) -> None:
    best, other = pairs
    alice, bob = console.login("alice", lang="en"), console.login("bob", lang="en")
    assert _post(alice, f"/review/{best.item}/accept", note="same").status_code == 303
    assert _post(alice, f"/review/{other.item}/split", note="other", record=other.split).status_code == 303
    _post(bob, "/approvals/1/reject", note="no")
    pending = bob.get("/approvals").text
    assert 'data-approval="2"' in pending and 'data-approval="1"' not in pending
    rejected = bob.get("/approvals?status=rejected").text
    assert 'data-approval="1"' in rejected and 'data-approval="2"' not in rejected
    splits = bob.get("/approvals?status=all&action=client.split").text
    assert 'data-approval="2"' in splits and 'data-approval="1"' not in splits
    assert bob.get("/approvals?status=bogus").status_code == 400
    assert bob.get("/approvals/99").status_code == 404


@pytest.mark.parametrize(
    "lang, words",
    [
        ("zh", ("复核队列", "逐字段对比", "匹配依据", "审批收件箱", "接受复核事项 {item}：将")),
        (
            "en",
            (
                "Review queue",
                "Field by field",
                "Why they may be the same company",
                "Approvals inbox",
                "accept review item {item}: merge",
            ),
        ),
    ],
)
def test_pages_render_in_both_languages(
    console: Console, pairs: tuple[Pair, Pair], lang: str, words: tuple[str, ...]
) -> None:
    best, other = pairs
    alice = console.login("alice", lang=lang)
    assert _post(alice, f"/review/{best.item}/accept", note="same").status_code == 303
    bob = console.login("bob", lang=lang)
    text = "".join(
        c.get(p).text
        for c, p in (
            (alice, "/review"),
            (alice, f"/review/{best.item}"),
            (alice, f"/review/{other.item}"),
            (bob, "/approvals"),
            (bob, "/approvals/1"),
        )
    )
    for word in words:
        assert word.format(item=best.item) in text, word


# --- the queries behind the pages, on SQLite and PostgreSQL -------------------------------------------------------


def test_the_page_queries_are_portable(store: Any) -> None:
    """Pending proposals per item (JSON accessors), AML filtering in SQL, names and source records in one query."""
    from crmhub.console import proposals

    now = datetime.now(UTC)
    with store.begin() as s:
        clients = [
            GoldenClient(name=n, status="active", data={}, version=1, created_at=now, updated_at=now)
            for n in ("甲公司", "乙公司", "丙公司")
        ]
        s.add_all(clients)
        s.flush()
        a, b, c = (x.id for x in clients)
        items = [
            ReviewItem(
                kind="match",
                status="open",
                dedup_key=f"match:{a}:{b}",
                client_id=a,
                other_client_id=b,
                score=0.8,
                details={},
                created_at=now,
            ),
            ReviewItem(
                kind="match",
                status="open",
                dedup_key=f"match:{b}:{c}",
                client_id=c,
                other_client_id=b,
                score=0.7,
                details={},
                created_at=now,
            ),
        ]
        s.add_all(items)
        record = SourceRecord(
            connector="zoho",
            stream="accounts",
            source_id="z-1",
            kind="client",
            raw={},
            content_hash="h",
            first_seen_at=now,
            last_seen_at=now,
        )
        s.add(record)
        s.flush()
        s.add(Xref(source_record_id=record.id, client_id=a, method="new", linked_at=now))
        first, second = items[0].id, items[1].id
        alice = Actor("alice", frozenset({"operator"}))
        decide = approvals.propose(s, "review.decide", {"item_id": first, "accept": True, "note": "x"}, alice)
        split = approvals.propose(s, "client.split", {"client": c, "record": "zoho:z-9"}, alice)
        approvals.propose(
            s, "alert.close", {"alert_id": 1, "disposition": "duplicate"}, Actor("carol", frozenset({"aml_officer"}))
        )
        done = approvals.propose(s, "review.decide", {"item_id": second, "accept": False}, alice)
        done.status = "rejected"
        s.flush()
        waiting = proposals.pending_for_items(s, items)
        assert [p.id for p in waiting[first]] == [decide.id] and [p.id for p in waiting[second]] == [split.id]
        shown = select(Approval.action).order_by(Approval.id)
        assert "alert.close" not in set(s.scalars(approvals.visible_to(shown, {"approver"})))
        assert "alert.close" in set(s.scalars(approvals.visible_to(shown, {"aml_officer"})))
        words = proposals.load_words(s, [decide, split])
        assert (
            proposals.describe(decide, words, "en") == f"accept review item {first}: merge 甲公司 (#{a}) "
            f"into 乙公司 (#{b})"
        )
        assert proposals.describe(split, words, "zh") == f"拆分：将记录 zoho:z-9 从 丙公司 (#{c}) 拆出为新客户"
        linked = compare.sources(s, [a, b])
        assert [r.ref for r in linked[a]] == ["zoho:z-1"] and linked[b] == []
