"""rnnlab.sweep: axes, validation up front, cells equal to one-by-one runs, the pool against a real Dask
LocalCluster, resume, a killed worker, and the mean field's critical line against measured cells."""

from __future__ import annotations

import math
import os
import signal
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab import RunConfig, analyse, measure, run, theory
from rnnlab.config import ConfigError
from rnnlab.sweep import (
    TABLE_FILE,
    PoolBackend,
    Sweep,
    load_sweep,
    measure_cell,
    parse_axis,
    run_sweep,
    zero_crossings,
)
from rnnlab.theory import critical_rho

SMALL = RunConfig(hidden=12, seq_len=20, steps=6, batch=8, snapshots=1)


@pytest.fixture
def one_thread():
    """The workers' setting (RNNLAB_TORCH_THREADS = 1): in-process oracles must use it too to match
    to the last bit (float rounding differs between thread counts)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def without_time(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns="wall_time_s").reset_index(drop=True)


# ---- axes and validation ---------------------------------------------------------------------------


def test_axis_forms():
    a = parse_axis("rho=0.5:2.0:4")
    assert a.key == "rho" and a.values == (0.5, 1.0, 1.5, 2.0) and a.spec == "0.5:2.0:4"
    log = parse_axis("lr=0.001:0.1:3:log")
    np.testing.assert_allclose(log.values, [0.001, 0.01, 0.1], rtol=1e-12)
    assert parse_axis("act=tanh, relu").values == ("tanh", "relu")
    assert parse_axis("hidden=8:32:4").values == (8, 16, 24, 32)
    assert parse_axis("rho=0.5,1,3").values == (0.5, 1.0, 3.0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("rho=0.5:20:4", "rho"),  # 20 > 10: out of range, named before anything runs
        ("act=tanh,swish", "act"),
        ("act=a:b:3", "act"),  # a range of a non-numeric key
        ("rho=0.5:2:0", "rho"),
        ("rho=0:1:3:log", "rho"),
        ("hidden=8:9:4", "hidden"),  # rounds to repeated integers
        ("bogus=1,2", "bogus"),
        ("rho", "axis"),
    ],
)
def test_bad_axis_names_the_key(text, key):
    with pytest.raises(ConfigError) as e:
        parse_axis(text)
    assert e.value.key == key


def test_every_cell_is_checked_up_front():
    # tbptt=80 is fine for seq_len=100 but not for the cell seq_len=50: the rule across keys names tbptt
    with pytest.raises(ConfigError) as e:
        Sweep.build(RunConfig(tbptt=80), ["seq_len=50,100"])
    assert e.value.key == "tbptt" and "seq_len=50" in str(e.value)
    with pytest.raises(ConfigError, match="metric"):
        Sweep.build(RunConfig(), ["rho=1,2"], metrics=["accuracy"])
    with pytest.raises(ConfigError, match="seeds"):
        Sweep.build(RunConfig(), ["seed=1,2"], seeds=2)
    sw = Sweep.build(RunConfig(seed=5), ["rho=1,2", "act=tanh,relu"], seeds=3)
    cells = sw.cells()
    assert sw.size == len(cells) == 12 and sw.shape == (2, 2)
    assert [c.cfg.seed for c in cells[:3]] == [5, 6, 7]
    assert cells[4].key == "rho=1,act=relu,seed=6" and cells[4].cfg.act == "relu"
    assert Sweep.from_dict(sw.to_dict()) == sw


# ---- cells against one-by-one runs -----------------------------------------------------------------


def test_cells_equal_one_by_one_runs(tmp_path, one_thread):
    """Every metric of every cell, through the process pool, equals what rnnlab.run / analyse give for
    that configuration in this process (exactly: same thread count, same seeds)."""
    base = SMALL.replace(clip=0.5)
    sw = Sweep.build(
        base,
        ["lr=0.01,100", "act=tanh,relu"],
        metrics=["decay_rate", "lambda_1", "loss_ratio", "diverged", "clipped_frac"],
    )
    res = run_sweep(sw, tmp_path, backend=PoolBackend(2))
    table = res.table
    assert res.complete and list(table.status) == ["ok"] * 4
    for cell, (_, row) in zip(sw.cells(), table.iterrows()):
        cfg = cell.cfg
        init = measure.init_config(cfg)
        a = analyse(init, max_columns=measure.heatmap_size(init))
        assert row.decay_rate == measure.decay_slope(a.heatmap)
        assert a.spectrum is not None and row.lambda_1 == a.spectrum.lambda_1
        s = run(cfg).summary
        assert row.diverged == float(s["diverged_at"] is not None)
        if s["diverged_at"] is None:
            assert row.loss_ratio == s["final_loss"] / s["baseline_loss"] and math.isnan(row.diverged_at)
        else:
            assert math.isnan(row.loss_ratio) and row.diverged_at == s["diverged_at"]
        assert row.clipped_frac == run(cfg).metrics["clipped"].mean()
    assert table.diverged.sum() >= 1, "lr=100 should diverge: the test must see both kinds of cell"
    # the table on disk is the same table
    assert_frame(load_sweep(tmp_path).table, table)


def assert_frame(a: pd.DataFrame, b: pd.DataFrame, wall: bool = True) -> None:
    if not wall:
        a, b = without_time(a), without_time(b)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)


def test_at_init_cells_never_train(monkeypatch):
    import rnnlab.train

    def no_training(*args, **kwargs):
        raise AssertionError("an at-init metric trained")

    monkeypatch.setattr(rnnlab.train, "run", no_training)
    out = measure_cell(SMALL, ["decay_rate", "lambda_1", "wall_time_s"])
    assert set(out) == {"decay_rate", "lambda_1", "wall_time_s"}
    assert math.isfinite(out["decay_rate"]) and math.isfinite(out["lambda_1"])


# ---- executors, resume, faults ---------------------------------------------------------------------

GRID = ["rho=0.6:1.8:4", "act=tanh,relu"]


@pytest.mark.slow
def test_pool_and_local_cluster_give_identical_tables(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    # Dask's nannies spawn workers that re-run this process's __main__; after an AppTest in the same
    # process that is a Streamlit script stub, which fails outside Streamlit. A bare __main__, as in a
    # user's own script, is what the test means.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    sw = Sweep.build(SMALL, GRID, seeds=2, metrics=["decay_rate", "loss_ratio"])
    pool = run_sweep(sw, tmp_path / "pool", backend=PoolBackend(2))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = run_sweep(sw, tmp_path / "dask", address=cluster.scheduler_address)
        assert client.status == "running"
    assert pool.complete and dask.complete and dask.backend.startswith("Dask")
    assert_frame(pool.table, dask.table, wall=False)
    assert (pool.table.status == "ok").all()


def test_resume_recomputes_no_finished_cell(tmp_path):
    sw = Sweep.build(SMALL, GRID, metrics=["decay_rate"])
    seen: list[str] = []

    def stop_after_three() -> bool:
        return len(seen) >= 3

    first = run_sweep(
        sw,
        tmp_path,
        backend=PoolBackend(1),
        on_row=lambda r, p: seen.append(r.key),
        should_stop=stop_after_three,
    )
    assert first.cancelled and 3 <= first.progress.done < sw.size
    before = load_sweep(tmp_path).table
    again: list[str] = []
    second = run_sweep(sw, tmp_path, backend=PoolBackend(2), on_row=lambda r, p: again.append(r.key))
    assert second.complete and second.progress.resumed == len(before)
    assert not set(again) & set(seen[: len(before)]), "a finished cell was computed again"
    assert sorted(again + list(before_keys(before, sw))) == sorted(c.key for c in sw.cells())
    final = load_sweep(tmp_path).table
    # the finished rows are kept as they were (their wall times too: they were not recomputed)
    kept = final.merge(before, on=list(sw.keys), suffixes=("", "_before"))
    assert len(kept) == len(before) and (kept.wall_time_s == kept.wall_time_s_before).all()
    fresh = run_sweep(sw, backend=PoolBackend(2))
    assert_frame(final, fresh.table, wall=False)


def before_keys(df: pd.DataFrame, sw: Sweep) -> list[str]:
    from rnnlab.sweep import Row

    return [Row({k: r[k] for k in sw.keys}, {}).key for _, r in df.iterrows()]


def test_a_different_sweep_does_not_resume_into_a_folder(tmp_path):
    run_sweep(Sweep.build(SMALL, ["rho=1,2"]), tmp_path, backend=PoolBackend(1))
    with pytest.raises(ConfigError) as e:
        run_sweep(Sweep.build(SMALL, ["rho=1,3"]), tmp_path, backend=PoolBackend(1))
    assert e.value.key == "out"


def test_torn_last_line_is_recomputed(tmp_path):
    sw = Sweep.build(SMALL, ["rho=1,2"])
    run_sweep(sw, tmp_path, backend=PoolBackend(1))
    path = tmp_path / TABLE_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:-1], lines[-1][:7]]) + "\n")  # a writer killed mid-line
    again: list[str] = []
    res = run_sweep(sw, tmp_path, backend=PoolBackend(1), on_row=lambda r, p: again.append(r.key))
    assert res.complete and again == [sw.cells()[-1].key]


class KillOnce(PoolBackend):
    """The local pool, with a handle on its executors so the test can kill one worker process."""

    def executor(self):
        self.last = super().executor()
        return self.last


def test_killed_worker_costs_only_its_cells(tmp_path):
    sw = Sweep.build(SMALL.replace(hidden=24, seq_len=40), GRID, seeds=3)
    backend = KillOnce(2)
    killed: list[int] = []

    def kill_first(row, prog):
        if not killed:
            pid = next(iter(backend.last._processes))  # a live worker of the current pool
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    res = run_sweep(sw, tmp_path, backend=backend, on_row=kill_first)
    assert killed and res.progress.retried >= 1
    assert res.complete and (res.table.status == "ok").all() and len(res.table) == sw.size
    clean = run_sweep(sw, backend=PoolBackend(2))
    assert_frame(res.table, clean.table, wall=False)


# ---- science ---------------------------------------------------------------------------------------


def test_zero_crossings_and_critical_rho():
    assert zero_crossings([0.0, 1.0, 2.0], [-1.0, 1.0, 3.0]) == [0.5]
    assert zero_crossings([0.0, 1.0, 2.0], [1.0, 2.0, np.nan]) == []
    # closed forms of the mean field (docs/DESIGN.md 7): linear ln g -> g* = 1; relu 0.5 ln(g^2/2) -> sqrt 2
    assert critical_rho("linear", 0.0) == pytest.approx(1.0, abs=1e-9)
    assert critical_rho("relu", 0.3) == pytest.approx(math.sqrt(2), abs=1e-9)
    g = critical_rho("tanh", 0.2)
    assert abs(theory.mean_field("tanh", g, 0.2).slope_log10) < 1e-9 and g > 1


@pytest.mark.slow
def test_decay_rate_changes_sign_where_the_mean_field_says():
    """tanh, gaussian W_hh, no training (adding task, H = 64, T = 100), 3 seeds. The mean field with the
    probe's measured input drive s^2 puts the edge of chaos (chi = 1) at g* ~ 1.5; the measured decay
    rate must change sign within 10 % of g*. Why 10 %: the heatmap's spectral norm of a 100-step product
    of 64 x 64 matrices grows at the top Lyapunov rate, which sits below the mean field's mean-square rate
    by O(1/H) per step, the drive is not Gaussian (uniform values and two spikes), and one probe is a
    finite sample; measured at 1 and 2 threads the crossings were 1.43-1.49 against g* = 1.51. The
    naive edge without drive, g = 1, is well outside that band, so ignoring the drive would fail."""
    base = RunConfig(act="tanh", init="gaussian", steps=0, hidden=64)
    sw = Sweep.build(base, ["rho=1.1:1.9:9"], seeds=3)
    res = run_sweep(sw, backend=PoolBackend(2))
    mean = res.table.groupby("rho", sort=True).decay_rate.mean()
    crossings = zero_crossings(mean.index.to_numpy(), mean.to_numpy())
    s2 = measure.drive_variance(analyse(base))
    g_star = critical_rho("tanh", s2)
    assert 1.3 < g_star < 1.7
    assert len(crossings) == 1, f"one sign change expected, got {crossings}"
    assert abs(crossings[0] - g_star) <= 0.1 * g_star, (crossings, g_star)


# ---- the command line ------------------------------------------------------------------------------


def test_cli_sweep_writes_and_resumes(tmp_path, capsys):
    from rnnlab.cli import main

    args = ["sweep", "--set", "hidden=12", "--set", "seq_len=20", "--axis", "rho=0.5,2", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2/2 cells" in out and "table.csv" in out
    table = load_sweep(tmp_path).table
    assert list(table.rho) == [0.5, 2.0] and (table.status == "ok").all()
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    assert "2 already done" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--axis", "rho=0.5:20:4"], "rnnlab: error: rho: 20 is out of range"),
        (["--axis", "rho=1,2", "--metric", "accuracy"], "rnnlab: error: metric: 'accuracy' is unknown"),
        (["--axis", "rho=1", "--axis", "act=tanh", "--axis", "lr=1", "--axis", "leak=0"], "1 to 3 axes"),
        (["--set", "tbptt=50", "--axis", "seq_len=20,100"], "rnnlab: error: tbptt: in the cell seq_len=20"),
    ],
)
def test_cli_sweep_one_line_errors(extra, message, capsys):
    from rnnlab.cli import main

    assert main(["sweep", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


# ---- the phase diagram -----------------------------------------------------------------------------


def test_phase_grid_and_figure():
    from rnnlab.plots import phase_figure
    from rnnlab.sweep import Row, critical_line, measured_zero_line, phase_grid, xi_line

    sw = Sweep.build(RunConfig(steps=0, hidden=16, seq_len=20), ["act=tanh,relu", "rho=0.5,1,2"], seeds=2)
    rows = [
        Row({"act": a, "rho": r, "seed": s}, {"decay_rate": r - 1.0 + 0.1 * s + (a == "relu")})
        for a in ("tanh", "relu")
        for r in (0.5, 1.0, 2.0)
        for s in (0, 1)
    ]
    rows[-1] = Row(rows[-1].values, {}, "failed", "lost")  # relu, rho=2, seed 1: not averaged in
    grid = phase_grid(sw, rows, "decay_rate")
    assert grid.x_key == "rho" and grid.y_key == "act"  # the numeric axis goes across
    np.testing.assert_allclose(grid.z, [[-0.45, 0.05, 1.05], [0.55, 1.05, 2.0]])
    assert grid.n.tolist() == [[2, 2, 2], [2, 2, 1]]
    zero = measured_zero_line(grid)
    assert zero is not None and zero.x[0] == pytest.approx(0.5 + 0.5 * 0.45 / 0.5)  # tanh row only
    assert len([x for x in zero.x if not math.isnan(x)]) == 2
    crit = critical_line(sw, grid)
    s2 = measure.drive_variance_of(sw.base)
    assert crit is not None and crit.x[0] == pytest.approx(critical_rho("tanh", s2))
    assert crit.x[3] == pytest.approx(math.sqrt(2))  # relu: chi = g^2 / 2 whatever the drive
    assert xi_line(sw, grid) is None  # y is not seq_len
    assert critical_line(Sweep.build(RunConfig(init="orthogonal"), ["rho=1,2"]), grid) is None
    fig = phase_figure(grid, [crit, zero])
    assert [t.type for t in fig.data] == ["heatmap", "scatter", "scatter"]
    assert fig.data[0].customdata[1][2][2] == "2 (mean of 1/2 seeds)"
    # a line's x value lands between the cell indices of its neighbouring values
    assert fig.data[1].x[3] == pytest.approx(1 + (math.sqrt(2) - 1) / 1)


def test_xi_line_on_a_rho_by_seq_len_diagram():
    from rnnlab.sweep import phase_grid, xi_line

    sw = Sweep.build(RunConfig(steps=0, hidden=16), ["rho=0.5:1.5:5", "seq_len=10,40,160"])
    line = xi_line(sw, phase_grid(sw, [], "decay_rate"))
    assert line is not None
    s2 = measure.drive_variance_of(sw.base)
    finite = 0
    for r, y in zip(line.x, line.y):
        T = 6 / abs(math.log(theory.mean_field("tanh", r, s2).chi))  # 6 xi, the oracle
        if 10 <= T <= 160:  # index coordinates on the 10, 40, 160 axis
            assert y == pytest.approx((T - 10) / 30 if T < 40 else 1 + (T - 40) / 120)
            finite += 1
        else:
            assert math.isnan(y)
    assert finite > 10


def test_cells_wait_in_the_training_gate(monkeypatch):
    """With the app's gate at one slot, a sweep holds at most one cell in flight and still finishes
    (a waiting cell must not block the collection of the finished one that holds the slot)."""
    from ui.runs import gate
    from ui.sweep import GateAdmission

    fifo = gate.FifoGate(1)
    monkeypatch.setattr(gate, "GATE", fifo)
    held: list[int] = []

    class Counting(GateAdmission):
        def acquire(self, cancelled):
            ok = super().acquire(cancelled)
            held.append(len(self.held))
            return ok

    res = run_sweep(Sweep.build(SMALL, ["rho=0.5,1,1.5,2"]), backend=PoolBackend(2), admission=Counting())
    assert res.complete and max(held) == 1 and fifo.busy == 0
