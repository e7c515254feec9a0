"""Run the installed ``crmhub`` console script as a user would, and sandbox configs for it."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import tomli_w

from crmhub import plugins
from crmhub.sandbox.serve import free_port_base, start_sandboxes


def crmhub_argv(*args: str) -> list[str]:
    """The venv's installed ``crmhub`` script (falls back to ``python -m crmhub.cli``)."""
    script = Path(sys.executable).with_name("crmhub")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "crmhub.cli", *args]


def crmhub(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``crmhub args…`` in ``cwd`` and wait for it."""
    full_env = {**os.environ, "CRMHUB_LANG": "en", "COLUMNS": "200", **(env or {})}
    full_env.pop("CRMHUB_DATABASE_URL", None)
    full_env.pop("CRMHUB_CONFIG", None)
    return subprocess.run(
        crmhub_argv(*args), cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def registry() -> plugins.Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plugins.load()


def dead_sandbox_config(clients: int = 20) -> dict[str, Any]:
    """A sandbox config document whose simulators have all been stopped again (every source is down)."""
    apps = registry().sandbox_apps
    with start_sandboxes(apps, port_base=free_port_base(apps), seed=3, clients=clients) as sandboxes:
        doc = sandboxes.config()
    return doc


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as TOML to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path
