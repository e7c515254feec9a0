"""Two tiny hand-written sandbox apps (a Starlette HTTP app and an aiosmtpd handler) for the serve tests, and a
``main`` that serves them in the foreground (run as a subprocess to test signal handling)."""

from __future__ import annotations

import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crmhub.contract import SandboxApp, SandboxOptions


class Echo:
    """What the HTTP app remembers: the options it was built with and the requests it served."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.requests: list[str] = []


class EchoApp:
    """An ASGI app with a ``.simulator``, like the real simulators."""

    def __init__(self, options: SandboxOptions) -> None:
        self.simulator = Echo(options)

        async def hello(request: Request) -> JSONResponse:
            self.simulator.requests.append(request.url.path)
            world = options.world
            return JSONResponse(
                {
                    "base_url": options.base_url,
                    "seed": options.seed,
                    "clients": world.clients,
                    "first": world.company(0, ledger_detail=False).name,
                    "faults": options.faults is not None,
                    "settings": options.settings,
                }
            )

        self.app = Starlette(routes=[Route("/hello", hello)])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class Inbox:
    """An aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 OK"


def http_app(offset: int = 0, name: str = "echo") -> SandboxApp:
    return SandboxApp(
        name=name,
        title="Echo over HTTP",
        preferred_offset=offset,
        build=EchoApp,
        config_section="connectors",
        config_name=name,
        config=lambda base_url: {
            "plugin": "echo",
            "base_url": base_url,
            "token": None,
            "scopes": ["read", None, "write"],
        },
    )


def smtp_app(offset: int = 1) -> SandboxApp:
    def config(hostport: str) -> dict[str, Any]:
        host, _, port = hostport.rpartition(":")
        return {"plugin": "mail", "host": host, "port": int(port), "starttls": False}

    return SandboxApp(
        name="mail",
        title="Inbox over SMTP",
        preferred_offset=offset,
        build=lambda options: Inbox(),
        config_section="channels",
        config_name="mail",
        config=config,
        protocol="smtp",
    )


def main(port_base: int, config_path: str) -> None:
    """Serve both apps until SIGTERM/SIGINT; print READY once listening."""
    from crmhub.sandbox.serve import run

    def ready(sandboxes: Any) -> None:
        print("READY", " ".join(r.url for r in sandboxes), flush=True)

    run([http_app(), smtp_app()], port_base=port_base, clients=20, write_config=config_path, ready=ready)
    print("STOPPED", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
