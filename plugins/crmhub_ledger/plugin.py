"""Hook implementations of the ``core_ledger`` plugin (entry point ``core_ledger = "crmhub_ledger.plugin"``): the
connector, the Fineract-shaped simulator and the MT940 / camt.053 statement parsers (``crmhub ledger import``)."""

from __future__ import annotations

from typing import Any

from crmhub.contract import Connector, SandboxApp, SandboxOptions
from crmhub.hookspecs import hookimpl
from crmhub.statements import StatementImporter
from crmhub_ledger.connector import LedgerConnector


def _build(options: SandboxOptions) -> Any:
    from crmhub_ledger.sandbox import build

    return build(options)


def _config(base_url: str) -> dict[str, Any]:
    return {
        "plugin": "core_ledger",
        "base_url": base_url + "/fineract-provider/api/v1",
        "username": "mifos",
        "password": "password",
        "tenant_id": "default",
    }


@hookimpl
def crmhub_register_connectors() -> dict[str, type[Connector[Any]]]:
    """``plugin = "core_ledger"`` selects `LedgerConnector`."""
    return {"core_ledger": LedgerConnector}


@hookimpl
def crmhub_sandbox_apps() -> list[SandboxApp]:
    """The Fineract-shaped ledger simulator."""
    return [
        SandboxApp(
            name="core_ledger",
            title="Core banking ledger (Fineract)",
            preferred_offset=2,
            build=_build,
            config_section="connectors",
            config_name="ledger",
            config=_config,
            world_view="ledger",
        )
    ]


def _accepts(head: bytes) -> bool:
    from crmhub_ledger.statements import detect_format

    try:
        detect_format(head)
    except ValueError:
        return False
    return True


@hookimpl
def crmhub_statement_importers() -> list[StatementImporter]:
    """SWIFT MT940/MT942 and ISO 20022 camt.053/052, recognised by content."""
    from crmhub_ledger.statements import read_statements

    return [
        StatementImporter(name="core_ledger", formats=("mt940", "camt.053"), accepts=_accepts, read=read_statements)
    ]
