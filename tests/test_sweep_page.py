"""The Sweep page in AppTest: the URL defines the sweep, Run fills the diagram with the cells' numbers
(the oracle: the same sweep run by rnnlab.sweep), a cell links to the Lab, and the class caps."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import torch
from apptest_support import (
    navigation_mode,  # noqa: F401 - autouse fixture, on for this module
    page_charts,
    plotly_array,
)
from streamlit.testing.v1 import AppTest

from rnnlab import RunConfig
from rnnlab.sweep import Sweep, frame, run_cell

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE = "pages/sweep.py"
TINY = {"hidden": "8", "seq_len": "12"}
AXES = ["rho=0.5,1.5,2.5", "act=tanh,relu"]


def sweep_page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def diagram(at: AppTest) -> dict:
    return json.loads(page_charts(at)[0].proto.spec)


def test_a_small_grid_fills_in_and_links_to_the_lab():
    at = sweep_page(**TINY, axis=AXES)
    assert [t.value for t in at.text_input] == AXES
    at.button(key="sweep.run").click().run()
    job = at.session_state["sweep.job"]
    deadline = time.monotonic() + 120
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.finished and job.error is None
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Done: 6 of 6 cells" in c.value for c in at.caption)
    # the oracle: the same sweep through rnnlab.sweep, outside the app
    # (in this process, one torch thread as the workers: a pool started here would re-run AppTest's app)
    sweep = Sweep.build(RunConfig.from_dict({**TINY, "steps": 0}), AXES)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = frame(sweep, [run_cell(c) for c in sweep.cells()])
    finally:
        torch.set_num_threads(threads)
    z = plotly_array(diagram(at)["data"][0]["z"])  # (act, rho): the numeric axis across
    expect = ref.pivot(index="act", columns="rho", values="decay_rate").loc[["tanh", "relu"]].to_numpy()
    np.testing.assert_allclose(z, expect, rtol=0, atol=0)
    names = [t.get("name") for t in diagram(at)["data"][1:]]
    assert "mean field χ = 1" in names and "measured zero" in names
    # a cell's link opens its configuration in the Lab
    at.selectbox(key="sweep.cell.x").select(2.5).run()
    at.selectbox(key="sweep.cell.y").select("relu").run()
    link = next(m.value for m in at.markdown if "in the Lab" in m.value)
    query = parse_qs(urlsplit(link[link.index("(") + 1 : -1]).query)
    assert query["rho"] == ["2.5"] and query["act"] == ["relu"] and query["hidden"] == ["8"]
    assert at.query_params["axis"] == AXES and at.query_params["metric"] in ("decay_rate", ["decay_rate"])


def test_bad_axis_is_one_line_and_nothing_runs():
    at = sweep_page(axis=["rho=0.5:20:4"])
    assert [e.value for e in at.error] == ["rho: 20 is out of range (allowed: a number >= 1e-30 and <= 10)"]
    assert "sweep.job" not in at.session_state


def test_class_caps(monkeypatch):
    monkeypatch.setenv("RNNLAB_SWEEP_MAX_CELLS", "4")
    monkeypatch.setenv("RNNLAB_SWEEP_WORKERS", "999")
    at = sweep_page(**TINY, axis=AXES)
    assert any("above this server's cap of 4" in w.value for w in at.warning)
    assert at.button(key="sweep.run").disabled
    assert any("RNNLAB_SWEEP_WORKERS = 999 is above this machine's CPUs" in c.value for c in at.caption)


@pytest.mark.parametrize("metric", ["loss_ratio", "bogus"])
def test_metric_from_the_url(metric):
    at = sweep_page(**TINY, axis=["rho=1,2"], metric=metric)
    if metric == "bogus":
        assert any("metric: 'bogus' is unknown" in i.value for i in at.info)
    else:
        assert at.selectbox(key="sweep.metric").value == "loss_ratio"


def test_stop_cancels_the_cells_not_started():
    from ui.sweep import SweepJob

    sweep = Sweep.build(RunConfig.from_dict({**TINY, "steps": 0}), AXES)
    job = SweepJob(sweep, 1)
    assert job.session is None  # outside a Streamlit session: not watched
    job.stop()  # before the first cell: nothing runs, the sweep ends cleanly
    job.start()
    deadline = time.monotonic() + 60
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.finished and job.error is None and job.rows == [] and not job.active
