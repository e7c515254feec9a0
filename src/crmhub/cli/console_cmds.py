"""``crmhub console``: serve the operator console in the browser (docs/console.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from crmhub.cli.common import ConfigOption, console, load_context
from crmhub.i18n import bilingual


def serve_console(
    config: Path | None = ConfigOption,
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default: [console] host, 127.0.0.1)."),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port to listen on (default: [console] port, 8780)."
    ),
) -> None:
    """Serve the operator console in the browser: runs, review, dead letters, clients, alerts, audit.

    Operators log in with the password an admin set with `crmhub users passwd NAME`; every page and action
    follows the same roles and four-eyes rules as the CLI. Stop it with Ctrl+C.
    """
    import uvicorn

    from crmhub.console import create_app

    ctx = load_context(config)
    settings = ctx.settings
    bind_host = host or settings.console.host
    bind_port = settings.console.port if port is None else port
    app = create_app(settings, ctx.open_store(), ctx.registry)
    console.print(
        bilingual(
            f"操作台：http://{bind_host}:{bind_port}/ （Ctrl+C 停止）",
            f"Console: http://{bind_host}:{bind_port}/ (Ctrl+C to stop)",
        )
    )
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
