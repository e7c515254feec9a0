"""The alert pages in a real browser: carol opens the queue and an alert, proposes closing it with a disposition
and a note; a second AML officer follows the link to the proposal in the approvals inbox, approves it there and
sees the alert closed with its disposition. No CSP violation or script error on the way."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from tests.console.conftest import Console, browser_login, click_and_wait

from crmhub.security import operators
from crmhub.store.tables import Alert, Approval


def _severe(browser: Any) -> list[Any]:
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_carol_proposes_a_close_and_another_aml_officer_approves(
    console: Console, live_console: str, browser: Any, shoot: Any
) -> None:
    with console.store().begin() as s:
        operators.add(s, "dave", ["aml_officer"], display_name="Dave", actor="test")
        operators.set_password(s, "dave", "pw-dave-2026", actor="test")
    browser_login(browser, live_console, "carol")
    if browser.find_element(By.ID, "logout").text != "Log out":
        click_and_wait(browser, browser.find_element(By.ID, "switch-lang"))
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, 'a[data-nav="/alerts"]'))
    assert browser.current_url.endswith("/alerts")
    rows = browser.find_elements(By.CSS_SELECTOR, "#alerts-table tr[data-alert]")
    assert len(rows) == 30
    drawn = "#alerts-by-age svg, #alerts-by-age canvas"  # console.js asks for SVG; the build may draw a canvas
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, drawn))
    assert browser.find_elements(By.CSS_SELECTOR, "tr.overdue .b-overdue")  # deadlines long past in this world
    shoot("queue")

    Select(browser.find_element(By.ID, "f-kind")).select_by_value("large_value")
    click_and_wait(browser, browser.find_element(By.ID, "f-apply"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#alerts-table tr[data-alert]")
    assert rows and {r.get_attribute("data-kind") for r in rows} == {"large_value"}
    alert_id = int(rows[0].get_attribute("data-alert"))
    click_and_wait(browser, rows[0].find_element(By.CSS_SELECTOR, f'a[href="/alerts/{alert_id}"]'))
    assert browser.find_element(By.ID, "alert-title").get_attribute("data-status") == "new"
    assert browser.find_elements(By.CSS_SELECTOR, "#evidence tr[data-tx]")
    assert "overdue" in browser.find_element(By.ID, "deadline").text
    shoot("alert")

    Select(browser.find_element(By.ID, "disposition-select")).select_by_value("not_suspicious")
    browser.find_element(By.ID, "close-note").send_keys("Regular payments from long-standing customers")
    click_and_wait(browser, browser.find_element(By.ID, "close"))
    assert "another AML officer must approve it" in browser.find_element(By.CSS_SELECTOR, "p.notice").text
    pending = browser.find_element(By.ID, "pending-close")
    link = pending.find_element(By.CSS_SELECTOR, 'a[href^="/approvals/"]')
    approval_id = int(link.get_attribute("href").rsplit("/", 1)[1])
    assert browser.find_element(By.ID, "alert-title").get_attribute("data-status") == "new"
    assert not browser.find_elements(By.ID, "close-form")
    shoot("proposed")
    assert not _severe(browser)
    click_and_wait(browser, browser.find_element(By.ID, "logout"))

    with console.store().begin() as s:
        proposal = s.get(Approval, approval_id)
        assert proposal is not None and proposal.status == "pending" and proposal.proposer == "carol"
        assert s.scalars(select(Alert.status).where(Alert.id == alert_id)).one() == "new"
    browser_login(browser, live_console, "dave")
    browser.get(f"{live_console}/alerts/{alert_id}")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f'#pending-close a[href="/approvals/{approval_id}"]'))
    assert browser.find_element(By.ID, "proposer").text == "carol"
    browser.find_element(By.ID, "approve-note").send_keys("agreed")
    click_and_wait(browser, browser.find_element(By.ID, "approve"))
    assert browser.find_element(By.ID, "approval-status").get_attribute("data-status") == "applied"
    browser.get(f"{live_console}/alerts/{alert_id}")
    assert browser.find_element(By.ID, "alert-title").get_attribute("data-status") == "closed"
    disposition = browser.find_element(By.ID, "disposition")
    assert disposition.get_attribute("data-disposition") == "not_suspicious"
    assert "carol+dave" in disposition.text and "Regular payments" in disposition.text
    actors = {r.get_attribute("data-actor") for r in browser.find_elements(By.CSS_SELECTOR, "#history tr")}
    assert {"carol", "dave", "carol+dave"} <= actors
    shoot("closed")
    assert not _severe(browser)
