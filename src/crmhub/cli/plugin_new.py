"""``crmhub plugins new connector|channel NAME``: a new plugin package, written from the templates crmhub ships.

A plugin author's first hour goes into packaging (the entry point, the test set-up, a simulator) rather than into
the outside system. The templates under ``crmhub/data/plugin_template/<kind>/`` are a complete package — a CSV
connector or a DingTalk work-notice channel — whose own tests run the conformance kit (`crmhub.testing`); CI
generates both and runs those tests unchanged (tests/cli/test_plugin_new.py), so the template cannot rot.

Every template file ends in ``.j2`` (so ruff, mypy and pytest never read a template as code) and is rendered with
Jinja2 and `StrictUndefined` (a misspelt variable is an error here, not a blank in someone's package); the folder
name ``__package__`` becomes the plugin's Python package. The ``new`` group hangs under ``plugins``, whose command
module is `crmhub.cli.setup_cmds`; this module imports nothing heavy (Jinja2 only when a package is written).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

import typer

from crmhub._version import __version__
from crmhub.errors import InputError
from crmhub.i18n import t

new_app = typer.Typer(
    help="Create a plugin package from crmhub's template; its tests pass the conformance kit.", no_args_is_help=True
)

Kind = Literal["connector", "channel"]
TEMPLATE_ROOT = "data/plugin_template"
_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")
_PACKAGE_DIR = "__package__"


@dataclass(frozen=True, slots=True)
class PluginNames:
    """The names one plugin NAME gives: its config key, Python package, distribution, class prefix and title."""

    name: str
    package: str
    dist: str
    prefix: str
    title: str

    @classmethod
    def of(cls, name: str) -> PluginNames:
        """Validate ``name`` (the ``plugin = "…"`` key users write in their config) and derive the rest."""
        if not _NAME.fullmatch(name) or name.endswith("_") or "__" in name or keyword.iskeyword(name):
            raise InputError(t("plugin_name_invalid", name=name), hint=t("plugin_name_hint"))
        words = name.split("_")
        package = f"crmhub_{name}"
        if find_spec(package) is not None:  # would shadow (or be shadowed by) an installed package
            raise InputError(t("plugin_name_taken", name=name, package=package), hint=t("plugin_name_hint"))
        from crmhub.plugins import ENTRY_POINT_GROUP

        if name in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}:  # two plugins, one name: a load error
            raise InputError(t("plugin_name_registered", name=name), hint=t("plugin_name_hint"))
        return cls(
            name=name,
            package=package,
            dist=f"crmhub-{name.replace('_', '-')}",
            prefix="".join(w.capitalize() for w in words),
            title=" ".join(w.capitalize() for w in words),
        )


def crmhub_range(version: str = __version__) -> tuple[str, str]:
    """The crmhub versions a new plugin declares it works with: this contract line, up to the next breaking one.

    Before 1.0 a minor release may break the contract (0.1 → 0.2), after it only a major one (docs/plugins.md,
    "Versioning against the contract").
    """
    major, minor = (int(part) for part in version.split(".")[:2])
    if major == 0:
        return f"0.{minor}", f"0.{minor + 1}"
    return f"{major}.{minor}", f"{major + 1}"


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """Every template file under ``folder``: (its path relative to the template root, the file)."""
    out: list[tuple[str, Traversable]] = []
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name == "__pycache__":
            continue
        path = f"{prefix}{item.name}"
        if item.is_dir():
            out.extend(_files(item, f"{path}/"))
        elif item.name.endswith(".j2"):
            out.append((path.removesuffix(".j2"), item))
    return out


def render_package(kind: Kind, names: PluginNames) -> dict[str, str]:
    """The generated package as {relative path: text}, written nowhere (the command writes it)."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    low, high = crmhub_range()
    variables = {
        "name": names.name,
        "package": names.package,
        "dist": names.dist,
        "prefix": names.prefix,
        "title": names.title,
        "crmhub_min": low,
        "crmhub_below": high,
        "crmhub_version": __version__,
    }
    root = resources.files("crmhub").joinpath(f"{TEMPLATE_ROOT}/{kind}")
    return {
        path.replace(_PACKAGE_DIR, names.package): env.from_string(item.read_text(encoding="utf-8")).render(variables)
        for path, item in _files(root)
    }


def create(kind: Kind, name: str, parent: Path) -> Path:
    """Write the package for plugin ``name`` into ``parent/<distribution name>``; refuse an existing folder."""
    names = PluginNames.of(name)
    target = parent / names.dist
    if target.exists():
        raise InputError(t("plugin_dir_exists", path=target), hint=t("plugin_dir_hint"))
    files = render_package(kind, names)
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _report(kind: Kind, target: Path, name: str) -> None:
    from crmhub.cli.common import console

    console.print(t(f"plugin_created_{kind}", path=target, name=name), highlight=False)


_NAME_HELP = "Plugin name: lower-case letters, digits and underscores (e.g. csv_files); the key users put in config."
_DIR_HELP = "Folder to create the package in (default: the current folder)."


@new_app.command("connector")
def new_connector(
    name: str = typer.Argument(..., help=_NAME_HELP),
    parent: Path = typer.Option(Path(), "--dir", help=_DIR_HELP),
) -> None:
    """Create a connector package (a CSV connector with resumable cursors and write-back) with its tests."""
    target = create("connector", name, parent)
    _report("connector", target, name)


@new_app.command("channel")
def new_channel(
    name: str = typer.Argument(..., help=_NAME_HELP),
    parent: Path = typer.Option(Path(), "--dir", help=_DIR_HELP),
) -> None:
    """Create a channel package (DingTalk work notices, with a simulator) with its tests."""
    target = create("channel", name, parent)
    _report("channel", target, name)
