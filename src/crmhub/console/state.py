"""What the console app holds for its lifetime: settings, the store, the templates and the login throttle."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2

from crmhub import plugins
from crmhub.config import Settings
from crmhub.console import sessions, web
from crmhub.console.throttle import LoginThrottle
from crmhub.i18n import Lang
from crmhub.model.text import clean_text
from crmhub.store import Store
from crmhub.templating import make_environment

HERE = Path(__file__).parent


def _finalize(value: Any) -> Any:
    """Every interpolated string without control characters or escape sequences (line breaks kept: ``<pre>``)."""
    return clean_text(value, multiline=True) if isinstance(value, str) else value


class ConsoleState:
    """One per app: configuration, store, Jinja environment, throttle. Safe to share between worker threads."""

    def __init__(self, settings: Settings, store: Store, registry: plugins.Registry | None = None) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.default_lang: Lang = "en" if settings.lang == "en" else "zh"
        cfg = settings.console
        self.idle = timedelta(minutes=cfg.idle_minutes)
        self.lifetime = timedelta(hours=cfg.session_hours)
        self.throttle = LoginThrottle(max_failures=cfg.login_max_failures, lockout=float(cfg.lockout_seconds))
        loader = jinja2.FileSystemLoader(str(HERE / "templates"))
        self.env = make_environment(loader, autoescape=True)
        self.env.finalize = _finalize
        self.env.trim_blocks = self.env.lstrip_blocks = True

    def resume(self, token: str | None) -> sessions.ConsoleUser | None:
        """The user of the session cookie ``token`` (None: log in first)."""
        if not token:
            return None
        with self.store.begin() as s:
            return sessions.resume(s, token, idle=self.idle, lifetime=self.lifetime)

    def render(self, template: str, **context: Any) -> str:
        """Render a template; ``_(zh, en)`` picks the text of the request's language."""
        req = context.get("req")
        lang = getattr(req, "lang", None) or context.get("lang") or self.default_lang
        context.setdefault("lang", lang)
        context.setdefault("_", (lambda zh, en: zh) if lang == "zh" else (lambda zh, en: en))
        context.setdefault("routes_present", {spec.path for spec in web.SPECS if spec.method == "GET"})
        return self.env.get_template(template).render(**context)
