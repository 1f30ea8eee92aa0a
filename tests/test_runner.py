"""The run machinery under a class's load (issue 18): a stopped run keeps what it recorded even when
its process has to be ended, runs end with their session, budgets refuse what does not fit, and a
link at the caps starts no unbudgeted computation in the server."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from apptest_support import navigation_mode  # noqa: F401 - autouse fixture, on for this module
from streamlit.testing.v1 import AppTest

from rnnlab import RunConfig, run
from ui import analysis
from ui.runs import gate, sessions
from ui.runs.states import RunState
from ui.runs.training import TrainingRun

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(monkeypatch, page: str, **params: str) -> AppTest:
    """app.py on `page` with these URL parameters, after a first run at the defaults (as a server
    does); from then on computing an at-init view in the server fails the test."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()

    def boom(*a, **k):
        raise AssertionError("an at-init view was computed in the server")

    monkeypatch.setattr(analysis, "analyse", boom)
    at.switch_page(page)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


def test_partial_result_is_what_the_process_sent(monkeypatch):
    """When a run's process is ended (Stop not honoured in time, or its session ended), the result is
    rebuilt from the rows and snapshots it had sent: equal to the run's own records."""
    cfg = RunConfig(hidden=8, seq_len=15, steps=6, snapshots=3, tbptt=5)
    r = TrainingRun(cfg)
    ref = run(
        cfg,
        on_row=lambda row, prof: r.on_rows([(dict(row), prof)]),
        on_snapshot=lambda step, snap: r.on_snapshot(step, snap),
    )
    part = r.partial_result()
    assert part.config == cfg
    np.testing.assert_array_equal(part.metrics.to_numpy(float), ref.metrics.to_numpy(float))
    for k, a in ref.arrays.items():
        np.testing.assert_array_equal(part.arrays[k], a, err_msg=k)
    s = part.summary
    assert s["stopped_early"] and s["steps_done"] == 6 and s["updates"] == len(ref.metrics)
    assert s["verdict"]["kind"] == "stopped" and np.isnan(s["final_loss"])


def test_a_stopped_heavy_run_ends_promptly_and_keeps_its_records():
    # one update of this size takes seconds; the stop lands inside one, or inside a snapshot
    r = TrainingRun(RunConfig(hidden=192, seq_len=400, batch=128, steps=500, snapshots=3)).start()
    deadline = time.time() + 120
    while not r.view().records and time.time() < deadline:
        time.sleep(0.05)
    assert r.view().records, "the run never recorded an update"
    t = time.perf_counter()
    r.stop()
    assert r.wait(60)
    took = time.perf_counter() - t
    assert r.state == RunState.STOPPED and r.result is not None
    assert len(r.result.metrics) >= 1 and r.result.summary["stopped_early"]
    assert took < 20, took  # not the minutes a heavy snapshot or the rest of the run would take


def test_runs_and_queued_runs_end_with_their_session(monkeypatch):
    monkeypatch.setattr(sessions, "WATCH_S", 0.1)
    gone = {"s-gone"}
    monkeypatch.setattr(sessions, "session_alive", lambda s: s not in gone)
    fifo = gate.FifoGate(1)
    monkeypatch.setattr(gate, "GATE", fifo)
    assert fifo.acquire(10**9)  # somebody else trains: the next run queues
    try:
        queued = TrainingRun(RunConfig(hidden=8, seq_len=10, steps=5), session="s-gone").start()
        kept = TrainingRun(RunConfig(hidden=8, seq_len=10, steps=5), session="s-here").start()
        assert queued.wait(10) and queued.state == RunState.STOPPED and queued.result is None
        assert kept.active  # its session is alive: it keeps its place
        kept.stop()
        assert kept.wait(30)
    finally:
        fifo.release(10**9)


def test_a_run_over_the_memory_budget_is_refused_with_a_message(monkeypatch):
    monkeypatch.setenv("RNNLAB_RUN_MB", "50")
    r = TrainingRun(RunConfig(hidden=64, seq_len=200, batch=64)).start()
    assert r.state == RunState.REFUSED and not r.active
    assert "more than this server allows for one run" in r.error and "RNNLAB_RUN_MB" in r.error


def test_compare_link_at_the_caps_starts_no_computation(monkeypatch):
    at = open_page(monkeypatch, "pages/compare.py", hidden="512", seq_len="1000", b="cell:lstm", seed="77")
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert warnings.count("more than this server allows for one view") == 2  # A and B, refused
    assert "With a sequence length of at most" in warnings


@pytest.mark.parametrize("page", ["pages/lab.py", "pages/theory.py"])
def test_large_views_wait_for_a_click_on_every_page(monkeypatch, page):
    at = open_page(monkeypatch, page, hidden="160", seq_len="400")  # within budget, not automatic
    assert not at.exception, [e.value for e in at.exception]
    assert any("large for an instant view" in i.value for i in at.info)
    assert any(b.label == "Compute the view at initialisation" for b in at.button)
