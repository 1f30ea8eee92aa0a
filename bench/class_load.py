"""A class on one server: N browser sessions (one Chromium, N contexts) at once, each opening a preset
link and then moving rho several times, as students do.

Three phases: one session alone, N sessions each on its own seed (every change a new view: the
worst case), and N sessions on one link moving rho to the same values (a class following a teacher:
the shared cache serves all but the first). Prints p50/p95 of the time from a rho change to the new
heatmap drawn, the at-init views the server computed, the server's CPU seconds per
change (its process tree's own counters, /proc/<pid>/stat, read around the whole change phase and
divided by the number of changes) beside the same figure for one session alone, and resident memory
per session. The one-session figures are measured first in the same process, so the ratios say what
the load costs whatever the machine's state. Run: python bench/class_load.py [--sessions 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import ARTIFACTS, CHROMIUM_ARGS, chromium_path, cpu_s, rss_mb, server_log, start_server  # noqa: E402
from pw import HEATMAP_SIGNATURE_JS  # noqa: E402

PRESET = "vanishing-tanh"


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, /proc/stat): minus the server's, what the
    browser (and anything else running) took. Processes that exit mid-phase are still counted here."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def until(page, pred_js: str, arg=None, timeout: float = 180.0) -> None:
    await page.wait_for_function(pred_js, arg=arg, timeout=timeout * 1000, polling=50)


async def signature(page) -> str | None:
    return await page.evaluate(HEATMAP_SIGNATURE_JS)


async def student(
    browser, url: str, seed: int, changes: int, redraws: list[float], ready, go, shared: bool = False
) -> None:
    """Open the preset link, wait for the heatmap, then (once every student is ready) move rho: to values
    of its own, or (shared) to the same values as everyone, as a class following a teacher does."""
    ctx = await browser.new_context(viewport={"width": 1500, "height": 1000})
    page = await ctx.new_page()
    await page.goto(f"{url}/?preset={PRESET}&seed={seed}")
    await until(page, f"() => ({HEATMAP_SIGNATURE_JS})() !== null")
    ready.set_result(None) if not ready.done() else None
    await go
    box = page.get_by_role("spinbutton", name="Spectral radius rho")
    for i in range(changes):
        before = await signature(page)
        await box.fill(f"{0.70 + 0.03 * i + (0 if shared else 0.001 * seed):.3f}")
        t0 = time.perf_counter()
        await box.press("Enter")
        await until(page, f"(b) => {{ const s = ({HEATMAP_SIGNATURE_JS})(); return s && s !== b; }}", before)
        redraws.append(time.perf_counter() - t0)
    await ctx.close()


async def phase(
    browser, url: str, pid: int, sessions: int, changes: int, seed0: int, shared: bool = False
) -> dict[str, float]:
    """sessions students at once (each on its own seed, or all on seed0 and the same rho values when
    shared); returns the change phase's figures, with the at-init views the server computed (cache
    misses, from its RNNLAB_LOG_RUNS log)."""
    loop = asyncio.get_running_loop()
    readies = [loop.create_future() for _ in range(sessions)]
    go: asyncio.Future = loop.create_future()
    redraws: list[float] = []
    rss0 = rss_mb(pid)
    tasks = [
        asyncio.create_task(
            student(browser, url, seed0 + (0 if shared else s), changes, redraws, readies[s], go, shared)
        )
        for s in range(sessions)
    ]
    await asyncio.gather(*readies)
    rss_open = rss_mb(pid)
    cpu0, t0, b0, v0 = cpu_s(pid), time.perf_counter(), machine_busy_s(), views_computed(url)
    go.set_result(None)
    await asyncio.gather(*tasks)
    cpu1, wall, b1, v1 = cpu_s(pid), time.perf_counter() - t0, machine_busy_s(), views_computed(url)
    q = statistics.quantiles(redraws, n=20, method="inclusive") if len(redraws) > 1 else redraws * 19
    return {
        "p50": statistics.median(redraws),
        "p95": q[18],
        "cpu_per_change": (cpu1 - cpu0) / len(redraws),
        "server_busy": (cpu1 - cpu0) / wall,  # cores' worth of CPU the server used during the phase
        "others_busy": (b1 - b0 - (cpu1 - cpu0)) / wall,  # the browser and the rest, on the same cores
        "mb_per_session": (rss_open - rss0) / sessions,
        "computed": v1 - v0,
        "changes": len(redraws),
    }


def views_computed(url: str) -> int:
    """At-init views the server has computed so far (cache misses): lines of its log."""
    return server_log(url).read_text().count("[rnnlab] view computed")


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc, url = start_server({"RNNLAB_LOG_RUNS": "1"})
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            await phase(browser, url, proc.pid, 1, 1, 900)  # warm the server's imports and caches
            one = await phase(browser, url, proc.pid, 1, args.changes, 1000)
            many = await phase(browser, url, proc.pid, args.sessions, args.changes, 2000)
            shared = await phase(browser, url, proc.pid, args.sessions, args.changes, 3000, shared=True)
            await browser.close()
    finally:
        proc.terminate()
    cores = os.cpu_count()
    print(f"preset {PRESET}, {args.changes} rho changes per session, {cores} cores")
    rows = (
        ("1 session", one),
        (f"{args.sessions} sessions", many),
        (f"{args.sessions}, one link", shared),
    )
    for name, r in rows:
        print(
            f"{name:>16}: redraw p50 {r['p50'] * 1e3:.0f} ms, p95 {r['p95'] * 1e3:.0f} ms; "
            f"server CPU {r['cpu_per_change']:.3f} s per change (busy {r['server_busy']:.2f} cores, "
            f"browser and the rest {r['others_busy']:.2f}); "
            f"{r['mb_per_session']:.1f} MB resident per session; "
            f"{r['computed']} views computed for {r['changes']} changes"
        )
    print(
        "(own seeds: every change is a new view; one link: the class shares a seed and the values it "
        "moves rho to, so the shared cache serves all but the first)"
    )
    print(
        f"load costs x{many['p50'] / one['p50']:.2f} at p50 (x{many['p95'] / one['p95']:.2f} at p95); "
        f"CPU per change x{many['cpu_per_change'] / one['cpu_per_change']:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--changes", type=int, default=5)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
