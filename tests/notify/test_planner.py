"""Planning from facts in the store: routes, recipients, idempotent keys, lookback, run facts (real SQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.config import parse_settings
from crmhub.errors import ConfigError
from crmhub.notify.planner import Planner, notification_key
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import Alert, DeadLetter, Outbox

from .helpers import MOBILE, NOW, U2, Servers, alert, assess, client, settings, sync_run


def rows(store: Store) -> list[Outbox]:
    with store.begin() as s:
        found = list(s.scalars(select(Outbox).order_by(Outbox.id)))
        s.expunge_all()
        return found


def by_channel(found: list[Outbox]) -> dict[str, list[Outbox]]:
    out: dict[str, list[Outbox]] = {}
    for r in found:
        out.setdefault(r.target, []).append(r)
    return out


def test_alert_goes_only_to_the_aml_team_by_email_once(store: Store, registry: Registry, servers: Servers) -> None:
    """A new AML alert becomes one email row for the AML team — none for the RM, none on WeCom, none for the risk
    team — carrying only id, kind, day, deadline and the command; re-planning adds nothing."""
    cfg = settings(registry, servers)
    cid = client(store)
    aid = alert(store, cid)
    first = Planner(cfg).plan(store)
    assert first.planned == {"alert": 1}
    found = rows(store)
    assert [(r.target, r.payload["recipients"]) for r in found] == [("email", ["aml@bank.example"])]
    assert found[0].idempotency_key == f"n:alert:{aid}:email:aml_team"
    context = found[0].payload["context"]
    assert set(context) == {"now", "url", "alert"} and context["url"] is None
    assert context["alert"] == {
        "id": aid,
        "kind": "large_value",
        "aml": True,
        "day": NOW.date().isoformat(),
        "deadline": context["alert"]["deadline"],
        "working_days": 5,
        "command": f"crmhub alerts show {aid}",
    }
    assert context["alert"]["deadline"] > NOW.date().isoformat()
    again = Planner(cfg).plan(store)
    assert sum(again.planned.values()) == 0 and len(rows(store)) == 1


def test_aml_report_deadline_counts_working_days() -> None:
    """Five working days after a Friday skip the weekend and the configured holidays; a 调休 Saturday counts."""
    from datetime import date

    from crmhub.notify.settings import NotifySettings
    from crmhub.risk.alerts.deadlines import add_working_days

    assert add_working_days(date(2026, 9, 25), 5, NotifySettings()) == date(2026, 10, 2)
    golden_week = NotifySettings(
        holidays=[date(2026, 10, d) for d in range(1, 8)], make_up_workdays=[date(2026, 9, 26), date(2026, 10, 10)]
    )
    assert add_working_days(date(2026, 9, 25), 5, golden_week) == date(2026, 10, 8)  # Sat 26th counts


def test_a_route_sending_aml_alerts_to_the_rm_or_a_robot_is_a_config_error(
    registry: Registry, servers: Servers
) -> None:
    """`rm`, `@robot`, `@all`, `oa:…` — literally or inside a group — on [notify.alert] name their key path, in
    the user's language."""
    from crmhub.i18n import set_lang

    bad = {
        "groups": {"ops_chat": ["@robot"], "aml_team": ["aml@bank.example"]},
        "alert": {
            "send": [
                {"channel": "wecom", "to": ["rm"]},
                {"channel": "email", "to": ["aml_team"]},
                {"channel": "wecom", "to": ["ops_chat", "oa:oCRMhub0000001", "@all"]},
            ]
        },
    }
    messages = {}
    for lang in ("zh", "en"):
        set_lang(lang)  # type: ignore[arg-type]
        try:
            with pytest.raises(ConfigError) as info:
                settings(registry, servers, notify=bad)
        finally:
            set_lang(None)
        problems = info.value.problems
        assert [k for k, _ in problems] == ["notify.alert.send.0.to"] + ["notify.alert.send.2.to"] * 3
        assert "'ops_chat'" in problems[1][1] and "'@robot'" in problems[1][1]
        messages[lang] = problems[0][1]
    assert "客户经理" in messages["zh"] and "relationship manager" in messages["en"]
    ok = settings(
        registry,
        servers,
        notify={
            "alert": {"send": [{"channel": "wecom", "to": ["aml_team", "lisi"]}]},
            "rating_downgrade": {"send": [{"channel": "wecom", "to": ["rm"]}]},
        },
    )
    assert ok.notify.sends("alert")[0].to == ["aml_team", "lisi"]


def test_planner_refuses_a_disclosing_recipient_even_without_the_config_check(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """Settings built in code skip the config check; the planner still sends an AML alert to no RM or robot."""
    from crmhub.notify.settings import Send

    cfg = settings(registry, servers)
    cfg.notify.alert.send = [Send(channel="wecom", to=["rm", "@robot"]), Send(channel="email", to=["aml_team"])]
    alert(store, client(store))
    outcome = Planner(cfg).plan(store)
    assert outcome.planned == {"alert": 1}
    assert [r.payload["recipients"] for r in rows(store)] == [["aml@bank.example"]]
    assert sum("不接收反洗钱预警" in w for w in outcome.warnings) == 2


def test_rating_downgrade_only_when_worse_than_the_previous_assessment(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """First assessment and upgrades notify nobody; a downgrade notifies, with before/after and reasons."""
    cfg = settings(registry, servers, notify={"groups": {"risk_team": ["risk@bank.example"]}})
    cid = client(store)
    assess(store, cid, "A", 80.0, at=NOW - timedelta(hours=3))
    assert Planner(cfg).plan(store).planned == {}
    assess(store, cid, "AA", 86.0, at=NOW - timedelta(hours=2))
    assert Planner(cfg).plan(store).planned == {}
    down = assess(store, cid, "BB", 63.0, at=NOW - timedelta(hours=1), reasons=("registered_capital",))
    assert Planner(cfg).plan(store).planned == {"rating_downgrade": 2}
    ctx = rows(store)[0].payload["context"]
    assert ctx["before"] == {"rating": "AA", "score": 86.0}
    assert ctx["after"]["rating"] == "BB" and ctx["reasons"] == ["registered_capital 偏弱"]
    assert rows(store)[0].source_id == f"downgrade:{down}"


def test_rm_resolution_directory_email_local_part_and_skipped(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """RM UserID from the directory (by email), else the email's local part; no RM at all → a skipped row."""
    cfg = settings(
        registry,
        servers,
        notify={
            "directory": {"Wang.Fang@bank.example": "wangfang01"},
            "rating_downgrade": {"send": [{"channel": "wecom", "to": ["rm"]}]},
        },
    )
    a = client(store, rm={"name": "王芳", "email": "wang.fang@bank.example"})
    b = client(store, uscc=U2, name="上海宝钢贸易有限公司", rm={"name": "李四", "email": "lisi@bank.example"})
    c = client(store, uscc=None, name="无客户经理有限公司", rm=None)  # type: ignore[arg-type]
    for cid in (a, b, c):
        assess(store, cid, "A", 80.0, at=NOW - timedelta(hours=2))
        assess(store, cid, "BB", 63.0, at=NOW - timedelta(hours=1))
    outcome = Planner(cfg).plan(store)
    assert outcome.planned == {"rating_downgrade": 2} and outcome.skipped == {"rating_downgrade": 1}
    found = {r.client_id: r for r in rows(store)}
    assert found[a].payload["recipients"] == ["wangfang01"]
    assert found[b].payload["recipients"] == ["lisi"]
    assert found[c].state == "skipped" and "no relationship manager" in (found[c].last_error or "")


def test_empty_group_and_unknown_channel_are_warnings_not_rows(
    store: Store, registry: Registry, servers: Servers
) -> None:
    """An empty risk team sends nothing (a warning says so); a route through an unknown channel is reported."""
    cfg = settings(
        registry,
        servers,
        notify={"groups": {"aml_team": []}, "sync_failed": {"send": [{"channel": "sms", "to": ["operators"]}]}},
    )
    alert(store, client(store))
    sync_run(store)
    outcome = Planner(cfg).plan(store)
    assert outcome.planned == {}
    assert any("group 'aml_team' is empty" in w for w in outcome.warnings)
    assert any("'sms'" in w and "not configured" in w for w in outcome.warnings)


def test_lookback_keeps_history_quiet(store: Store, registry: Registry, servers: Servers) -> None:
    """Alerts and runs older than lookback_hours, and alerts about old activity, are never notified."""
    cfg = settings(registry, servers, notify={"lookback_hours": 24, "alert_max_age_days": 7})
    cid = client(store)
    alert(store, cid, created=NOW - timedelta(days=3))
    sync_run(store, finished=NOW - timedelta(days=2))
    assert sum(Planner(cfg).plan(store).planned.values()) == 0
    with store.begin() as s:  # raised just now, but about a transaction a month ago (a first import)
        s.get(Alert, alert(store, cid, kind="fan_in")).day = (NOW - timedelta(days=30)).date()
    assert sum(Planner(cfg).plan(store).planned.values()) == 0
    alert(store, cid, kind="structuring")
    assert Planner(cfg).plan(store).planned == {"alert": 1}


def test_run_facts_failed_dead_letters_and_digest(store: Store, registry: Registry, servers: Servers) -> None:
    """Failed/partial runs and dead-letter floods go to operators; scheduled runs give a digest when enabled."""
    data: dict[str, Any] = {"sync": {"dead_letter_alert_threshold": 2}}
    cfg = settings(registry, servers, notify={"digest": {"enabled": True}}, **data)
    failed = sync_run(store, status="failed")
    ok = sync_run(
        store,
        status="succeeded",
        trigger="scheduler",
        error=None,
        report={
            "connectors": {
                "zoho": {"status": "ok", "streams": {"accounts": {"read": 5, "created": 2}}, "written_back": 1}
            },
            "totals": {"clients_created": 2, "dead_letters": 3},
        },
    )
    with store.begin() as s:
        for i in range(3):
            s.add(
                DeadLetter(
                    run_id=ok,
                    connector="zoho",
                    stream="accounts",
                    source_id=f"Z{i}",
                    reason=f"uscc invalid, contact {13800000000 + i}",
                    payload={},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    outcome = Planner(cfg).plan(store)
    assert outcome.planned == {"sync_failed": 1, "dead_letters": 1, "digest": 1}
    found = {r.source_id: r for r in rows(store)}
    assert found[f"run:{failed}:failed"].payload["context"]["error"] == "boom"
    dead = found[f"run:{ok}:dead_letters"].payload["context"]
    assert dead["count"] == 3 and dead["examples"][0]["reason"] == "uscc invalid, contact 138****0000"
    digest = found[f"run:{ok}:digest"].payload["context"]
    assert digest["counts"]["new_clients"] == 2 and "5" in digest["items"][0]["detail"]
    assert all(r.payload["recipients"] == ["ops@bank.example"] for r in found.values())


def test_dry_run_plans_nothing_and_keys_fit_the_column(store: Store, registry: Registry, servers: Servers) -> None:
    """``dry_run`` returns the rows without writing; a very long literal recipient still gives a ≤128-char key."""
    long = "x" * 150 + "@bank.example"
    cfg = settings(registry, servers, notify={"alert": {"send": [{"channel": "email", "to": [long]}]}})
    alert(store, client(store))
    outcome = Planner(cfg).plan(store, dry_run=True)
    assert len(outcome.rows) == 1 and rows(store) == []
    assert len(notification_key("alert:1", "email", long)) <= 128
    Planner(cfg).plan(store)
    with store.begin() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1


def test_bad_notify_config_names_the_key(registry: Registry) -> None:
    """A misspelt route key or an unknown template kind is a ConfigError naming the key path."""
    with pytest.raises(ConfigError) as info:
        parse_settings(
            {
                "notify": {
                    "alert": {"sends": []},
                    "digest": {"send": [{"channel": "email", "to": ["ops"], "template": "nope"}]},
                }
            },
            registry,
        )
    keys = [k for k, _ in info.value.problems]
    assert "notify.alert.sends" in keys and any(k.startswith("notify.digest.send.0.template") for k in keys)


def test_default_compose_for_third_party_channels_is_masked_plain_text() -> None:
    """`Channel.compose`'s default (no templates) titles the kind in the language and masks every value."""
    from crmhub.contract import plain_message

    msg = plain_message(
        "follow_up_reminder",
        "zh",
        {"client": {"name": "星河科技"}, "note": f"联系人 {MOBILE}", "items": [{"title": "a"}]},
        key="k",
        recipients=["r"],
    )
    assert msg.subject == "客户跟进提醒" and "138****5678" in msg.text and MOBILE not in msg.text
    assert "name: 星河科技" in msg.text and msg.recipients == ["r"]
    assert plain_message("test", "en", {}, key="k", recipients=[]).subject == "crmhub test message"


def _scored_assessment(store: Store, client_id: int, inputs: dict[str, Any], at: Any) -> int:
    """An assessment as the risk phase stores it: the real scorecard's factors, details and overrides."""
    from crmhub.risk.card import default_scorecard
    from crmhub.risk.scoring import score_inputs
    from crmhub.store.tables import RiskAssessmentRow

    card = default_scorecard()
    scored = score_inputs(card, inputs, assessed_at=at, client_id=client_id)
    a = scored.assessment
    with store.begin() as s:
        for old in s.scalars(select(RiskAssessmentRow).where(RiskAssessmentRow.client_id == client_id)):
            old.current = False
        row = RiskAssessmentRow(
            client_id=client_id,
            assessed_at=at,
            score=float(a.score),
            rating=a.rating.value,
            segment=a.segment.value,
            scorecard_version=card.version,
            inputs_hash=f"h{a.score}",
            current=True,
            data={
                "assessment": a.model_dump(mode="json"),
                "factors": {n: d.as_json() for n, d in scored.details.items()},
            },
        )
        s.add(row)
        s.flush()
        return row.id


def test_a_downgrade_names_the_factors_that_changed(store: Store, registry: Registry, servers: Servers) -> None:
    """Issue 13: the downgrade message names what changed — the override that newly fired and each factor that
    lost points, with its input before and after — not the client's standing weaknesses."""
    cfg = settings(
        registry, servers, notify={"rating_downgrade": {"send": [{"channel": "email", "to": ["risk_team"]}]}}
    )
    cid = client(store)
    base = {
        "avg_daily_balance": 2_260_000.0,
        "monthly_credit_turnover": 800_000,
        "turnover_stability": 0.15,
        "overdraft_days": 0,
        "returned_items": 0,
        "max_dpd": 0,
        "worst_class": "pass",
        "loan_to_turnover": 0.3,
        "industry_section": "C",
        "years_in_business": None,
        "registered_capital": 20_000_000,
    }
    _scored_assessment(store, cid, base, NOW - timedelta(hours=2))
    _scored_assessment(store, cid, {**base, "avg_daily_balance": 120_000.0, "max_dpd": 120}, NOW - timedelta(hours=1))
    assert Planner(cfg).plan(store).planned == {"rating_downgrade": 1}
    context = rows(store)[0].payload["context"]
    assert context["after"]["rating"] == "D"
    assert context["reasons"] == [
        "贷款逾期超过 90 天（不良，违约）：评级为 D",
        "最长逾期天数：0 天 → 120 天（得分 20.00 → 0.00）",
        "日均存款（近 90 天）：2,260,000 元 → 120,000 元（得分 10.20 → 5.40）",
    ]
    assert not any("成立" in r or "注册资本" in r for r in context["reasons"])  # unchanged: not named
