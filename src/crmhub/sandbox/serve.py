"""``crmhub sandbox serve``: run every plugin's simulator on loopback over one shared synthetic world.

`start_sandboxes` builds one `World`, gives each `SandboxApp` its options (its own base URL, the world, the fault
profile, the seed), serves HTTP simulators with uvicorn (`crmhub.sandbox.runner`) and SMTP simulators with an
aiosmtpd `Controller`, each on ``port_base + app.port_offset``, and returns a `SandboxSet`: every running app's
URL and live simulator, a crmhub config pointing at them (`SandboxSet.write_config`), and `SandboxSet.stop`.
`run` does the same in the foreground until SIGINT/SIGTERM (or a stop event), then stops everything cleanly.

Ports are checked before anything starts, so a busy port fails fast with a message naming the app and the port
instead of a half-started sandbox; if a server still fails to start, the ones already running are stopped.
"""

from __future__ import annotations

import logging
import random
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import tomli_w

from crmhub.contract import SandboxApp, SandboxOptions
from crmhub.sandbox.runner import serve_app_in_thread
from crmhub.sandbox.world import World

log = logging.getLogger("crmhub.sandbox")

DEFAULT_STORE_URL = "sqlite:///var/crmhub.db"


class SandboxStartError(RuntimeError):
    """A simulator could not start (port taken, bad app); nothing from this start is left running."""


@dataclass(slots=True)
class RunningSandbox:
    """One running simulator: where it listens, what `build` returned, and its live simulator state.

    ``simulator`` is the built object's ``.simulator`` attribute when it has one (the simulators' convention for
    their inspectable state), else the built object itself (an aiosmtpd handler, a bare ASGI app).
    """

    app: SandboxApp
    host: str
    port: int
    built: Any
    _stop: Callable[[], None] = field(repr=False)
    stopped: bool = False

    @property
    def name(self) -> str:
        return self.app.name

    @property
    def address(self) -> str:
        """``host:port`` — what SMTP clients and `SandboxApp.config` for SMTP take."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://host:port`` for HTTP simulators, ``smtp://host:port`` for SMTP ones."""
        return f"{'smtp' if self.app.protocol == 'smtp' else 'http'}://{self.address}"

    @property
    def simulator(self) -> Any:
        return getattr(self.built, "simulator", self.built)

    def config(self) -> dict[str, Any]:
        """The ``[<section>.<name>]`` table pointing crmhub at this simulator."""
        return self.app.config(self.address if self.app.protocol == "smtp" else self.url)

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if not self.stopped:
            self.stopped = True
            self._stop()


@dataclass(slots=True)
class SandboxSet:
    """Every simulator started together, over one world."""

    world: World
    host: str
    port_base: int
    running: list[RunningSandbox]
    store_url: str = DEFAULT_STORE_URL

    def __iter__(self) -> Iterator[RunningSandbox]:
        return iter(self.running)

    def __len__(self) -> int:
        return len(self.running)

    def __getitem__(self, name: str) -> RunningSandbox:
        for r in self.running:
            if r.name == name:
                return r
        raise KeyError(f"no sandbox app named {name!r}; running: {', '.join(r.name for r in self.running)}")

    def urls(self) -> dict[str, str]:
        """App name → URL."""
        return {r.name: r.url for r in self.running}

    def config(self) -> dict[str, Any]:
        """A crmhub config document: ``[store]`` plus one table per simulator (``None`` values dropped: TOML has
        no null)."""
        doc: dict[str, Any] = {"store": {"url": self.store_url}}
        for r in self.running:
            section = doc.setdefault(r.app.config_section, {})
            if r.app.config_name in section:
                raise ValueError(f"two sandbox apps configure [{r.app.config_section}.{r.app.config_name}]")
            section[r.app.config_name] = _drop_none(r.config())
        if any(c.get("plugin") == "email" for c in doc.get("channels", {}).values()):
            # AML alerts go only to the AML team by email (docs/notifications.md): an example group, so the
            # sandbox's alerts land in the SMTP sandbox instead of nowhere.
            doc["notify"] = {"groups": {"aml_team": ["aml@bank.example"]}}
        return doc

    def write_config(self, path: str | Path) -> Path:
        """Write `config` as TOML to ``path`` (parents created) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# crmhub config for the sandbox (seed {self.world.seed}, {self.world.clients} clients), written by "
                  "`crmhub sandbox serve`.\n# The credentials are the simulators' built-in sandbox credentials.\n\n")
        target.write_text(header + tomli_w.dumps(self.config()), encoding="utf-8")
        return target

    def banner(self) -> list[str]:
        """One line per simulator: name, title, URL — for the CLI to print."""
        width = max((len(r.name) for r in self.running), default=0)
        return [f"{r.name:<{width}}  {r.url:<28}  {r.app.title}" for r in self.running]

    def stop(self) -> None:
        """Stop every simulator (in reverse start order); every port is free when this returns."""
        errors: list[str] = []
        for r in reversed(self.running):
            try:
                r.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{r.name}: {exc}")
        if errors:
            log.warning("sandbox stop: %s", "; ".join(errors))

    def __enter__(self) -> SandboxSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value if v is not None]
    return value


def port_is_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be bound right now (with SO_REUSEADDR, as the servers bind)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(apps: Sequence[SandboxApp], host: str = "127.0.0.1", *, tries: int = 200,
                   low: int = 20_000, high: int = 32_000) -> int:
    """A port base where every app's ``base + port_offset`` is free now (for tests and ``--port-base 0``).

    Below Linux's ephemeral range (32768–60999): a port found free there can be taken by any client socket of a
    process running beside us before the simulator binds it; below it only a server that binds explicitly can.
    """
    offsets = [a.port_offset for a in apps] or [0]
    rng = random.Random()
    for _ in range(tries):
        base = rng.randrange(low, high - max(offsets))
        if all(port_is_free(host, base + o) for o in offsets):
            return base
    raise SandboxStartError(f"no free port range for {len(offsets)} simulators on {host} after {tries} tries")


def _check_apps(apps: Sequence[SandboxApp], host: str, port_base: int) -> None:
    seen: dict[int, str] = {}
    names: set[str] = set()
    for app in apps:
        if app.name in names:
            raise SandboxStartError(f"two sandbox apps are named {app.name!r}")
        names.add(app.name)
        if app.protocol not in ("http", "smtp"):
            raise SandboxStartError(f"sandbox app {app.name!r}: unknown protocol {app.protocol!r} (http or smtp)")
        port = port_base + app.port_offset
        if port in seen:
            raise SandboxStartError(f"sandbox apps {seen[port]!r} and {app.name!r} both want port {port} "
                                    f"(port_offset {app.port_offset})")
        seen[port] = app.name
        if not 0 < port < 65536:
            raise SandboxStartError(f"sandbox app {app.name!r}: port {port} is out of range; lower --port-base")
        if not port_is_free(host, port):
            raise SandboxStartError(f"sandbox app {app.name!r} ({app.title}): port {host}:{port} is in use; stop "
                                    "what holds it or choose another --port-base")


def _start_smtp(handler: Any, host: str, port: int) -> Callable[[], None]:
    from aiosmtpd.controller import Controller

    kwargs: dict[str, Any] = {}
    server_kwargs = getattr(handler, "server_kwargs", None)
    if callable(server_kwargs):
        kwargs.update(server_kwargs())  # e.g. the email sandbox's AUTH authenticator
    controller = Controller(handler, hostname=host, port=port, **kwargs)
    controller.start()
    return controller.stop


def start_sandboxes(apps: Sequence[SandboxApp], *, port_base: int = 8700, seed: int = 0, clients: int = 2000,
                    faults: Any = None, host: str = "127.0.0.1", world: World | None = None,
                    today: date | None = None, settings: Mapping[str, Mapping[str, Any]] | None = None,
                    store_url: str = DEFAULT_STORE_URL) -> SandboxSet:
    """Start ``apps`` over one world (``world`` or ``World(seed, clients, today)``) and return them running.

    ``faults`` is a `crmhub.sandbox.faults.FaultProfile` (or ``None``); ``settings`` maps an app name to its
    `SandboxOptions.settings`. Raises `SandboxStartError` (with nothing left running) if any app cannot start.
    """
    world = world if world is not None else World(seed=seed, clients=clients, today=today)
    _check_apps(apps, host, port_base)
    running: list[RunningSandbox] = []
    sandboxes = SandboxSet(world, host, port_base, running, store_url)
    try:
        for app in apps:
            port = port_base + app.port_offset
            scheme = "smtp" if app.protocol == "smtp" else "http"
            options = SandboxOptions(base_url=f"{scheme}://{host}:{port}", world=world, faults=faults, seed=seed,
                                     settings=dict((settings or {}).get(app.name, {})))
            try:
                built = app.build(options)
                if app.protocol == "smtp":
                    stop = _start_smtp(built, host, port)
                else:
                    stop = serve_app_in_thread(built, host=host, port=port).stop
            except Exception as exc:
                raise SandboxStartError(f"sandbox app {app.name!r} ({app.title}) failed to start on "
                                        f"{host}:{port}: {exc}") from exc
            running.append(RunningSandbox(app, host, port, built, stop))
            log.info("sandbox %s listening on %s", app.name, running[-1].url)
    except BaseException:
        sandboxes.stop()
        raise
    return sandboxes


def run(apps: Sequence[SandboxApp], *, port_base: int = 8700, seed: int = 0, clients: int = 2000,
        faults: Any = None, host: str = "127.0.0.1", write_config: str | Path | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None, today: date | None = None,
        ready: Callable[[SandboxSet], None] | None = None, stop_event: threading.Event | None = None) -> None:
    """Serve ``apps`` in the foreground until SIGINT/SIGTERM (or ``stop_event``), then stop them all.

    ``write_config`` writes the config file once everything listens; ``ready`` is called with the running set
    (the CLI prints its banner there). Signal handlers are installed only in the main thread and restored after.
    """
    event = stop_event or threading.Event()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("sandbox: %s received, stopping", signal.Signals(signum).name)
        event.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        with start_sandboxes(apps, port_base=port_base, seed=seed, clients=clients, faults=faults, host=host,
                             settings=settings, today=today) as sandboxes:
            if write_config is not None:
                sandboxes.write_config(write_config)
            if ready is not None:
                ready(sandboxes)
            while not event.wait(0.25):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
