"""The segments and audit pages in a real browser: charts drawn (ECharts under the CSP), the CSV export
downloaded by the browser itself, the audit chain status shown, no console errors.

console.js asks ECharts for its SVG renderer; should a vendored build lack it (the "simple" build registers only
the canvas painter), a chart is a <canvas>: the test accepts either, and for a canvas checks that pixels were painted.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from tests.console.conftest import browser_login, click_and_wait


def _no_errors(browser: Any) -> None:
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no CSP violation, no failed script, no ECharts error


_PAINTED = """
const el = arguments[0];
if (el.querySelector('svg path, svg rect')) { return 1000; }
const canvas = el.querySelector('canvas');
if (!canvas) { return 0; }
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 3; i < data.length; i += 4 * 7) { if (data[i] > 0) { painted++; } }
return painted;
"""


def _drawn(browser: Any) -> int:
    """How many charts on the page have been drawn (an ECharts SVG, or a canvas with pixels on it)."""
    return sum(
        1 for el in browser.find_elements(By.CSS_SELECTOR, ".chart") if browser.execute_script(_PAINTED, el) > 100
    )


def _download(browser: Any, link: Any, folder: Path, suffix: str, timeout: float = 20) -> Path:
    """Click a download link and wait for the finished file in ``folder``."""
    link.click()
    deadline = time.monotonic() + timeout
    while True:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        if done:
            return done[0]
        assert time.monotonic() < deadline, sorted(p.name for p in folder.iterdir())
        time.sleep(0.1)


def test_segments_charts_and_csv_download(live_console: str, browser: Any, shoot: Any, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser_login(browser, live_console, "root")
    browser.get(f"{live_console}/segments")
    WebDriverWait(browser, 15).until(lambda b: _drawn(b) == 5)  # one drawn chart per breakdown
    for dim in ("segment", "rating", "industry", "region", "manager"):
        chart = browser.find_element(By.ID, f"chart-{dim}")
        assert chart.find_elements(By.CSS_SELECTOR, "svg, canvas") and chart.size["height"] > 200, dim
    shoot("segments")
    # narrow to one segment through the filter form, as a person would
    browser.find_element(By.CSS_SELECTOR, "#f-segment option[value=high]").click()
    click_and_wait(browser, browser.find_element(By.ID, "apply"))
    assert "segment=high" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, 'table[data-dim="segment"] tbody tr')
    assert [r.get_attribute("data-key") for r in rows] == ["high"]
    high = int(rows[0].find_element(By.CSS_SELECTOR, ".count").text.replace(",", ""))
    WebDriverWait(browser, 15).until(lambda b: _drawn(b) == 5)
    shoot("segments-high")
    path = _download(browser, browser.find_element(By.CSS_SELECTOR, "a[data-export=csv]"), downloads, ".csv")
    assert path.name == "segments.csv"
    rows_csv = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert len(rows_csv[0]) == 6 and len(rows_csv) > 6
    by_segment = [r for r in rows_csv[1:] if r[1] == "high"]
    assert by_segment and int(by_segment[0][3]) == high
    _no_errors(browser)


def test_audit_page_shows_the_chain_status(live_console: str, browser: Any, shoot: Any, tmp_path: Path) -> None:
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser_login(browser, live_console, "root")
    browser.get(f"{live_console}/audit")
    deadline = time.monotonic() + 30
    while not browser.find_elements(By.ID, "chain-ok"):
        assert time.monotonic() < deadline, browser.page_source[:1000]
        time.sleep(0.3)
        browser.refresh()
    assert browser.find_elements(By.CSS_SELECTOR, "#audit-entries tbody tr[data-seq]")
    shoot("audit")
    click_and_wait(browser, browser.find_element(By.ID, "verify-now"))
    assert "notice=" in browser.current_url and browser.find_elements(By.ID, "chain-ok")
    browser.find_element(By.ID, "f-actor").send_keys("fixture")
    click_and_wait(browser, browser.find_element(By.ID, "apply"))
    actors = {td.text for td in browser.find_elements(By.CSS_SELECTOR, "#audit-entries tbody tr td:nth-child(3)")}
    assert actors == {"fixture"}
    shoot("audit-fixture")
    path = _download(browser, browser.find_element(By.ID, "export-csv"), tmp_path, ".csv")  # a POST form
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert path.name == "audit.csv" and rows[0][:4] == ["seq", "id", "at", "actor"]
    assert len(rows) > 1 and {r[3] for r in rows[1:]} == {"fixture"}
    _no_errors(browser)
