"""Every console page over a synced store, on SQLite and on PostgreSQL, in zh and in en: walked from the route
table as a user holding every role, so a page added later is covered. No page may fail (5xx) or leak a
traceback; list pages answer 200; a detail page answers 200 for a real id and 404 for a missing one."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import tomli_w
from sqlalchemy import func, select
from tests.console.conftest import World, build_world, login_as

from crmhub import plugins
from crmhub.config import parse_settings
from crmhub.console import create_app, web
from crmhub.console.app import routes
from crmhub.sandbox.serve import free_port_base, start_sandboxes
from crmhub.security.roles import ROLES
from crmhub.store.tables import Alert, Approval, DeadLetter, GoldenClient, ReviewItem, SyncRun

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

ID_SOURCES = {
    "runs": SyncRun.id,
    "review": ReviewItem.id,
    "deadletters": DeadLetter.id,
    "clients": GoldenClient.id,
    "alerts": Alert.id,
    "approvals": Approval.id,
}


def test_every_page_renders_in_both_languages(store_url: str, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = plugins.load()
    with start_sandboxes(
        registry.sandbox_apps, port_base=free_port_base(registry.sandbox_apps), seed=11, clients=60
    ) as sandbox:
        build_world(store_url, tmp_path, sandbox, registry, extra_operators={"omni": list(ROLES)})
        doc = World(tmp_path / "x", sandbox, registry).config_doc(store_url)
        (tmp_path / "crmhub.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
        settings = parse_settings(doc, registry)
        settings.anchor(tmp_path)
        app = create_app(settings, registry=registry)
        try:
            store = app.state.console.store
            with store.begin() as s:
                ids = {area: s.scalar(select(func.min(column))) for area, column in ID_SOURCES.items()}
            routes()
            client = TestClient(app, base_url="https://127.0.0.1", follow_redirects=False)
            login_as(client, "omni", "pw-omni-2026")
            token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
            assert token is not None
            served = 0
            for lang in ("zh", "en"):
                client.post("/lang", data={"lang": lang, "_csrf": token.group(1), "next": "/"})
                for spec in web.SPECS:
                    if spec.method != "GET":
                        continue
                    area = spec.path.strip("/").split("/")[0]
                    if "{" in spec.path:
                        real = ids.get(area)
                        missing = client.get(re.sub(r"\{[^}]+\}", "999999999", spec.path))
                        assert missing.status_code in (404, 400), (spec.path, missing.status_code)
                        if real is None:
                            continue
                        path = re.sub(r"\{[^}]+\}", str(real), spec.path)
                    else:
                        path = spec.path
                    answer = client.get(path)
                    assert answer.status_code == 200, (lang, path, answer.status_code, answer.text[:400])
                    assert "Traceback" not in answer.text
                    assert (f'lang="{"zh-CN" if lang == "zh" else "en"}"') in answer.text[:200], path
                    served += 1
            assert served >= 2
        finally:
            app.state.console.store.dispose()
