"""Four eyes in a real browser: alice proposes a merge from the review queue, bob approves it from his inbox.

The world's ids differ from build to build (its connectors ingest concurrently): the items, clients and names are
read from the store (`tests.console.review_pairs`), the best-scored item first.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import select
from tests.console.conftest import Console, browser_login, click_and_wait
from tests.console.review_pairs import two_matches

from crmhub.store.tables import Approval, GoldenClient, ReviewItem


def _severe(browser: Any) -> list[Any]:
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_alice_proposes_and_bob_approves_a_merge(live_console: str, console: Console, browser: Any, shoot: Any) -> None:
    best, other = two_matches(console.store())
    errors: list[Any] = []
    browser_login(browser, live_console, "alice")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, '[data-nav="/review"]'))
    rows = browser.find_elements(By.CSS_SELECTOR, "#review-table tbody tr")
    assert [r.get_attribute("data-item") for r in rows] == [str(best.item), str(other.item)]  # best score first
    assert best.candidate_name in rows[0].text and best.golden_name in rows[0].text
    shoot("queue")
    click_and_wait(browser, rows[0].find_element(By.CSS_SELECTOR, f'a[href="/review/{best.item}"]'))
    differing = browser.find_elements(By.CSS_SELECTOR, "#compare tr.differs")
    assert "name" in {r.get_attribute("data-field") for r in differing}
    assert browser.find_element(By.ID, "weights").is_displayed()
    shoot("side-by-side")
    browser.find_element(By.ID, "note").send_keys("Same licence number on the paper file")
    click_and_wait(browser, browser.find_element(By.ID, "accept"))
    notice = browser.find_element(By.CSS_SELECTOR, "p.notice").text
    assert "#1" in notice and ("another approver" in notice or "另一位审批人" in notice), notice
    assert browser.find_element(By.CSS_SELECTOR, '#pending a[data-approval="1"]')
    assert not browser.find_elements(By.ID, "accept")  # no second proposal offered
    shoot("proposed")
    errors += _severe(browser)
    click_and_wait(browser, browser.find_element(By.ID, "logout"))

    with console.store().begin() as s:
        assert s.get(ReviewItem, best.item).status == "open"  # type: ignore[union-attr]
        assert [(a.status, a.proposer) for a in s.scalars(select(Approval))] == [("pending", "alice")]

    browser_login(browser, live_console, "bob")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, '[data-nav="/approvals"]'))
    row = browser.find_element(By.CSS_SELECTOR, '#approvals-table tr[data-approval="1"]')
    assert "alice" in row.text and f"#{best.candidate}" in row.text and f"#{best.golden}" in row.text
    shoot("inbox")
    click_and_wait(browser, row.find_element(By.CSS_SELECTOR, 'a[href="/approvals/1"]'))
    browser.find_element(By.ID, "approve-note").send_keys("checked")
    click_and_wait(browser, browser.find_element(By.ID, "approve"))
    assert browser.find_element(By.ID, "approval-status").get_attribute("data-status") == "applied"
    assert not browser.find_elements(By.ID, "approve")
    shoot("approved")
    click_and_wait(browser, browser.find_element(By.ID, "review-link"))
    assert browser.find_element(By.ID, "item-status").get_attribute("data-status") == "accepted"
    assert browser.find_element(By.ID, "decided-by").text == "alice+bob"
    shoot("decided")
    errors += _severe(browser)
    assert not errors, errors  # no CSP violation, no failed script or stylesheet

    with console.store().begin() as s:
        item = s.get(ReviewItem, best.item)
        absorbed = s.get(GoldenClient, best.candidate)
        assert item is not None and absorbed is not None
        assert (item.status, item.decided_by) == ("accepted", "alice+bob")
        assert (absorbed.status, absorbed.merged_into) == ("merged", best.golden)
