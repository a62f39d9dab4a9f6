"""The reports opened in a real browser (headless Chromium over the DevTools protocol).

No console error, no request other than the file itself and its data: URIs, no failed load,
every image decoded, a table that sorts on a click on its header, a screenshot that is not
blank. ``make test`` installs Debian's ``chromium`` where it is missing and it can; elsewhere
this test is SKIPPED with the reason.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("aiohttp", reason="aiohttp (the CDP client's websocket) is not installed")

from cdp import Browser, chromium_binary

from tunnellab.report import write_advice_html, write_study_report
from tunnellab.tracking.study import write_study_summary

BINARY = chromium_binary()
NO_BROWSER = (
    "no headless chromium: `make test` apt-installs Debian's chromium where it can "
    "(root + apt-get); install it to run the browser test"
)
#: Set (as .ci/run does) where a missing browser is a failure, not a skip.
REQUIRED = os.environ.get("TUNNELLAB_BROWSER_REQUIRED") == "1"


@pytest.fixture(autouse=True)
def _browser_present() -> None:
    if BINARY is None:
        (pytest.fail if REQUIRED else pytest.skip)(NO_BROWSER)


#: Sort the first numeric column of the first sortable table with 3+ distinct values: the
#: header's centre (to click it), and a function that reads the column back.
FIND_COLUMN = """(() => {
  for (const [t, table] of Array.from(document.querySelectorAll('table.sortable')).entries()) {
    const rows = Array.from(table.tBodies[0].rows);
    for (let c = 0; c < table.tHead.rows[0].cells.length; c++) {
      const v = rows.map(r => parseFloat(r.cells[c].dataset.v));
      if (v.some(isNaN) || new Set(v).size < 3) continue;
      const sorted = v.every((x, i) => i === 0 || v[i - 1] <= x);
      if (sorted) continue;
      const th = table.tHead.rows[0].cells[c];
      th.scrollIntoView({block: 'center'});
      const box = th.getBoundingClientRect();
      return {table: t, column: c, x: box.x + box.width / 2, y: box.y + box.height / 2};
    }
  }
  return null;
})()"""
READ_COLUMN = """Array.from(document.querySelectorAll('table.sortable')[{t}].tBodies[0].rows)
  .map(r => parseFloat(r.cells[{c}].dataset.v))"""
IMAGES = "Array.from(document.images).map(i => [i.complete, i.naturalWidth])"


def _check_not_blank(path: Path) -> None:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 10, "the screenshot is blank"
    assert (pixels < 128).mean() > 0.001, "no dark pixels: nothing drawn"


async def _check_page(browser: Browser, page: Path, shot: Path, sort: bool = True) -> None:
    """Open ``page`` and check it (``sort``: one of its tables sorts on header clicks)."""
    await browser.open(page.as_uri())
    images = await browser.evaluate(IMAGES)
    assert all(done and width > 0 for done, width in images), images
    if sort:
        target = await browser.evaluate(FIND_COLUMN)
        assert target, "no sortable numeric column"
        read = READ_COLUMN.format(t=target["table"], c=target["column"])
        await browser.click(target["x"], target["y"])
        values = await browser.evaluate(read)
        assert values == sorted(values), values
        await browser.click(target["x"], target["y"])
        values = await browser.evaluate(read)
        assert values == sorted(values, reverse=True), values
    await browser.evaluate("window.scrollTo(0, 0)")
    _check_not_blank(await browser.screenshot(shot))
    log = browser.log
    assert not log.console_errors, log.console_errors
    assert not log.failed, log.failed
    own = page.as_uri()
    others = [u for u in log.requests if u != own and not u.startswith("data:")]
    assert not others, f"requests other than the page and its data: URIs: {others}"


async def _run(pages: list[tuple[Path, bool]], out: Path) -> None:
    assert BINARY is not None
    async with Browser(BINARY) as browser:
        for i, (page, sort) in enumerate(pages):
            await _check_page(browser, page, out / f"shot{i}.png", sort)


def test_reports_in_headless_chromium(sweep_dir, tmp_path):
    write_study_summary("lab/smoke", sweep_dir)  # study tables + figure, as a multirun ends
    study = write_study_report(sweep_dir)  # also each run's report.html
    (tmp_path / "layers.csv").write_text("tap_index,acc_selected\n1,0.5\n2,0.7\n3,0.6\n")
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / "advice.png")
    advice = write_advice_html(tmp_path, "# Use **tap 2**\n\n- the last tap keeps 86 %\n")
    run = sweep_dir / "0" / "report.html"
    for page in (study, run, advice):  # each embeds a PNG: the decode check has work to do
        assert '<img src="data:image/png;base64,' in page.read_text(encoding="utf-8"), page
    pages = [(study, True), (run, True), (advice, True)]
    asyncio.run(asyncio.wait_for(_run(pages, tmp_path), 60))
