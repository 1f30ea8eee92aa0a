"""The Lab's dynamics view: the Lyapunov spectrum beside the heatmap, at initialisation and over training."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from rnnlab import RunConfig, attractors, lyapunov, plots
from rnnlab.cells import state_size
from rnnlab.lyapunov import SlopeGap, Spectrum

from . import widgets

LN10 = math.log(10.0)


def words(lam: np.ndarray, L: int) -> str:
    """What a spectrum means for learning long dependencies, in plain words."""
    finite = lam[np.isfinite(lam)]
    near = int(np.sum(np.abs(finite) < 1.0 / max(L, 1)))  # lose less than a factor e over the sequence
    pos = int(np.sum(lam >= 0))
    k = len(lam)
    if pos == 0:
        head = (
            f"All {k} exponents are negative: along every direction a change in the state fades, "
            f"the slowest by a factor e^({lam[0]:.3f}) = {math.exp(lam[0]):.3g} per step back. A "
            "gradient from far back reaches the loss only through the few exponents nearest zero."
        )
    else:
        head = (
            f"{pos} of {k} exponents are at or above zero: along those directions a small change "
            "in the state grows (chaos, when the largest is clearly positive), so a gradient from "
            "far back can explode along them while the others fade."
        )
    many = "No direction stays" if near == 0 else f"{near} direction{'s stay' if near > 1 else ' stays'}"
    return (
        head + f" {many} within a factor e over the {L} steps of the sequence (|λ| < 1/{L}): "
        "that is how many can carry a dependency across the whole sequence."
    )


def metrics(spec: Spectrum, gap: SlopeGap | None, mean_field: float, norm: str) -> None:
    c = st.columns(4)
    c[0].metric("λ₁ (QR)", f"{spec.lambda_1:.4f}", help="Largest exponent, natural log per step.")
    if gap is not None and math.isfinite(gap.slope_ln):
        ok = (
            f"{'within' if gap.agrees else 'outside'} the tolerance ±{gap.tolerance:.3f} derived in "
            "rnnlab.lyapunov.SlopeGap (for the spectral norm)"
            if math.isfinite(gap.tolerance)
            else "to be read against the tolerance derived in rnnlab.lyapunov.SlopeGap"
        )
        c[1].metric(
            "heatmap slope × ln 10",
            f"{gap.slope_ln:.4f}",
            help=(
                f"The {norm} heatmap's lag profile fitted over lags {gap.min_lag}..{gap.max_lag}: the "
                f"same rate measured another way. The gap is {ok}."
            ),
        )
    else:
        c[1].metric("heatmap slope × ln 10", "n/a")
    c[2].metric(
        "λ₁, mean field",
        f"{mean_field:.4f}" if math.isfinite(mean_field) else "n/a",
        help="0.5 ln χ for a random W_hh at the measured preactivation variance (vanilla cell only).",
    )
    if gap is not None and math.isfinite(gap.slope_ln):
        tol = f" (tolerance ±{gap.tolerance:.3f})" if math.isfinite(gap.tolerance) else ""
        st.caption(
            f"λ₁ − heatmap slope = {gap.gap:+.4f}{tol}: the QR method and the heatmap's lag profile "
            f"(lags {gap.min_lag}..{gap.max_lag}) measure the same growth rate two ways."
        )
    c[3].metric(
        "Kaplan-Yorke dim.",
        f"{spec.kaplan_yorke:.2f}",
        help=f"{spec.nonnegative} exponents ≥ 0. The dimension of the attractor the exponents imply: "
        "0 for a fixed point, about 1 for a cycle, more for chaos.",
    )


def convergence_note(spec: Spectrum) -> str:
    drift = spec.drift
    if not math.isfinite(drift):
        return "Too few steps after the warm-up to judge convergence."
    rel = "settled" if drift < 0.1 * max(abs(spec.lambda_1), 0.01) else "still moving"
    return (
        f"Averaged over {spec.steps} probe steps after a warm-up of {spec.warmup}; over the last half "
        f"λ₁'s running estimate moved by {drift:.3g} ({rel}"
        + ("" if rel == "settled" else ": a longer sequence would pin it down")
        + ")."
    )


CHARTS_OPEN = "lyap_charts_open"  # + "." + the panel's key: its chart expander's state (session only)


def panel(
    spec: Spectrum | None,
    heatmap: np.ndarray,
    cfg: RunConfig,
    *,
    mean_field: float = math.nan,
    key: str = "init",
    title_at: str = "at initialisation",
) -> None:
    """The "Lyapunov spectrum" panel: the numbers and the words, then its two charts (the bars with
    zero marked, and the estimate's convergence) in an expander drawn only while it is open.

    Why an expander: every control change re-plots every chart on the page, and in the browser each
    costs tens of milliseconds. With a cached view, a rho change redrew in a median of 529 ms with
    these two and 379 ms without (Chromium, 2-core machine, 2026-12-03; docs/DESIGN.md 10.1). The
    numbers that tie the spectrum to the heatmap stay in view."""
    st.markdown("##### Lyapunov spectrum")
    if spec is None:
        st.caption("No spectrum: the step Jacobians were not formed here (diverged, or over a budget).")
        return
    gap = lyapunov.slope_gap(spec, heatmap) if np.isfinite(heatmap).any() else None
    metrics(spec, gap, mean_field, cfg.norm)
    st.markdown(words(spec.exponents, cfg.seq_total))
    box = widgets.drawn_when_open(
        f"Charts: the {len(spec.exponents)} exponents, and how their estimate converged",
        f"{CHARTS_OPEN}.{key}",
        ":material/bar_chart:",
    )
    if box is None:
        return
    with box:
        left, right = st.columns([1.08, 1], gap="medium")
        with left:
            fig = plots.lyapunov_figure(
                spec.exponents,
                mean_field=mean_field,
                heatmap_slope=gap.slope_ln if gap is not None else math.nan,
                title=f"Exponents λ<sub>i</sub> {title_at}",
            )
            widgets.chart(fig, f"lyapunov-{key}", key=f"lab.lyap.{key}")
            part = "" if spec.k == spec.n else f" (the top {spec.k} of {spec.n}, within this server's budget)"
            st.caption(
                f"Each bar is one direction of the state{part}: a change along it is multiplied by "
                "e^λ per step. Red: grows; blue: fades. The QR method carries orthonormal directions "
                "through the same step Jacobians the heatmap multiplies."
            )
        with right:
            fig = plots.lyapunov_running_figure(
                spec.running, spec.warmup, title="Running estimate of the top exponents"
            )
            widgets.chart(fig, f"lyapunov-running-{key}", key=f"lab.lyaprun.{key}")
            st.caption(convergence_note(spec))


def over_training(res) -> None:
    """The orbit diagram and the top exponents at every snapshot of a finished run (each absent for
    an export that predates it)."""
    lam, orbits = res.arrays.get("lyapunov"), res.arrays.get("orbits")
    has_lam = lam is not None and lam.size and np.isfinite(lam).any()
    has_orbits = orbits is not None and orbits.size
    if not (has_lam or has_orbits):
        return
    st.markdown("##### Dynamics over training")
    left, right = st.columns(2, gap="medium")
    if has_orbits:
        m = res.metrics
        hits = attractors.cliffs(m["grad_norm"].to_numpy(float), m["seq_loss"].to_numpy(float))
        cliff_steps = np.unique(m["step"].to_numpy()[hits]) if hits.size else np.zeros(0)
        with left:
            fig = plots.orbit_figure(
                res.snapshot_steps,
                orbits,
                res.arrays["orbit_period"],
                cliff_steps,
                title="Where the network settles (orbit diagram)",
            )
            widgets.chart(fig, "orbit-diagram", key="lab.orbits")
            st.caption(
                f"At each snapshot the network runs on its own (input held at 0) from "
                f"{orbits.shape[1]} start states for {attractors.SETTLE} steps, then {orbits.shape[2]} "
                "steps are drawn as its mean activity. One dot: a fixed point; p dots: a cycle; a "
                "smear: chaos. Dotted lines: updates where the loss jumped or the gradient spiked "
                "(above 5x the median of the 20 before); a change of attractor there is a "
                "bifurcation that training crossed."
            )
    if has_lam:
        with right:
            fig = plots.lyapunov_training_figure(
                res.snapshot_steps, lam, title="Top Lyapunov exponents over training"
            )
            widgets.chart(fig, "lyapunov-training", key="lab.lyaptrain")
            st.caption(
                "λ₁ crossing zero means the trained network moved between fading and growing memory; "
                "the slider above shows the whole spectrum of each snapshot."
            )


def spectrum_of(res, i: int) -> Spectrum | None:
    """Snapshot i's spectrum rebuilt from a run's arrays (None when the export has none)."""
    lam, run = res.arrays.get("lyapunov"), res.arrays.get("lyapunov_running")
    if lam is None or run is None or not lam.shape[1] or not np.isfinite(lam[i]).any():
        return None
    rows = run[i]
    started = np.flatnonzero(~np.isnan(rows).any(axis=1))  # NaN marks the warm-up (-inf is a value)
    warmup = int(started[0]) if started.size else rows.shape[0]
    n = state_size(res.config.cell, res.config.hidden)
    return Spectrum(lam[i], rows[warmup:], n, warmup)
