"""The console in a real browser (Debian's headless chromium): log in, switch language, log out."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from tests.console.conftest import browser_login, click_and_wait


def test_log_in_switch_language_and_log_out(live_console: str, browser: Any, shoot: Any) -> None:
    browser.get(f"{live_console}/")
    assert "/login" in browser.current_url  # anonymous: sent to the login page
    shoot("login")
    browser_login(browser, live_console, "alice")
    assert browser.find_element(By.CSS_SELECTOR, "[data-user]").get_attribute("data-user") == "alice"
    cookie = browser.get_cookie("crmhub_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    before = browser.find_element(By.ID, "logout").text
    click_and_wait(browser, browser.find_element(By.ID, "switch-lang"))
    after = browser.find_element(By.ID, "logout").text
    assert {before, after} == {"退出", "Log out"}
    shoot("dashboard")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no CSP violation, no failed script
    click_and_wait(browser, browser.find_element(By.ID, "logout"))
    assert "/login" in browser.current_url
    browser.get(f"{live_console}/")
    assert "/login" in browser.current_url
