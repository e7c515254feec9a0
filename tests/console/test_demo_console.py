"""The README's console line: `crmhub demo` leaves a store and two console logins, and the console serves it."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from crmhub import plugins
from crmhub.config import load_settings

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def test_demo_store_opens_in_the_console(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from crmhub.console import create_app

    workdir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "crmhub.cli", "--lang", "en", "demo", "--clients", "40", "--dir", str(workdir)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"crmhub console -c {workdir / 'crmhub.toml'}" in " ".join(done.stdout.split())
    logins = workdir / "console-logins.txt"
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    users = dict(line.split("\t")[:2] for line in logins.read_text().splitlines() if not line.startswith("#"))
    assert set(users) == {"demo", "checker"}

    settings = load_settings(workdir / "crmhub.toml", plugins.load())
    app = create_app(settings)
    try:
        client = TestClient(app, base_url="https://127.0.0.1", follow_redirects=False)
        nonce = re.search(r'name="_nonce" value="([^"]+)"', client.get("/login").text)
        assert nonce is not None
        answer = client.post(
            "/login", data={"_nonce": nonce.group(1), "username": "demo", "password": users["demo"], "next": "/"}
        )
        assert answer.status_code == 303
        assert 'data-user="demo"' in client.get("/").text
    finally:
        app.state.console.store.dispose()
