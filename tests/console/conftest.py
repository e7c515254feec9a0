"""Console fixtures: one synced sandbox world (built once per test session, shared by the xdist workers), a
fresh copy of its store per test, the app over HTTP (starlette's TestClient) and a live server for the browser.

The world: the five simulators (seed 5, 150 companies); sync #1 with the good configuration, then one Zoho contact
broken and sync #2 with Fenxiang's account name mapped to the owner field (a configuration mistake), so every
Fenxiang account is a dead letter that a retry under the good configuration fixes. Operators, each with the
password ``pw-<name>-2026``: root (admin), alice (operator), olga (operator), bob (approver), carol (aml_officer),
victor (viewer).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from crmhub import plugins
from crmhub.config import Settings, parse_settings
from crmhub.sandbox.serve import SandboxSet, free_port_base, start_sandboxes

OPERATORS = {
    "root": ["admin"],
    "alice": ["operator"],
    "olga": ["operator"],
    "bob": ["approver"],
    "carol": ["aml_officer"],
    "victor": ["viewer"],
}
ARTIFACTS = Path(os.environ.get("CRMHUB_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "console"


def password(name: str) -> str:
    return f"pw-{name}-2026"


@dataclass(frozen=True)
class World:
    """The synced world: its template store file, the running simulators and the good configuration."""

    template: Path
    sandbox: SandboxSet
    registry: plugins.Registry

    def config_doc(self, store_url: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.sandbox.config()
        doc["store"] = {"url": store_url}
        doc["notify"] = {"enabled": False}
        doc["console"] = {"secure_cookie": True, "login_max_failures": 5, "lockout_seconds": 60}
        return doc


def _break_zoho_contact(sandbox: SandboxSet) -> None:
    sim = sandbox["zoho_crm"].simulator
    contacts = sim.modules["Contacts"]
    rec = dict(next(r for r in contacts.records.values() if r.get("Last_Name") and r.get("Account_Name")))
    rec["Full_Name"], rec["Last_Name"] = f"{rec['Last_Name']}{rec.get('First_Name') or ''}", None
    sim.touch(rec, sim.admin.user_id)
    contacts.put(rec)


def build_world(
    url: str,
    home: Path,
    sandbox: SandboxSet,
    registry: plugins.Registry,
    extra_operators: dict[str, list[str]] | None = None,
) -> None:
    """Sync the sandbox into the store at ``url`` twice (see the module docstring) and register the operators."""
    from crmhub.cli import main
    from crmhub.security import operators
    from crmhub.store import Store

    good = home / "world.good.toml"
    doc = World(home / "world.sqlite", sandbox, registry).config_doc(url)
    good.write_text(tomli_w.dumps(doc), encoding="utf-8")
    assert main(["sync", "-c", str(good), "--json"]) in (0, 4)
    _break_zoho_contact(sandbox)
    bad = dict(doc)
    bad["connectors"] = {
        **doc["connectors"],
        "fxiaoke": {**doc["connectors"]["fxiaoke"], "fields": {"accounts": {"name": "owner"}}},
    }
    bad_path = home / "world.bad.toml"
    bad_path.write_text(tomli_w.dumps(bad), encoding="utf-8")
    assert main(["sync", "-c", str(bad_path), "--json"]) in (0, 1, 4)
    store = Store.open(url, var_dir=home / "var")
    try:
        with store.begin() as s:
            for name, roles in {**OPERATORS, **(extra_operators or {})}.items():
                operators.add(s, name, roles, display_name=name.title(), actor="fixture")
                operators.set_password(s, name, password(name), actor="fixture")
    finally:
        store.dispose()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world, synced once for the whole test session (the first xdist worker builds it, the rest wait)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = plugins.load()
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "console-world"
    shared.mkdir(exist_ok=True)
    template = shared / "world.sqlite"
    with start_sandboxes(
        registry.sandbox_apps, port_base=free_port_base(registry.sandbox_apps), seed=5, clients=150
    ) as sandbox:
        with open(shared / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (shared / "done").exists():
                os.environ["CRMHUB_TEST_BOOTSTRAP_ROLES"] = "1"
                try:
                    build_world(f"sqlite:///{template}", shared, sandbox, registry)
                finally:
                    os.environ.pop("CRMHUB_TEST_BOOTSTRAP_ROLES", None)
                (shared / "done").write_text("ok")
            fcntl.flock(lock, fcntl.LOCK_UN)
        yield World(template, sandbox, registry)


@dataclass
class Console:
    """One test's console: its own copy of the world's store, settings, and the Starlette app."""

    settings: Settings
    app: Any
    home: Path
    config_path: Path

    def client(self) -> Any:
        from starlette.testclient import TestClient

        return TestClient(self.app, base_url="https://127.0.0.1", follow_redirects=False)

    def login(self, name: str, *, lang: str | None = None) -> Any:
        """A TestClient logged in as ``name`` (asserts the login worked)."""
        client = self.client()
        login_as(client, name)
        if lang:
            client.post("/lang", data={"lang": lang, "_csrf": csrf_of(client), "next": "/"})
        return client

    def store(self) -> Any:
        return self.app.state.console.store


def csrf_of(client: Any) -> str:
    """The CSRF token of the client's session (read from any page's meta tag)."""
    import re

    page = client.get("/")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def login_as(client: Any, name: str, pw: str | None = None) -> Any:
    import re

    form = client.get("/login")
    nonce = re.search(r'name="_nonce" value="([^"]+)"', form.text)
    assert nonce, form.text[:300]
    answer = client.post(
        "/login", data={"_nonce": nonce.group(1), "username": name, "password": pw or password(name), "next": "/"}
    )
    if pw is None:
        assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    return answer


@pytest.fixture
def console(world: World, tmp_path: Path) -> Iterator[Console]:
    """A console over a fresh copy of the world's store (each test may change it freely)."""
    from crmhub.console import create_app

    store_file = tmp_path / "store.sqlite"
    shutil.copyfile(world.template, store_file)
    shutil.copytree(world.template.parent / "var", tmp_path / "var")  # the audit key lives with the store
    doc = world.config_doc(f"sqlite:///{store_file}")
    config_path = tmp_path / "crmhub.toml"
    config_path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    settings = parse_settings(doc, world.registry)
    settings.anchor(tmp_path)
    app = create_app(settings, registry=world.registry)
    try:
        yield Console(settings, app, tmp_path, config_path)
    finally:
        app.state.console.store.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_console(console: Console) -> Iterator[str]:
    """The console served by uvicorn on loopback (a thread); yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(console.app, host="127.0.0.1", port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium from the system packages (installed by .ci/run), driven by selenium's chromedriver."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail(
                "chromium and chromium-driver must be installed in CI (apt-get install chromium "
                "chromium-driver); .ci/run does it"
            )
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shoot(browser: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a screenshot of the browser's page as a test artifact: test-artifacts/console/<test>-<label>.png."""

    def save(label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{label}.png"
        browser.save_screenshot(str(path))
        return path

    return save


def browser_login(browser: Any, base: str, name: str) -> None:
    """Log in through the login form, as a person would."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/login")
    browser.find_element(By.ID, "username").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(password(name))
    browser.find_element(By.ID, "login").click()
    deadline = time.monotonic() + 10
    while "/login" in browser.current_url:
        assert time.monotonic() < deadline, browser.page_source[:500]
        time.sleep(0.05)


def click_and_wait(browser: Any, element: Any, timeout: float = 10) -> None:
    """Click something that loads a new page (a link, a form's submit button) and wait until the new page is in."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # A mark on the old page's window: gone once a new document has loaded. (Polling the clicked element for
    # staleness races with chromedriver while the old document is torn down: "Node with given id does not belong
    # to the document".)
    browser.execute_script("window.__crmhubOldPage = true;")
    element.click()

    def new_page_loaded(b: Any) -> bool:
        return bool(b.execute_script("return !window.__crmhubOldPage && document.readyState === 'complete';"))

    WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,)).until(new_page_loaded)
