"""Every people-facing output masks personal data; ``--reveal`` needs ``--reason`` and leaves an audit row.

Outputs covered: ``clients show/list/explain`` (text and JSON), ``review list --json``, run reports (terminal,
JSON, HTML), notifications (email and WeCom, follow-up reminder with the contact), structured log lines, the
fallback log handler and the internal-error log.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from crmhub.cli import main
from crmhub.i18n import set_lang
from crmhub.store import Store
from crmhub.store.tables import AuditLog, GoldenClient
from crmhub.sync.audit import REVEAL_ACTION, verify_chain

from .people import COMPANY, leaks, seed


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "crmhub.toml"
    # bulk reveal's four eyes are tested in tests/security/test_four_eyes.py; here: what a reveal prints and audits
    path.write_text(
        f'lang = "en"\n[store]\nurl = "{store_url}"\n[security.four_eyes]\nbulk_reveal = false\n', encoding="utf-8"
    )
    return str(path)


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> Any:
    from crmhub.cli.common import console

    monkeypatch.setattr(console, "width", 240)
    yield
    set_lang(None)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


COMMANDS = [
    ("clients", "show", "{id}"),
    ("clients", "show", "{id}", "--json"),
    ("clients", "list"),
    ("clients", "list", "--json"),
    ("clients", "explain", "{id}"),
    ("clients", "explain", "{id}", "--json"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_client_commands_mask_personal_data(
    command: tuple[str, ...], lang: str, store: Store, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = seed(store)
    code, out, err = cli(capsys, *(a.format(id=cid) for a in command), "-c", config, "--lang", lang)
    assert code == 0, err
    assert leaks(out + err) == [], out
    if "explain" not in command:
        assert COMPANY in out  # company names are not personal data
    if "show" in command:
        assert "欧阳**" in out and "张**" in out and "138****5678" in out and "137****1111" in out
        assert "4970760000001234567" in out  # identifiers stay readable
    with store.begin() as s:
        assert s.scalars(select(AuditLog).where(AuditLog.action == REVEAL_ACTION)).all() == []


@pytest.mark.parametrize(
    "command",
    [("clients", "show", "{id}"), ("clients", "list"), ("clients", "explain", "{id}"), ("pull", "zoho", "accounts")],
    ids=" ".join,
)
def test_reveal_without_reason_is_a_usage_error(
    command: tuple[str, ...], store: Store, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = seed(store)
    code, out, err = cli(capsys, *(a.format(id=cid) for a in command), "--reveal", "-c", config, "--lang", "en")
    assert code == 2 and "--reveal needs --reason" in err and leaks(out) == []
    code, _, err = cli(
        capsys, *(a.format(id=cid) for a in command), "--reveal", "--reason", " ", "-c", config, "--lang", "zh"
    )
    assert code == 2 and "--reveal 必须同时给出 --reason" in err
    code, _, err = cli(capsys, *(a.format(id=cid) for a in command), "--reason", "x", "-c", config, "--lang", "en")
    assert code == 2 and "--reason is only used with --reveal" in err
    with store.begin() as s:
        assert s.scalars(select(AuditLog)).all() == []


@pytest.mark.parametrize(
    "command",
    [("clients", "show", "{id}", "--json"), ("clients", "list", "--json"), ("clients", "explain", "{id}")],
    ids=" ".join,
)
def test_reveal_prints_in_clear_and_leaves_an_audit_row(
    command: tuple[str, ...], store: Store, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    cid = seed(store)
    code, out, err = cli(
        capsys, *(a.format(id=cid) for a in command), "--reveal", "--reason", "KYC 复核 #42", "-c", config
    )
    assert code == 0, err
    assert "欧阳娜娜" in out and "audit log" in err
    with store.begin() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == REVEAL_ACTION)).all()
        assert len(rows) == 1 and verify_chain(s, Path(config).parent / "var") == []  # the config's audit key
        row = rows[0]
        assert row.actor == f"os:{getpass.getuser()}"
        assert row.details["reason"] == "KYC 复核 #42" and row.details["command"] == f"{command[0]} {command[1]}"
        assert row.details["client_ids"] == [cid] and row.details["masking"] == "revealed"


def test_review_list_json_masks_details(store: Store, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    from crmhub.store.tables import ReviewItem

    cid = seed(store)
    with store.begin() as s:
        s.add(
            ReviewItem(
                kind="conflict",
                status="open",
                dedup_key="t1",
                client_id=cid,
                field="legal_representative",
                details={"values": [{"source": "zoho", "value": {"name": "欧阳娜娜", "phone": "13812345678"}}]},
                created_at=datetime.now(UTC),
            )
        )
    code, out, err = cli(capsys, "review", "list", "--json", "-c", config)
    assert code == 0 and "欧阳**" in out and leaks(out) == [], out + err


def _report() -> Any:
    from crmhub.core.report import ConnectorReport, PlannedChange, RunReport

    return RunReport(
        run_id=3,
        status="partial",
        started_at=datetime(2026, 11, 30, tzinfo=UTC),
        connectors={
            "zoho": ConnectorReport(status="failed", error="422 for contact mobile ＋８６ １３９１２３４５６７８")
        },
        plan=[
            PlannedChange(
                connector="zoho",
                stream="accounts",
                action="update",
                client_id=1,
                client_name=COMPANY,
                source_id="4970760000001234567",
                fields={
                    "legal_representative": {
                        "before": None,
                        "after": {"name": "欧阳娜娜", "id_number": "11010519491231002X"},
                    },
                    "contacts": {"before": [], "after": [{"name": "张小三", "mobile": "13912345678"}]},
                    "phone": {"before": "010-65521234", "after": "13700001111"},
                },
            )
        ],
        error="stopped at 13812345678",
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reports_mask_in_every_format(lang: Any) -> None:
    from crmhub.reporting import render_html, render_plan, render_report, report_json

    report = _report()
    console = Console(record=True, width=240, file=io.StringIO())
    console.print(render_report(report, lang))
    render_plan(report, lang, console)
    terminal = console.export_text()
    html = render_html(report, lang)
    as_json = json.dumps(report_json(report), ensure_ascii=False)
    for text in (terminal, html, as_json):
        assert leaks(text.replace("010-65521234", "")) == [], text  # the switchboard number is the company's
        assert "欧阳**" in text and "137****1111" in text and "010-65521234" in text
    assert report.plan[0].fields["phone"]["after"] == "13700001111"  # the stored report is untouched


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_follow_up_notification_masks_the_contact(lang: Any, store: Store) -> None:
    from crmhub.notify.context import follow_up_context
    from crmhub.notify.settings import NotifySettings
    from crmhub_email import render_email
    from crmhub_wechat import render_wecom

    cid = seed(store)
    with store.begin() as s:
        client = s.get(GoldenClient, cid)
        assert client is not None
        ctx = follow_up_context(
            client,
            date(2026, 12, 1),
            datetime(2026, 9, 1, tzinfo=UTC),
            None,
            lang,
            NotifySettings(),
            datetime(2026, 11, 30, tzinfo=UTC),
        )
    subject, text, html = render_email("follow_up_reminder", lang, ctx)
    wecom = render_wecom("follow_up_reminder", lang, ctx)
    for part in (json.dumps(ctx, ensure_ascii=False), subject, text, html, str(wecom)):
        assert leaks(part) == [], part
    assert "张** 139****5678" in text


def test_structured_and_plain_logs_and_error_log_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from crmhub.cli.common import report_internal
    from crmhub.jobs.joblog import JsonLineFormatter
    from crmhub.masking import mask_plain_logs

    record = logging.LogRecord(
        "crmhub.sync",
        logging.WARNING,
        __file__,
        1,
        "contact %s unreachable at %s",
        ("张小三", "+86 139-1234-5678"),
        None,
    )
    record.fields = {"event": "x", "error": "ID 11010519491231002X", "to": "boss.wang@163.com"}
    line = JsonLineFormatter().format(record)
    assert leaks(line.replace("张小三", "")) == [] and "139****5678" in line and "1****************X" in line

    mask_plain_logs()  # the handler a CLI run's warnings reach when no handler is configured
    assert logging.lastResort is not None
    capsys.readouterr()
    logging.lastResort.handle(
        logging.LogRecord("crmhub.sync", logging.WARNING, __file__, 1, "call %s", ("13812345678",), None)
    )
    err = capsys.readouterr().err
    assert "call 138****5678" in err and "13812345678" not in err

    monkeypatch.chdir(tmp_path)
    assert report_internal(RuntimeError("row for 13812345678 / 11010519491231002X")) == 70
    logged = next((tmp_path / "var/log").iterdir()).read_text(encoding="utf-8")
    assert "RuntimeError" in logged and leaks(logged) == []


def test_pull_masks_contacts_and_reveal_is_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`crmhub pull` against the Zoho simulator over loopback: contacts masked; --reveal audited, then in clear."""
    import tomli_w

    from crmhub.testing import start_simulator
    from crmhub_zoho.plugin import _config as zoho_config
    from crmhub_zoho.simulator import build as build_zoho
    from crmhub_zoho.simulator.seed import synthetic_companies

    world = list(synthetic_companies(3, 7, contacts_per_company=2))
    server = start_simulator(build_zoho, world=world)
    try:
        path = tmp_path / "crmhub.toml"
        store_url = f"sqlite:///{tmp_path / 'crmhub.db'}"
        # four eyes on bulk reveals is tested in tests/security; here the reveal itself and its audit row
        path.write_text(
            tomli_w.dumps(
                {
                    "lang": "en",
                    "store": {"url": store_url},
                    "security": {"four_eyes": {"bulk_reveal": False}},
                    "connectors": {"zoho": zoho_config(server.url)},
                }
            ),
            encoding="utf-8",
        )
        code, out, err = cli(capsys, "pull", "zoho", "contacts", "-c", str(path))
        assert code == 0, err
        masked = [json.loads(line) for line in out.splitlines()]
        assert masked and all("*" in c["name"] for c in masked)
        assert all("*" in c[k] for c in masked for k in ("mobile", "phone", "email") if c.get(k))
        code, out, err = cli(capsys, "pull", "zoho", "contacts", "--reveal", "--reason", "数据核对", "-c", str(path))
        assert code == 0, err
        clear = [json.loads(line) for line in out.splitlines()]
        assert [c["source_id"] for c in clear] == [c["source_id"] for c in masked]
        assert all("*" not in c["name"] for c in clear)
    finally:
        server.stop()
    store = Store.open(store_url)
    try:
        with store.begin() as s:
            rows = s.scalars(select(AuditLog).where(AuditLog.action == REVEAL_ACTION)).all()
            assert [(r.entity, r.entity_id, r.details["reason"], r.details["command"]) for r in rows] == [
                ("stream", "zoho/contacts", "数据核对", "pull")
            ]
    finally:
        store.dispose()
