"""`crmhub.sandbox.serve`: simulators started over one world, reachable over real HTTP and SMTP, a config that
points at them, clean stops that free the ports, clear errors on conflicts, and SIGTERM handling."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import threading
import tomllib
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.serve import (
    SandboxStartError,
    allocate_offsets,
    free_port_base,
    port_is_free,
    run,
    start_sandboxes,
)
from crmhub.sandbox.world import World

from .serve_apps import Echo, Inbox, http_app, smtp_app

HERE = Path(__file__).parent


def test_http_and_smtp_apps_reachable_and_config_written(tmp_path: Path) -> None:
    """Both apps answer on base+offset, share one world, and the written config parses and points at them."""
    apps = [http_app(), smtp_app()]
    base = free_port_base(apps)
    profile = FaultProfile(latency_ms=1.0)
    with start_sandboxes(
        apps, port_base=base, seed=7, clients=30, faults=profile, settings={"echo": {"greeting": "你好"}}
    ) as sandboxes:
        echo, mail = sandboxes["echo"], sandboxes["mail"]
        assert (echo.port, mail.port) == (base, base + 1)
        assert echo.url == f"http://127.0.0.1:{base}" and mail.url == f"smtp://127.0.0.1:{base + 1}"

        body = httpx.get(f"{echo.url}/hello", timeout=5).json()
        world = World(seed=7, clients=30)
        assert body == {
            "base_url": echo.url,
            "seed": 7,
            "clients": 30,
            "first": world.company(0).name,
            "faults": True,
            "settings": {"greeting": "你好"},
        }
        assert isinstance(echo.simulator, Echo) and echo.simulator.requests == ["/hello"]
        assert echo.simulator.options.world is sandboxes.world

        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "crm@bank.example", "rm@bank.example", "评级下调"
        msg.set_content("北京星河科技有限公司")
        with smtplib.SMTP(mail.host, mail.port, timeout=5) as smtp:
            smtp.send_message(msg)
        assert isinstance(mail.simulator, Inbox)
        ((sender, rcpts, raw),) = mail.simulator.messages
        assert (sender, rcpts) == ("crm@bank.example", ["rm@bank.example"]) and b"Subject:" in raw

        path = sandboxes.write_config(tmp_path / "sub" / "crmhub.toml")
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        assert doc["store"] == {"url": "sqlite:///var/crmhub.db"}
        assert doc["connectors"]["echo"] == {"plugin": "echo", "base_url": echo.url, "scopes": ["read", "write"]}
        assert doc["channels"]["mail"] == {"plugin": "mail", "host": "127.0.0.1", "port": base + 1, "starttls": False}
        assert [line.split()[0] for line in sandboxes.banner()] == ["echo", "mail"]
    assert port_is_free("127.0.0.1", base) and port_is_free("127.0.0.1", base + 1)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{base}/hello", timeout=2)


def test_busy_port_fails_fast_and_leaves_nothing_running() -> None:
    """A port in use names the app and the port; no simulator from that start keeps listening."""
    apps = [http_app(0), smtp_app(1)]
    base = free_port_base(apps)
    with start_sandboxes([smtp_app(1)], port_base=base, clients=5):
        with pytest.raises(SandboxStartError, match=rf"'mail'.*{base + 1} is in use"):
            start_sandboxes(apps, port_base=base, clients=5)
        assert port_is_free("127.0.0.1", base)


def test_app_that_fails_to_build_stops_the_others() -> None:
    """When the second app's build raises, the first (already serving) is stopped and its port released."""
    broken = replace(http_app(1, name="broken"), build=lambda options: 1 / 0)
    apps = [http_app(0), broken]
    base = free_port_base(apps)
    with pytest.raises(SandboxStartError, match=r"'broken'.*failed to start.*division by zero"):
        start_sandboxes(apps, port_base=base, clients=5)
    assert port_is_free("127.0.0.1", base)


def test_two_apps_with_one_name_are_refused() -> None:
    """Two apps with one name are refused before anything starts."""
    base = free_port_base([http_app(0)])
    with pytest.raises(SandboxStartError, match="two sandbox apps are named"):
        start_sandboxes([http_app(0), http_app(1)], port_base=base, clients=5)


def test_the_core_allocates_ports_whatever_the_apps_prefer() -> None:
    """A preferred offset is kept when free; a clash or no preference gets the lowest free offset, in order — so
    two plugins' simulators never collide and a third party need not know the others' ports."""
    apps = [http_app(0, "a"), http_app(0, "b"), replace(http_app(0, "c"), preferred_offset=None), http_app(2, "d")]
    assert allocate_offsets(apps) == {"a": 0, "d": 2, "b": 1, "c": 3}
    base = free_port_base(apps)
    with start_sandboxes(apps, port_base=base, clients=5) as sandboxes:
        assert {r.name: r.port for r in sandboxes} == {"a": base, "b": base + 1, "d": base + 2, "c": base + 3}
        assert [r.name for r in sandboxes] == ["a", "b", "d", "c"]  # started and listed in port order
        assert httpx.get(sandboxes["c"].url + "/hello", timeout=5).json()["base_url"] == sandboxes["c"].url


def test_extra_config_and_pacing_come_from_the_app(tmp_path: Path) -> None:
    """What a simulator needs beyond its own table (``extra_config``) and its pacing at ``--speed`` come with its
    `SandboxApp`; the core merges them without knowing the app."""
    paced = replace(
        http_app(0),
        pacing=lambda speed: {"window_seconds": 20.0 / speed},
        extra_config={"notify": {"groups": {"aml_team": ["aml@bank.example"]}}},
    )
    base = free_port_base([paced])
    with start_sandboxes([paced], port_base=base, clients=5, speed=4) as sandboxes:
        doc = sandboxes.config()
        assert doc["connectors"]["echo"]["window_seconds"] == 5.0
        assert doc["notify"] == {"groups": {"aml_team": ["aml@bank.example"]}}
        assert sandboxes["echo"].simulator.options.settings == {"window_seconds": 5.0}
    with start_sandboxes([paced], port_base=base, clients=5) as sandboxes:  # at speed 1 nothing is shortened
        assert "window_seconds" not in sandboxes.config()["connectors"]["echo"]
    clash = replace(http_app(1, "other"), extra_config={"notify": {"groups": {"aml_team": ["x@bank.example"]}}})
    with (
        start_sandboxes([paced, clash], port_base=free_port_base([paced, clash]), clients=5) as sandboxes,
        pytest.raises(ValueError, match=r"'other' sets notify.groups.aml_team"),
    ):
        sandboxes.config()


def test_run_stops_on_event_and_writes_config(tmp_path: Path) -> None:
    """run() serves until its stop event is set, writes the config once listening, then frees the ports."""
    apps = [http_app(), smtp_app()]
    base = free_port_base(apps)
    stop = threading.Event()
    seen: list[dict[str, str]] = []

    def ready(sandboxes: object) -> None:
        seen.append(sandboxes.urls())  # type: ignore[attr-defined]
        assert httpx.get(f"http://127.0.0.1:{base}/hello", timeout=5).status_code == 200
        stop.set()

    thread = threading.Thread(
        target=run,
        kwargs={
            "apps": apps,
            "port_base": base,
            "clients": 10,
            "write_config": tmp_path / "c.toml",
            "ready": ready,
            "stop_event": stop,
        },
    )
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert seen == [{"echo": f"http://127.0.0.1:{base}", "mail": f"smtp://127.0.0.1:{base + 1}"}]
    assert tomllib.loads((tmp_path / "c.toml").read_text(encoding="utf-8"))["connectors"]["echo"]["base_url"]
    assert port_is_free("127.0.0.1", base) and port_is_free("127.0.0.1", base + 1)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_stops_the_foreground_server(tmp_path: Path) -> None:
    """A real process running run() exits 0 on SIGTERM, after stopping both servers."""
    base = free_port_base([http_app(), smtp_app()])
    config = tmp_path / "crmhub.toml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "serve_apps.py"), str(base), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY"), line + (proc.stderr.read() if proc.stderr else "")
        assert httpx.get(f"http://127.0.0.1:{base}/hello", timeout=5).json()["clients"] == 20
        assert tomllib.loads(config.read_text(encoding="utf-8"))["channels"]["mail"]["port"] == base + 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "STOPPED" in out
    assert port_is_free("127.0.0.1", base) and port_is_free("127.0.0.1", base + 1)


def test_sandbox_config_has_an_example_aml_team_for_its_email_channel(tmp_path: Path) -> None:
    """With the real email sandbox, the written config names an aml_team group (AML alerts go only there) and
    passes `config check`'s rules, including the AML confidentiality rule."""
    import warnings

    from crmhub.config import parse_settings
    from crmhub.plugins import load
    from crmhub_email import plugin as email_plugin

    apps = email_plugin.crmhub_sandbox_apps()
    with start_sandboxes(apps, port_base=free_port_base(apps), clients=5) as sandboxes:
        doc = tomllib.loads(sandboxes.write_config(tmp_path / "c.toml").read_text(encoding="utf-8"))
    assert doc["notify"]["groups"]["aml_team"] == ["aml@bank.example"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings = parse_settings(doc, load())
    assert [(s.channel, s.to) for s in settings.notify.sends("alert")] == [("email", ["aml_team"])]


def test_simulator_settings_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sandbox serve --set SIMULATOR.KEY=VALUE``: values read as TOML (else text), per simulator; a bad item or an
    unknown simulator is an input error naming the item and what is offered."""
    from crmhub.cli.sandbox_cmds import _simulator_settings
    from crmhub.errors import InputError

    monkeypatch.setenv("CRMHUB_LANG", "en")
    assert _simulator_settings(
        ["core_ledger.detail=false", "core_ledger.mode=loans", "fx.window_seconds=2.5"], ["core_ledger", "fx"]
    ) == {"core_ledger": {"detail": False, "mode": "loans"}, "fx": {"window_seconds": 2.5}}
    with pytest.raises(InputError, match=r"--set detail=false: expected SIMULATOR.KEY=VALUE"):
        _simulator_settings(["detail=false"], ["core_ledger"])
    with pytest.raises(InputError, match=r"no simulator 'ledger'") as info:
        _simulator_settings(["ledger.detail=false"], ["core_ledger", "fx"])
    assert info.value.hint is not None and "core_ledger, fx" in info.value.hint
    monkeypatch.setenv("CRMHUB_LANG", "zh")
    with pytest.raises(InputError, match=r"没有名为 'ledger' 的模拟器"):
        _simulator_settings(["ledger.detail=false"], ["core_ledger"])


def test_ground_truth_is_read_per_connector_through_the_view_an_app_serves() -> None:
    """The world's truth names its views; each app's ``world_view`` says which connector's records those are, so the
    demo's matching score does not depend on a connector being named like a view."""
    from crmhub.sandbox.serve import truth_by_connector

    apps = [
        replace(http_app(0, "my_crm"), world_view="zoho"),
        replace(http_app(1, "bank"), world_view="ledger"),
        smtp_app(),
    ]
    truth = [("zoho", "Z1", 0), ("fxiaoke", "F1", 0), ("ledger", "1", 0), ("ledger", "2", 1)]
    assert list(truth_by_connector(apps, truth)) == [("my_crm", "Z1", 0), ("bank", "1", 0), ("bank", "2", 1)]
    world = World(seed=3, clients=30)
    registry_like = [replace(http_app(0, "zoho"), world_view="zoho")]
    assert {c for c, _, _ in truth_by_connector(registry_like, world.truth())} == {"zoho"}
