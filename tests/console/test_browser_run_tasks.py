"""A sync run split over workers in a real browser (Debian's headless chromium): the viewer opens the run from the
run list and sees the progress bar, the phase table, a folded table of tasks per finished phase (opened by a
click) and the workers, in en and then zh — no CSP violation or script error on the way; a single-process run's
page has no task section. The run is tests/sync/task_rows.py's (9 of 14 tasks done, in phase merge)."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from tests.console.conftest import Console, browser_login, click_and_wait
from tests.sync.task_rows import W1, W2, add_distributed_run


def _no_console_errors(browser: Any) -> None:
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_a_viewer_follows_a_distributed_run_by_phase_and_worker(
    console: Console, live_console: str, browser: Any, shoot: Any
) -> None:
    with console.store().begin() as s:
        run_id = add_distributed_run(s)
    browser_login(browser, live_console, "victor")
    if browser.find_element(By.ID, "logout").text != "Log out":
        click_and_wait(browser, browser.find_element(By.ID, "switch-lang"))
    browser.get(f"{live_console}/runs")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f'a[href="/runs/{run_id}"]'))
    assert browser.current_url.endswith(f"/runs/{run_id}")

    bar = browser.find_element(By.ID, "tasks-bar")
    assert bar.is_displayed() and (bar.get_attribute("value"), bar.get_attribute("max")) == ("9", "14")
    assert browser.find_element(By.ID, "tasks-progress-text").text == "9 of 14 tasks done (64%) — phase merge: 1/4"
    phases = browser.find_elements(By.CSS_SELECTOR, "#task-phases tbody tr")
    assert [p.get_attribute("data-phase") for p in phases] == ["ingest", "match", "link", "merge", "deliver"]
    merge = browser.find_element(By.CSS_SELECTOR, '#task-phases tr[data-phase="merge"]')
    assert [c.text for c in merge.find_elements(By.TAG_NAME, "td")] == ["merge", "1/4", "1", "1", "2", f"{W1}, {W2}"]

    failed = browser.find_element(By.CSS_SELECTOR, '#phase-4-merge tr[data-task="gc:10001-15000"]')
    assert failed.is_displayed()  # an unfinished phase is open
    badge = failed.find_element(By.CSS_SELECTOR, ".badge")
    assert badge.text == "failed" and "b-failed" in (badge.get_attribute("class") or "")
    assert "138****5678" in failed.text and "13812345678" not in browser.page_source
    shoot("run-tasks")

    fxiaoke = browser.find_element(By.CSS_SELECTOR, '#phase-1-ingest tr[data-task="fxiaoke"]')
    assert not fxiaoke.is_displayed()  # a finished phase is folded …
    browser.find_element(By.CSS_SELECTOR, '#task-phases tr[data-phase="ingest"] a').click()
    browser.find_element(By.CSS_SELECTOR, "#phase-1-ingest summary").click()
    assert fxiaoke.is_displayed()  # … and opens with a click
    cells = [c.text for c in fxiaoke.find_elements(By.TAG_NAME, "td")]
    assert cells[:4] == ["fxiaoke", "done", W2, "2"]
    workers = browser.find_elements(By.CSS_SELECTOR, "#task-workers tbody tr")
    assert [w.get_attribute("data-worker") for w in workers] == [W1, W2]
    shoot("run-tasks-ingest")
    _no_console_errors(browser)

    click_and_wait(browser, browser.find_element(By.ID, "switch-lang"))
    assert browser.find_element(By.ID, "tasks-title").text == "任务"
    assert browser.find_element(By.ID, "tasks-progress-text").text == "已完成 9/14 个任务（64%）— 当前阶段 合并：1/4"
    badge = browser.find_element(By.CSS_SELECTOR, '#phase-4-merge tr[data-task="gc:15001-20000"] .badge')
    assert badge.text == "排队中"
    shoot("run-tasks-zh")
    _no_console_errors(browser)

    browser.get(f"{live_console}/runs/2")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("同步运行报告")
    assert not browser.find_elements(By.ID, "tasks") and not browser.find_elements(By.ID, "tasks-bar")
    _no_console_errors(browser)
