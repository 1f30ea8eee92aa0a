"""The network at initialisation, cached: heatmap, lag profile, theory lines and the plain reading.

`at_init(cfg)` depends only on the keys that shape the untrained network and its probe sequence
(INIT_KEYS), so moving the learning rate or the step count never recomputes the heatmap.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from rnnlab import RunConfig, analyse, budget, jacobian, measure, theory
from rnnlab.cells import STATE_NAMES
from rnnlab.lyapunov import Spectrum
from rnnlab.snapshots import Analysis, Provenance

from .runs import gate, processes, sessions
from .runs.backends import TrainingError
from .runs.states import RunState

log = logging.getLogger("rnnlab.ui")

AUTO_MAX_LEN = 300  # beyond these the at-init view waits for a click (the engine's cost per row
AUTO_MAX_STATE = 128  # grows fast with the state size: H = 512 takes minutes on 2 cores)
init_config, heatmap_size = measure.init_config, measure.heatmap_size


def automatic(cfg: RunConfig) -> bool:
    """Whether the at-init view may be computed on every control change (or waits for a click)."""
    return cfg.seq_total <= AUTO_MAX_LEN and budget.state_size(cfg) <= AUTO_MAX_STATE


def key(cfg: RunConfig) -> str:
    return init_config(cfg).to_json()


@dataclass
class InitView:
    """Everything the Lab draws at initialisation."""

    jacobian: np.ndarray  # (L, L) log10 norms, NaN above the diagonal and in skipped columns
    eigvals: np.ndarray  # (H,) complex
    sigma_max: float
    rho: float
    preact_var: float
    lags: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    slope: float  # measured log10 per step (NaN if not enough data)
    lines: dict[str, np.ndarray] = field(default_factory=dict)  # theory, log10 over lags
    predicted: float = math.nan  # mean-field slope, log10 per step
    text: str = ""
    stride_note: str = ""
    how_note: str = ""  # how the norms were computed (engine, certificates), for the caption
    spectrum: Spectrum | None = None  # the Lyapunov spectrum on the probe (rnnlab.lyapunov)


def mean_field_applies(cfg: RunConfig) -> bool:
    """Mean field assumes a random W_hh (Gaussian entries; an orthogonal one grows a typical vector at
    the same rate) whose slopes f'(a_t) decorrelate from step to step. The identity init (the IRNN)
    is neither: each unit feeds only itself, so the prediction would read as a failed one."""
    return cfg.cell == "rnn" and cfg.init != "identity"


def theory_lines(
    cfg: RunConfig, sigma_max: float, rho: float, preact_var: float, lags: np.ndarray
) -> tuple[dict[str, np.ndarray], float]:
    """The norm bound, rho^(t-k) and the mean-field slope over lags (vanilla cell only).

    Both lines take the leak into account (theory.norm_bound, theory.orthogonal_linear).
    """
    if cfg.cell != "rnn":
        return {}, math.nan
    lags = np.asarray(lags, dtype=float)
    leak = cfg.leak
    bound = theory.norm_bound(sigma_max, cfg.act, lags, leak)
    radius = theory.orthogonal_linear(rho, lags, leak) if rho > 0 else np.full(lags.shape, -np.inf)
    lines = {"norm bound (σ<sub>max</sub>·γ)<sup>t−k</sup>": bound, "ρ<sup>t−k</sup>": radius}
    predicted = math.nan
    if mean_field_applies(cfg) and math.isfinite(preact_var) and rho > 0:
        try:
            mf = theory.mean_field_from_q(cfg.act, rho, max(preact_var, 0.0), leak)
            predicted = mf.slope_log10
            lines["mean field (measured q)"] = lags * predicted
        except ValueError:
            pass
    return lines, predicted


@st.cache_data(max_entries=64, show_spinner=False)
def _at_init(cfg_json: str, max_columns: int | None) -> InitView:
    cfg = RunConfig.from_dict(json.loads(cfg_json))
    gate.log_work(f"view computed: {cfg.cell} rho {cfg.rho:g} seed {cfg.seed}")  # a cache miss
    return view_of(cfg, analyse(cfg, orbits=False, max_columns=max_columns))  # InitView has no orbits


def view_of(cfg: RunConfig, a: Analysis) -> InitView:
    """What the pages draw, from rnnlab.analyse's record (computed here or in a child process)."""
    hm = a.heatmap
    lags, mean, lo, hi = theory.lag_profile(hm)
    T = hm.shape[0]
    slope = measure.decay_slope(hm)
    lines, predicted = theory_lines(cfg, a.sigma_max, a.rho, a.preact_var, lags)
    if math.isfinite(slope):
        text = theory.reading_text(slope, predicted if math.isfinite(predicted) else None, length=T)
    else:
        text = "The sequence is too short (or the products are exactly zero) to measure a decay rate."
    cols = np.flatnonzero(~np.all(np.isnan(hm), axis=0))
    note = (
        ""
        if cols.size == T
        else (f"Every {T // max(cols.size, 1)}th column k computed ({cols.size} of {T}).")
    )
    return InitView(
        hm,
        a.eigvals,
        a.sigma_max,
        a.rho,
        a.preact_var,
        lags,
        mean,
        lo,
        hi,
        slope,
        lines,
        predicted,
        text,
        note,
        how_note(a.provenance, *state_size(cfg)),
        a.spectrum,
    )


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci(x: float) -> str:
    """2.17e-05 -> '2.2·10⁻⁵' (two significant digits)."""
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant}·10{str(int(exp)).translate(_SUPERSCRIPT)}"


def state_size(cfg: RunConfig) -> tuple[int, str]:
    """n, the size of the state the heatmap differentiates, and its name: h, or [h; c] for lstm."""
    return budget.state_size(cfg), STATE_NAMES[cfg.cell]


def how_note(how: Provenance | None, n: int | None = None, state: str = "h") -> str:
    """One sentence on how the heatmap's norms were computed (the snapshot's provenance), or "".
    n: the size of the state (rms divides by √n, and an lstm's state [h; c] has 2H entries)."""
    if how is None:
        return ""
    c, e = how.certified, how.exact
    if how.method == "gram":
        bound = jacobian.certified_bound_log10(how.dtype)
        return (
            f"Each of the {c + e:,} spectral norms is exact to rounding or within a proven "
            f"{_sci(bound)} in log₁₀: {c:,} accepted on a certificate (Kato–Temple or Cholesky), "
            f"{e:,} by a full eigen-solve."
        )
    if how.method == "tracking":
        return (
            f"Spectral norms by warm-started Rayleigh–Ritz (the tracking engine, {e:,} flat tops "
            "solved exactly), tested to 10⁻³ in log₁₀ against a float64 SVD."
        )
    size = f" (n = {n:,}, the size of the state {state})" if n else " (n the size of the state)"
    return f"rms norms: Frobenius norm / √n of each product{size}, exact to rounding."


def at_init(cfg: RunConfig) -> InitView:
    c = init_config(cfg)
    return _at_init(c.to_json(), heatmap_size(c))


_MEASURED: set[str] = set()  # decay keys computed in this process (to show progress only when needed)


@st.cache_data(max_entries=128, show_spinner=False)
def _decay(cfg_json: str) -> tuple[float, list[float]]:
    # the Lab's own view of this config (same columns, same fit), so a card shows the Lab's number
    view = _at_init(cfg_json, heatmap_size(RunConfig.from_dict(json.loads(cfg_json))))
    return view.slope, [float(v) for v in view.mean if math.isfinite(v)]


def decay_per_step(cfg: RunConfig) -> float:
    """Measured log10 change per step back in time at initialisation (cheap, cached)."""
    return decay_profile(cfg)[0]


def decay_profile(cfg: RunConfig) -> tuple[float, list[float]]:
    """(slope in log10 per step, the mean lag profile in log10) at initialisation, cached."""
    key = init_config(cfg).to_json()
    value = _decay(key)
    _MEASURED.add(key)
    return value


def decay_cached(cfg: RunConfig) -> bool:
    return init_config(cfg).to_json() in _MEASURED


# ---- views too large to redraw on every change: a click, the server's budget, a child process ----------

MAX_VIEWS_ENV = "RNNLAB_MAX_VIEWS"
INIT_VIEW_GATE = gate.FifoGate(max(1, int(gate.env_int(MAX_VIEWS_ENV, 1))))
"""Large at-init views computed at once on this server (each in its own process, within
rnnlab.budget's memory budget); the others wait their turn, like trainings."""
_JOBS = "_view_jobs"  # this session's large views: key -> InitViewJob
_DONE: dict[tuple[str, int | None], InitView] = {}  # finished large views, shared by every session
_DONE_MAX = 8
MAX_JOBS = 2  # per session: starting a third stops the oldest (Compare computes A and B)


@dataclass
class InitViewJob:
    """One large at-init view, computed in a child process (ui.worker.view) once the view gate admits
    it. Thread-safe enough for a fragment that polls it: state, fraction, result and error are only
    ever replaced, never mutated."""

    cfg: RunConfig
    max_columns: int | None
    session: str | None
    ticket: int = field(default_factory=gate.next_ticket)
    state: RunState = RunState.QUEUED
    fraction: float = 0.0
    result: InitView | None = None
    error: str = ""
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def key(self) -> str:
        return key(self.cfg)

    @property
    def active(self) -> bool:
        return self.state.active

    def stop(self) -> None:
        self._stop.set()

    def start(self) -> InitViewJob:
        threading.Thread(target=self._main, name=f"rnnlab-view-{self.ticket}", daemon=True).start()
        sessions.watch(self)
        return self

    def _main(self) -> None:
        if not INIT_VIEW_GATE.acquire(self.ticket, self._stop.is_set):
            self.state = RunState.STOPPED
            return
        try:
            self.state = RunState.RUNNING
            a = self._compute()
            if a is None:
                self.state = RunState.STOPPED
                return
            view = view_of(self.cfg, a)
            _remember((self.key, self.max_columns), view)
            self.result, self.state = view, RunState.DONE
        except Exception as e:
            log.exception("at-init view failed")
            self.error, self.state = str(e) or type(e).__name__, RunState.FAILED
        finally:
            INIT_VIEW_GATE.release(self.ticket)

    def _compute(self) -> dict | None:
        """rnnlab.analyse in a child process; None when stopped (the process is ended at once)."""
        from . import worker

        ctx = processes.mp_context()
        recv, send = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        proc = ctx.Process(
            target=worker.view,
            args=(self.cfg.to_json(), self.max_columns, send, stop),
            daemon=True,
            name=f"rnnlab-view-{self.ticket}",
        )
        proc.start()
        send.close()
        try:
            while True:
                if self._stop.is_set():
                    return None  # a view has nothing worth keeping half-done: end the process now
                if not recv.poll(0.1):
                    continue
                try:
                    kind, payload = recv.recv()
                except EOFError:
                    raise TrainingError(
                        f"the process computing the view ended unexpectedly (exit code {proc.exitcode})"
                    ) from None
                if kind == "progress":
                    self.fraction = float(payload)
                elif kind == "result":
                    return payload
                else:
                    raise TrainingError(payload)
        finally:
            recv.close()
            if proc.is_alive():
                proc.kill()
            proc.join(5)


def _remember(k: tuple[str, int | None], view: InitView) -> None:
    _DONE[k] = view
    while len(_DONE) > _DONE_MAX:
        _DONE.pop(next(iter(_DONE)))


def _start_job(cfg: RunConfig, max_columns: int | None) -> None:
    jobs: dict[str, InitViewJob] = st.session_state.setdefault(_JOBS, {})
    old = jobs.pop(key(cfg), None)
    if old is not None:
        old.stop()
    running = [k for k, j in jobs.items() if j.active]
    for k in running[: max(0, len(running) - MAX_JOBS + 1)]:  # keep at most MAX_JOBS at once
        jobs.pop(k).stop()
    jobs[key(cfg)] = InitViewJob(init_config(cfg), max_columns, sessions.session_id()).start()


def _stop_job(k: str) -> None:
    job = st.session_state.get(_JOBS, {}).get(k)
    if job is not None:
        job.stop()


def init_view(cfg: RunConfig, where: str, label: str = "This network") -> InitView | None:
    """The view at initialisation of cfg, for any page.

    Small views (automatic) are computed at once and cached. A larger one is planned against the
    server's budget (rnnlab.budget: refused with what would fit, or fewer columns k), waits for a
    click, then runs in a child process behind the view gate while a progress bar shows; the page gets
    None until it is ready and draws what does not need it. `where` keys the widgets, `label` names
    the network in the messages ("A's network").
    """
    if automatic(cfg):
        return at_init(cfg)
    c = init_config(cfg)
    plan = budget.plan_view(c)
    if not plan.ok:
        st.warning(plan.refused, icon=":material/memory:")
        return None
    done = _DONE.get((key(c), plan.columns))
    if done is not None:
        return done
    job = st.session_state.get(_JOBS, {}).get(key(c))
    if job is not None and job.state == RunState.DONE and job.max_columns == plan.columns:
        return job.result
    if job is not None and job.active:
        _progress(key(c), where)
        return None
    n = budget.state_size(c)
    st.info(
        f"{label} is large for an instant view (sequence length {c.seq_total}, state size {n}): its "
        f"Jacobian products are about {plan.gflop:,.0f} GFLOP of work and {plan.mb:,.0f} MB of memory, "
        f"computed in the background on this server. Views up to length {AUTO_MAX_LEN} and state size "
        f"{AUTO_MAX_STATE} redraw by themselves." + (f" {plan.note}" if plan.note else ""),
        icon=":material/hourglass_top:",
    )
    if job is not None and job.state == RunState.FAILED:
        st.error(f"The last attempt failed: {job.error}", icon="🚫")
    st.button(
        "Compute the view at initialisation",
        on_click=_start_job,
        args=(c, plan.columns),
        key=f"{where}.compute",
        icon=":material/calculate:",
    )
    return None


def _progress(k: str, where: str) -> None:
    """A large view's progress, redrawn twice a second; a full rerun draws it when it is done."""

    @st.fragment(run_every=0.5)
    def panel() -> None:
        job = st.session_state.get(_JOBS, {}).get(k)
        if job is None or not job.active:
            st.rerun()
            return
        ahead = INIT_VIEW_GATE.ahead(job.ticket) if job.state == RunState.QUEUED else 0
        text = (
            f"Waiting for the server: {ahead} view{'s' if ahead != 1 else ''} ahead of this one."
            if job.state == RunState.QUEUED
            else f"Computing the Jacobian products… {job.fraction:.0%}"
        )
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.progress(job.fraction, text=text)
        c2.button("Stop", on_click=_stop_job, args=(k,), key=f"{where}.stopview", icon=":material/stop:")

    panel()
