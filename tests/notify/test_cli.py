"""The commands as a user runs them (``crmhub.cli.main``) with a config file pointing at the real servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crmhub.cli import main
from crmhub.plugins import Registry
from crmhub.store import Store

from .helpers import MOBILE, U1, Servers, alert, client


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def config_file(tmp_path: Path, store_url: str, servers: Servers) -> Path:
    lines = ['lang = "en"', "", "[store]", f"url = {toml_value(store_url)}", ""]
    for name, table in servers.channels().items():
        lines.append(f"[channels.{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
        lines.append("")
    lines += [
        "[notify]",
        "retry_delay_seconds = 0",
        "",
        "[notify.groups]",
        'risk_team = ["risk@bank.example"]',
        'operators = ["ops@bank.example"]',
        'aml_team = ["aml@bank.example"]',
    ]
    path = tmp_path / "crmhub.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_notify_test_both_channels_then_log_shows_them_delivered(
    tmp_path: Path, store: Store, store_url: str, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    """`notify test email --to …` and `notify test wecom --to zhangsan` each deliver one real message, and
    `notify log --json` lists both as delivered with the channels' answers."""
    cfg = str(config_file(tmp_path, store_url, servers))
    assert main(["notify", "test", "email", "--to", "ops@bank.example", "-c", cfg]) == 0
    assert main(["notify", "test", "wecom", "--to", "zhangsan", "-c", cfg]) == 0
    out = capsys.readouterr().out
    assert "test message" in out and "delivered" in out
    assert [m.rcpt_tos for m in servers.mail.mails] == [("ops@bank.example",)]
    assert "crmhub" in servers.mail.mails[0].subject
    assert [m.recipients for m in servers.sim.inbox] == [["zhangsan"]]
    assert main(["notify", "log", "--json", "-c", cfg]) == 0
    entries = json_lines(capsys.readouterr().out)
    assert {(e["channel"], e["status"], tuple(e["recipients"])) for e in entries} == {
        ("email", "delivered", ("ops@bank.example",)),
        ("wecom", "delivered", ("zhangsan",)),
    }
    by_channel = {e["channel"]: e for e in entries}
    assert by_channel["email"]["answer"].startswith("Message-ID") and by_channel["wecom"]["answer"].startswith("msgid=")
    assert main(["notify", "log", "--json", "--status", "failed", "-c", cfg]) == 0
    assert json_lines(capsys.readouterr().out) == []
    assert main(["notify", "log", "-c", cfg]) == 0
    table = capsys.readouterr().out
    assert table.count("delivered") == 2 and "zhangsan" in table and "msgid=" in table
    assert main(["notify", "log", "--status", "nonsense", "-c", cfg]) == 2


def test_notify_test_reports_a_refused_recipient(
    tmp_path: Path, store: Store, store_url: str, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recipient WeCom does not know fails the test (exit 1) and says why; nothing is delivered."""
    cfg = str(config_file(tmp_path, store_url, servers))
    assert main(["notify", "test", "wecom", "--to", "nobody", "-c", cfg, "--json"]) == 1
    entry = json_lines(capsys.readouterr().out)[0]
    assert entry["status"] == "failed" and "81013" in entry["results"]["nobody"]
    assert servers.sim.inbox == []


def test_notify_run_and_interactions(
    tmp_path: Path, store: Store, store_url: str, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    """`notify run --dry-run` shows the plan and sends nothing; `notify run` sends it; `interactions add/list`
    record a visit and show the next due date; `notify routes` lists the defaults."""
    cfg = str(config_file(tmp_path, store_url, servers))
    cid = client(store, name=f"北京星河科技有限公司 {MOBILE}")
    alert(store, cid)
    assert main(["notify", "run", "--dry-run", "--json", "-c", cfg]) == 0
    plan = json_lines(capsys.readouterr().out)[0]
    assert {(w["channel"], tuple(w["recipients"])) for w in plan["would_send"]} == {("email", ("aml@bank.example",))}
    assert servers.sim.inbox == [] and servers.mail.mails == []
    assert main(["notify", "run", "--json", "-c", cfg]) == 0
    outcome = json_lines(capsys.readouterr().out)[0]
    assert outcome["planned"] == {"alert": 1} and outcome["delivered"] == 1
    assert servers.sim.inbox == [] and len(servers.mail.mails) == 1

    assert (
        main(
            [
                "interactions",
                "add",
                U1,
                "--kind",
                "visit",
                "--at",
                "2026-01-05T10:00+08:00",
                "--by",
                "张三",
                "--summary",
                f"回访，联系人手机 {MOBILE}",
                "-c",
                cfg,
            ]
        )
        == 0
    )
    assert main(["interactions", "add", U1, "--kind", "dance", "-c", cfg]) == 2
    assert main(["interactions", "list", U1, "--json", "-c", cfg]) == 0
    items = json_lines(capsys.readouterr().out)
    assert [(i["kind"], i["by"]) for i in items] == [("visit", "张三")]
    assert MOBILE not in items[0]["summary"] and "138****5678" in items[0]["summary"]
    assert main(["interactions", "list", U1, "-c", cfg]) == 0
    assert "next follow-up" in capsys.readouterr().out
    assert main(["notify", "routes", "--json", "-c", cfg]) == 0
    routes = json_lines(capsys.readouterr().out)
    assert [(r["channel"], r["to"]) for r in routes if r["event"] == "alert"] == [("email", ["aml_team (1)"])]
    assert any(r["event"] == "rating_downgrade" and r["channel"] == "wecom" and r["to"] == ["rm"] for r in routes)
    assert all(r["channel_status"] == "ok" for r in routes)


def test_config_check_rejects_an_aml_alert_route_to_the_rm(
    tmp_path: Path, store_url: str, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    """`crmhub config check` exits 2 and names the key of a route sending AML alerts to the RM."""
    cfg = config_file(tmp_path, store_url, servers)
    cfg.write_text(
        cfg.read_text(encoding="utf-8") + '\n[notify.alert]\nsend = [{ channel = "wecom", to = ["rm"] }]\n',
        encoding="utf-8",
    )
    assert main(["config", "check", "-c", str(cfg)]) == 2
    captured = capsys.readouterr()
    assert "notify.alert.send.0.to" in captured.out + captured.err


def test_notify_retry_requeues_only_what_failed(
    tmp_path: Path,
    store: Store,
    store_url: str,
    servers: Servers,
    registry: Registry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`notify retry` puts a failed notification back; a delivered one is refused with a clear message."""
    cfg = str(config_file(tmp_path, store_url, servers))
    assert main(["notify", "test", "wecom", "--to", "nobody", "-c", cfg, "--json"]) == 1
    failed = json_lines(capsys.readouterr().out)[0]["id"]
    assert main(["notify", "test", "wecom", "--to", "lisi", "-c", cfg, "--json"]) == 0
    delivered = json_lines(capsys.readouterr().out)[0]["id"]
    assert main(["notify", "retry", str(failed), "-c", cfg]) == 0
    assert main(["notify", "retry", str(delivered), "-c", cfg]) == 2
    assert "only failed" in capsys.readouterr().err
    assert main(["notify", "log", "--json", "--status", "planned", "-c", cfg]) == 0
    assert [e["id"] for e in json_lines(capsys.readouterr().out)] == [failed]
