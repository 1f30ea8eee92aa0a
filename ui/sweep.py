"""The Sweep page: a phase diagram from live cells, on top of the sidebar's configuration.

The definition lives in the URL (`axis=rho=0.5:2.0:16&axis=act=tanh,relu&seeds=1&metric=decay_rate`,
the CLI's spelling), so a teacher shares a diagram as a link. The sweep runs in a background thread
through rnnlab.sweep (the app's process context, or Dask at RNNLAB_DASK_ADDRESS); each cell waits in
the same FIFO gate as the trainings (ui.runs.gate), so a sweep cannot starve the other sessions.
Caps: RNNLAB_SWEEP_MAX_CELLS cells per sweep, RNNLAB_SWEEP_WORKERS worker processes per sweep.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from rnnlab import sweep as sw
from rnnlab.config import ConfigError, RunConfig, format_value
from rnnlab.plots import phase_figure

from . import links
from .runs import gate, sessions
from .state import Screen
from .widgets import chart

AXIS_PARAM, SEEDS_PARAM, METRIC_PARAM = "axis", "seeds", "metric"
DEFAULT_AXES = ("rho=0.5:2.0:16", "act=tanh,relu")
CELLS_ENV, WORKERS_ENV = "RNNLAB_SWEEP_MAX_CELLS", "RNNLAB_SWEEP_WORKERS"
MAX_CELLS, MAX_WORKERS = 256, 2
"""Defaults for a class server: 256 cells (the default 32-cell diagram with a few seeds, or a 16 x 16
grid) and 2 worker processes per sweep; each cell also holds a training slot while it runs."""
JOB = "sweep.job"
REDRAW_S = 1.0


def _cap(env: str, default: int) -> int:
    return max(1, gate.env_int(env, default))


def max_cells() -> int:
    return _cap(CELLS_ENV, MAX_CELLS)


def max_workers() -> int:
    return _cap(WORKERS_ENV, MAX_WORKERS)


class GateAdmission:
    """rnnlab.sweep's Admission on the app's training gate: one ticket per cell in flight."""

    def __init__(self) -> None:
        self.held: deque[int] = deque()

    def acquire(self, cancelled) -> bool:
        ticket = gate.next_ticket()
        if not gate.GATE.acquire(ticket, cancelled):
            return False
        self.held.append(ticket)
        return True

    def release(self) -> None:
        if self.held:
            gate.GATE.release(self.held.popleft())


@dataclass
class SweepJob:
    """A sweep running in a background thread; the page's fragment reads it."""

    sweep: sw.Sweep
    workers: int
    rows: list[sw.Row] = field(default_factory=list)
    progress: sw.Progress | None = None
    error: str | None = None
    finished: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    session: str | None = field(default_factory=sessions.session_id)

    def start(self) -> SweepJob:
        threading.Thread(target=self._run, name="rnnlab-sweep", daemon=True).start()
        sessions.watch(self)  # a sweep ends with its browser session, like a training run
        return self

    @property
    def active(self) -> bool:
        return not self.finished

    def stop(self) -> None:
        self.stopping.set()

    def _run(self) -> None:
        try:
            res = sw.run_sweep(
                self.sweep,
                backend=backend(self.workers),
                on_row=self._row,
                should_stop=self.stopping.is_set,
                admission=GateAdmission(),
            )
            self.progress = res.progress
        except Exception as e:  # shown as one line; the server log keeps the traceback
            import logging

            logging.getLogger(__name__).exception("sweep failed")
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.finished = True

    def _row(self, row: sw.Row, prog: sw.Progress) -> None:
        self.rows.append(row)
        self.progress = sw.Progress(**vars(prog))

    @property
    def done(self) -> int:
        return len(self.rows)


def backend(workers: int) -> sw.Backend:
    address = os.environ.get(sw.ADDRESS_ENV)
    if address:
        return sw.DaskBackend(address)
    from .runs.processes import mp_context

    return sw.PoolBackend(workers, mp_context())  # local_pool names its workers: no app.py in them


# ---- the definition: URL <-> controls -------------------------------------------------------------


@dataclass
class Definition:
    axes: list[str]
    seeds: int
    metric: str
    notices: list[str]


def from_url() -> Definition:
    q = st.query_params
    axes = [a for a in q.get_all(AXIS_PARAM) if a.strip()][: sw.MAX_AXES] or list(DEFAULT_AXES)
    notices: list[str] = []
    try:
        seeds = int(q.get(SEEDS_PARAM, "1"))
    except ValueError:
        seeds, notices = 1, [f"seeds: {q.get(SEEDS_PARAM)!r} is not an integer — using 1."]
    metric = q.get(METRIC_PARAM, "decay_rate")
    if metric not in sw.METRICS or metric == "wall_time_s":
        notices.append(f"metric: {metric!r} is unknown — using decay_rate.")
        metric = "decay_rate"
    return Definition(axes, max(1, min(seeds, sw.MAX_SEEDS)), metric, notices)


def to_url(d: Definition) -> None:
    if st.query_params.get_all(AXIS_PARAM) != d.axes:
        st.query_params[AXIS_PARAM] = d.axes
    for k, v in ((SEEDS_PARAM, str(d.seeds)), (METRIC_PARAM, d.metric)):
        if st.query_params.get(k) != v:
            st.query_params[k] = v


def controls(d: Definition) -> Definition:
    c1, c2, c3, c4 = st.columns([3, 3, 1, 2])
    a1 = c1.text_input("Axis 1", d.axes[0], key="sweep.axis1", help="KEY=start:stop:count[:log] or KEY=a,b,c")
    a2 = c2.text_input(
        "Axis 2", d.axes[1] if len(d.axes) > 1 else "", key="sweep.axis2", help="optional; empty for one axis"
    )
    seeds = c3.number_input("Seeds", 1, sw.MAX_SEEDS, d.seeds, key="sweep.seeds")
    names = [m for m in sw.METRICS if m != "wall_time_s"]
    metric = c4.selectbox(
        "Metric", names, names.index(d.metric), key="sweep.metric", format_func=lambda m: sw.METRICS[m].label
    )
    axes = [a for a in (a1, a2) if a.strip()] + d.axes[2:]
    return Definition(axes, int(seeds), metric, d.notices)


# ---- the page --------------------------------------------------------------------------------------


def page(screen: Screen) -> None:
    d = controls(from_url())
    to_url(d)
    for n in d.notices:
        st.info(n, icon=":material/info:")
    base = screen.cfg if sw.METRICS[d.metric].trains else screen.cfg.replace(steps=0)
    try:
        sweep = sw.Sweep.build(base, d.axes, d.seeds, [d.metric])
    except ConfigError as e:
        st.error(f"{e}", icon=":material/error:")
        return
    job: SweepJob | None = st.session_state.get(JOB)
    running = job is not None and not job.finished
    too_big = sweep.size > max_cells()
    workers = min(max_workers(), sw.default_workers())
    if max_workers() > workers:
        st.caption(f"{WORKERS_ENV} = {max_workers()} is above this machine's CPUs; using {workers}.")
    st.caption(
        f"{sweep.describe()} · base: the sidebar's settings"
        + ("" if sweep.trains else " (no training: the metric is read at initialisation)")
        + f" · {workers} worker{'s' if workers != 1 else ''}"
    )
    if too_big:
        st.warning(
            f"{sweep.size} cells is above this server's cap of {max_cells()} per sweep ({CELLS_ENV}): "
            "use fewer points, values or seeds.",
            icon=":material/block:",
        )
    b1, b2, _ = st.columns([1, 1, 6])
    if b1.button("Run sweep", type="primary", disabled=running or too_big, key="sweep.run"):
        st.session_state[JOB] = job = SweepJob(sweep, workers).start()
        running = True
    if b2.button("Stop", disabled=not running, key="sweep.stop") and job is not None:
        job.stop()
    diagram_panel(sweep, d.metric, running, screen.cfg)


def diagram_panel(sweep: sw.Sweep, metric: str, running: bool, lab_cfg: RunConfig) -> None:
    @st.fragment(run_every=REDRAW_S if running else None)
    def panel() -> None:
        job: SweepJob | None = st.session_state.get(JOB)
        mine = job is not None and job.sweep == sweep
        rows = job.rows if job is not None and mine else []
        if job is not None and mine:
            status(job)
        grid = sw.phase_grid(sweep, list(rows), sw.METRICS[metric].columns[0])
        lines = [
            line
            for line in (
                sw.critical_line(sweep, grid) if metric in sw.EDGE_METRICS else None,
                sw.measured_zero_line(grid) if metric in sw.EDGE_METRICS else None,
                sw.xi_line(sweep, grid) if metric in ("loss_ratio", *sw.EDGE_METRICS) else None,
            )
            if line is not None
        ]
        chart(phase_figure(grid, lines, title=sw.METRICS[metric].label), "sweep-diagram", key="sweep.fig")
        notes(lines, metric)
        if rows:
            cell_link(sweep, grid, lab_cfg)
            st.download_button(
                "Download the table (CSV)",
                sw.frame(sweep, rows).to_csv(index=False, float_format="%.17g"),
                "sweep.csv",
                "text/csv",
                key="sweep.csv",
            )
        if running and (job is None or job.finished):
            st.rerun()

    panel()


def status(job: SweepJob) -> None:
    p = job.progress
    total = job.sweep.size
    done = p.done if p else 0
    failed = f", {p.failed} failed" if p and p.failed else ""
    if job.error:
        st.error(f"The sweep stopped: {job.error}", icon=":material/error:")
    elif job.finished:
        what = "Stopped" if job.stopping.is_set() else "Done"
        st.caption(f"{what}: {done} of {total} cells{failed}.")
    else:
        ahead = " (cells wait their turn with the trainings)" if gate.GATE.busy else ""
        st.progress(done / max(total, 1), text=f"{done} of {total} cells{failed}{ahead}")


def notes(lines: list[sw.TheoryLine], metric: str) -> None:
    text = [f"- **{line.name}**: {line.note}." for line in lines]
    if metric in sw.EDGE_METRICS and not any(line.name.startswith("mean field") for line in lines):
        text.append(
            "- No mean-field line: it is drawn when ρ is an axis and the network is a vanilla cell with "
            "a gaussian W_hh (the theory's assumptions)."
        )
    st.markdown("\n".join(text) or "")


def cell_link(sweep: sw.Sweep, grid: sw.PhaseGrid, lab_cfg: RunConfig) -> None:
    """Pick a cell; a link opens the sidebar's configuration with the cell's values in the Lab."""
    c1, c2, c3 = st.columns([2, 2, 4])
    x = c1.selectbox(grid.x_key, grid.x_values, key="sweep.cell.x", format_func=format_value)
    values: dict[str, Any] = {grid.x_key: x}
    if grid.y_key is not None:
        values[grid.y_key] = c2.selectbox(
            grid.y_key, grid.y_values, key="sweep.cell.y", format_func=format_value
        )
    for a in sweep.axes[2:]:
        values[a.key] = a.values[0]
    cfg = lab_cfg.replace(**values)
    url = links.base_url() + "?" + links.query_string(cfg.to_strings())
    label = ", ".join(f"{k} = {format_value(v)}" for k, v in values.items())
    c3.markdown(f"[Open {label.replace('_', chr(92) + '_')} in the Lab]({url})")  # seq_len, not seq *len*
