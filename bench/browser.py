"""Time, in a real browser, from opening the Lab URL to the heatmap being drawn, and from a change of
the spectral radius to the new heatmap, at the default size (T=100, H=64, spectral norm).

Both are measured side by side in this process against the time the same browser takes to show the
app's first element (the page title), so the printed ratios drift less than the absolute times on a
shared machine. Also printed: the server's CPU seconds per rho change (its process tree's own
counters read before the change and once the rerun has finished, so the charts drawn after the
heatmap count too; uncached seeds) beside the CPU of the exact rms and spectral heatmaps alone at the
default size, measured in this process; and the open of a second page in the same browser context
(a returning visit: the app's JavaScript, Plotly's 4.7 MB bundle among it, comes from the cache).
Run: python bench/browser.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import ARTIFACTS, CHROMIUM_ARGS, chromium_path, cpu_s, start_server  # noqa: E402
from pw import CHART_SIGNATURES_JS, heatmap_signature, wait_for, wait_idle  # noqa: E402

POLL = 0.02  # s between looks at the page: small against the times measured, light on the browser
SETTLE = 1.0  # s between the open's end and the change (until 2026-12-03 the change came at once)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc, url = start_server()
    first_el, to_heatmap, to_redraw, change_cpu, returning, to_all = [], [], [], [], [], []
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for i in range(args.repeats + 1):
                ctx = b.new_context(viewport={"width": 1500, "height": 1000})
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(url + f"/?seed={i}")  # a new seed: no cached analysis
                page.wait_for_selector("h1", timeout=120_000)
                t1 = time.perf_counter()
                wait_for(lambda page=page: heatmap_signature(page), poll=POLL)
                t2 = time.perf_counter()
                wait_idle(page)  # a person changes a control on a page that has finished drawing:
                time.sleep(SETTLE)  # the open's last charts are not part of the change
                before, charts_before = heatmap_signature(page), page.evaluate(CHART_SIGNATURES_JS)
                box = page.get_by_role("spinbutton", name="Spectral radius rho")
                box.fill(f"{0.8 + 0.01 * i:.2f}")
                t3, c3 = time.perf_counter(), cpu_s(proc.pid)
                box.press("Enter")
                wait_for(
                    lambda page=page, before=before: (s := heatmap_signature(page)) and s != before, poll=POLL
                )
                t4 = time.perf_counter()
                wait_for(lambda page=page, old=charts_before: all_redrawn(page, old), poll=POLL)
                t5 = time.perf_counter()
                wait_idle(page)  # the rest of the rerun (the other charts) is part of the change's cost
                c5 = cpu_s(proc.pid)
                again = ctx.new_page()  # a returning visit: the browser has the app's scripts cached
                t6 = time.perf_counter()
                again.goto(url + f"/?seed={1000 + i}")
                wait_for(lambda again=again: heatmap_signature(again), poll=POLL)
                t7 = time.perf_counter()
                if i > 0:  # the first round warms the server's imports
                    first_el.append(t1 - t0)
                    to_heatmap.append(t2 - t0)
                    to_redraw.append(t4 - t3)
                    change_cpu.append(c5 - c3)
                    returning.append(t7 - t6)
                    to_all.append(t5 - t3)
                ctx.close()
            b.close()
    finally:
        proc.terminate()
    fe, hm, rd, cc, rv, ra = (
        statistics.median(x) for x in (first_el, to_heatmap, to_redraw, change_cpu, returning, to_all)
    )
    rms, spectral = engine_cpu()
    print(f"median of {args.repeats}: first element {fe * 1e3:.0f} ms")
    print(f"open Lab URL -> heatmap drawn: {hm * 1e3:.0f} ms  ({hm / fe:.2f}x the first element)")
    print(
        f"open again in the same browser (cache warm) -> heatmap drawn: {rv * 1e3:.0f} ms  ({rv / fe:.2f}x)"
    )
    print(f"rho change -> new heatmap drawn: {rd * 1e3:.0f} ms  ({rd / fe:.2f}x the first element)")
    print(f"rho change -> every chart on the page redrawn: {ra * 1e3:.0f} ms  ({ra / fe:.2f}x)")
    print(
        f"server CPU per rho change: {cc:.3f} s  (the exact heatmap alone, one thread: rms {rms:.3f} s, "
        f"spectral {spectral:.3f} s; the change costs {cc / rms:.1f}x rms)"
    )


def all_redrawn(page, before: list[str]) -> bool:
    """Whether every chart that was on the page has been redrawn with new numbers."""
    now = page.evaluate(CHART_SIGNATURES_JS)
    return len(now) == len(before) and all(a != b for a, b in zip(now, before, strict=True))


def engine_cpu(repeats: int = 5) -> tuple[float, float]:
    """Median CPU seconds of the rms and spectral heatmaps at the default size, on one thread."""
    import torch

    from rnnlab.config import RunConfig
    from rnnlab.jacobian import heatmap
    from rnnlab.snapshots import step_jacobians
    from rnnlab.train import setup

    torch.set_num_threads(1)
    s = setup(RunConfig())
    J, _ = step_jacobians(s.model, s.probe_x)
    out = []
    for norm in ("rms", "spectral"):
        times = []
        for _ in range(repeats):
            c0 = time.process_time()
            heatmap(J, norm=norm)
            times.append(time.process_time() - c0)
        out.append(statistics.median(times))
    return out[0], out[1]


if __name__ == "__main__":
    main()
