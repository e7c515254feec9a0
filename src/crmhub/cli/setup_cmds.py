"""Set-up commands: ``crmhub init``, ``config check``, ``plugins list`` (and ``plugins new``), ``db upgrade``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.table import Table

from crmhub.cli.common import ConfigOption, console, load_context, load_registry
from crmhub.cli.plugin_new import new_app
from crmhub.config import DEFAULT_PATH, resolve_path
from crmhub.core.exit_codes import ExitCode
from crmhub.i18n import t
from crmhub.masking import mask_url

config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
plugins_app = typer.Typer(help="Inspect installed plugins.", no_args_is_help=True)
plugins_app.add_typer(new_app, name="new")  # `plugins new connector|channel NAME`: a package from the template
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)


def starter_config() -> str:
    """The commented example configuration shipped with crmhub (same text as config/crmhub.toml)."""
    return resources.files("crmhub").joinpath("data/crmhub.example.toml").read_text(encoding="utf-8")


def init(
    path: Path = typer.Argument(DEFAULT_PATH, help="Where to write the starter config."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a starter configuration (points at the built-in sandboxes until you change it)."""
    if path.exists() and not force:
        console.print(t("config_exists", file=path))
        raise typer.Exit(ExitCode.FAILED)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_config(), encoding="utf-8")
    console.print(t("config_written", file=path))


@config_app.command("check")
def config_check(config: Path | None = ConfigOption) -> None:
    """Validate the config file: every problem is listed with its key path."""
    ctx = load_context(config)
    console.print(
        t(
            "config_ok",
            file=resolve_path(config),
            connectors=len(ctx.settings.connectors),
            channels=len(ctx.settings.channels),
            store=mask_url(ctx.settings.store.url),
        )
    )


@plugins_app.command("list")
def plugins_list() -> None:
    """List plugins: name, version, and what each provides."""
    registry = load_registry()
    table = Table(title=t("plugins_title"))
    for col in ("col_plugin", "col_version", "col_provides", "col_module"):
        table.add_column(t(col))
    for info in registry.plugins:
        provides = []
        for key, items in (
            ("provides_connectors", info.connectors),
            ("provides_channels", info.channels),
            ("provides_sandboxes", info.sandboxes),
            ("provides_factors", info.risk_factors),
            ("provides_importers", info.statement_importers),
        ):
            if items:
                provides.append(f"{t(key)}: {', '.join(items)}")
        table.add_row(info.name, info.version, "; ".join(provides) or "-", info.module)
    for name, cause in registry.failed.items():
        table.add_row(name, "-", t("plugin_failed", cause=cause), "-")
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(config: Path | None = ConfigOption) -> None:
    """Create or migrate the store's schema to the newest revision."""
    ctx = load_context(config, required=False)
    store = ctx.open_store()
    try:
        console.print(
            t(
                "db_upgraded",
                url=mask_url(store.engine.url.render_as_string(hide_password=True)),
                rev=store.current_revision(),
            )
        )
    finally:
        store.dispose()
