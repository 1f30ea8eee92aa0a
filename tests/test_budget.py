"""Budgets: a computation's memory and work are estimated from its config before it starts, and the
app holds heatmaps and runs to them (issue 18). The estimate is checked against the memory a real
heatmap takes, measured in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlab import RunConfig, budget, run
from rnnlab.train import STOP_SNAPSHOT_S

ROOT = Path(__file__).resolve().parents[1]


def test_small_views_compute_every_column():
    p = budget.plan_view(RunConfig())
    assert p.ok and p.columns is None and p.note == ""


def test_large_views_keep_fewer_columns_within_the_work_budget(monkeypatch):
    monkeypatch.setenv(budget.VIEW_GFLOP_ENV, "20")
    cfg = RunConfig(hidden=128, seq_len=300)
    p = budget.plan_view(cfg)
    assert p.ok and budget.MIN_COLUMNS <= p.columns < 300
    spectrum = budget.spectrum_flops(cfg.seq_total, 128, budget.spectrum_k(cfg.seq_total, 128))
    assert spectrum <= budget.SPECTRUM_SHARE * 20e9  # the Lyapunov spectrum's share comes first
    used = [budget.view_flops(cfg, c) + spectrum for c in (p.columns, p.columns + 1)]
    assert used[0] <= 20e9 < used[1]
    assert f"{p.columns} of the 300 columns" in p.note


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_views_at_the_caps_are_refused_with_what_would_fit(cell):
    cfg = RunConfig(cell=cell, hidden=512, seq_len=1000)
    p = budget.plan_view(cfg)
    assert not p.ok and p.columns is None
    assert "GB of memory" in p.refused and budget.VIEW_MB_ENV in p.refused
    # the suggestions really fit
    fit_len = int(p.refused.split("a sequence length of at most ")[1].split()[0])
    fit_h = int(p.refused.split("a hidden size of at most ")[1].split()[0])
    assert (
        budget.plan_view(cfg.replace(seq_len=fit_len)).ok
        and not budget.plan_view(cfg.replace(seq_len=fit_len + 1)).ok
    )
    assert budget.plan_view(cfg.replace(hidden=fit_h)).ok


def test_budgets_come_from_the_environment(monkeypatch):
    cfg = RunConfig(hidden=512, seq_len=1000)
    monkeypatch.setenv(budget.VIEW_MB_ENV, "8192")
    assert budget.plan_view(cfg).ok
    monkeypatch.setenv(budget.VIEW_MB_ENV, "not a number")  # invalid: the default
    assert not budget.plan_view(cfg).ok
    monkeypatch.setenv(budget.RUN_MB_ENV, "100000")
    assert budget.check_run(cfg.replace(batch=256)) == ""
    monkeypatch.setenv(budget.RUN_MB_ENV, "100")
    assert "more than this server allows for one run" in budget.check_run(cfg.replace(batch=256))


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings", [{"hidden": 128, "seq_len": 300}, {"cell": "gru", "hidden": 96, "seq_len": 200}]
)
def test_the_memory_estimate_covers_what_a_heatmap_takes(settings):
    """Peak resident memory of analyse() in a fresh one-thread process, above the imports' baseline,
    against budget.view_bytes for the columns the plan keeps: the estimate may be generous, never
    short by more than a quarter (then a budget would let a view take more than it allows)."""
    code = (
        "import json, resource, sys, torch; torch.set_num_threads(1)\n"
        "from rnnlab import RunConfig, analyse, budget\n"
        f"cfg = RunConfig.from_dict({settings!r}); p = budget.plan_view(cfg)\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "analyse(cfg, max_columns=p.columns)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps([(peak - base) * 1024, budget.view_bytes(cfg, p.columns or cfg.seq_total)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True
    )
    used, estimate = json.loads(out.stdout)
    assert used <= 1.25 * estimate, (used / 2**20, estimate / 2**20)


def test_a_run_holds_its_heatmaps_to_the_columns_it_is_given():
    cfg = RunConfig(hidden=8, seq_len=40, steps=2, snapshots=2)
    res = run(cfg, max_columns=5)
    hm = res.arrays["jacobian"]
    computed = [np.flatnonzero(~np.all(np.isnan(h), axis=0)).size for h in hm]
    assert computed == [5, 5]
    assert res.summary["heatmap"]["max_columns"] == 5
    none = run(cfg, heatmaps=False)
    assert np.isnan(none.arrays["jacobian"]).all() and np.isfinite(none.arrays["eigvals"]).all()
    assert none.summary["heatmap"]["computed"] is False
    assert "max_columns" not in run(cfg).summary["heatmap"]  # nothing acted: the export is unchanged


def test_stop_cuts_the_last_snapshot_short_instead_of_waiting_for_it():
    # a snapshot of this size takes several seconds; after a stop it gets STOP_SNAPSHOT_S and is kept
    # incomplete (rows it did not reach stay NaN), so Stop takes effect within about a second
    cfg = RunConfig(hidden=128, seq_len=300, steps=50, snapshots=2)
    seen = []
    res = run(cfg, on_update=lambda rec: seen.append(rec) or True)  # stop after the first update
    assert res.summary["stopped_early"] and len(res.metrics) == 1
    first, last = res.arrays["jacobian"]
    assert not np.isnan(np.diagonal(first)).any()  # the step-0 snapshot ran to the end
    rows_done = int(np.sum(~np.all(np.isnan(last), axis=1)))
    assert rows_done < 300, (rows_done, STOP_SNAPSHOT_S)  # the one after the stop did not
