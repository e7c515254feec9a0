"""``crmhub sandbox serve`` (every simulator on loopback) and ``crmhub demo`` (the whole product in two minutes)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer

from crmhub.cli.common import console, err_console, load_registry, run
from crmhub.core.exit_codes import ExitCode
from crmhub.errors import InputError
from crmhub.i18n import bilingual, current_lang, t

sandbox_app = typer.Typer(help="Simulators of every outside system, for trying crmhub offline.", no_args_is_help=True)

# What only the simulators import (their SMTP server, the config writer, the HTTP parser their servers run): the
# `[sandbox]` extra, which a production install (`pip install crmhub`) leaves out.
SANDBOX_MODULES = ("aiosmtpd", "tomli_w", "httptools")


def require_sandbox_extra(command: str) -> None:
    """Stop ``command`` with a clear message (not an ImportError deep in a simulator) without the extra."""
    missing = [name for name in SANDBOX_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(
            bilingual(
                f"`crmhub {command}` 需要 [sandbox] 扩展（缺少 {', '.join(missing)}）",
                f"`crmhub {command}` needs the [sandbox] extra ({', '.join(missing)} missing)",
            ),
            hint=bilingual(
                '安装它：pip install "crmhub[sandbox]"（源码目录中：pip install -e ".[sandbox]"）',
                'install it: pip install "crmhub[sandbox]" (in a checkout: pip install -e ".[sandbox]")',
            ),
        )


@sandbox_app.callback()
def _sandbox_needs_extra() -> None:
    # runs before every `crmhub sandbox …` subcommand (not for --help, which needs nothing)
    require_sandbox_extra("sandbox")


def _faults(text: str | None):  # type: ignore[no-untyped-def]
    from crmhub.sandbox.faults import FaultProfileError, parse_profile

    try:
        return parse_profile(text)
    except FaultProfileError as exc:
        raise InputError(f"--faults: {exc}") from None


@sandbox_app.command("serve")
def sandbox_serve(
    seed: int = typer.Option(0, help="World seed (same seed, same world)."),
    clients: int = typer.Option(2000, min=0, help="Number of companies in the world."),
    faults: str | None = typer.Option(
        None,
        help="Fault profile: none, slow, flaky, expiring, dirty, hostile, "
        "or key=value,… (e.g. latency_ms=50,throttle_rate=0.05).",
    ),
    port_base: int = typer.Option(
        8700, help="First port; each simulator gets its own from here on (the banner lists them)."
    ),
    write_config: Path | None = typer.Option(None, "--write-config", help="Write a crmhub config pointing here."),
    speed: float = typer.Option(
        1.0,
        min=1.0,
        help="Shrink the services' rate-limit windows by this factor (and "
        "the written config's pacing with them), for quick demos.",
    ),
    sim_settings: list[str] = typer.Option(
        [],
        "--set",
        help="A simulator setting SIMULATOR.KEY=VALUE (repeatable; "
        "VALUE read as TOML, else as text), e.g. "
        "core_ledger.detail=false.",
    ),
) -> None:
    """Serve every plugin's simulator on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from crmhub.sandbox.serve import SandboxStartError
    from crmhub.sandbox.serve import run as serve_run

    registry = load_registry()
    profile = _faults(faults)
    settings = _simulator_settings(sim_settings, [app.name for app in registry.sandbox_apps])

    def ready(sandboxes) -> None:  # type: ignore[no-untyped-def]
        if write_config is not None:
            _write_config(sandboxes, write_config)
        console.print(t("sandbox_started"))
        for line in sandboxes.banner():
            console.print("  " + line)
        if speed > 1:
            console.print(
                bilingual(f"限流窗口已缩短为真实服务的 1/{speed:g}", f"rate-limit windows shortened {speed:g}×")
            )
        if write_config is not None:
            console.print(t("sandbox_config", file=write_config))

    try:
        serve_run(
            registry.sandbox_apps,
            port_base=port_base,
            seed=seed,
            clients=clients,
            faults=profile,
            ready=ready,
            settings=settings,
            speed=speed,
        )
    except SandboxStartError as exc:
        raise InputError(
            str(exc),
            hint=bilingual(
                "换一个 --port-base 或停止占用端口的进程", "pick another --port-base or stop what holds the port"
            ),
        ) from None
    console.print(t("sandbox_stopped"))


def _simulator_settings(items: list[str], offered: list[str]) -> dict[str, dict[str, Any]]:
    """``--set SIMULATOR.KEY=VALUE`` options as `SandboxOptions.settings` per simulator name."""
    import tomllib

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, eq, raw = item.partition("=")
        app, dot, key = target.strip().partition(".")
        if not (eq and dot and app and key):
            raise InputError(
                bilingual(f"--set {item}：应为 模拟器.键=值", f"--set {item}: expected SIMULATOR.KEY=VALUE"),
                hint=bilingual("例如 --set core_ledger.detail=false", "e.g. --set core_ledger.detail=false"),
            )
        if app not in offered:
            raise InputError(
                bilingual(f"--set {item}：没有名为 {app!r} 的模拟器", f"--set {item}: no simulator {app!r}"),
                hint=bilingual("可用：", "offered: ") + ", ".join(offered),
            )
        try:
            value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out.setdefault(app, {})[key.strip()] = value
    return out


def _write_config(sandboxes: Any, path: Path) -> None:
    """The sandbox config (each connector's pacing already matched to the simulators' at ``--speed``)."""
    import tomli_w

    doc = sandboxes.config()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "# crmhub config for the sandbox, written by `crmhub sandbox serve`.\n" + tomli_w.dumps(doc), encoding="utf-8"
    )
    tmp.replace(path)  # atomic: a reader never sees a half-written file


def demo(
    clients: int = typer.Option(2000, min=10, help="Companies in the synthetic world."),
    seed: int = typer.Option(7, help="World seed."),
    workdir: Path = typer.Option(Path("var/demo"), "--dir", help="Where the demo keeps its store and reports."),
    change: float = typer.Option(0.02, help="Share of records changed in the simulators before the second sync."),
) -> None:
    """Start the simulators, run a full sync, change records, run an incremental sync, print both reports."""
    require_sandbox_extra("demo")
    from crmhub.sandbox.serve import free_port_base

    lang = current_lang()
    started = time.monotonic()
    registry = load_registry()
    workdir = workdir.resolve()  # the config written there names its store by absolute path
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    port_base = free_port_base(registry.sandbox_apps)
    cfg_path = workdir / "crmhub.toml"
    console.print(
        bilingual(
            f"生成 {clients} 家企业的模拟世界，在独立进程中启动模拟器（端口 {port_base} 起）…",
            f"Building a world of {clients} companies; starting the simulators in their own "
            f"process (ports from {port_base})…",
        )
    )
    # The simulators run in a child process so they use the second core instead of competing with the sync.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmhub.cli",
            "sandbox",
            "serve",
            "--seed",
            str(seed),
            "--clients",
            str(clients),
            "--port-base",
            str(port_base),
            "--write-config",
            str(cfg_path),
            "--speed",
            "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(server, cfg_path, registry, port_base)
        first, second, quality, html = _demo_runs(cfg_path, workdir, registry, port_base, clients, seed, change, lang)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    console.rule(bilingual("结果", "Result"))
    console.print(
        bilingual(
            f"匹配质量（对照模拟世界的真实情况）：精确率 {quality.precision:.4f}，召回率 {quality.recall:.4f}"
            f"（{quality.records} 条记录，{quality.true_pairs} 个真实配对）",
            f"Matching against the world's ground truth: precision {quality.precision:.4f}, "
            f"recall {quality.recall:.4f} "
            f"({quality.records} records, {quality.true_pairs} true pairs)",
        )
    )
    console.print(
        bilingual(
            f"HTML 报告：{html}；配置与存储：{workdir}；用时 {time.monotonic() - started:.0f} 秒",
            f"HTML report: {html}; config and store: {workdir}; took {time.monotonic() - started:.0f} s",
        )
    )
    logins = workdir / "console-logins.txt"
    console.print(
        bilingual(
            f"操作台：crmhub console -c {cfg_path}（登录用户与密码见 {logins}）",
            f"Console: crmhub console -c {cfg_path} (users and passwords in {logins})",
        )
    )
    console.print(
        bilingual(
            f"继续探索：crmhub clients list -c {cfg_path}；再次同步前先运行 crmhub sandbox serve "
            f"--seed {seed} --clients {clients} --port-base {port_base}",
            f"Explore: crmhub clients list -c {cfg_path}; to sync again first run crmhub sandbox "
            f"serve --seed {seed} --clients {clients} --port-base {port_base}",
        )
    )
    if first.status not in ("succeeded", "partial") or second.status not in ("succeeded", "partial"):
        err_console.print(bilingual("有同步运行失败，见上方报告", "a sync run failed; see the reports above"))
        raise typer.Exit(ExitCode.FAILED)


def _wait_for(
    server: subprocess.Popen[str], cfg_path: Path, registry: Any, port_base: int, timeout: float = 300.0
) -> None:
    """Wait until the child wrote its config and every simulator port accepts connections."""
    import socket

    deadline = time.monotonic() + timeout
    from crmhub.sandbox.serve import allocate_ports

    ports = list(allocate_ports(registry.sandbox_apps, port_base).values())
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise InputError(
                bilingual("模拟器进程启动失败：", "the simulator process failed to start: ")
                + (server.stderr.read() if server.stderr else "")[-2000:]
            )
        if cfg_path.exists():
            ready = True
            for port in ports:
                with socket.socket() as sock:
                    sock.settimeout(0.5)
                    ready = ready and sock.connect_ex(("127.0.0.1", port)) == 0
            if ready:
                return
        time.sleep(0.2)
    raise InputError(bilingual("模拟器未在规定时间内就绪", "the simulators did not become ready in time"))


def _demo_runs(
    cfg_path: Path, workdir: Path, registry: Any, port_base: int, clients: int, seed: int, change: float, lang: Any
) -> tuple[Any, Any, Any, Path]:
    """Full sync, mutations, incremental sync, reports, matching quality."""
    import tomllib

    from crmhub.cli.common import Context
    from crmhub.cli.sync_cmds import build_engine
    from crmhub.config import parse_settings
    from crmhub.reporting import render_html, render_report
    from crmhub.sandbox.serve import truth_by_connector
    from crmhub.sandbox.world import World
    from crmhub.store import Store
    from crmhub.sync.evaluation import matching_quality

    data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    data["store"] = {"url": f"sqlite:///{workdir / 'crmhub.db'}"}
    settings = parse_settings(data, registry, source=str(cfg_path))
    settings.anchor(workdir)
    cfg_path.write_text(
        cfg_path.read_text(encoding="utf-8").replace(
            'url = "sqlite:///var/crmhub.db"', f'url = "sqlite:///{workdir / "crmhub.db"}"'
        ),
        encoding="utf-8",
    )
    ctx = Context(registry, settings)
    store = Store.open(settings.store.url, var_dir=settings.var_dir)
    try:
        console.rule(bilingual("第一次同步（全量）", "Sync 1 (full)"))
        first = run(build_engine(ctx, store).run())
        console.print(render_report(first, lang))
        changed = _mutate(registry, port_base, max(1, int(clients * change)), seed)
        console.rule(
            bilingual(
                f"第二次同步（增量，模拟器中改动了 {changed} 条记录）",
                f"Sync 2 (incremental, {changed} records changed in the simulators)",
            )
        )
        second = run(build_engine(ctx, store).run())
        console.print(render_report(second, lang))
        (workdir / f"report-{first.run_id}.html").write_text(render_html(first, lang), encoding="utf-8")
        html = workdir / f"report-{second.run_id}.html"
        html.write_text(render_html(second, lang), encoding="utf-8")
        with store.begin() as s:
            truth = truth_by_connector(registry.sandbox_apps, World(seed=seed, clients=clients).truth())
            quality = matching_quality(s, truth)
        _console_logins(store, workdir)
    finally:
        store.dispose()
    return first, second, quality, html


DEMO_OPERATORS = {"demo": ["operator", "aml_officer", "admin"], "checker": ["approver", "aml_officer"]}
"""Two operators for trying the console on the demo's store: one proposes, the other approves (four eyes)."""


def _console_logins(store: Any, workdir: Path) -> Path:
    """Register `DEMO_OPERATORS` with random passwords, kept in ``console-logins.txt`` (0600) beside the store."""
    import os
    import secrets

    from crmhub.security import operators

    lines = []
    with store.begin() as s:
        for name, roles in DEMO_OPERATORS.items():
            password = secrets.token_urlsafe(12)
            operators.add(s, name, roles, display_name=None, actor="demo")
            operators.set_password(s, name, password, actor="demo")
            lines.append(f"{name}\t{password}\t{', '.join(roles)}")
    path = workdir / "console-logins.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# user\tpassword\troles — for `crmhub console` on this demo store only\n")
        handle.write("\n".join(lines) + "\n")
    return path


def _mutate(registry: Any, port_base: int, count: int, seed: int) -> int:
    """Change ``count`` records in each connector simulator through its ``/_sandbox/mutate`` admin endpoint."""
    from crmhub.sandbox.serve import allocate_ports

    ports = allocate_ports(registry.sandbox_apps, port_base)
    total = 0
    with httpx.Client(timeout=60) as client:
        for app in registry.sandbox_apps:
            if app.protocol != "http" or app.config_section != "connectors":
                continue
            answer = client.post(
                f"http://127.0.0.1:{ports[app.name]}/_sandbox/mutate", json={"count": count, "seed": seed}
            )
            answer.raise_for_status()
            body = answer.json()
            changed = body.get("changed") or body.get("ids") or body.get("changes") or []
            total += len(changed) if isinstance(changed, list) else int(changed or 0)
    return total
