"""Dead letters in a real browser (Debian's headless chromium): alice opens the list, one dead letter, retries it
and sees it resolved — no CSP violation or script error on the way."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from tests.console.conftest import browser_login, click_and_wait


def test_alice_retries_a_dead_letter_in_the_browser(live_console: str, browser: Any, shoot: Any) -> None:
    browser_login(browser, live_console, "alice")
    browser.get(f"{live_console}/deadletters?connector=fxiaoke")
    rows = browser.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr[data-id]")
    assert len(rows) == 14 and all(r.get_attribute("data-status") == "open" for r in rows)
    companies = [r.find_element(By.CSS_SELECTOR, "td.company").text.strip() for r in rows]
    assert all(companies), companies
    shoot("list")

    first = rows[0]
    dead_id = first.get_attribute("data-id")
    click_and_wait(browser, first.find_element(By.CSS_SELECTOR, "a.dl-link"))
    assert browser.current_url.endswith(f"/deadletters/{dead_id}")
    assert browser.find_element(By.ID, "dl-status").get_attribute("data-status") == "open"
    assert companies[0] in browser.find_element(By.TAG_NAME, "main").text
    assert browser.find_element(By.ID, "dl-payload").text.strip().startswith("{")
    shoot("detail")

    click_and_wait(browser, browser.find_element(By.ID, "retry"))
    assert f"/deadletters/{dead_id}" in browser.current_url
    notice = browser.find_element(By.CSS_SELECTOR, "p.notice").text
    assert "1 retried: 1 ok, 0 still failing" in notice or "已重试 1 条：成功 1 条，仍失败 0 条" in notice, notice
    assert browser.find_element(By.ID, "dl-status").get_attribute("data-status") == "resolved"
    history = browser.find_elements(By.CSS_SELECTOR, "#dl-history tr[data-event]")
    events = [e.get_attribute("data-event") for e in history]
    assert events == ["rejected", "retry_ok"]
    assert not browser.find_elements(By.ID, "retry")
    shoot("retried")

    browser.get(f"{live_console}/deadletters?connector=fxiaoke")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr[data-id]")) == 13
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
