"""The core never imports a bundled plugin: plugins contribute through hooks, exactly as a third party's would.

Two guards: every ``import`` statement in ``src/crmhub`` (function-level ones included, which run only on some
paths) is read with `ast`; and every core module is imported in a fresh interpreter, after which no bundled
plugin may be in ``sys.modules``. (The import-linter contract in ``.ci/run`` enforces the same rule in CI.)
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import crmhub

SRC = Path(crmhub.__file__).resolve().parent
BUNDLED = re.compile(r"^crmhub_(zoho|fxiaoke|ledger|email|wechat)(\.|$)")


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.lineno, node.args[0].value))
    return out


def test_no_core_module_has_an_import_of_a_bundled_plugin() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line}: {name}"
        for path in sorted(SRC.rglob("*.py"))
        for line, name in _imported_names(ast.parse(path.read_text(encoding="utf-8")))
        if BUNDLED.match(name)
    ]
    assert offenders == [], "the core imports a bundled plugin (use a hook instead):\n" + "\n".join(offenders)


def test_the_guard_sees_function_level_and_dynamic_imports() -> None:
    """The scan would catch the forms that dodge a module-level check."""
    code = (
        "def f():\n    from crmhub_ledger.statements.booking import import_file\n"
        "import importlib\nimportlib.import_module('crmhub_zoho.simulator')\nimport crmhub_wechat as w\n"
        "from crmhub_emailer import x\n"
    )
    names = sorted(name for _, name in _imported_names(ast.parse(code)) if BUNDLED.match(name))
    assert names == ["crmhub_ledger.statements.booking", "crmhub_wechat", "crmhub_zoho.simulator"]


_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import crmhub
failed = {}
for info in pkgutil.walk_packages(crmhub.__path__, "crmhub."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = repr(exc)
plugins = sorted(m for m in sys.modules if m.split(".")[0] in
                 {"crmhub_zoho", "crmhub_fxiaoke", "crmhub_ledger", "crmhub_email", "crmhub_wechat"})
print(json.dumps({"plugins": plugins, "failed": failed, "count": len(sys.modules)}))
"""


def test_importing_every_core_module_loads_no_bundled_plugin() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["plugins"] == [], "importing the core loaded bundled plugins: " + ", ".join(result["plugins"])


def test_no_core_module_names_a_bundled_connectors_payload_keys() -> None:
    """Which native keys name a record's company or the record itself (Zoho's ``Account_Name``, Fenxiang's
    ``account_id__r``, the ledger's ``clientName``/``fullname``…) is the connectors' knowledge: they declare it in
    ``Connector.payload_names`` and the core's dead-letter pages read it from there. No core module spells one of
    those keys as a string (the generic ones, ``name`` or ``company_name``, are the core's own)."""
    from crmhub.plugins import load
    from crmhub.store.deadletter_query import GENERIC

    bundled = [
        cls.payload_names for cls in load().connectors.values() if BUNDLED.match(cls.__module__)
    ]  # Zoho, Fenxiang and the ledger declare theirs
    keys = {k for names in bundled for k in (*names.company, *names.own_name)} - {*GENERIC.company, *GENERIC.own_name}
    assert {"Account_Name", "account_id__r", "clientName", "fullname"} <= keys
    offenders = [
        f"{path.relative_to(SRC.parent)}:{node.lineno}: {node.value!r}"
        for path in sorted(SRC.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in keys
    ]
    assert offenders == [], "the core names a plugin's payload keys (declare them on the connector):\n" + "\n".join(
        offenders
    )
