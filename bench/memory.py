"""Peak resident memory of the app's server (and every process it starts) under a class's load.

Prints, each against the idle server measured in the same run:
1. 20 browser sessions open on the Lab (one Chromium, 20 contexts): memory per session;
2. a Compare link at the caps' defaults (hidden 512, T 1000, B an LSTM): refused by the view budget,
   so the peak should not move;
3. a training run at the caps' defaults (batch 256): refused by the run budget;
4. the largest views and run the default budgets admit, computed for real: a Compare view at
   hidden 160, T 400 (a click computes it in a child process) and a run at hidden 256, T 500,
   batch 128, stopped after its first updates.
Memory is VmRSS summed over the server process and its children, sampled every 0.2 s.

    python bench/memory.py
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import ARTIFACTS, CHROMIUM_ARGS, chromium_path, rss_mb, start_server  # noqa: E402
from pw import wait_for, wait_idle  # noqa: E402


class Sampler:
    """The peak of rss_mb(pid) while it runs (a background thread, every 0.2 s)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._on = pid, rss_mb(pid), True
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while self._on:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.2)

    def stop(self) -> float:
        self._on = False
        self._t.join()
        return self.peak


def click(page, name: str) -> None:
    page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile(name)).first.click()


def main() -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc, url = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            time.sleep(2)
            idle = rss_mb(proc.pid)
            print(f"idle server: {idle:.0f} MB")

            s = Sampler(proc.pid)
            ctxs = []
            for _ in range(20):
                ctx = browser.new_context()
                pg = ctx.new_page()
                pg.set_default_timeout(180_000)
                pg.goto(url + "/")
                ctxs.append((ctx, pg))
            for _, pg in ctxs:
                wait_idle(pg)
            time.sleep(2)
            open20, peak = rss_mb(proc.pid), s.stop()
            print(
                f"20 sessions open on the Lab: {open20:.0f} MB (peak {peak:.0f} MB), "
                f"{(open20 - idle) / 20:.1f} MB per session"
            )
            for ctx, _ in ctxs:
                ctx.close()

            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            pg = ctx.new_page()
            pg.set_default_timeout(600_000)
            base = rss_mb(proc.pid)
            s = Sampler(proc.pid)
            pg.goto(url + "/compare?hidden=512&seq_len=1000&b=cell:lstm&seed=77")
            wait_idle(pg)
            time.sleep(5)
            print(f"Compare link at the caps (refused): peak {s.stop() - base:+.0f} MB over {base:.0f} MB")

            s = Sampler(proc.pid)
            pg.goto(url + "/?hidden=512&seq_len=1000&batch=256&steps=5000")
            wait_idle(pg)
            click(pg, "Train")
            wait_for(lambda: "Not started" in pg.content(), 60, what="the refusal")
            print(f"run at the caps (refused): peak {s.stop() - base:+.0f} MB over {base:.0f} MB")

            s = Sampler(proc.pid)
            pg.goto(url + "/compare?hidden=160&seq_len=400&b=rho:1.2")
            wait_idle(pg)
            for _ in range(2):  # A's and B's buttons (each computes in its own child process)
                click(pg, "Compute the view at initialisation")
                time.sleep(1)
            t = time.perf_counter()
            wait_for(lambda: "B − A" in pg.content(), 900, poll=1.0, what="both views")
            print(
                f"Compare view at hidden 160, T 400 (computed, {time.perf_counter() - t:.0f} s): "
                f"peak {s.stop() - base:+.0f} MB over {base:.0f} MB"
            )

            s = Sampler(proc.pid)
            pg.goto(url + "/?hidden=256&seq_len=500&batch=128&steps=5000&snapshots=2")
            wait_idle(pg)
            click(pg, "Train")
            wait_for(
                lambda: re.search(r"Training: step [1-9]", pg.content()),
                900,
                poll=1.0,
                what="the first updates",
            )
            time.sleep(10)
            click(pg, "Stop")
            wait_for(lambda: "Stopped at step" in pg.content(), 120, what="the stop")
            print(
                f"run at hidden 256, T 500, batch 128 (stopped after its first updates): "
                f"peak {s.stop() - base:+.0f} MB over {base:.0f} MB"
            )
            ctx.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
