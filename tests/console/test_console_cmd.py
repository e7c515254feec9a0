"""`crmhub console` as a process: serves the login page on the given port, refuses anonymous page requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from tests.console.conftest import Console, _free_port

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def test_crmhub_console_serves_the_login_page(console: Console) -> None:
    port = _free_port()
    env = {**os.environ, "CRMHUB_USER": "alice"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmhub.cli",
            "--lang",
            "en",
            "console",
            "-c",
            str(console.config_path),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        assert answer.status_code == 200 and 'id="username"' in answer.text
        assert answer.headers["x-frame-options"] == "DENY" and "server" not in answer.headers
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert home.status_code == 303 and home.headers["location"].startswith("/login")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out, (out, err)
    assert "Traceback" not in err, err
