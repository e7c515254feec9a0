"""Chinese screens are Chinese: with ``--lang zh`` the main list/show commands show statuses, kinds, rules,
triggers and crmhub's own error reasons as words and times in the configured zone as ``YYYY-MM-DD HH:MM:SS``;
``--json`` keeps the raw ids (machines read those)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmhub.cli import main
from crmhub.core.report import ConnectorReport, RunReport
from crmhub.i18n import VALUE_LABELS, set_lang
from crmhub.store import Store
from crmhub.store.tables import Alert, DeadLetter, InteractionRow, Outbox, ReviewItem, SyncRun
from masking.people import USCC, seed

AT = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)  # 09:02:03 in Shanghai
RAW_IDS = (
    "acknowledged",
    "source_priority",
    "legal_representative",
    "large_value",
    "structuring",
    "delivered",
    "rating_downgrade",
    "succeeded",
    "partial",
    "manual",
    "scheduler",
    "conflict",
    "match",
    "open",
    "visit",
    "write-back rejected",
    "still failing",
    "active",
    "new",
)
MICRO_UTC = re.compile(r"\d{2}:\d{2}:\d{2}\.\d+|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\+00:00")


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "crmhub.toml"
    path.write_text(
        f'lang = "en"\ntimezone = "Asia/Shanghai"\n[store]\nurl = "{store_url}"\n'
        '[jobs.nightly]\ncommand = "sync"\ncron = "0 2 * * *"\n',
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> Any:
    from crmhub.cli.common import console

    monkeypatch.setattr(console, "width", 250)
    yield
    set_lang(None)


def world(store: Store) -> dict[str, int]:
    """One of everything the screens show: client with lineage, review items, a dead letter, alerts, a
    delivered notification, an interaction and a stored run report."""
    cid = seed(store)
    report = RunReport(
        run_id=None,
        status="partial",
        trigger="scheduler",
        job="nightly",
        started_at=AT,
        duration_s=3.0,
        connectors={"zoho": ConnectorReport(status="failed", error="401")},
    )
    with store.begin() as s:
        s.add_all(
            [
                ReviewItem(
                    kind="match",
                    status="open",
                    dedup_key="m1",
                    client_id=cid,
                    other_client_id=cid,
                    score=0.91,
                    details={},
                    created_at=AT,
                ),
                ReviewItem(
                    kind="conflict",
                    status="open",
                    dedup_key="c1",
                    client_id=cid,
                    field="legal_representative",
                    details={},
                    created_at=AT,
                ),
                DeadLetter(
                    direction="out",
                    connector="zoho",
                    stream="accounts",
                    source_id="Z1",
                    reason="write-back rejected: INVALID_DATA",
                    status="open",
                    attempts=1,
                    created_at=AT,
                    updated_at=AT,
                ),
                Alert(
                    client_id=cid,
                    uscc=USCC,
                    kind="large_value",
                    rule_version="1",
                    status="acknowledged",
                    dedup_key="a1",
                    day=AT.date(),
                    amount_minor=250_000_000,
                    currency="CNY",
                    created_at=AT,
                    updated_at=AT,
                    evidence={"summary_zh": "大额交易", "summary_en": "Large value"},
                ),
                Alert(
                    client_id=cid,
                    uscc=USCC,
                    kind="structuring",
                    rule_version="1",
                    status="new",
                    dedup_key="a2",
                    day=AT.date(),
                    amount_minor=597_000_000,
                    currency="CNY",
                    created_at=AT,
                    updated_at=AT,
                    evidence={"summary_zh": "拆分交易", "summary_en": "Structuring"},
                ),
                Outbox(
                    kind="notification",
                    target="email",
                    stream="rating_downgrade",
                    idempotency_key="n1",
                    client_id=cid,
                    payload={"recipients": ["r***@bank.example"], "template": "rating_downgrade", "lang": "zh"},
                    payload_hash="x",
                    state="delivered",
                    attempts=1,
                    created_at=AT,
                    updated_at=AT,
                ),
                InteractionRow(client_id=cid, kind="visit", occurred_at=AT, by="赵六", summary="回访", source="cli"),
            ]
        )
        run = SyncRun(
            kind="sync",
            trigger="scheduler",
            status="partial",
            dry_run=False,
            connectors=["zoho"],
            report={},
            started_at=AT,
            finished_at=AT,
        )
        s.add(run)
        s.flush()
        run.report = report.model_copy(update={"run_id": run.id}).model_dump(mode="json")
        return {"client": cid, "run": run.id}


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


SCREENS = [
    ("clients", "list"),
    ("clients", "show", "{client}"),
    ("clients", "explain", "{client}"),
    ("review", "list"),
    ("deadletter", "list"),
    ("alerts", "list", "--status", "all"),
    ("notify", "log"),
    ("interactions", "list", "{client}"),
    ("report", "{run}"),
    ("jobs", "list"),
    ("alerts", "show", "1"),
]


@pytest.mark.parametrize("screen", SCREENS, ids=" ".join)
def test_zh_screens_show_words_and_local_times(
    screen: tuple[str, ...], store: Store, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = world(store)
    code, out = cli(capsys, *(a.format(**ids) for a in screen), "-c", config, "--lang", "zh")
    assert code == 0, out
    raw = [w for w in RAW_IDS if re.search(rf"(?<![A-Za-z_]){re.escape(w)}(?![A-Za-z_])", out)]
    assert raw == [], out
    assert not MICRO_UTC.search(out), out
    if screen[:2] not in (("clients", "list"), ("alerts", "list"), ("jobs", "list")):
        assert "2026-11-30 09:02:03" in out, out  # 01:02:03.456789 UTC, shown in Asia/Shanghai


def test_the_words_an_aml_officer_reads(store: Store, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    world(store)
    _, out = cli(capsys, "alerts", "list", "--status", "all", "-c", config, "--lang", "zh")
    assert "已受理" in out and "待处理" in out and "大额交易" in out and "已确认" not in out
    assert VALUE_LABELS["alert_status"]["acknowledged"]["zh"] == "已受理"
    _, out = cli(capsys, "clients", "explain", "1", "-c", config, "--lang", "zh")
    assert "按来源优先级" in out and "法定代表人" in out and "2026-11-30 09:02:03" in out
    _, out = cli(capsys, "deadletter", "list", "-c", config, "--lang", "zh")
    assert "回写被拒绝：INVALID_DATA" in out and "回写" in out


JSON_SCREENS = [
    (("alerts", "list", "--status", "all", "--json"), "status", {"acknowledged", "new"}),
    (("review", "list", "--json"), "kind", {"match", "conflict"}),
    (("deadletter", "list", "--json"), "direction", {"out"}),
    (("notify", "log", "--json"), "event", {"rating_downgrade"}),
    (("interactions", "list", "{client}", "--json"), "kind", {"visit"}),
    (("alerts", "show", "1", "--json"), "status", {"acknowledged"}),
]


@pytest.mark.parametrize(
    ("screen", "key", "expected"),
    JSON_SCREENS,
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else ",".join(sorted(v)) if isinstance(v, set) else str(v),
)
def test_json_keeps_raw_ids(
    screen: tuple[str, ...], key: str, expected: set[str], store: Store, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = world(store)
    code, out = cli(capsys, *(a.format(**ids) for a in screen), "-c", config, "--lang", "zh")
    assert code == 0, out
    assert {json.loads(line)[key] for line in out.splitlines() if line.startswith("{")} == expected


def test_timezone_is_configurable_and_checked(
    tmp_path: Path, store: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    world(store)
    path = tmp_path / "utc.toml"
    path.write_text(f'timezone = "UTC"\n[store]\nurl = "{store_url}"\n', encoding="utf-8")
    _, out = cli(capsys, "clients", "explain", "1", "-c", str(path), "--lang", "en")
    assert "2026-11-30 01:02:03" in out and "source priority" in out
    path.write_text(f'timezone = "Asia/Shangai"\n[store]\nurl = "{store_url}"\n', encoding="utf-8")
    code, out = cli(capsys, "clients", "list", "-c", str(path))
    assert code == 2 and "timezone" in out and "Asia/Shangai" in out
