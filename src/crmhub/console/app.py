"""The console's ASGI app: public login routes, every `page` route, static files, security headers.

Page modules register their routes with `crmhub.console.web.page` when imported; `PAGE_MODULES` lists them, so
adding a page is: write the module, add its name there, add its templates.
"""

from __future__ import annotations

import importlib

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crmhub import plugins
from crmhub.config import Settings
from crmhub.console import web
from crmhub.console.auth import PUBLIC_ROUTES
from crmhub.console.headers import SecurityHeaders
from crmhub.console.state import HERE, ConsoleState
from crmhub.store import Store

PAGE_MODULES = (
    "crmhub.console.auth",
    *(
        f"crmhub.console.pages.{name}"
        for name in (
            "dashboard",
            "runs",
            "review",
            "approvals",
            "deadletters",
            "clients",
            "alerts",
            "segments",
            "audit",
        )
    ),
)
"""Every module that declares console pages (imported once; each `page` decorator adds its route)."""


def routes() -> list[Route]:
    """Every page route (importing the page modules registers them)."""
    for name in PAGE_MODULES:
        importlib.import_module(name)
    return list(web.ROUTES)


def create_app(settings: Settings, store: Store | None = None, registry: plugins.Registry | None = None) -> Starlette:
    """The console over ``settings``'s store (or ``store``, already open)."""
    store = store or Store.open(settings.store.url, var_dir=settings.var_dir)
    app = Starlette(
        routes=[
            *PUBLIC_ROUTES,
            *routes(),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.console = ConsoleState(settings, store, registry)
    return app
