"""deploy/: three app replicas behind nginx (Debian's package, on loopback), driven by six browsers.

Each browser keeps one replica (nginx's affinity cookie), sees only its own numbers, and a replica
killed mid-test loses only the sessions it held: they show Streamlit's connection status, the others
keep working. nginx's access log names the replica of every request ($upstream_addr).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from conftest import ARTIFACTS, ROOT, free_port, missing_tool, start_server
from pw import (
    chart,
    cli_metrics,
    exceptions,
    final_status,
    heatmap_signature,
    loss_curve,
    main_button,
    number_input,
    wait_for,
    wait_idle,
)

sys.path.insert(0, str(ROOT / "deploy"))
from render_nginx import render

REPLICAS = 3
SESSIONS = 6
COOKIE = "rnnlab_affinity"

# Installed in each page before the kill: remembers whether Streamlit's connection status (shown
# while the websocket is lost and the page tries to reconnect) ever appeared.
WATCH_CONNECTION_JS = """() => {
  window.__lost = null;
  const check = () => {
    const el = document.querySelector('[data-testid="stConnectionStatus"]');
    if (el && window.__lost === null) window.__lost = el.innerText || 'shown';
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
  check();
}"""


def nginx_path() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if os.access(p, os.X_OK):
            return p
    return None


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        e.close()
        return e.code


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = [int(c) for c in (task / "children").read_text().split()]
                out += kids
                todo += kids
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Cluster:
    url: str  # nginx
    replicas: dict[str, subprocess.Popen]  # "127.0.0.1:PORT" (as $upstream_addr writes it) -> process
    access_log: Path

    def upstreams(self, affinity: str) -> list[str]:
        """The replicas nginx sent this browser's requests to, one entry per logged request."""
        found = []
        for line in self.access_log.read_text().splitlines():
            m = re.search(r"upstream=(\S.*?) affinity=(\w+)", line)
            if m and m.group(2) == affinity and m.group(1) != "-":
                found.append(m.group(1))
        return found


@pytest.fixture
def cluster():
    nginx = nginx_path()
    if nginx is None:
        missing_tool("nginx", "nginx")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # nginx's prefix: pid, logs and temporary files. Readable by the worker processes, which drop
    # root to nobody when the test runs as root (pytest's tmp_path is root's alone).
    work = Path(tempfile.mkdtemp(prefix="rnnlab-nginx-"))
    work.chmod(0o755)
    replicas: dict[str, subprocess.Popen] = {}
    proc = None
    try:
        for _ in range(REPLICAS):
            p, url = start_server({"RNNLAB_MAX_CONCURRENT": "2"}, port=free_port())
            replicas[url.removeprefix("http://")] = p
        port = free_port()
        conf = work / "nginx.conf"
        conf.write_text(render(f"127.0.0.1:{port}", list(replicas), str(work)))
        with open(work / "stderr.log", "w") as err:
            proc = subprocess.Popen(
                [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: proc.poll() is not None or _answers(url + "/_stcore/health"), 30, 0.1, "nginx to answer"
        )
        assert proc.poll() is None, (work / "stderr.log").read_text() + (work / "error.log").read_text()
        yield Cluster(url, replicas, work / "access.log")
    finally:
        if proc is not None:
            stop(proc)
        for p in replicas.values():
            stop(p)
        for name in ("access.log", "error.log", "nginx.conf"):
            if (work / name).exists():
                shutil.copy(work / name, ARTIFACTS / f"deploy-{name}")
        shutil.rmtree(work, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return http_status(url) == 200
    except OSError:
        return False


def affinity(ctx) -> str:
    found = [c for c in ctx.cookies() if c["name"] == COOKIE]
    assert len(found) == 1 and found[0]["httpOnly"], ctx.cookies()
    return found[0]["value"]


def test_replicas_behind_nginx_keep_sessions_apart_and_lose_only_a_dead_replicas(cluster, browser, tmp_path):
    # Streamlit's statistics are served by each replica but refused by nginx, however spelled.
    some_replica = next(iter(cluster.replicas))
    assert http_status(f"http://{some_replica}/_stcore/metrics") == 200
    for path in ("/_stcore/metrics", "/_stcore/metrics/", "/_stcore/%6detrics", "//_stcore//metrics?x=1"):
        assert http_status(cluster.url + path) in (403, 404), path

    sessions = []
    for i in range(SESSIONS):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = ctx.new_page()
        pg.set_default_timeout(120_000)
        settings = {"seed": str(200 + i), "steps": "3", "seq_len": "12", "hidden": "6"}
        pg.goto(cluster.url + "/?" + urlencode(settings))
        sessions.append((ctx, pg, settings))
    for _, pg, _ in sessions:
        wait_idle(pg)

    def placement() -> dict[int, str]:
        where = {}
        for i, (ctx, _, _) in enumerate(sessions):
            ups = cluster.upstreams(affinity(ctx))
            assert ups and set(ups) == {ups[0]}, (i, ups)  # every request of a browser on one replica
            where[i] = ups[0]
        return where

    where = placement()
    # The cookies are random: all six on one replica happens 3 times in 729. Then a new browser id
    # (a cleared cookie) is drawn for one of them until the sessions are spread.
    for _ in range(8):
        if len(set(where.values())) > 1:
            break
        ctx, pg, _ = sessions[-1]
        ctx.clear_cookies()
        pg.reload()
        wait_idle(pg)
        where = placement()
    assert len(set(where.values())) > 1, where
    assert set(where.values()) <= set(cluster.replicas)

    for _, pg, _ in sessions:  # start all, then wait: they overlap on the replicas
        main_button(pg, "Train").click()
    for i, (_, pg, settings) in enumerate(sessions):
        assert wait_for(lambda pg=pg: final_status(pg), 300, poll=0.5, what=f"session {i}") == "Done:"
        wait_idle(pg)
        ref = cli_metrics(tmp_path / str(i), settings)
        np.testing.assert_allclose(loss_curve(pg), ref.groupby("step").seq_loss.first().to_numpy(), rtol=1e-5)
        assert exceptions(pg) == 0

    # Kill (SIGKILL, as a crash) the replica holding the most sessions; the others hold the rest.
    counts = {r: list(where.values()).count(r) for r in set(where.values())}
    victim = max(counts, key=lambda r: counts[r])
    lost = [i for i in where if where[i] == victim]
    kept = [i for i in where if where[i] != victim]
    assert lost and kept
    curves = {i: loss_curve(sessions[i][1]) for i in kept}
    for _, pg, _ in sessions:
        pg.evaluate(WATCH_CONNECTION_JS)
    proc = cluster.replicas[victim]
    orphans = descendants(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    for pid in orphans:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    t_kill = time.perf_counter()

    # A session of the dead replica is lost: its page loses the websocket and reconnects through
    # nginx, which sends it to a live replica (failover, logged as "dead, live" or "live").
    for i in lost:
        ctx, pg, settings = sessions[i]
        moved = wait_for(
            lambda ctx=ctx: [u for u in cluster.upstreams(affinity(ctx)) if u != victim],
            60,
            0.2,
            f"session {i} moved",
        )
        # The page keeps what it showed until it runs again; the next control change runs it on
        # the live replica, which never saw this session: the view redraws and the run is gone.
        before = heatmap_signature(pg)

        def rerun_without_its_run(pg=pg, before=before) -> bool:
            return chart(pg, "loss") is None and heatmap_signature(pg) not in (None, before)

        # A change typed while the page is still reconnecting can be dropped by the browser: type it
        # again (a different value) if the first one did not reach the live replica.
        for attempt, rho in enumerate(("0.7", "0.6")):
            with contextlib.suppress(TimeoutError):
                wait_idle(pg, 30)
            box = number_input(pg, "Spectral radius rho")
            box.fill(rho)
            box.press("Enter")
            try:
                wait_for(rerun_without_its_run, 45, 0.2, f"session {i} to run again without its run")
                break
            except TimeoutError:
                pg.screenshot(path=str(ARTIFACTS / f"deploy-lost-{i}-{attempt}.png"), full_page=True)
                if attempt == 1:
                    raise
        wait_idle(pg)
        assert exceptions(pg) == 0
        assert number_input(pg, "Sequence length T").input_value() == settings["seq_len"]
        print(
            f"session {i}: {victim} killed, on {moved[-1]} {time.perf_counter() - t_kill:.1f} s later;"
            f" connection status seen: {pg.evaluate('() => window.__lost')!r}"
        )

    for i in kept:
        _, pg, _ = sessions[i]
        before = wait_for(lambda pg=pg: heatmap_signature(pg), what="heatmap")
        box = number_input(pg, "Spectral radius rho")
        box.fill("0.5")
        box.press("Enter")
        wait_for(
            lambda pg=pg, before=before: (s := heatmap_signature(pg)) and s != before,
            60,
            what=f"session {i} to redraw",
        )
        wait_idle(pg)
        assert pg.evaluate("() => window.__lost") is None, i
        np.testing.assert_array_equal(loss_curve(pg), curves[i])  # its run is still there
        assert exceptions(pg) == 0
        assert set(cluster.upstreams(affinity(sessions[i][0]))) == {where[i]}

    for ctx, _, _ in sessions:
        ctx.close()
