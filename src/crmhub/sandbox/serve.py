"""``crmhub sandbox serve``: run every plugin's simulator on loopback over one shared synthetic world.

`start_sandboxes` builds one `World`, gives each `SandboxApp` its options (its own base URL, the world, the fault
profile, the seed), serves HTTP simulators with uvicorn (`crmhub.sandbox.runner`) and SMTP simulators with an
aiosmtpd `Controller`, each on ``port_base`` plus the offset `allocate_offsets` gives it, and returns a
`SandboxSet`: every running app's URL and live simulator, a crmhub config pointing at them
(`SandboxSet.write_config`), and `SandboxSet.stop`. Nothing here knows a particular simulator: what one needs
beyond its own config table (``extra_config``) or at a faster ``speed`` (``pacing``) comes with its `SandboxApp`.
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    speed: float = 1.0

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
        """A crmhub config document: ``[store]`` plus one table per simulator (with its `pacing` at this
        ``speed``) and the tables its ``extra_config`` adds (``None`` values dropped: TOML has no null)."""
        doc: dict[str, Any] = {"store": {"url": self.store_url}}
        for r in self.running:
            section = doc.setdefault(r.app.config_section, {})
            if r.app.config_name in section:
                raise ValueError(f"two sandbox apps configure [{r.app.config_section}.{r.app.config_name}]")
            section[r.app.config_name] = _drop_none({**r.config(), **pacing_of(r.app, self.speed)})
        for r in self.running:
            _merge(doc, _drop_none(r.app.extra_config), r.app.name, "")
        return doc

    def write_config(self, path: str | Path) -> Path:
        """Write `config` as TOML to ``path`` (parents created) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# crmhub config for the sandbox (seed {self.world.seed}, {self.world.clients} clients), written by "
            "`crmhub sandbox serve`.\n# The credentials are the simulators' built-in sandbox credentials.\n\n"
        )
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


def pacing_of(app: SandboxApp, speed: float) -> dict[str, Any]:
    """The keys ``app`` sets in both its simulator's settings and its config table at ``speed`` (none at 1)."""
    return dict(app.pacing(speed)) if app.pacing is not None and speed > 1 else {}


def _merge(doc: dict[str, Any], extra: Mapping[str, Any], app: str, where: str) -> None:
    """Add ``extra`` tables to ``doc``; a key that is already set to something else is a conflict naming it."""
    for key, value in extra.items():
        path = f"{where}.{key}" if where else key
        if isinstance(value, Mapping) and isinstance(doc.get(key), dict):
            _merge(doc[key], value, app, path)
        elif key in doc and doc[key] != value:
            raise ValueError(f"sandbox app {app!r} sets {path} in the config, which another table already sets")
        else:
            doc[key] = dict(value) if isinstance(value, Mapping) else value


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


def truth_by_connector(
    apps: Sequence[SandboxApp], truth: Iterable[tuple[str, str, int]]
) -> Iterator[tuple[str, str, int]]:
    """The world's ground truth (view, native id, company key) as (connector name, native id, company key), through
    each app's ``world_view`` → ``config_name`` (records of views no app serves are left out)."""
    connector = {
        app.world_view: app.config_name
        for app in apps
        if app.world_view is not None and app.config_section == "connectors"
    }
    for view, source_id, key in truth:
        if view in connector:
            yield connector[view], source_id, key


def allocate_offsets(apps: Sequence[SandboxApp]) -> dict[str, int]:
    """Each app's port offset from the port base: its ``preferred_offset`` when no app before it took it, else the
    lowest free offset, in the order given (the registry's: plugins by entry-point name). Offsets are never shared,
    so two plugins' simulators cannot collide whatever they prefer."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    for app in apps:
        if app.preferred_offset is not None and app.preferred_offset >= 0 and app.preferred_offset not in taken:
            out[app.name] = app.preferred_offset
            taken.add(app.preferred_offset)
    free = 0
    for app in apps:
        if app.name in out:
            continue
        while free in taken:
            free += 1
        out[app.name] = free
        taken.add(free)
    return out


def allocate_ports(apps: Sequence[SandboxApp], port_base: int) -> dict[str, int]:
    """App name → the port it is served on from ``port_base`` (see `allocate_offsets`)."""
    return {name: port_base + offset for name, offset in allocate_offsets(apps).items()}


def free_port_base(
    apps: Sequence[SandboxApp], host: str = "127.0.0.1", *, tries: int = 200, low: int = 20_000, high: int = 32_000
) -> int:
    """A port base where every app's allocated port is free now (for tests and ``--port-base 0``).

    Below Linux's ephemeral range (32768–60999): a port found free there can be taken by any client socket of a
    process running beside us before the simulator binds it; below it only a server that binds explicitly can.
    """
    offsets = list(allocate_offsets(apps).values()) or [0]
    rng = random.Random()
    for _ in range(tries):
        base = rng.randrange(low, high - max(offsets))
        if all(port_is_free(host, base + o) for o in offsets):
            return base
    raise SandboxStartError(f"no free port range for {len(offsets)} simulators on {host} after {tries} tries")


def _check_apps(apps: Sequence[SandboxApp], host: str, ports: Mapping[str, int]) -> None:
    names: set[str] = set()
    for app in apps:
        if app.name in names:
            raise SandboxStartError(f"two sandbox apps are named {app.name!r}")
        names.add(app.name)
        if app.protocol not in ("http", "smtp"):
            raise SandboxStartError(f"sandbox app {app.name!r}: unknown protocol {app.protocol!r} (http or smtp)")
    for app in apps:
        port = ports[app.name]
        if not 0 < port < 65536:
            raise SandboxStartError(f"sandbox app {app.name!r}: port {port} is out of range; lower --port-base")
        if not port_is_free(host, port):
            raise SandboxStartError(
                f"sandbox app {app.name!r} ({app.title}): port {host}:{port} is in use; stop "
                "what holds it or choose another --port-base"
            )


def _start_smtp(handler: Any, host: str, port: int) -> Callable[[], None]:
    from aiosmtpd.controller import Controller

    kwargs: dict[str, Any] = {}
    server_kwargs = getattr(handler, "server_kwargs", None)
    if callable(server_kwargs):
        kwargs.update(server_kwargs())  # e.g. the email sandbox's AUTH authenticator
    controller = Controller(handler, hostname=host, port=port, **kwargs)
    controller.start()
    return controller.stop


def start_sandboxes(
    apps: Sequence[SandboxApp],
    *,
    port_base: int = 8700,
    seed: int = 0,
    clients: int = 2000,
    faults: Any = None,
    host: str = "127.0.0.1",
    world: World | None = None,
    today: date | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    store_url: str = DEFAULT_STORE_URL,
    speed: float = 1.0,
) -> SandboxSet:
    """Start ``apps`` over one world (``world`` or ``World(seed, clients, today)``) and return them running.

    ``faults`` is a `crmhub.sandbox.faults.FaultProfile` (or ``None``); ``settings`` maps an app name to its
    `SandboxOptions.settings` (over its `SandboxApp.pacing` at ``speed``). Raises `SandboxStartError` (with
    nothing left running) if any app cannot start.
    """
    world = world if world is not None else World(seed=seed, clients=clients, today=today)
    ports = allocate_ports(apps, port_base)
    _check_apps(apps, host, ports)
    running: list[RunningSandbox] = []
    sandboxes = SandboxSet(world, host, port_base, running, store_url, speed)
    try:
        for app in sorted(apps, key=lambda a: ports[a.name]):  # started, listed and stopped in port order
            port = ports[app.name]
            scheme = "smtp" if app.protocol == "smtp" else "http"
            options = SandboxOptions(
                base_url=f"{scheme}://{host}:{port}",
                world=world,
                faults=faults,
                seed=seed,
                settings={**pacing_of(app, speed), **(settings or {}).get(app.name, {})},
            )
            try:
                built = app.build(options)
                if app.protocol == "smtp":
                    stop = _start_smtp(built, host, port)
                else:
                    stop = serve_app_in_thread(built, host=host, port=port).stop
            except Exception as exc:
                raise SandboxStartError(
                    f"sandbox app {app.name!r} ({app.title}) failed to start on {host}:{port}: {exc}"
                ) from exc
            running.append(RunningSandbox(app, host, port, built, stop))
            log.info("sandbox %s listening on %s", app.name, running[-1].url)
    except BaseException:
        sandboxes.stop()
        raise
    return sandboxes


def run(
    apps: Sequence[SandboxApp],
    *,
    port_base: int = 8700,
    seed: int = 0,
    clients: int = 2000,
    faults: Any = None,
    host: str = "127.0.0.1",
    write_config: str | Path | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    today: date | None = None,
    ready: Callable[[SandboxSet], None] | None = None,
    stop_event: threading.Event | None = None,
    speed: float = 1.0,
) -> None:
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
        with start_sandboxes(
            apps,
            port_base=port_base,
            seed=seed,
            clients=clients,
            faults=faults,
            host=host,
            settings=settings,
            today=today,
            speed=speed,
        ) as sandboxes:
            if write_config is not None:
                sandboxes.write_config(write_config)
            if ready is not None:
                ready(sandboxes)
            while not event.wait(0.25):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
