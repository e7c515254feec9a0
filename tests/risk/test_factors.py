"""Plugin factors: a plugin's `RiskFactor` computes the input, the scorecard gives its bins and points."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from sqlalchemy import select

from crmhub import hookimpl
from crmhub.config import parse_settings
from crmhub.contract import RiskFactor, RiskFactorInput
from crmhub.errors import ConfigError
from crmhub.plugins import load
from crmhub.risk.card import default_scorecard
from crmhub.risk.runner import assess, make_risk_phase
from crmhub.store import Store
from crmhub.store.tables import RiskAssessmentRow

from .factory import TODAY, Book

SEEN: list[RiskFactorInput] = []


def _cases(view: RiskFactorInput) -> int:
    SEEN.append(view)
    return 4 if view.client.uscc and view.client.uscc.endswith("9B") else 0


def _broken(view: RiskFactorInput) -> int:
    raise RuntimeError("court records unreachable")


class CourtPlugin:
    @hookimpl
    def crmhub_risk_factors(self) -> list[RiskFactor]:
        return [RiskFactor("open_litigation", _cases, "open court cases"), RiskFactor("broken", _broken)]


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(extra=[("court", CourtPlugin())])


def card(*extra: dict[str, Any]) -> dict[str, Any]:
    data = default_scorecard().model_dump(mode="json")
    data["version"] = "with-plugins"
    data["factors"] += list(extra)
    return data


LITIGATION = {
    "name": "open_litigation",
    "group": "profile",
    "weight": 0.1,
    "label_zh": "未结诉讼",
    "label_en": "Open litigation",
    "reason_zh": "存在未结诉讼",
    "reason_en": "Open litigation",
    "bins": [{"upper": 1, "points": 100}, {"lower": 1, "upper": 3, "points": 40}, {"lower": 3, "points": 0}],
}
BROKEN = {**LITIGATION, "name": "broken", "label_en": "Broken", "missing_points": 25}


def test_plugin_factor_is_scored_and_a_failing_one_is_missing(store: Store, registry: Any) -> None:
    SEEN.clear()
    b = Book(store)
    sued = b.client(1)  # its USCC ends in 9B
    b.account(sued, 100_000)
    clean = b.client(2)
    b.account(clean, 100_000)
    b.commit()
    settings = parse_settings({"risk": {"today": TODAY.isoformat(), "scorecard": card(LITIGATION, BROKEN)}}, registry)
    assess(store, settings, registry, all=True)
    with store.begin() as s:
        rows = {r.client_id: r.data["assessment"] for r in s.scalars(select(RiskAssessmentRow))}
    sued_factors = {f["factor"]: f for f in rows[sued.id]["factors"]}
    clean_factors = {f["factor"]: f for f in rows[clean.id]["factors"]}
    assert sued_factors["open_litigation"]["value"] == 4 and sued_factors["open_litigation"]["points"] == "0.00"
    assert clean_factors["open_litigation"]["value"] == 0 and clean_factors["open_litigation"]["points"] == "10.00"
    assert float(rows[clean.id]["score"]) - float(rows[sued.id]["score"]) == pytest.approx(10.0)
    assert rows[sued.id]["reason_codes"][0] == "open_litigation"
    assert sued_factors["broken"]["value"] is None and sued_factors["broken"]["points"] == "2.50"
    assert rows[sued.id]["inputs"]["plugin_errors"] == {"broken": "RuntimeError: court records unreachable"}
    view = SEEN[0]  # the plugin sees the golden client and the engine's aggregates
    assert view.client.name and "avg_daily_balance" in view.aggregates and "open_litigation" not in view.aggregates


def test_a_factor_nobody_computes_stops_the_sync_before_it_starts(registry: Any) -> None:
    unknown = {**LITIGATION, "name": "gone", "input": "not_provided"}
    settings = parse_settings({"risk": {"scorecard": card(unknown)}}, registry)
    with pytest.raises(ConfigError) as err:
        make_risk_phase(settings, registry)
    assert err.value.problems == [("factors.gone.input", "unknown input 'not_provided'")]
