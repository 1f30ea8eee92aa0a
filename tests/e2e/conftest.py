"""Real-browser fixtures: a Streamlit server on a free port and the system Chromium via Playwright.

Chromium comes from the system packages (`make system` installs Debian's `chromium`); no browser is
ever downloaded at test time. When CI=true a missing browser fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """Compile the exact engine's numba kernels once, into their on-disk cache, before any server or
    training child starts. On a fresh machine (CI) each of those processes would otherwise compile
    them itself, 6-20 s each: eight training children doing so at once on two cores can outlast a
    page's timeout. Random steps exercise every tier, hence both kernels."""
    import torch

    from rnnlab.jacobian import heatmap

    steps = torch.randn(30, 16, 16, generator=torch.Generator().manual_seed(0)) / 4  # (T, n, n)
    tiers = heatmap(steps, norm="spectral").tiers
    assert tiers["power"] and tiers["frobenius"], tiers  # both compiled loops ran


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, say what every open page showed (its address, whether Streamlit's
    main area is there, the start of its text) in the failure report, and save a screenshot of each:
    an intermittent failure on CI can then be read from its log."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "browser" in getattr(item, "funcargs", {}):
        report.sections.append(
            ("pages at the failure", pages_at_failure(item.funcargs["browser"], item.name))
        )


def pages_at_failure(browser, name: str) -> str:
    lines = []
    for i, ctx in enumerate(browser.contexts):
        for j, pg in enumerate(ctx.pages):
            shot = ARTIFACTS / f"failed-{name}-{i}-{j}.png"
            try:
                main = pg.locator("[data-testid='stMain']").count()
                text = " ".join(pg.locator("body").inner_text(timeout=10_000).split())[:300]
                pg.screenshot(path=str(shot), timeout=10_000)
                lines.append(f"context {i} page {j}: {pg.url}; stMain {main}; {shot.name}; text: {text}")
            except Exception as e:  # a crashed or frozen page is itself the finding
                lines.append(f"context {i} page {j}: {pg.url}; {type(e).__name__}: {str(e)[:200]}")
    return "\n".join(lines) or "no open pages"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_log(url: str) -> Path:
    """The file a server from start_server writes its output to (RNNLAB_LOG_RUNS lines among it)."""
    return ARTIFACTS / f"server-{url.rsplit(':', 1)[1]}.log"


def start_server(env_extra: dict[str, str] | None = None, port: int | None = None):
    port = port or free_port()
    # RNNLAB_WARM=0: a test server skips the warm-up (ten seconds of CPU at each start, on CI's two
    # cores); test_browser's warm-up test turns it on.
    env = {**os.environ, "RNNLAB_MAX_CONCURRENT": "4", "RNNLAB_WARM": "0", **(env_extra or {})}
    log = server_log(f"http://127.0.0.1:{port}")
    with open(log, "w") as out:  # the server writes into its own copy of the descriptor
        proc = _popen_streamlit(port, env, out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see {log}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as health:
                if health.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("streamlit did not become healthy within 90 s")


def _popen_streamlit(port: int, env: dict[str, str], out) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.serve",  # the app as `make run` and the container start it: streamlit run app.py, warmed
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


PIDS: dict[str, int] = {}  # server url -> its process id (memory checks read /proc/<pid>)


def _tree(pid: int) -> list[int]:
    """A process and its live descendants (training and view children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0.0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (its own counters)."""
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


@pytest.fixture(scope="session")
def server():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc, url = start_server()
    PIDS[url] = proc.pid
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def missing_tool(name: str, package: str) -> None:
    """A system tool a test needs is not installed: skip here, fail in CI (where it must run)."""
    msg = f"{name} is not installed (run `make system`, or apt-get install {package})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + "; CI requires the tests that use it to run")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        missing_tool("Chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()
