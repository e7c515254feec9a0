"""What a risk batch stores: compact assessment rows every reader still explains, older full rows read the same,
and the golden side written with set-based updates (write-back flagged only when rating or segment moved)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from crmhub.config import Settings
from crmhub.model import RiskSummary
from crmhub.notify.context import _changes, _reasons
from crmhub.plugins import load
from crmhub.risk.explain import assessment_of, explanation
from crmhub.risk.runner import assess
from crmhub.risk.scoring import score_inputs
from crmhub.store import Store
from crmhub.store.tables import GoldenClient, RiskAssessmentRow

from .factory import TODAY, Book, steady


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load()


def settings() -> Settings:
    return Settings.model_validate({"risk": {"today": TODAY.isoformat()}})


def book(store: Store) -> list[int]:
    b = Book(store)
    healthy = b.client(1, capital=3_000_000)  # small capital: one adverse factor, so one reason
    b.account(healthy, opening=800_000)
    steady(b, healthy)
    late = b.client(2)
    b.account(late, opening=100_000)
    steady(b, late, weekly=20_000)
    b.loan(late, 2_000_000, dpd=120, classification="substandard")
    b.commit()
    return [healthy.id, late.id]


def rows(store: Store) -> list[RiskAssessmentRow]:
    with store.begin() as s:
        found = list(s.scalars(select(RiskAssessmentRow).order_by(RiskAssessmentRow.id)))
        s.expunge_all()
    return found


def test_compact_row_explains_like_the_full_assessment(store: Store, registry: Any) -> None:
    ids = book(store)
    cfg = settings()
    assess(store, cfg, registry, all=True, today=TODAY)
    card = cfg.risk.card()
    with store.begin() as s:
        for cid in ids:
            row = s.scalars(select(RiskAssessmentRow).where(RiskAssessmentRow.client_id == cid)).one()
            golden = s.get(GoldenClient, cid)
            assert golden is not None
            data = row.data
            # nothing the row's columns already hold, no empty reasons, no reader defaults
            assert not {"client_id", "uscc", "rating", "segment", "scorecard_version", "assessed_at"} & set(
                data["assessment"]
            )
            assert all(f.get("reason_zh", "x") != "" for f in data["assessment"]["factors"])
            assert all(d.get("missing", True) is not False for d in data["factors"].values())
            # the explanation equals one built from the full model (the stored form loses nothing)
            full = score_inputs(
                card, data["assessment"]["inputs"], assessed_at=row.assessed_at, client_id=cid, uscc=golden.uscc
            )
            got = explanation(s, golden)
            a = full.assessment
            assert (got["rating"], got["segment"], got["score"]) == (a.rating.value, a.segment.value, str(a.score))
            assert got["scored_rating"] == a.scored_rating.value and got["inputs"] == a.inputs
            assert got["policy"] == card.policy_for(a.rating, a.segment).model_dump(mode="json")
            assert [o["code"] for o in got["overrides"]] == [o.code for o in a.overrides]
            assert [r["factor"] for r in got["reason_codes"]] == a.reason_codes
            for f, want in zip(got["factors"], a.factors, strict=True):
                d = full.details[want.factor]
                assert (f["factor"], f["bin_en"], f["points"], f["weight"]) == (
                    want.factor,
                    want.bin,
                    str(want.points),
                    str(want.weight),
                )
                assert (f["reason_zh"], f["reason_en"], f["bin_zh"], f["missing"]) == (
                    want.reason_zh,
                    want.reason_en,
                    d.bin_zh,
                    d.missing,
                )
                assert (f["label_en"], f["unit"], f["max_points"]) == (d.label_en, d.unit, str(d.max_points))
            # the model plugins receive (a rating change's "before") rebuilt from the row equals the scored one
            rebuilt = assessment_of(
                data,
                client_id=cid,
                uscc=golden.uscc,
                version=row.scorecard_version,
                assessed_at=row.assessed_at,
                rating=row.rating,
                segment=row.segment,
            )
            assert rebuilt == a
            assert golden.data["risk"] == RiskSummary(
                rating=a.rating, segment=a.segment, score=a.score, assessed_at=row.assessed_at
            ).model_dump(mode="json")
    healthy, late = rows(store)
    assert "Small registered capital" in _reasons(healthy, "en")  # reasons come back from the compact row
    assert "A loan is more than 90 days past due" in _reasons(late, "en")[0]
    assert _changes(healthy, late, "en")  # the downgrade message compares two compact rows factor by factor


def test_older_full_rows_read_the_same(store: Store, registry: Any) -> None:
    """Rows written before the compact form repeated the columns and the empty reasons: still explained."""
    ids = book(store)
    cfg = settings()
    assess(store, cfg, registry, all=True, today=TODAY)
    card = cfg.risk.card()
    with store.begin() as s:
        golden = s.get(GoldenClient, ids[1])
        assert golden is not None
        before = explanation(s, golden)
        row = s.scalars(select(RiskAssessmentRow).where(RiskAssessmentRow.client_id == golden.id)).one()
        full = score_inputs(
            card, row.data["assessment"]["inputs"], assessed_at=row.assessed_at, client_id=golden.id, uscc=golden.uscc
        )
        row.data = {
            **row.data,
            "assessment": full.assessment.model_dump(mode="json"),
            "factors": {n: d.as_json() for n, d in full.details.items()},
        }
    with store.begin() as s:
        golden = s.get(GoldenClient, ids[1])
        assert golden is not None
        assert explanation(s, golden) == before


def test_bulk_updates_flag_write_back_only_on_a_change(store: Store, registry: Any) -> None:
    book(store)
    cfg = settings()
    first = assess(store, cfg, registry, all=True, today=TODAY)
    assert (first.assessed, first.first) == (2, 2)
    with store.begin() as s:
        goldens = {g.id: (g.rating, g.segment, g.needs_plan, g.needs_risk) for g in s.scalars(select(GoldenClient))}
        assert all(needs_plan and not needs_risk for _, _, needs_plan, needs_risk in goldens.values())
        s.execute(
            update(GoldenClient).values(needs_plan=False, needs_risk=True, updated_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
    again = assess(store, cfg, registry, today=TODAY)  # same inputs: nothing stored, flags cleared
    assert (again.clients, again.assessed, again.unchanged) == (2, 0, 2) and len(rows(store)) == 2
    with store.begin() as s:
        assert not any(s.scalars(select(GoldenClient.needs_risk)))
        assert not any(s.scalars(select(GoldenClient.needs_plan)))
    later = Settings.model_validate({"risk": {"today": TODAY.isoformat(), "fx_to_cny": {"SGD": "5.30"}}})
    rescored = assess(store, later, registry, all=True, today=TODAY)  # new parameters: re-scored, same grades
    assert rescored.assessed == 2 and rescored.rating_changes == 0
    stored = rows(store)
    assert [r.current for r in stored] == [False, False, True, True]
    with store.begin() as s:
        for g in s.scalars(select(GoldenClient)):
            assert (g.rating, g.segment) == goldens[g.id][:2] and not g.needs_plan and not g.needs_risk
            assert g.updated_at == datetime(2026, 1, 1, tzinfo=UTC)  # no change to write back, nothing touched
            assert g.data["risk"]["assessed_at"] == stored[2].assessed_at.isoformat().replace("+00:00", "Z")
            assert g.data["name"].endswith("有限公司")  # the rest of the document is kept
