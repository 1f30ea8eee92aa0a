"""The dynamics view: the Lyapunov spectrum, its convergence, and the exponents over training.

Plain data in, `go.Figure` out; no Streamlit here. Exponents are natural log per step (a gradient
component along the i-th direction changes by a factor e^lambda_i per step back); zero is drawn as a
line because it separates the directions that fade (below) from those that grow (above).

- `lyapunov_figure(exponents, ...)`: every exponent against its index, zero marked, with lambda_1 as
  the mean field predicts it and as the heatmap's slope reads it.
- `lyapunov_running_figure(running, warmup)`: the running estimate of the top exponents along the probe.
- `lyapunov_training_figure(steps, exponents)`: the top exponents at every snapshot of a run.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .style import LINE, MUTED, UNCHECKED, figure, int_axis, line_mode, line_trace, vline

TOP_COLOURS = ("#1f2937", "#7c3aed", "#0f766e")  # lambda_1, lambda_2, lambda_3


def _finite_floor(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Values with -inf (a direction a step zeroes exactly) drawn at a floor below the finite ones."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    floor = float(finite.min() - 0.25 * max(np.ptp(finite), 0.1)) if finite.size else -1.0
    return np.where(np.isneginf(v), floor, v), floor


def lyapunov_figure(
    exponents: np.ndarray,
    *,
    mean_field: float = math.nan,
    heatmap_slope: float = math.nan,
    title: str | None = None,
    height: int = 360,
) -> go.Figure:
    """Exponents lambda_i (ln per step) against i as bars, red above zero, blue below; trace 0 the bars.

    mean_field and heatmap_slope (ln per step, NaN to leave out) are drawn as horizontal lines."""
    lam, _ = _finite_floor(exponents)
    i = np.arange(1, len(lam) + 1)
    colour = np.where(lam >= 0, LINE["bound"], LINE["rho"])
    text = [("−∞ (zeroed)" if np.isneginf(v) else f"{v:.4f}") for v in np.asarray(exponents, float)]
    traces: list = [
        go.Bar(
            **UNCHECKED,
            x=i,
            y=lam,
            marker=dict(color=colour.tolist(), opacity=0.55, line=dict(width=0)),
            name="λ<sub>i</sub> (QR method)",
            customdata=text,
            hovertemplate="λ<sub>%{x}</sub> = %{customdata} per step<extra></extra>",
        )
    ]
    x0, x1 = 0.5, len(lam) + 0.5
    if math.isfinite(mean_field):
        traces.append(line_trace(x0, x1, mean_field, "λ<sub>1</sub>, mean field", LINE["mean_field"]))
    if math.isfinite(heatmap_slope):
        traces.append(line_trace(x0, x1, heatmap_slope, "heatmap slope × ln 10", LINE["measured"], "dot"))
    zero = dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0, line=dict(color=MUTED, width=1.5))
    return figure(
        traces,
        title,
        height,
        xaxis=dict(title=dict(text="index i (largest first)"), range=[x0, x1]),
        yaxis=dict(title=dict(text="λ<sub>i</sub>, ln per step")),
        shapes=[zero],
        bargap=0.1 if len(lam) < 40 else 0.0,
    )


def lyapunov_running_figure(
    running: np.ndarray, warmup: int, *, title: str | None = None, height: int = 300
) -> go.Figure:
    """The running estimate of the top exponents (T - warmup, m) against the probe step: a curve that
    is still moving at the right edge says the probe is too short for the digits shown."""
    run = np.asarray(running, dtype=float)
    steps = np.arange(warmup + 1, warmup + run.shape[0] + 1)
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=steps,
            y=np.where(np.isfinite(run[:, j]), run[:, j], np.nan),
            mode="lines",
            name=f"λ<sub>{j + 1}</sub>",
            line=dict(color=TOP_COLOURS[j % len(TOP_COLOURS)], width=1.6),
            hovertemplate=f"step %{{x}}: λ<sub>{j + 1}</sub> ≈ %{{y:.4f}}<extra></extra>",
        )
        for j in range(run.shape[1])
    ]
    zero = dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0, line=dict(color=MUTED, width=1))
    return figure(
        traces,
        title,
        height,
        xaxis=dict(title=dict(text="probe step t (after the warm-up)")),
        yaxis=dict(title=dict(text="running estimate, ln per step")),
        shapes=[zero],
    )


def lyapunov_training_figure(
    steps: np.ndarray, exponents: np.ndarray, *, top: int = 3, title: str | None = None, height: int = 300
) -> go.Figure:
    """The top exponents (S, K) at every snapshot step (S,), zero marked: how training moved them."""
    lam = np.asarray(exponents, dtype=float)
    x = np.asarray(steps)
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=x,
            y=np.where(np.isfinite(lam[:, j]), lam[:, j], np.nan),
            mode=line_mode(len(x) if len(x) > 1 else 1),
            name=f"λ<sub>{j + 1}</sub>",
            line=dict(color=TOP_COLOURS[j % len(TOP_COLOURS)], width=1.8),
            marker=dict(size=6),
            hovertemplate=f"step %{{x}}: λ<sub>{j + 1}</sub> = %{{y:.4f}}<extra></extra>",
        )
        for j in range(min(top, lam.shape[1]))
    ]
    zero = dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0, line=dict(color=MUTED, width=1))
    return figure(
        traces,
        title,
        height,
        xaxis=dict(title=dict(text="training step"), **int_axis(x)),
        yaxis=dict(title=dict(text="λ<sub>i</sub>, ln per step")),
        shapes=[zero],
    )


KIND_COLOURS = {"fixed point": "#2171b5", "cycle": "#0f766e", "chaos": "#d7301f", "aperiodic": "#9ca3af"}
CLIFF = "#d7301f"  # the dotted lines at loss jumps and gradient spikes


def _kind_name(p: int) -> str:
    return "fixed point" if p == 1 else "cycle" if p > 1 else "chaos" if p == 0 else "aperiodic"


def orbit_figure(
    steps: np.ndarray,
    orbits: np.ndarray,
    period: np.ndarray,
    cliffs: np.ndarray | None = None,
    *,
    title: str | None = None,
    height: int = 340,
) -> go.Figure:
    """Orbit (bifurcation) diagram: every recorded mean activity (S, P, R) at its snapshot step (S,),
    one trace per kind of attractor (period (S, P): 1 fixed point, p > 1 cycle, 0 chaos, -1 aperiodic);
    dotted lines at `cliffs`, the training steps where the loss jumped or the gradient spiked."""
    pts, per = np.asarray(orbits, dtype=float), np.asarray(period)
    _, P, R = pts.shape
    cliffs = np.zeros(0) if cliffs is None else np.asarray(cliffs, dtype=float)
    x = np.repeat(np.asarray(steps, dtype=float)[:, None, None], P, 1).repeat(R, 2)  # (S, P, R)
    kinds = np.vectorize(_kind_name, otypes=[object])(per) if per.size else per.astype(object)
    traces = []
    for name, colour in KIND_COLOURS.items():
        sel = kinds == name  # (S, P)
        if not sel.any():
            continue
        periods = np.repeat(per[:, :, None], R, 2)[sel]
        traces.append(
            go.Scatter(
                **UNCHECKED,
                x=x[sel].ravel(),
                y=pts[sel].ravel(),
                mode="markers",
                name=name,
                marker=dict(size=4, color=colour, opacity=0.6),
                customdata=periods.ravel(),
                hovertemplate="step %{x}: mean activity %{y:.4f} (period code %{customdata})<extra></extra>",
            )
        )
    shapes = [vline(float(c), CLIFF)[0] for c in cliffs]
    if len(cliffs):
        traces.append(
            go.Scatter(
                **UNCHECKED,
                x=[None],
                y=[None],
                mode="lines",
                name="loss jump / gradient spike",
                line=dict(color=CLIFF, width=1.5, dash="dot"),
            )
        )
    return figure(
        traces,
        title,
        height,
        xaxis=dict(title=dict(text="training step"), **int_axis(np.asarray(steps))),
        yaxis=dict(title=dict(text="mean activity (1/H) Σ h<sub>i</sub>")),
        shapes=shapes,
    )
