"""The operator console in the browser (``crmhub console``): server-rendered pages over the store, one role table
with the CLI (`crmhub.security.roles`), sessions on the server, CSRF on every form. See docs/console.md."""

from crmhub.console.app import create_app

__all__ = ["create_app"]
