"""Simulators on loopback for plugin tests: start one on a free port, keep a pool stopped at the end of a test,
serve a `SandboxApp` with a `Fault`.

These were copies in crmhub's own test folders (one per plugin); a plugin author needs the same, so they live here.
Only HTTP (ASGI) simulators are served: an SMTP sandbox needs its own server (``crmhub_email.sandbox.serve_smtp``),
and importing aiosmtpd here would make it a dependency of every install.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crmhub.contract import PluginConfig, SandboxApp, SandboxOptions
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer, free_port, serve_app_in_thread
from crmhub.testing.base import Fault, secret_values

FAULT_PROFILES: dict[Fault, FaultProfile] = {
    Fault.UNAVAILABLE: FaultProfile(error_rate=1.0),
    Fault.THROTTLED: FaultProfile(throttle_rate=1.0),
}
"""The `FaultProfile` the default service uses for each transport-level `Fault`."""


def start_simulator(
    build: Callable[[SandboxOptions], Any],
    *,
    world: Any = None,
    faults: FaultProfile | None = None,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    host: str = "127.0.0.1",
) -> ThreadedServer:
    """Build an ASGI simulator and serve it on a free loopback port, in a background thread.

    The port is chosen before the simulator is built, so ``SandboxOptions.base_url`` is the URL it really runs at
    (a simulator that returns its own URL — Zoho's ``api_domain`` — needs it). Stop it with ``.stop()`` or use it
    as a context manager.
    """
    port = free_port(host)
    app = build(
        SandboxOptions(
            base_url=f"http://{host}:{port}", world=world, faults=faults, seed=seed, settings=dict(settings or {})
        )
    )
    return serve_app_in_thread(app, host=host, port=port)


@dataclass
class Simulators:
    """A pool of running simulators, all stopped by `stop_all` (or on leaving the ``with`` block).

    In a conftest: ``@pytest.fixture def serve(): with Simulators(build) as pool: yield pool.start``.
    """

    build: Callable[[SandboxOptions], Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    servers: list[ThreadedServer] = field(default_factory=list)

    def start(self, **options: Any) -> ThreadedServer:
        """`start_simulator` with this pool's ``build``; keyword arguments as there (``settings``, ``faults`` …)."""
        server = start_simulator(self.build, **{**self.defaults, **options})
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every simulator this pool started."""
        while self.servers:
            self.servers.pop().stop()

    def __enter__(self) -> Simulators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def wrong_secrets(table: dict[str, Any], config_model: type[PluginConfig]) -> dict[str, Any]:
    """``table`` with every top-level secret changed, so the service refuses the credentials."""
    secrets = secret_values(config_model.model_validate(table))
    return {**table, **{key: f"wrong-{value}" for key, value in secrets.items() if key in table}}


@contextlib.contextmanager
def simulator_service(
    build: Callable[[SandboxOptions], Any],
    config: Callable[[str], dict[str, Any]],
    fault: Fault | None = None,
    *,
    world: Any = None,
    settings: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    config_model: type[PluginConfig] | None = None,
) -> Iterator[dict[str, Any]]:
    """Serve the ASGI simulator ``build`` makes, misbehaving as ``fault`` says (`FAULT_PROFILES`; for
    ``AUTH_REJECTED``, healthy but with every secret of the table changed, which needs ``config_model``); yield
    ``config(url)`` plus ``overrides``. A `PluginContract.service` in one line for a simulator with
    `crmhub.sandbox.faults.FaultMiddleware`."""
    with start_simulator(
        build, world=world, faults=FAULT_PROFILES.get(fault) if fault else None, settings=settings
    ) as server:
        table = {**config(server.url), **(overrides or {})}
        if fault is Fault.AUTH_REJECTED:
            assert config_model is not None, "AUTH_REJECTED needs the config model to find the secrets"
            table = wrong_secrets(table, config_model)
        yield table


def sandbox_service(
    app: SandboxApp,
    fault: Fault | None = None,
    *,
    world: Any = None,
    settings: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    config_model: type[PluginConfig] | None = None,
) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """`simulator_service` for an HTTP `SandboxApp` a plugin offers (the default `PluginContract.service`)."""
    if app.protocol != "http":
        raise NotImplementedError(f"sandbox app {app.name!r} speaks {app.protocol}; override `service` to serve it")
    return simulator_service(
        app.build, app.config, fault, world=world, settings=settings, overrides=overrides, config_model=config_model
    )
