"""Every hook a crmhub plugin can implement — the whole plugin contract, in one place.

A plugin is a module of functions decorated with ``@crmhub.hookimpl`` whose names match the specs below. It is
found through the ``crmhub.plugins`` entry-point group (our own five adapters register exactly like a third
party would)::

    [project.entry-points."crmhub.plugins"]
    my_ledger = "my_package.crmhub_plugin"

Hooks are grouped by lifecycle:

1. **Registration** (called once per plugin when the plugin manager loads, through pluggy with the other plugins
   left out, so each offer is attributed to its plugin): `crmhub_register_connectors`, `crmhub_register_channels`,
   `crmhub_sandbox_apps`, `crmhub_risk_factors`, `crmhub_statement_importers`.
2. **Events** (called by the engine after the transaction that made them true has committed, never in a dry run;
   implementations must be fast and must not raise — an exception is logged and the run goes on):
   `crmhub_client_changed`, `crmhub_risk_changed`, `crmhub_alert_raised`, `crmhub_run_finished`. Every payload is
   typed (models and frozen dataclasses, `crmhub.events`). The core's own notifications do not listen to these
   hooks: `crmhub.notify` plans them from the facts in the store after the run (so they survive a crash and are
   sent exactly once); an event hook is for a plugin's own side effects.

Hook implementations are validated at registration: a misspelt hook name or an argument the spec does not
offer is a `crmhub.errors.PluginError` naming the plugin, the hook and the signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from crmhub.contract import Channel, Connector, RiskFactor, SandboxApp
    from crmhub.core.report import RunReport
    from crmhub.events import RaisedAlert
    from crmhub.model import CorporateClient, RiskAssessment
    from crmhub.statements import StatementImporter

PROJECT = "crmhub"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration -------------------------------------------------------------------------------------------


@hookspec
def crmhub_register_connectors() -> dict[str, type[Connector[Any]]]:  # type: ignore[empty-body]
    """Return the connector classes this plugin offers, keyed by the ``plugin`` value users put in config.

    Example: ``{"zoho_crm": ZohoConnector}`` lets ``[connectors.x] plugin = "zoho_crm"`` select it. Called once;
    a key offered by two plugins is a load error naming both.
    """


@hookspec
def crmhub_register_channels() -> dict[str, type[Channel[Any]]]:  # type: ignore[empty-body]
    """Return the notification channel classes this plugin offers, keyed by their ``plugin`` value."""


@hookspec
def crmhub_sandbox_apps() -> list[SandboxApp]:  # type: ignore[empty-body]
    """Return simulators of the services this plugin adapts, for ``crmhub sandbox serve`` and the tests.

    Each `SandboxApp` says how to build it and how to point a config at it; the core allocates its port (its
    ``preferred_offset`` from ``--port-base`` when free) — see `crmhub.contract.SandboxApp`.
    """


@hookspec
def crmhub_risk_factors() -> list[RiskFactor]:  # type: ignore[empty-body]
    """Return extra scorecard factors; a factor is used once the scorecard config gives it bins and points."""


@hookspec
def crmhub_statement_importers() -> list[StatementImporter]:  # type: ignore[empty-body]
    """Return bank-statement parsers for ``crmhub ledger import`` (`crmhub.statements.StatementImporter`).

    The core reads a file with the importer whose ``accepts`` recognises its first bytes and books what it yields
    itself (line identity, re-import, tie-out: `crmhub.sync.statement_booking`), so a parser never touches the
    store. An importer name offered by two plugins is a load error naming both.
    """


# --- events -------------------------------------------------------------------------------------------------


@hookspec
def crmhub_client_changed(client: CorporateClient, changes: dict[str, tuple[Any, Any]], run_id: int | None) -> None:
    """A golden client was created or changed by a sync; ``changes`` maps field → (before, after)."""


@hookspec
def crmhub_risk_changed(
    client: CorporateClient, before: RiskAssessment | None, after: RiskAssessment, run_id: int | None
) -> None:
    """A client's risk assessment changed (``before`` is ``None`` for the first assessment)."""


@hookspec
def crmhub_alert_raised(alert: RaisedAlert, client: CorporateClient | None, run_id: int | None) -> None:
    """A new risk alert was raised (`crmhub.events.RaisedAlert`; ``alert.as_json()`` is what ``crmhub alerts list
    --json`` shows).

    AML-confidential (《反洗钱法》, no tipping-off; docs/notifications.md): an implementation may hand it only to the
    AML function — never to the relationship manager, the client, a group chat or anything forwardable.
    """


@hookspec
def crmhub_run_finished(report: RunReport) -> None:
    """A sync run finished (successfully or not) and its report is stored; ``report`` is a copy of the run report
    (`crmhub.core.report.RunReport`; ``report.model_dump(mode="json")`` is its JSON form). Not called for a run
    stopped by Ctrl-C or a cancelled job."""
