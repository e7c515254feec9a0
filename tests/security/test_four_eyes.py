"""Maker-checker: a proposal changes nothing; only a different operator with the role applies it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from crmhub.store import Store
from crmhub.store.tables import Alert, Approval, AuditLog, GoldenClient, ReviewItem
from crmhub.sync.audit import verify_chain

from .conftest import Cli, alert, review_item


def _audit(store: Store) -> list[tuple[str, str, dict[str, object]]]:
    with store.begin() as s:
        assert verify_chain(s) == []
        return [
            (r.actor, r.action, r.details)
            for r in s.scalars(select(AuditLog).order_by(AuditLog.id))
            if not r.action.startswith("operator.")
        ]


def test_done_when_maker_proposes_checker_applies(people: Store, config: str, cli: Cli) -> None:
    item = review_item(people)
    code, out, err = cli(
        "--as", "maker", "review", "accept", str(item), "--note", "same USCC, same address", "-c", config
    )
    assert code == 0 and "proposal #1" in out, err
    with people.begin() as s:
        assert s.get(ReviewItem, item).status == "open"  # type: ignore[union-attr]
        assert s.get(Approval, 1).status == "pending"  # type: ignore[union-attr]

    code, _, err = cli("--as", "maker", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "maker" in err and "approvals approve" in err
    with people.begin() as s:
        assert s.get(ReviewItem, item).status == "open"  # type: ignore[union-attr]

    code, out, err = cli("approvals", "approve", "1", "--note", "checked the licence", "-c", config, "--as", "checker")
    assert code == 0 and "applied" in out, err
    with people.begin() as s:
        row = s.get(ReviewItem, item)
        assert row is not None and row.status == "accepted" and row.decided_by == "maker+checker"
        proposal = s.get(Approval, 1)
        assert proposal is not None and proposal.status == "applied" and proposal.decided_by == "checker"
    entries = _audit(people)
    assert [(a, act) for a, act, _ in entries] == [
        ("maker", "approval.propose"),
        ("maker+checker", "review.accept"),
        ("checker", "approval.approve"),
    ]
    assert entries[1][2]["note"] == "same USCC, same address"
    assert entries[2][2]["proposer"] == "maker" and entries[2][2]["note"] == "checked the licence"

    code, out, _ = cli("review", "list", "--status", "all", "-c", config)
    assert code == 0 and "maker+checker" in out and "same USCC, same address" in out
    code, out, _ = cli("approvals", "list", "--status", "all", "--json", "-c", config)
    listed = json.loads(out.splitlines()[0])
    assert listed["proposer"] == "maker" and listed["decided_by"] == "checker" and listed["status"] == "applied"


def test_self_approval_is_refused_even_with_the_role(people: Store, config: str, cli: Cli) -> None:
    item = review_item(people)
    assert cli("--as", "both", "review", "reject", str(item), "-c", config)[0] == 0
    code, _, err = cli("--as", "both", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "both proposed approval 1 and may not decide it" in err
    code, _, err = cli("--lang", "zh", "--as", "both", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "不能自己审批" in err
    with people.begin() as s:
        assert s.get(ReviewItem, item).status == "open"  # type: ignore[union-attr]
        assert s.get(Approval, 1).status == "pending"  # type: ignore[union-attr]


def test_disabled_approver_is_refused(people: Store, config: str, cli: Cli) -> None:
    item = review_item(people)
    assert cli("--as", "maker", "review", "accept", str(item), "-c", config)[0] == 0
    assert cli("--as", "admin", "users", "disable", "checker", "-c", config)[0] == 0
    code, _, err = cli("--as", "checker", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "operator 'checker' is disabled" in err
    code, _, err = cli("--lang", "zh", "--as", "checker", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "已停用" in err
    with people.begin() as s:
        assert s.get(ReviewItem, item).status == "open"  # type: ignore[union-attr]


def test_reject_needs_a_note_and_applies_nothing(people: Store, config: str, cli: Cli) -> None:
    item = review_item(people)
    assert cli("--as", "maker", "review", "accept", str(item), "-c", config)[0] == 0
    assert cli("--as", "checker", "approvals", "reject", "1", "-c", config)[0] == 2  # --note is required
    code, out, err = cli("--as", "checker", "approvals", "reject", "1", "--note", "different branches", "-c", config)
    assert code == 0 and "rejected" in out, err
    code, _, err = cli("--as", "checker", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "approval 1 is rejected" in err
    with people.begin() as s:
        assert s.get(ReviewItem, item).status == "open"  # type: ignore[union-attr]
    assert [act for _, act, _ in _audit(people)] == ["approval.propose", "approval.reject"]


def test_proposal_for_a_missing_item_is_refused_up_front(people: Store, config: str, cli: Cli) -> None:
    code, _, err = cli("--as", "maker", "review", "accept", "999", "-c", config)
    assert code == 2 and "review item 999 is not open" in err
    with people.begin() as s:
        assert s.scalars(select(Approval)).all() == []


def test_alert_close_needs_disposition_note_and_a_second_aml_officer(people: Store, config: str, cli: Cli) -> None:
    alert_id = alert(people)
    assert cli("--as", "aml1", "alerts", "close", str(alert_id), "--note", "x", "-c", config)[0] == 2
    code, _, err = cli(
        "--as", "aml1", "alerts", "close", str(alert_id), "--disposition", "fine", "--note", "x", "-c", config
    )
    assert code == 2 and "--disposition must be one of: reported, not_suspicious, escalated, duplicate" in err
    code, _, err = cli(
        "--as", "aml1", "alerts", "close", str(alert_id), "--disposition", "not_suspicious", "--note", " ", "-c", config
    )
    assert code == 2 and "needs the reasons in --note" in err
    code, out, err = cli(
        "--as",
        "aml1",
        "alerts",
        "close",
        str(alert_id),
        "--disposition",
        "not_suspicious",
        "--note",
        "payroll of a known employer",
        "-c",
        config,
    )
    assert code == 0 and "proposal #1" in out, err
    # the proposal is AML information: listed and shown to AML officers only (no tipping-off through approvals)
    assert '"alert.close"' in cli("--as", "aml2", "approvals", "list", "--json", "-c", config)[1]
    for outsider in ("checker", "viewer", "maker"):
        assert "alert.close" not in cli("--as", outsider, "approvals", "list", "--json", "-c", config)[1]
        code, out, err = cli("--as", outsider, "approvals", "show", "1", "-c", config)
        assert code == 2 and "payroll" not in out and "only an aml_officer" in err
    # an approver without the AML role may not decide an alert; the proposer may not either
    code, _, err = cli("--as", "checker", "approvals", "approve", "1", "-c", config)
    assert code == 2 and "may not decide alert.close" in err
    assert cli("--as", "aml1", "approvals", "approve", "1", "-c", config)[0] == 2
    code, out, err = cli("--as", "aml2", "approvals", "approve", "1", "-c", config)
    assert code == 0, err
    with people.begin() as s:
        assert s.get(Alert, alert_id).status == "closed"  # type: ignore[union-attr]
    closed = [d for a, act, d in _audit(people) if act == "alert.closed"]
    assert closed and closed[0]["disposition"] == "not_suspicious"
    assert closed[0]["note"] == "payroll of a known employer"
    code, out, _ = cli("--as", "aml1", "alerts", "show", str(alert_id), "-c", config)
    assert code == 0 and "not suspicious — payroll of a known employer (aml1+aml2)" in out
    code, out, _ = cli("--lang", "zh", "--as", "aml1", "alerts", "show", str(alert_id), "-c", config)
    assert "不可疑" in out
    code, out, _ = cli("--as", "aml1", "alerts", "show", str(alert_id), "--json", "-c", config)
    disposition = json.loads(out)["evidence"]["disposition"]
    assert disposition == {"value": "not_suspicious", "note": "payroll of a known employer", "by": "aml1+aml2"}


def test_four_eyes_can_be_switched_off_per_action(people: Store, config: str, cli: Cli) -> None:
    with open(config, "a", encoding="utf-8") as f:
        f.write("[security.four_eyes]\nreview_decision = false\n")
    item = review_item(people)
    code, out, err = cli("--as", "maker", "review", "accept", str(item), "--note", "obvious", "-c", config)
    assert code == 0 and "proposal" not in out, err
    with people.begin() as s:
        row = s.get(ReviewItem, item)
        assert row is not None and row.status == "accepted" and row.decided_by == "maker"
        assert s.scalars(select(Approval)).all() == []


def test_bulk_reveal_needs_an_approved_proposal_used_once_by_its_proposer(people: Store, config: str, cli: Cli) -> None:
    from tests.masking.people import seed

    seed(people)
    code, out, err = cli("--as", "maker", "clients", "list", "--json", "--reveal", "--reason", "KYC #7", "-c", config)
    assert code == 0 and "proposal #1" in out and "欧阳娜娜" not in out, err
    code, _, err = cli(
        "--as", "maker", "clients", "list", "--json", "--reveal", "--reason", "KYC #7", "--approval", "1", "-c", config
    )
    assert code == 2 and "is not an approved reveal" in err
    assert cli("--as", "checker", "approvals", "approve", "1", "-c", config)[0] == 0
    code, _, err = cli(
        "--as", "both", "clients", "list", "--json", "--reveal", "--reason", "KYC #7", "--approval", "1", "-c", config
    )
    assert code == 2 and "is not an approved reveal" in err  # only the proposer may use it
    code, _, err = cli(
        "--as", "maker", "clients", "list", "--json", "--reveal", "--reason", "other", "--approval", "1", "-c", config
    )
    assert code == 2  # not the request that was approved
    code, out, err = cli(
        "--as", "maker", "clients", "list", "--json", "--reveal", "--reason", "KYC #7", "--approval", "1", "-c", config
    )
    assert code == 0 and "欧阳娜娜" in out, err
    code, out, _ = cli(
        "--as", "maker", "clients", "list", "--json", "--reveal", "--reason", "KYC #7", "--approval", "1", "-c", config
    )
    assert code == 2 and "欧阳娜娜" not in out  # used once
    reveals = [(a, d) for a, act, d in _audit(people) if act == "personal_data.reveal"]
    assert len(reveals) == 1 and reveals[0][0] == "maker" and reveals[0][1]["approved_by"] == "checker"


def test_pull_reveal_is_a_bulk_reveal_under_four_eyes(people: Store, config: str, cli: Cli) -> None:
    """`pull --reveal` reads a whole stream in clear: it is proposed like `clients list --reveal`, nothing is pulled
    and no reveal is recorded until another operator approves; an approval of another request does not fit."""
    code, out, err = cli("--as", "maker", "pull", "zoho", "accounts", "--reveal", "--reason", "KYC #8", "-c", config)
    assert code == 0 and "proposal #1" in out, err
    with people.begin() as s:
        proposal = s.get(Approval, 1)
        assert proposal is not None and proposal.action == "reveal.bulk" and proposal.payload["command"] == "pull"
    assert [act for _, act, _ in _audit(people)] == ["approval.propose"]
    assert cli("--as", "checker", "approvals", "approve", "1", "-c", config)[0] == 0
    code, _, err = cli(
        "--as", "maker", "pull", "zoho", "contacts", "--reveal", "--reason", "KYC #8", "--approval", "1", "-c", config
    )
    assert code == 2 and "is not an approved reveal" in err  # approved for accounts, not contacts
    assert "personal_data.reveal" not in [act for _, act, _ in _audit(people)]


@pytest.mark.parametrize("command", [("clients", "split", "1", "zoho:NOPE"), ("clients", "unmerge", "1")], ids=" ".join)
def test_unmerge_and_split_are_proposed_and_a_stale_proposal_fails_cleanly(
    command: tuple[str, ...], people: Store, config: str, cli: Cli
) -> None:
    from tests.masking.people import seed

    seed(people)
    code, out, err = cli("--as", "maker", *command, "-c", config)
    assert code == 0 and "proposal #1" in out and "approvals approve 1" in out, err
    with people.begin() as s:
        proposal = s.get(Approval, 1)
        assert proposal is not None and proposal.action == f"client.{command[1]}"
    code, out, err = cli("--as", "checker", "approvals", "approve", "1", "-c", config)
    assert code == 1 and "could not be applied" in out, err
    with people.begin() as s:
        proposal = s.get(Approval, 1)
        assert proposal is not None and proposal.status == "failed" and proposal.decided_by == "checker"
        assert s.scalar(select(func.count()).select_from(GoldenClient)) == 1  # nothing half-applied
    assert [act for _, act, _ in _audit(people)] == ["approval.propose", "approval.failed"]


def test_retries_and_recorded_interactions_name_their_operator_in_the_audit_trail(
    people: Store, config: str, cli: Cli
) -> None:
    """`deadletter retry` and `interactions add` change data: each leaves an audit entry naming the operator."""
    from datetime import UTC, datetime

    from tests.masking.people import seed

    from crmhub.store.tables import DeadLetter

    seed(people)
    now = datetime.now(UTC)
    with people.begin() as s:
        client_id = s.scalars(select(GoldenClient.id).order_by(GoldenClient.id)).first()
        letter = DeadLetter(
            connector="gone",
            stream="accounts",
            source_id="X1",
            reason="bad",
            payload={},
            created_at=now,
            updated_at=now,
        )
        s.add(letter)
        s.flush()
        letter_id = letter.id
    code, _, err = cli("--as", "maker", "deadletter", "retry", str(letter_id), "-c", config)
    assert code == 1, err  # its connector is no longer configured: still failing, and said so
    code, _, err = cli("--as", "maker", "interactions", "add", str(client_id), "--kind", "visit", "-c", config)
    assert code == 0, err
    entries = {act: (actor, d) for actor, act, d in _audit(people)}
    assert entries["deadletter.retry"] == ("maker", {"ok": [], "failed": [letter_id]})
    assert entries["interaction.add"][0] == "maker" and entries["interaction.add"][1]["kind"] == "visit"
