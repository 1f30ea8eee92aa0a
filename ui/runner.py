"""Training in the background: one `TrainingRun` per run, a module-level gate for concurrency.

A page starts a run with `start_run(slot, cfg)`; the run object lives in `st.session_state[slot]`,
so reruns, other widgets and page switches never restart or drop it. The page reads `run.view()`
from a fragment that redraws every half second while the run is active. Nothing here blocks the
script thread.

Where training runs (BACKEND, env RNNLAB_TRAIN_BACKEND): "process" (default) trains in a child
process (ui/worker.py; forkserver with rnnlab preloaded where available, else spawn) and a light
thread here receives its records over a pipe. Training in a thread of the server process instead
("thread") shares the GIL with the app: on the 2-core dev machine the live redraws then made
training 2-3x slower, against under 25 % with a process.

    run = TrainingRun(cfg).start()       # queued until the gate lets it train
    v = run.view()                       # RunView: state, fraction, metrics so far, ahead, ...
    run.stop()                           # keeps what was trained: result is a partial RunResult
    run.result                           # RunResult once finished (None before, or after an error)

Concurrency: `GATE` (module level) admits at most N trainings at a time, in arrival order; the
others wait and can show "waiting: k runs ahead of you". N comes from RNNLAB_MAX_CONCURRENT
(default max(1, cpu_count // 2)). Replace it with `set_gate(...)` by anything with the same three
methods (`acquire`, `release`, `ahead`), e.g. a per-class or cross-process queue.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
import streamlit as st

from rnnlab import RunConfig, RunResult, budget
from rnnlab import run as train_run
from rnnlab.results import versions
from rnnlab.snapshots import Snapshot
from rnnlab.tasks import make_task
from rnnlab.train import progress_record

from . import errors

QUEUED, RUNNING, DONE, STOPPED = "queued", "running", "done", "stopped"
DIVERGED, FAILED, REFUSED = "diverged", "failed", "refused"
ACTIVE = (QUEUED, RUNNING)
STOP_GRACE_S = 1.5
"""A Stop (or the end of the session) is honoured by the training process itself within this long
(rnnlab.train polls it every update and every heatmap row); past it the process is ended and the
run keeps what the process had sent (ui.worker sends every row and snapshot as it is made)."""


class TrainingError(RuntimeError):
    """The training process reported an error (its message says which) or died."""


# ---- the gate ---------------------------------------------------------------------------------------

class Gate(Protocol):
    def acquire(self, ticket: int, cancelled: Callable[[], bool]) -> bool:
        """Block until `ticket` may train (True) or cancelled() turned true while waiting (False)."""

    def release(self, ticket: int) -> None:
        """`ticket` finished training (or gave up waiting)."""

    def ahead(self, ticket: int) -> int:
        """How many runs are ahead of a waiting `ticket` (0 once it trains)."""


class FifoGate:
    """At most `limit` holders at a time, admitted in arrival order (a fair counting semaphore)."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self._cond = threading.Condition()
        self._waiting: list[int] = []
        self._holders: set[int] = set()

    def acquire(self, ticket: int, cancelled: Callable[[], bool] = lambda: False) -> bool:
        with self._cond:
            self._waiting.append(ticket)
            try:
                while not (self._waiting[0] == ticket and len(self._holders) < self.limit):
                    if cancelled():
                        return False
                    self._cond.wait(timeout=0.2)
                self._holders.add(ticket)
                return True
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def release(self, ticket: int) -> None:
        with self._cond:
            self._holders.discard(ticket)
            self._cond.notify_all()

    def ahead(self, ticket: int) -> int:
        with self._cond:
            if ticket in self._holders or ticket not in self._waiting:
                return 0
            free = self.limit - len(self._holders)
            return max(0, self._waiting.index(ticket) - free + 1)

    @property
    def busy(self) -> int:
        with self._cond:
            return len(self._holders)


def env_int(name: str, default: int) -> int:
    """An integer from the environment; the default when unset or invalid."""
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def default_limit() -> int:
    return max(1, env_int("RNNLAB_MAX_CONCURRENT", max(1, (os.cpu_count() or 2) // 2)))


GATE: Gate = FifoGate(default_limit())
_tickets = itertools.count(1)


BACKEND = os.environ.get("RNNLAB_TRAIN_BACKEND", "process")
_CTX = None


def _without_main(get_preparation_data):
    """Streamlit runs each page as a synthetic `__main__` module (app.py). multiprocessing's spawn and
    forkserver children re-run the parent's `__main__` before their target, which would start the
    whole app inside a training process. Our children need only `ui.worker`, so for processes named
    "rnnlab-*" the main module is left out of the preparation data."""

    def prep(name, *args, **kwargs):
        data = get_preparation_data(name, *args, **kwargs)
        if str(name).startswith("rnnlab-"):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    prep.rnnlab_wrapped = True
    return prep


def mp_context():
    """The multiprocessing context for training processes (created once)."""
    global _CTX
    if _CTX is None:
        from multiprocessing import spawn

        if not getattr(spawn.get_preparation_data, "rnnlab_wrapped", False):
            spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
        method = os.environ.get("RNNLAB_START_METHOD") or (
            "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        _CTX = mp.get_context(method)
        if method == "forkserver":
            _CTX.set_forkserver_preload(["ui.worker", "rnnlab.train"])
    return _CTX


def warm_up() -> None:
    """Start the forkserver (imports torch once) in the background, so the first Train is quick."""
    if BACKEND != "process":
        return

    def _go() -> None:
        try:
            p = mp_context().Process(target=_noop, daemon=True, name="rnnlab-warm-up")
            p.start()
            p.join()
        except Exception:  # noqa: BLE001 - warming up is only an optimisation
            pass

    global _WARMED
    if not _WARMED:
        _WARMED = True
        threading.Thread(target=_go, name="rnnlab-warm-up", daemon=True).start()


_WARMED = False


def _noop() -> None:
    return None


def set_gate(gate: Gate) -> None:
    """Install another admission policy (module-level hook for deployments)."""
    global GATE
    GATE = gate


# ---- one run ------------------------------------------------------------------------------------------

@dataclass
class RunView:
    """A consistent snapshot of a run for drawing (copies, safe to use without the lock)."""

    state: str
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
        return self.state in ACTIVE

    def metrics(self) -> pd.DataFrame:
        """Metrics so far: the finished result's full table, else the live records."""
        if self.result is not None:
            return self.result.metrics
        return pd.DataFrame(self.records, columns=["step", "update", "loss", "grad_norm",
                                                   "grad_norm_clipped", "clipped", "rho_whh"])


@dataclass
class TrainingRun:
    """One training run in a background thread. Thread-safe; see the module docstring."""

    cfg: RunConfig
    label: str = ""
    ticket: int = field(default_factory=lambda: next(_tickets))
    state: str = QUEUED
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
                self.state, self.error, self._t1 = REFUSED, refusal, self._t0
                return self
            self._thread = threading.Thread(target=self._main, name=f"rnnlab-run-{self.ticket}",
                                            daemon=True)
            self._thread.start()
            watch(self)
        return self

    def stop(self) -> None:
        """Ask the run to stop after the current update; what was trained is kept."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished (tests, scripts). True if it finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.active

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def view(self) -> RunView:
        with self._lock:
            records = list(self._records)
            state, result, error, snap = self.state, self.result, self.error, self._snapshot
        done = records[-1]["step"] + 1 if records else 0
        frac = 1.0 if state in (DONE, DIVERGED) else (done / self.cfg.steps if self.cfg.steps else 1.0)
        end = self._t1 if self._t1 is not None else time.perf_counter()
        return RunView(state, self.cfg, records, min(frac, 1.0),
                       GATE.ahead(self.ticket) if state == QUEUED else 0, end - self._t0, result, error,
                       snap)

    # -- thread body ------------------------------------------------------------------------------
    def _on_update(self, record: dict[str, Any]) -> bool:
        with self._lock:
            self._records.append(record)
        return self._stop.is_set()

    def _on_snapshot(self, step: int, snap: Snapshot) -> None:
        with self._lock:
            self._snapshot = (step, snap)
            self._snaps.append((step, snap))

    def _on_rows(self, rows: list[tuple[dict[str, Any], Any]]) -> None:
        with self._lock:
            self._rows.extend(rows)
            self._records.extend(progress_record(r, self.cfg) for r, _ in rows)

    def _train_in_process(self) -> RunResult:
        from . import worker

        ctx = mp_context()
        recv, send = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        proc = ctx.Process(target=worker.train, args=(self.cfg.to_json(), send, stop), daemon=True,
                           name=f"rnnlab-train-{self.ticket}")
        proc.start()
        send.close()  # the child holds the only write end: EOF when it exits
        asked: float | None = None  # when the stop was passed on to the process
        try:
            while True:
                if self._stop.is_set() and asked is None:
                    stop.set()
                    asked = time.perf_counter()
                if asked is not None and time.perf_counter() - asked > STOP_GRACE_S:
                    proc.kill()  # it did not honour the stop in time: keep what it sent
                    return self._partial_result()
                if not recv.poll(0.1):
                    continue
                try:
                    kind, payload = recv.recv()
                except EOFError:
                    proc.join(5)
                    if asked is not None:
                        return self._partial_result()
                    raise TrainingError(f"the training process ended unexpectedly "
                                        f"(exit code {proc.exitcode})") from None
                if kind == "rows":
                    self._on_rows(payload)
                elif kind == "snapshot":
                    self._on_snapshot(*payload)
                elif kind == "result":
                    return payload
                else:
                    raise TrainingError(payload)
        finally:
            recv.close()
            proc.join(5)
            if proc.is_alive():
                proc.kill()

    def _partial_result(self) -> RunResult:
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
        summary = {"final_loss": float("nan"), "baseline_loss": make_task(cfg.task, cfg.seq_len).baseline,
                   "diverged_at": None, "nonfinite": None, "stopped_early": True,
                   "steps_done": (rows[-1]["step"] + 1) if rows else 0, "updates": len(rows),
                   "wall_time_s": time.perf_counter() - self._t0, "versions": versions(),
                   "heatmap": provenance_summary(cfg.norm, [s for _, s in snaps])}
        summary["verdict"] = judge(summary).as_dict()
        cell = cfg.cell
        return RunResult.build(cfg, rows, profiles, snaps, probe_of(cfg), summary, cell)

    def _main(self) -> None:
        if not GATE.acquire(self.ticket, self._stop.is_set):
            with self._lock:
                self.state = STOPPED
                self._t1 = time.perf_counter()
            return
        try:
            with self._lock:
                self.state = RUNNING
            if BACKEND == "thread":
                plan = budget.plan_view(self.cfg)
                result = train_run(self.cfg, on_update=self._on_update, should_stop=self._stop.is_set,
                                   on_snapshot=self._on_snapshot, max_columns=plan.columns,
                                   heatmaps=plan.ok)
            else:
                result = self._train_in_process()
            with self._lock:
                self.result = result
                self.state = (DIVERGED if result.diverged else
                              STOPPED if result.summary.get("stopped_early") else DONE)
        except Exception as e:  # noqa: BLE001 - shown to the person, never a traceback
            traceback.print_exc()
            with self._lock:
                # a line for the person; the traceback above went to the server log
                self.error = str(e) if isinstance(e, TrainingError) else errors.message(e)
                self.state = FAILED
        finally:
            self._t1 = time.perf_counter()
            GATE.release(self.ticket)
            if os.environ.get("RNNLAB_LOG_RUNS"):
                wall = self.result.summary["wall_time_s"] if self.result else float("nan")
                print(f"[rnnlab] run {self.ticket} {self.state} in {self._t1 - self._t0:.2f} s "
                      f"(training {wall:.2f} s)", file=sys.stderr, flush=True)


# ---- session helpers -----------------------------------------------------------------------------------

def get_run(slot: str) -> TrainingRun | None:
    """The run kept in st.session_state[slot] (None if there is none)."""
    return st.session_state.get(slot)


def start_run(slot: str, cfg: RunConfig, label: str = "") -> TrainingRun:
    """Start a run in `slot`, stopping whatever run was there (one active run per slot). The run
    belongs to this browser session: it ends when the session does (watch)."""
    old = get_run(slot)
    if old is not None and old.active:
        old.stop()
    run = TrainingRun(cfg, label=label, session=session_id()).start()
    st.session_state[slot] = run
    return run


def session_id() -> str | None:
    """The current Streamlit session's id (None outside a session, e.g. in scripts)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


# ---- runs end with their session -----------------------------------------------------------------------

WATCH_S = 2.0
_WATCHED: list[Any] = []  # active jobs (runs, views) that belong to a session
_WATCH_LOCK = threading.Lock()
_WATCHER: threading.Thread | None = None


def session_alive(session: str) -> bool:
    """Whether a session still exists: connected, or disconnected but kept for a reconnect (within
    server.disconnectedSessionTTL). Outside a running Streamlit server every session counts as alive."""
    from streamlit import runtime

    if not runtime.exists():
        return True
    rt = runtime.get_instance()
    mgr = getattr(rt, "_session_mgr", None)
    if mgr is not None and hasattr(mgr, "get_session_info"):
        return mgr.get_session_info(session) is not None  # looks in the reconnect storage too
    return rt.is_active_session(session)


def watch(job: Any) -> None:
    """End `job` (anything with .session, .active and .stop()) when its session ends: a queued run
    leaves the queue, a running one stops, and its slot goes to the next student."""
    global _WATCHER
    if job.session is None:
        return
    with _WATCH_LOCK:
        _WATCHED.append(job)
        if _WATCHER is None or not _WATCHER.is_alive():
            _WATCHER = threading.Thread(target=_watch_loop, name="rnnlab-session-watch", daemon=True)
            _WATCHER.start()


def _watch_loop() -> None:
    while True:
        time.sleep(WATCH_S)
        with _WATCH_LOCK:
            jobs = [j for j in _WATCHED if j.active]
            _WATCHED[:] = jobs
        for job in jobs:
            try:
                if not session_alive(job.session):
                    job.stop()
            except Exception:  # noqa: BLE001 - a check that fails keeps the job, never the server down
                traceback.print_exc()
