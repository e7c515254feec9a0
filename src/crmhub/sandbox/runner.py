"""Run simulators on loopback: one uvicorn server per HTTP simulator, aiosmtpd for SMTP.

`serve_app_in_thread` is what tests use (a real server on a free port, in a background thread with its own
event loop); `crmhub sandbox serve` uses the same servers in the foreground.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn

log = logging.getLogger("crmhub.sandbox")


class _HideInjectedDrops(logging.Filter):
    """Injected connection drops are intended; keep their tracebacks out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from crmhub.sandbox.faults import DroppedConnection

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class _QuietServer(uvicorn.Server):
    """A uvicorn server that does not install signal handlers (it may run in a thread)."""

    def install_signal_handlers(self) -> None:
        return None


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """Uvicorn settings tuned for simulators: httptools, no access log, keep-alive, no lifespan."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="error",
        access_log=False,
        lifespan="off",
        http="httptools",
        timeout_keep_alive=30,
        backlog=2048,
    )


@dataclass(slots=True)
class ThreadedServer:
    """A running server in a background thread; `stop()` shuts it down and joins the thread."""

    url: str
    host: str
    port: int
    app: Any
    _server: uvicorn.Server
    _thread: threading.Thread
    extras: dict[str, Any] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_app_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> ThreadedServer:
    """Start ``app`` (ASGI) on ``host:port`` (0 = a free port) in a thread and wait until it accepts."""
    if port == 0:
        port = free_port(host)
    server = _QuietServer(server_config(app, host, port))

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = timeout
    step = 0.01
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"sandbox server on {host}:{port} failed to start")
        threading.Event().wait(step)
        deadline -= step
        if deadline <= 0:
            server.should_exit = True
            raise RuntimeError(f"sandbox server on {host}:{port} did not start within {timeout} s")
    return ThreadedServer(f"http://{host}:{port}", host, port, app, server, thread)
