"""The Lab page's sections: the network at initialisation, and training (live)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import streamlit as st

from rnnlab import RunConfig, measure, notebook, plots, theory
from rnnlab.comparison import per_step
from rnnlab.config import format_value
from rnnlab.verdict import DIVERGED, LEARNED, NOT_LEARNED, WORSE, Verdict

from . import analysis, dynamics, runner, widgets
from .names import SLOT_LAB
from .runs import backends
from .runs.states import RunState
from .runs.training import RunView
from .state import Screen

# ---- at initialisation ----------------------------------------------------------------------------


def at_init(screen: Screen) -> None:
    cfg = screen.cfg
    st.subheader("At initialisation", anchor="init")
    st.caption(
        "How much a change in the hidden state at step k still moves the state at a later step t, "
        "before any training. Every control redraws this view."
    )
    with st.spinner("Computing the Jacobian products…"):
        a = analysis.init_view(cfg, "lab")
    if a is None:  # a large view: refused, waiting for a click, or computing in the background
        return
    left, right = st.columns([1.08, 1], gap="medium")
    with left:
        fig = plots.jacobian_heatmap(
            a.jacobian,
            norm=cfg.norm,
            tbptt=cfg.tbptt,
            color_range=screen.ui.get("crange", "fixed"),
            title="log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ at initialisation",
        )
        widgets.chart(fig, "heatmap-init")
        st.caption(" ".join(x for x in (a.stride_note, a.how_note, "Hover a cell for its value.") if x))
    with right:
        fig = plots.lag_profile_figure(
            a.lags, a.mean, a.lo, a.hi, a.lines, title="Norm against the lag t − k"
        )
        widgets.chart(fig, "lag-profile-init")
        if cfg.cell != "rnn":
            st.caption(
                "The norm bound and the mean-field line are stated for the vanilla cell; for "
                f"{cfg.cell} only the measurement is shown."
            )
        elif not analysis.mean_field_applies(cfg):
            st.caption(
                "No mean-field line: it assumes a random W_hh, and the identity init is not one "
                "(each unit only feeds itself)."
            )
    left, right = st.columns([1, 1.08], gap="medium")
    with left:
        reading(cfg, a)
    with right:
        fig = plots.eigen_figure(a.eigvals, title="Eigenvalues of W<sub>hh</sub>")
        widgets.chart(fig, "eigenvalues-init")
    dynamics.panel(a.spectrum, a.jacobian, cfg, mean_field=a.predicted * dynamics.LN10)


def reading(cfg: RunConfig, a: analysis.InitView) -> None:
    st.markdown("##### What this says")
    cols = st.columns(3)
    if math.isfinite(a.slope):
        factor = 10**a.slope
        cols[0].metric(
            "per step back",
            f"×{factor:.3g}",
            help="Measured: the slope of the lag profile, as a factor per step.",
        )
        cols[1].metric(
            "1000-fold " + ("fall" if a.slope < 0 else "rise"),
            theory.thousandfold(a.slope, cfg.seq_total),
            help="Steps back in time until the norm changes a thousand-fold (at this rate).",
        )
    else:
        cols[0].metric("per step back", "n/a")
        cols[1].metric("1000-fold change", "n/a")
    if cfg.cell == "rnn":
        sg = a.sigma_max * theory.gamma(cfg.act)
        cols[2].metric(
            "σ_max·γ",
            f"{sg:.3g}",
            help="Largest singular value of W_hh times the "
            "activation's largest slope. Below 1 vanishing is guaranteed; above 1 exploding "
            "becomes possible (Pascanu et al. 2013).",
        )
    else:
        cols[2].metric("ρ(W_hh)", f"{a.rho:.3g}")
    st.markdown(a.text)
    st.caption(
        f"Measured on one probe sequence of the {cfg.task} task; spectral radius ρ = {a.rho:.3g}, "
        f"σ_max = {a.sigma_max:.3g}"
        + (f", preactivation variance q = {a.preact_var:.3g}." if math.isfinite(a.preact_var) else ".")
    )


# ---- training ------------------------------------------------------------------------------------------


def _start(cfg: RunConfig) -> None:
    runner.start_run(SLOT_LAB, cfg)


def _stop() -> None:
    runner.stop_runs(SLOT_LAB)


def training(screen: Screen) -> None:
    cfg = screen.cfg
    st.subheader("Training", anchor="training")
    backends.warm_up()
    run = runner.get_run(SLOT_LAB)
    active = run is not None and run.active
    b1, b2, b3 = st.columns([1, 1, 5], vertical_alignment="center")
    b1.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        on_click=_start,
        args=(cfg,),
        disabled=active or cfg.steps == 0,
        key="lab.train",
        width="stretch",
        help="Train this configuration (runs in the background; the charts update live).",
    )
    b2.button(
        "Stop",
        icon=":material/stop:",
        on_click=_stop,
        disabled=not active,
        key="lab.stop",
        width="stretch",
        help="Stop after the current update and keep what was trained.",
    )
    if cfg.steps == 0:
        b3.caption("steps = 0: analysis at initialisation only.")
    elif run is None:
        b3.caption(
            f"{cfg.steps} steps of {cfg.batch} sequences, {cfg.optimizer}, lr {cfg.lr:g}"
            + (f", clip {cfg.clip:g} ({cfg.clip_mode})" if cfg.clip else "")
            + (f", TBPTT window {cfg.tbptt}" if cfg.tbptt else ", full BPTT")
            + "."
        )
    if run is None:
        return
    live(screen, active)


def live(screen: Screen, was_active: bool) -> None:
    """The run's charts, redrawn twice a second while it trains."""

    def panel() -> bool | None:
        run = runner.get_run(SLOT_LAB)
        if run is None:
            return None
        v = run.view()
        status(v)
        if v.cfg.as_dict() != screen.cfg.as_dict() and not v.active:
            diff = v.cfg.diff(screen.cfg)
            st.info(
                "These results are from a run with other settings ("
                + ", ".join(f"{k} = {format_value(a)}" for k, (a, _) in diff.items())
                + "). Press Train to run the current settings.",
                icon=":material/history:",
            )
        if v.records or v.result is not None:
            charts(v, screen)
        return v.active

    widgets.live(was_active, panel)


def status(v: RunView) -> None:
    if widgets.run_progress(v, widgets.LAB_WORDS):
        return
    steps = v.cfg.steps
    if v.state == RunState.STOPPED and v.result is None:
        st.info("Stopped before training started.", icon=":material/stop:")
    elif v.result is not None:
        if v.state == RunState.DONE:
            st.progress(1.0, text=f"Done: {steps} steps in {v.elapsed:.1f} s")
        elif v.state == RunState.STOPPED:
            st.progress(
                v.fraction, text=f"Stopped at step {v.steps_done} of {steps}; what was trained is kept."
            )
        verdict_box(v.result.verdict)


def verdict_box(vd: Verdict) -> None:
    """Whether the run learned, in the colour of its case, with the advice that fits it."""
    box = {LEARNED: st.success, NOT_LEARNED: st.warning, WORSE: st.warning, DIVERGED: st.error}.get(
        vd.kind, st.info
    )
    icon = {LEARNED: ":material/check_circle:", DIVERGED: ":material/warning:"}.get(
        vd.kind, ":material/info:"
    )
    box(f"**{vd.headline}**" + (f" {vd.advice}" if vd.advice else ""), icon=icon)


def charts(v: RunView, screen: Screen) -> None:
    cfg = v.cfg
    m = v.metrics()
    res = v.result
    diverged_at = res.summary.get("diverged_at") if res is not None else None
    div_update = None
    if diverged_at is not None and len(m) and int(m["step"].iloc[-1]) == diverged_at:
        div_update = int(m["update"].iloc[-1])  # not when only the final evaluation overflowed
    if res is not None and not _any_finite(m, ("seq_loss", "grad_norm")):
        if diverged_at is not None:
            st.caption(
                "No finite loss or gradient to draw: the run overflowed in its first update. The "
                "heatmap below shows why: the products of Jacobians at initialisation."
            )
        else:
            st.caption(
                "The run ended before its first update: nothing to draw but the network it started from."
            )
        snapshots(res, screen)
        downloads(res)
        return
    # a stopped or diverged run ends where it ended, not at the planned last step
    end = (
        res.summary.get("steps_done", cfg.steps)
        if res is not None and (diverged_at is not None or res.summary.get("stopped_early"))
        else cfg.steps
    )

    def loss() -> None:
        fig = plots.loss_figure(
            per_step(m),
            baseline=res.summary["baseline_loss"] if res else None,
            final_loss=res.summary["final_loss"] if res else None,
            steps=end,
            diverged_at=diverged_at,
            title="Loss",
        )
        widgets.chart(fig, "loss", key="lab.loss")

    def grad_norm() -> None:
        fig = plots.grad_norm_figure(
            m,
            clip=cfg.clip,
            clip_mode=cfg.clip_mode,
            diverged_at_update=div_update,
            title="Gradient norm per update",
        )
        widgets.chart(fig, "grad-norm", key="lab.gradnorm")

    def grad_time() -> None:
        if res is not None and res.arrays["grad_time"].size:
            fig = plots.grad_time_figure(
                res.arrays["grad_time"],
                tbptt=cfg.tbptt,
                steps=res.metrics["step"].to_numpy(),
                title="Temporal gradient profile ‖∂L/∂h<sub>k</sub>‖",
            )
            widgets.chart(fig, "grad-time", key="lab.gradtime")
        else:
            st.markdown("**Temporal gradient profile**")
            st.caption("‖∂L/∂h_k‖ for every update and position appears here when the run finishes.")

    def radius() -> None:
        fig = plots.radius_figure(m, title="Spectral radius of W<sub>hh</sub>")
        widgets.chart(fig, "spectral-radius", key="lab.radius")

    panels = [loss, grad_norm, grad_time, radius]
    if cfg.optimizer == "hf":  # next to the loss: how far HF trusted its quadratic model
        panels.insert(1, lambda: hf_chart(m))
    for i in range(0, len(panels), 2):  # two charts a row
        for col, panel in zip(st.columns(2, gap="medium"), panels[i : i + 2]):
            with col:
                panel()
    if res is None:
        if v.snapshot is not None:  # the latest snapshot while the run trains
            step, snap = v.snapshot
            st.markdown("##### Jacobian heatmap over training")
            st.caption(
                f"Latest snapshot, taken at step {step} of {cfg.steps}; the slider over every "
                "snapshot appears when the run finishes."
            )
            snapshot_charts(snap.heatmap, snap.eigvals, step, cfg, screen)
        return
    snapshots(res, screen)
    downloads(res)


def hf_chart(m) -> None:
    """Hessian-free's damping and CG iterations per update, with one line on how to read them."""
    fig = plots.hf_figure(m, title="Hessian-free: damping λ and CG iterations")
    widgets.chart(fig, "hf", key="lab.hf")
    st.caption(
        "λ falls when the quadratic model predicted the loss's decrease well and rises when it "
        "over-promised; more CG iterations mean a longer, more curvature-shaped step."
    )


def _any_finite(m, columns) -> bool:
    """Whether any of these metrics columns holds a finite value (a run that overflowed at its first
    forward pass has none: its charts would be empty axes)."""
    return any(c in m and np.isfinite(m[c].to_numpy(float)).any() for c in columns)


def snapshots(res, screen: Screen) -> None:
    steps = [int(s) for s in res.snapshot_steps]
    if not steps:
        return
    st.markdown("##### Jacobian heatmap over training")
    i = steps.index(widgets.snapshot_step(steps, key="lab.snapshot"))
    snapshot_charts(res.arrays["jacobian"][i], res.arrays["eigvals"][i], steps[i], res.config, screen)
    dynamics.panel(
        dynamics.spectrum_of(res, i),
        res.arrays["jacobian"][i],
        res.config,
        key="snap",
        title_at=f"at step {steps[i]}",
    )
    dynamics.over_training(res)


def snapshot_charts(jac, eigvals, step: int, cfg: RunConfig, screen: Screen) -> None:
    """The heatmap and the eigenvalues of one snapshot, side by side."""
    c1, c2 = st.columns([1.08, 1], gap="medium")
    with c1:
        fig = plots.jacobian_heatmap(
            jac,
            norm=cfg.norm,
            tbptt=cfg.tbptt,
            color_range=screen.ui.get("crange", "fixed"),
            title=f"log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ at step {step}",
        )
        widgets.chart(fig, f"heatmap-step-{step}", key="lab.snapheat")
        f = measure.factor(measure.decay_slope(jac)) if np.isfinite(jac).any() else math.nan
        if math.isfinite(f):
            st.caption(
                f"Per step back at step {step}: ×{f:.3g} (the slope of this map's lag profile, "
                "read as at initialisation above)."
            )
    with c2:
        fig = plots.eigen_figure(eigvals, title=f"Eigenvalues of W<sub>hh</sub> at step {step}")
        widgets.chart(fig, f"eigenvalues-step-{step}", key="lab.snapeig")


def _files(res) -> dict[str, bytes]:
    cache = getattr(res, "_ui_files", None)
    if cache is None:
        cache = {**res.files(), "rnnlab-run.zip": res.to_zip()}
        with contextlib.suppress(ImportError):  # nbformat missing: the other downloads still work
            cache[NOTEBOOK] = notebook.notebook(res.config).encode()
        res._ui_files = cache
    return cache


NOTEBOOK = "notebook.ipynb"  # the key in _files; the download is named after the config
DOWNLOADS = {  # file: (label, mime)
    "metrics.csv": ("metrics.csv", "text/csv"),
    "config.json": ("config.json", "application/json"),
    "arrays.npz": ("arrays.npz", "application/octet-stream"),
    "rnnlab-run.zip": ("all (zip)", "application/zip"),
    NOTEBOOK: ("Notebook (.ipynb)", "application/x-ipynb+json"),
}


def downloads(res) -> None:
    st.markdown("##### Downloads")
    files = _files(res)
    names = [n for n in DOWNLOADS if n in files]
    for col, name in zip(st.columns(len(names)), names):
        label, mime = DOWNLOADS[name]
        col.download_button(
            label,
            files[name],
            file_name=notebook.notebook_name(res.config) if name == NOTEBOOK else name,
            mime=mime,
            on_click="ignore",
            icon=":material/download:",
            key=f"lab.dl.{name}",
            width="stretch",
            help=(
                "A Jupyter notebook that reproduces this run with the Python API: the configuration, "
                "run(...) and these charts (same seed, same final loss)."
                if name == NOTEBOOK
                else None
            ),
        )
    st.caption(
        "Each chart saves as PNG from its toolbar (camera icon). The zip also holds summary.json; "
        "`rnnlab.reading.load_zip` reads it back. The notebook trains this configuration again with "
        "`rnnlab.run` and draws these charts"
        + ("." if NOTEBOOK in files else " (it needs nbformat: `pip install nbformat`).")
    )
