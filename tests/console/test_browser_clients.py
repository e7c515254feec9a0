"""The client pages in a real browser (Debian's headless chromium): search, open the 360 (the risk chart is
drawn), reveal a contact's phone with a reason, and find the audit entry naming the operator."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from tests.console.conftest import Console, browser_login, click_and_wait
from tests.console.test_clients import _client_with_mobile

from crmhub.masking import mask
from crmhub.store.tables import AuditLog, GoldenClient
from crmhub.sync.audit import REVEAL_ACTION

PAINTED = """
var el = document.querySelector('#risk-chart');
if (!el || !el.dataset.drawn) { return 0; }
if (el.querySelector('svg rect, svg path')) { return 1; }
var canvas = el.querySelector('canvas');
if (!canvas) { return 0; }
var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data, n = 0;
for (var i = 3; i < px.length; i += 4) { if (px[i] > 0) { n++; } }
return n;
"""
"""How many pixels the risk chart painted (the vendored ECharts "simple" build has only the canvas renderer, so
console.js's svg request falls back to a canvas; an svg is accepted too)."""


def test_search_open_360_and_reveal(console: Console, live_console: str, browser: Any, shoot: Any) -> None:
    cid, mobile = _client_with_mobile(console)
    with console.store().begin() as s:
        golden = s.get(GoldenClient, cid)
        assert golden is not None
        name = golden.name
    browser_login(browser, live_console, "alice")
    browser.get(f"{live_console}/clients")
    box = browser.find_element(By.ID, "q")
    box.send_keys(name[2:8])
    click_and_wait(browser, browser.find_element(By.ID, "search"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#client-list tr[data-client]")
    assert rows and str(cid) in [r.get_attribute("data-client") for r in rows]
    shoot("search")
    link = browser.find_element(By.CSS_SELECTOR, f'#client-list tr[data-client="{cid}"] a.client-name')
    click_and_wait(browser, link)
    assert browser.current_url.endswith(f"/clients/{cid}")
    WebDriverWait(browser, 10).until(lambda b: b.execute_script(PAINTED))
    page = browser.page_source
    assert mask(mobile, "phone") in page and mobile not in page
    shoot("client360")
    browser.find_element(By.ID, "reveal-reason").send_keys("Confirming the contact for a KYC review")
    click_and_wait(browser, browser.find_element(By.ID, "reveal"))
    assert browser.find_element(By.ID, "revealed").is_displayed()
    assert mobile in browser.page_source
    shoot("revealed")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no CSP violation, no failed script or stylesheet
    with console.store().begin() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == REVEAL_ACTION)).all()
        assert [(e.actor, e.entity_id, e.details["reason"]) for e in entries] == [
            ("alice", str(cid), "Confirming the contact for a KYC review")
        ]
    browser.get(f"{live_console}/clients/{cid}")  # a reload is masked again
    assert mobile not in browser.page_source
