"""One training run in the background, and a consistent snapshot of it to draw.

    run = TrainingRun(cfg).start()       # queued until the gate lets it train
    v = run.view()                       # RunView: state, fraction, metrics so far, ahead, ...
    run.stop()                           # keeps what was trained: result is a partial RunResult
    run.result                           # RunResult once finished (None before, or after an error)

Nothing here blocks the caller: the run waits for the gate and trains in its own thread (which, with
the default backend, only relays a child process's messages; ui.runs.backends).
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rnnlab import RunConfig, RunResult, budget
from rnnlab.results import versions
from rnnlab.snapshots import Snapshot
from rnnlab.tasks import make_task
from rnnlab.train import live_columns, progress_record

from . import backends, gate, sessions
from .backends import TrainingError
from .states import RunState


@dataclass
class RunView:
    """A consistent snapshot of a run for drawing (copies, safe to use without the lock)."""

    state: RunState
    cfg: RunConfig
    records: list[dict[str, Any]]
    fraction: float
    ahead: int
    elapsed: float
    result: RunResult | None
    error: str | None
    snapshot: tuple[int, Snapshot] | None = None  # the latest snapshot taken, with its step

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def steps_done(self) -> int:
        return self.records[-1]["step"] + 1 if self.records else 0

    def metrics(self) -> pd.DataFrame:
        """Metrics so far: the finished result's full table, else the live records."""
        if self.result is not None:
            return self.result.metrics
        return pd.DataFrame(
            self.records, columns=list(live_columns(self.cfg))
        )  # before the result: live ones


@dataclass
class TrainingRun:
    """One training run in a background thread. Thread-safe; see the module docstring."""

    cfg: RunConfig
    label: str = ""
    ticket: int = field(default_factory=gate.next_ticket)
    state: RunState = RunState.QUEUED
    result: RunResult | None = None
    error: str | None = None
    session: str | None = None  # the Streamlit session that started it: the run ends with it
    _records: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _rows: list[tuple[dict[str, Any], Any]] = field(default_factory=list, repr=False)  # (row, profile)
    _snaps: list[tuple[int, Snapshot]] = field(default_factory=list, repr=False)
    _snapshot: tuple[int, Snapshot] | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _t0: float = 0.0
    _t1: float | None = None

    def start(self) -> TrainingRun:
        if self._thread is None:
            self._t0 = time.perf_counter()
            refusal = budget.check_run(self.cfg)
            if refusal:  # over this server's memory budget: never started
                self.state, self.error, self._t1 = RunState.REFUSED, refusal, self._t0
                return self
            self._thread = threading.Thread(target=self._main, name=f"rnnlab-run-{self.ticket}", daemon=True)
            self._thread.start()
            sessions.watch(self)
        return self

    def stop(self) -> None:
        """Ask the run to stop after the current update; what was trained is kept."""
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished (tests, scripts). True if it finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.active

    @property
    def active(self) -> bool:
        return self.state.active

    def view(self) -> RunView:
        with self._lock:
            records = list(self._records)
            state, result, error, snap = self.state, self.result, self.error, self._snapshot
        done = records[-1]["step"] + 1 if records else 0
        frac = (
            1.0
            if state in (RunState.DONE, RunState.DIVERGED)
            else (done / self.cfg.steps if self.cfg.steps else 1.0)
        )
        end = self._t1 if self._t1 is not None else time.perf_counter()
        ahead = gate.GATE.ahead(self.ticket) if state == RunState.QUEUED else 0
        return RunView(state, self.cfg, records, min(frac, 1.0), ahead, end - self._t0, result, error, snap)

    # -- what a backend reports (ui.runs.backends.Recorder) --------------------------------------------
    def on_update(self, record: dict[str, Any]) -> bool:
        with self._lock:
            self._records.append(record)
        return self._stop.is_set()

    def on_snapshot(self, step: int, snap: Snapshot) -> None:
        with self._lock:
            self._snapshot = (step, snap)
            self._snaps.append((step, snap))

    def on_rows(self, rows: list[tuple[dict[str, Any], Any]]) -> None:
        with self._lock:
            self._rows.extend(rows)
            self._records.extend(progress_record(r, self.cfg) for r, _ in rows)

    def partial_result(self) -> RunResult:
        """A stopped run's result from what the process sent before it was ended: every finished
        update's row and profile, every finished snapshot; no final evaluation (verdict "stopped")."""
        from rnnlab.snapshots import provenance_summary, snapshot
        from rnnlab.train import probe_of, setup
        from rnnlab.verdict import judge

        with self._lock:
            rows = [dict(r) for r, _ in self._rows]
            profiles = [p for _, p in self._rows]
            snaps = list(self._snaps)
        cfg = self.cfg
        if not snaps:  # ended inside its first snapshot: keep the initial weights, without a heatmap
            s = setup(cfg)
            snaps = [(0, snapshot(s.model, s.probe_x, cfg.norm, heatmap=False))]
        summary = {
            "final_loss": float("nan"),
            "baseline_loss": make_task(cfg.task, cfg.seq_len).baseline,
            "diverged_at": None,
            "nonfinite": None,
            "stopped_early": True,
            "steps_done": (rows[-1]["step"] + 1) if rows else 0,
            "updates": len(rows),
            "wall_time_s": time.perf_counter() - self._t0,
            "versions": versions(),
            "heatmap": provenance_summary(cfg.norm, [s for _, s in snaps]),
        }
        summary["verdict"] = judge(summary).as_dict()
        return RunResult.build(cfg, rows, profiles, snaps, probe_of(cfg), summary, cfg.cell)

    # -- thread body --------------------------------------------------------------------------------------
    def _main(self) -> None:
        if not gate.GATE.acquire(self.ticket, self._stop.is_set):
            with self._lock:
                self.state = RunState.STOPPED
                self._t1 = time.perf_counter()
            return
        try:
            with self._lock:
                self.state = RunState.RUNNING
            result = backends.train(self)
            with self._lock:
                self.result = result
                self.state = (
                    RunState.DIVERGED
                    if result.diverged
                    else RunState.STOPPED
                    if result.summary.get("stopped_early")
                    else RunState.DONE
                )
        except Exception as e:
            traceback.print_exc()
            with self._lock:
                # a line for the person; the traceback above went to the server log
                self.error = str(e) if isinstance(e, TrainingError) else _message(e)
                self.state = RunState.FAILED
        finally:
            self._t1 = time.perf_counter()
            gate.GATE.release(self.ticket)
            self._log()

    def _log(self) -> None:
        wall = self.result.summary["wall_time_s"] if self.result else float("nan")
        gate.log_work(
            f"run {self.ticket} {self.state} in {self._t1 - self._t0:.2f} s (training {wall:.2f} s)"
        )


def _message(e: BaseException) -> str:
    from ..errors import message  # the app's wording of an error; imports no Streamlit

    return message(e)
