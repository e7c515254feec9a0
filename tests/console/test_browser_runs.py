"""The dashboard and the run pages in a real browser (Debian's headless chromium): charts drawn, every click
lands where its count says, and no error in the browser's console (no CSP violation, no failed script)."""

from __future__ import annotations

import time
from typing import Any

from selenium.webdriver.common.by import By
from tests.console.conftest import browser_login, click_and_wait


def _charts_drawn(browser: Any, timeout: float = 10) -> int:
    """Wait until every chart on the page holds a drawn SVG with marks in it; return how many there are."""
    deadline = time.monotonic() + timeout
    while True:
        charts = browser.find_elements(By.CSS_SELECTOR, ".chart[data-chart]")
        drawn = [c for c in charts if c.find_elements(By.CSS_SELECTOR, "svg path, svg rect")]
        if charts and len(drawn) == len(charts):
            return len(charts)
        assert time.monotonic() < deadline, f"{len(drawn)} of {len(charts)} charts drawn"
        time.sleep(0.1)


def _no_console_errors(browser: Any) -> None:
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_dashboard_to_run_to_its_dead_letters(live_console: str, browser: Any, shoot: Any) -> None:
    browser_login(browser, live_console, "alice")
    browser.get(f"{live_console}/")
    assert _charts_drawn(browser) == 4  # read, clients, dead letters/alerts, duration (no AML chart for alice)
    assert not browser.find_elements(By.ID, "chart-alert-ages")
    shoot("dashboard")
    _no_console_errors(browser)

    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, '#last-runs a[data-run-link="2"]'))
    assert browser.current_url.endswith("/runs/2")
    assert _charts_drawn(browser) == 2  # records per stream, time per phase
    shoot("run-2")
    _no_console_errors(browser)

    count = browser.find_element(By.CSS_SELECTOR, '#totals tr[data-total="dead_letters"] a')
    assert count.text == "15"
    click_and_wait(browser, count)
    assert "/runs/2/records?what=rejected" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
    assert len(rows) == 15
    assert all(r.find_element(By.CSS_SELECTOR, 'a[href^="/deadletters/"]') for r in rows)
    shoot("run-2-rejected")
    _no_console_errors(browser)


def test_an_aml_officer_sees_the_alert_age_chart(live_console: str, browser: Any, shoot: Any) -> None:
    browser_login(browser, live_console, "carol")
    browser.get(f"{live_console}/")
    assert _charts_drawn(browser) == 5
    assert browser.find_element(By.CSS_SELECTOR, "#chart-alert-ages svg")
    shoot("dashboard-aml")
    _no_console_errors(browser)
