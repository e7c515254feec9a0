"""Hook implementations of the ``zoho_crm`` plugin (entry point ``zoho_crm = "crmhub_zoho.plugin"``)."""

from __future__ import annotations

from typing import Any

from crmhub.contract import Connector, SandboxApp, SandboxOptions
from crmhub.hookspecs import hookimpl


def _build(options: SandboxOptions) -> Any:
    from crmhub_zoho.simulator import build

    return build(options)


def _config(base_url: str) -> dict[str, Any]:
    from crmhub_zoho.simulator.state import DEFAULT_SETTINGS

    return {
        "plugin": "zoho_crm",
        "accounts_url": base_url,
        "client_id": DEFAULT_SETTINGS["client_id"],
        "client_secret": DEFAULT_SETTINGS["client_secret"],
        "refresh_token": DEFAULT_SETTINGS["refresh_token"],
    }


@hookimpl
def crmhub_register_connectors() -> dict[str, type[Connector[Any]]]:
    """The ``zoho_crm`` connector."""
    from crmhub_zoho.connector import ZohoConnector

    return {"zoho_crm": ZohoConnector}


@hookimpl
def crmhub_sandbox_apps() -> list[SandboxApp]:
    """The Zoho CRM v8 simulator (OAuth and API on one base URL)."""
    return [
        SandboxApp(
            name="zoho_crm",
            title="Zoho CRM v8",
            preferred_offset=0,
            build=_build,
            config_section="connectors",
            config_name="zoho",
            config=_config,
            world_view="zoho",
        )
    ]
