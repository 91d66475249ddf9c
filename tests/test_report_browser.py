"""report.html as a user sees it: opened from disk in headless Chromium, every figure must have
loaded and every table must be there. Skipped when Chromium, chromedriver or selenium is missing.
Set LETTERLAB_SCREENSHOT=path.png to keep the screenshot for a look."""

import os
import shutil

import pytest
from test_reproduce import write_synthetic_runs

from letterlab.reports.document import render_report

pytestmark = pytest.mark.browser


def test_every_figure_loads_and_every_table_is_there(browser, tmp_path):
    out = write_synthetic_runs(tmp_path / "out")
    report = render_report(out)["html"]
    # Offline: no request may leave the page (everything is embedded).
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
    browser.get(report.resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
    assert len(images) == 2 * 8 + 3  # curves and confusion of 8 experiments, comparison, question 1 and 5 figures
    broken = [alt for alt, complete, width, height in images if not (complete and width > 0 and height > 0)]
    assert broken == []
    tables = browser.execute_script("return Array.from(document.querySelectorAll('table'), t => t.rows.length);")
    assert tables == [9, 3, 3, 5]  # header + rows: comparison (8), questions 1 and 2 (2 each), question 5 (4)
    headings = browser.execute_script("return Array.from(document.querySelectorAll('h3'), h => h.textContent);")
    assert headings[:5] == ["1. Sigmoid or tanh (50 hidden units)", "2. One layer of 500 or two layers of 100",
                            "3. CNN or the best fully-connected net", "4. What batch norm and dropout change",
                            "5. The double-softmax bug"]
    screenshot = tmp_path / "report.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
    if os.environ.get("LETTERLAB_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["LETTERLAB_SCREENSHOT"])
