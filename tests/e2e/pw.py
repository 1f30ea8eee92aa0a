"""Small Playwright helpers shared by the browser tests and bench/browser.py: wait for the app, read
the Plotly charts' data from the page (what the person sees, after Plotly decoded it)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# Every rendered Plotly chart but the hidden one that loads Plotly early (ui.shell.preload_charts).
PAGE_CHARTS = """Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(el => !el.closest('.st-key-rnnlab-plotly-preload'))"""
# Per chart: its title and, per trace, type, name and the decoded x, y, z arrays.
CHARTS_JS = (
    "() => "
    + PAGE_CHARTS
    + """.map(el => {
  const arr = a => (a === undefined || a === null) ? null
      : (typeof a === 'object' && a.length !== undefined) ? Array.from(a, v =>
          (v !== null && typeof v === 'object' && v.length !== undefined) ? Array.from(v) : v)
      : a;
  const title = el.layout && el.layout.title ? (el.layout.title.text || '') : '';
  return {title: title, traces: (el._fullData || []).map(t => ({
    type: t.type, name: t.name || '', x: arr(t.x), y: arr(t.y), z: arr(t.z)}))};
})"""
)

# Per chart, a short signature (each trace's type and first 40 z or y values): light enough to poll
# while timing a redraw, and it changes when a chart is redrawn with new numbers.
CHART_SIGNATURES_JS = (
    "() => "
    + PAGE_CHARTS
    + """.map(el => JSON.stringify(
    (el._fullData || []).map(t => [t.type, Array.from(t.z || t.y || []).slice(0, 40)])))"""
)

HEATMAP_SIGNATURE_JS = """() => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const t = (el._fullData || []).find(d => d.type === 'heatmap');
    if (!t || !t.z) continue;
    const last = t.z[t.z.length - 1];
    return JSON.stringify(Array.from(last).slice(-8)) + ':' + t.z.length;
  }
  return null;
}"""


# The page position of heatmap cell (t, k) of the first heatmap, and the z Plotly holds there.
HEATMAP_CELL_JS = """([t, k]) => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const i = (el._fullData || []).findIndex(d => d.type === 'heatmap');
    if (i < 0) continue;
    const d = el._fullData[i], xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
    const box = el.getBoundingClientRect();
    const row = Array.from(d.y).indexOf(t), col = Array.from(d.x).indexOf(k);
    return {x: box.left + xa._offset + xa.d2p(k), y: box.top + ya._offset + ya.d2p(t),
            z: d.z[row][col]};
  }
  return null;
}"""


def hover_heatmap_cell(page, t: int, k: int) -> tuple[float, str]:
    """Move the mouse onto heatmap cell (t, k); the cell's z and the hover label's text."""
    cell = page.evaluate(HEATMAP_CELL_JS, [t, k])
    # in the main area: the first chart in the page is the hidden one of ui.shell.preload_charts
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.scroll_into_view_if_needed()
    cell = page.evaluate(HEATMAP_CELL_JS, [t, k])  # positions after the scroll
    page.mouse.move(cell["x"], cell["y"])
    label = page.locator(".hoverlayer .hovertext").first
    label.wait_for(timeout=10_000)
    return cell["z"], label.text_content() or ""  # an SVG node: no inner_text


def charts(page) -> list[dict]:
    return page.evaluate(CHARTS_JS)


def chart(page, title_part: str) -> dict | None:
    for c in charts(page):
        if title_part.lower() in c["title"].lower():
            return c
    return None


def heatmap_signature(page) -> str | None:
    return page.evaluate(HEATMAP_SIGNATURE_JS)


def wait_for(pred, timeout: float = 120.0, poll: float = 0.05, what: str = "condition"):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    raise TimeoutError(f"{what} not met within {timeout:.0f} s")


def wait_idle(page, timeout: float = 120.0) -> None:
    """Wait until Streamlit has finished the current script run (no 'running' status widget)."""
    page.wait_for_selector("h1", timeout=timeout * 1000)
    wait_for(
        lambda: page.locator('[data-testid="stStatusWidget"]').count() == 0,
        timeout,
        what="script run to finish",
    )


def exceptions(page) -> int:
    return page.locator('[data-testid="stException"]').count()


def notices(page) -> list[str]:
    return page.locator('[data-testid="stAlert"], [data-testid="stAlertContainer"]').all_inner_texts()


# ---- helpers the Lab's tests share (test_browser, test_deploy) ------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def number_input(page, label: str):
    return page.get_by_role("spinbutton", name=label, exact=True)


def main_button(page, name: str):
    """A button in the page body (not the sidebar, whose "Training" group would also match)."""
    return (
        page.locator('[data-testid="stMain"]')
        .get_by_role("button", name=re.compile(rf"(^|\W|_){name}$"))
        .first
    )


def final_status(page) -> str | None:
    """How the page's run ended ("Done:", ...), or None while it has not (or while its main area is not
    there to read: a poll inside wait_for, whose own deadline decides; a single read used to wait 120 s
    for the main area and end the whole wait with it)."""
    try:
        body = page.locator("[data-testid='stMain']").first.inner_text(timeout=5_000)
    except PlaywrightTimeout:
        return None
    for marker in ("Done:", "Stopped at step", "Diverged at step"):
        if marker in body:
            return marker
    return None


def cli_metrics(tmp_path, settings: dict[str, str]) -> pd.DataFrame:
    out = tmp_path / "cli"
    args = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    subprocess.run(
        [sys.executable, "-m", "rnnlab", "run", *args, "--quiet", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return pd.read_csv(out / "metrics.csv")


def loss_curve(page, timeout: float = 30.0) -> np.ndarray:
    """The loss chart's longest trace. Plotly draws a chart after Streamlit has sent it (eight pages
    at once can take seconds), so the chart is waited for rather than read at once."""
    try:
        c = wait_for(lambda: chart(page, "loss"), timeout, what="the loss chart")
    except TimeoutError:
        c = None
    assert c is not None, [x["title"] for x in charts(page)]
    tr = max(c["traces"], key=lambda t: len(t["y"] or []))
    return np.asarray(tr["y"], dtype=float)
