"""The layer contracts of docs/architecture.md hold on this tree, and they bite: import-linter ([tool.importlinter]
in pyproject.toml, run by .ci/run) fails as soon as a core module imports a bundled plugin or a lower layer
imports a higher one. The failing cases run on a copy of the tree with one bad import added, never on the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(
    config: Path, *contracts: str, pythonpath: list[Path] | None = None, cache: Path
) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` on ``config`` (only ``contracts`` when given); ``pythonpath`` first on the import path,
    so a copy of the packages is analysed instead of the installed ones."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    args = [str(LINT_IMPORTS), "--config", str(config), "--no-logo", "--cache-dir", str(cache)]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=config.parent, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of the packages (src/crmhub, plugins/*) and pyproject.toml, to add a bad import to."""
    copy = tmp_path / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", copy / "src", ignore=ignore)
    shutil.copytree(ROOT / "plugins", copy / "plugins", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def paths_of(copy: Path) -> list[Path]:
    return [copy / "src", copy / "plugins"]


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    """`lint-imports` as .ci/run runs it: every contract kept (the layers, core → plugin, plugins → store/engine,
    settings leaves)."""
    out = lint_imports(ROOT / "pyproject.toml", pythonpath=[ROOT / "src", ROOT / "plugins"], cache=tmp_path / "cache")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 4 kept, 0 broken." in out.stdout, out.stdout
    for contract in (
        "layers of docs/architecture.md",
        "the core imports no bundled plugin",
        "plugins import no store or engine",
        "settings modules are leaves",
    ):
        assert contract in out.stdout, contract


@pytest.mark.parametrize("plugin", ["crmhub_zoho", "crmhub_fxiaoke", "crmhub_ledger", "crmhub_email", "crmhub_wechat"])
def test_a_core_module_importing_a_bundled_plugin_breaks_the_contract(tree_copy: Path, plugin: str) -> None:
    """One import of a bundled plugin in the bottom layer (even inside a function) and the contract is broken,
    naming the importing module, the plugin and the line."""
    probe = tree_copy / "src" / "crmhub" / "core" / "probe.py"
    probe.write_text(
        f'"""A core module that names a plugin."""\n\n\ndef load() -> object:\n'
        f"    import {plugin}\n\n    return {plugin}\n",
        encoding="utf-8",
    )
    out = lint_imports(
        tree_copy / "pyproject.toml", "core-names-no-plugin", pythonpath=paths_of(tree_copy), cache=tree_copy / "cache"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the core imports no bundled plugin BROKEN" in out.stdout, out.stdout
    assert f"crmhub.core.probe -> {plugin} (l.5)" in out.stdout, out.stdout


def test_the_same_copy_without_the_bad_import_keeps_the_contract(tree_copy: Path) -> None:
    """The copy itself is analysed (not the installed packages): unchanged, it keeps the contract."""
    out = lint_imports(
        tree_copy / "pyproject.toml", "core-names-no-plugin", pythonpath=paths_of(tree_copy), cache=tree_copy / "cache"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the core imports no bundled plugin KEPT" in out.stdout, out.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers(tree_copy: Path) -> None:
    """The store importing the sync engine (the kind of edge the bottom layer's move removed) breaks the layers."""
    locks = tree_copy / "src" / "crmhub" / "store" / "locks.py"
    locks.write_text(
        locks.read_text(encoding="utf-8") + "\n\ndef _engine() -> object:\n"
        "    from crmhub.sync import engine\n\n    return engine\n",
        encoding="utf-8",
    )
    out = lint_imports(
        tree_copy / "pyproject.toml", "layers", pythonpath=paths_of(tree_copy), cache=tree_copy / "cache"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "crmhub.store is not allowed to import crmhub.sync" in out.stdout, out.stdout
    assert "crmhub.store.locks -> crmhub.sync.engine" in out.stdout, out.stdout


def test_a_package_outside_the_picture_breaks_the_layers(tree_copy: Path) -> None:
    """The layers contract is exhaustive: a new package must be placed in docs/architecture.md's picture."""
    extra = tree_copy / "src" / "crmhub" / "unplaced"
    extra.mkdir()
    (extra / "__init__.py").write_text('"""Not in any layer yet."""\n', encoding="utf-8")
    out = lint_imports(
        tree_copy / "pyproject.toml", "layers", pythonpath=paths_of(tree_copy), cache=tree_copy / "cache"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "crmhub.unplaced" in out.stdout, out.stdout
