"""The Lab's analysis charts: the Jacobian heatmap, its lag profile, the eigenvalues of W_hh.

Plain data in, `go.Figure` out; no Streamlit here. Heatmaps of ||dh_t/dh_k|| use one diverging
scale centred on 1 (no change): blue where a change in h_k reaches h_t shrunk (vanishing), red where
amplified (exploding). A product that is exactly zero (dead ReLU units) is log10 = -inf; it cannot
sit on a colour scale, so it is drawn by a second trace in its own colour with its own hover text.

- `jacobian_heatmap(hm, ...)`: log10 ||dh_t/dh_k|| with TBPTT chunk boundaries.
- `lag_profile_figure(lags, mean, lo, hi, lines, ...)`: mean log-norm against the lag t-k, with theory.
- `eigen_figure(eigvals, ...)`: eigenvalues of W_hh on the complex plane with the unit circle.
- `chunk_boundaries(L, window)`: where truncated BPTT cuts the graph (the rule of `train.chunks`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from ..theory import unit_circle_side
from ..train import chunks
from .style import (
    DIVERGING,
    GRID,
    LINE,
    MAX_CELLS,
    MUTED,
    UNCHECKED,
    colorbar,
    colour_range,
    display_index,
    figure,
    line_trace,
    log_ticks,
    pow10_hover,
    zero_overlay,
)


def chunk_boundaries(L: int, window: int) -> list[int]:
    """Steps b after which truncated BPTT with this window cuts the graph: the ends of the chunks of
    `train.chunks` but the last (the boundary lies between step b and step b+1, 1-based)."""
    return [t1 for _, t1 in chunks(L, window)[:-1]]


HOVER_FINITE = (
    "t=%{y}, k=%{x}<br>‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ = <b>" + pow10_hover() + "</b><br>"
    "a change in h<sub>%{x}</sub> moves h<sub>%{y}</sub> by {bound}~" + pow10_hover() + " of its size"
    "<extra></extra>"
)
HOVER_ZERO = (
    "t=%{y}, k=%{x}<br>‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ = <b>exactly zero</b><br>"
    "no change in h<sub>%{x}</sub> reaches h<sub>%{y}</sub> (dead units)<extra></extra>"
)


def jacobian_heatmap(
    hm: np.ndarray,
    *,
    norm: str = "spectral",
    tbptt: int = 0,
    color_range: str | tuple[float, float] = "fixed",
    title: str | None = None,
    max_cells: int = MAX_CELLS,
    height: int = 460,
) -> go.Figure:
    """Heatmap of log10 ||dh_t/dh_k|| (hm[t-1, k-1]; NaN above the diagonal or not computed).

    Traces: [0] the finite values on the diverging scale (-inf cells NaN there), [1] the exactly
    zero cells (z = 1 where hm is -inf, else NaN) in ZERO_COLOUR. TBPTT chunk boundaries are dashed
    lines (layout shapes) at k = b + 0.5 and t = b + 0.5.
    """
    hm = np.asarray(hm, dtype=float)
    if hm.ndim != 2 or hm.shape[0] != hm.shape[1]:
        raise ValueError(f"heatmap must be square (L, L), got shape {hm.shape}")
    L = hm.shape[0]
    idx = display_index(hm, max_cells)
    sub = hm[np.ix_(idx, idx)]  # (n, n)
    steps = idx + 1  # 1-based t (rows) and k (columns)
    zeros = np.where(sub == -np.inf, 1.0, np.nan)
    finite = np.where(np.isfinite(sub), sub, np.nan)
    zmin, zmax = colour_range(finite, color_range)
    tickvals, ticktext = log_ticks(zmin, zmax)
    bound = "at most " if norm == "spectral" else "typically "
    traces = [
        go.Heatmap(
            **UNCHECKED,
            z=finite.astype(np.float32),
            x=steps,
            y=steps,
            zmin=zmin,
            zmax=zmax,
            zmid=0 if zmin < 0 < zmax else None,
            colorscale=DIVERGING,
            hovertemplate=HOVER_FINITE.replace("{bound}", bound),
            hoverongaps=False,
            name="log10 norm",
            colorbar=colorbar("norm", tickvals, ticktext, len=0.92),
        ),
        zero_overlay(zeros, steps, steps, HOVER_ZERO),
    ]
    shapes, annotations = [], []
    line = dict(color="#111827", width=1.2, dash="dash")
    for b in chunk_boundaries(L, tbptt):
        shapes.append(
            dict(type="line", x0=b + 0.5, x1=b + 0.5, y0=0.5, y1=L + 0.5, line=line, name=f"tbptt-k-{b}")
        )
        shapes.append(
            dict(type="line", x0=0.5, x1=L + 0.5, y0=b + 0.5, y1=b + 0.5, line=line, name=f"tbptt-t-{b}")
        )
    if shapes:
        annotations.append(
            dict(
                x=1,
                y=1.0,
                xref="paper",
                yref="paper",
                xanchor="right",
                yanchor="bottom",
                text=f"dashed: TBPTT chunks of {tbptt} steps",
                showarrow=False,
                font=dict(size=11, color=MUTED),
            )
        )
    return figure(
        traces,
        title,
        height,
        top=56 if title else 24,
        shapes=shapes,
        annotations=annotations,
        xaxis=dict(title=dict(text="k (earlier step)"), range=[0.5, L + 0.5], showgrid=False),
        yaxis=dict(title=dict(text="t (later step)"), range=[L + 0.5, 0.5], showgrid=False),
    )


# ---- lag profile -------------------------------------------------------------------------------


def lag_profile_figure(
    lags: np.ndarray,
    mean: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    lines: Mapping[str, np.ndarray] | None = None,
    *,
    title: str | None = None,
    height: int = 460,
    y_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Mean log10 ||dh_t/dh_k|| against the lag t-k, its 10-90 % spread, and theory lines.

    `lines` maps a legend label to log10 values over the same lags (e.g. the norm bound). The y
    axis is in log10 units labelled as powers of ten. Trace order: band upper, band lower, measured
    mean, then one trace per theory line in the given order.
    """
    lags = np.asarray(lags)
    mean, lo, hi = (np.asarray(a, dtype=float) for a in (mean, lo, hi))
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=lags,
            y=hi,
            mode="lines",
            line=dict(width=0),
            showlegend=False,
            name="90th percentile",
            hoverinfo="skip",
        ),
        go.Scatter(
            **UNCHECKED,
            x=lags,
            y=lo,
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor="rgba(31,41,55,0.12)",
            name="10–90 % of pairs",
            hoverinfo="skip",
        ),
        go.Scatter(
            **UNCHECKED,
            x=lags,
            y=mean,
            mode="lines",
            name="measured (mean over t)",
            line=dict(color=LINE["measured"], width=2.5),
            hovertemplate=f"measured: {pow10_hover('y')}<extra></extra>",
        ),
    ]
    colours = [LINE["bound"], LINE["rho"], LINE["mean_field"], "#0f766e", "#b45309"]
    dashes = ["dash", "dot", "dashdot", "longdash", "solid"]
    theory = {k: np.asarray(v, dtype=float) for k, v in (lines or {}).items()}
    for i, (label, values) in enumerate(theory.items()):
        traces.append(
            go.Scatter(
                **UNCHECKED,
                x=lags,
                y=np.where(np.isfinite(values), values, np.nan),
                mode="lines",
                name=label,
                line=dict(color=colours[i % 5], width=1.8, dash=dashes[i % 5]),
                hovertemplate=f"{label}: {pow10_hover('y')}<extra></extra>",
            )
        )
    if y_range is None:
        finite = np.concatenate([a[np.isfinite(a)] for a in (mean, lo, hi)])
        y_lo = float(finite.min()) if finite.size else -1.0
        y_hi = float(finite.max()) if finite.size else 1.0
        pad = max(0.5, 0.08 * (y_hi - y_lo))
        tops = [float(np.max(v[np.isfinite(v)])) for v in theory.values() if np.isfinite(v).any()]
        head = min(max([*tops, y_hi]), y_hi + max(2.0, 0.25 * (y_hi - y_lo)))  # show where theory starts
        y_range = (min(y_lo, 0) - pad, max(head, 0) + pad)
    tickvals, ticktext = log_ticks(*y_range, max_ticks=8)
    x_max = float(lags.max()) if lags.size else 1.0
    traces.append(line_trace(0, x_max, 0.0, "1 (no change)", "#9ca3af", dash="solid", showlegend=False))
    return figure(
        traces,
        title,
        height,
        hovermode="x unified",
        xaxis=dict(title=dict(text="lag t − k (steps back in time)")),
        yaxis=dict(
            title=dict(text="‖∂h<sub>t</sub>/∂h<sub>k</sub>‖"),
            range=list(y_range),
            tickvals=tickvals,
            ticktext=ticktext,
        ),
    )


# ---- eigenvalues ---------------------------------------------------------------------------------


def eigen_figure(eigvals: np.ndarray, *, title: str | None = None, height: int = 400) -> go.Figure:
    """Eigenvalues of W_hh as points on the complex plane; trace 0 is the unit circle, trace 1 the
    eigenvalues (x = real, y = imaginary). Points outside the circle (red) grow under repeated
    multiplication, points inside (blue) shrink, points on it (to float rounding, dark) keep their
    size (theory.unit_circle_side)."""
    lam = np.asarray(eigvals).astype(complex).ravel()
    theta = np.linspace(0, 2 * np.pi, 241)
    mod = np.abs(lam)
    side = unit_circle_side(lam)  # on the circle within float rounding is neither in nor out
    colour = np.where(side > 0, LINE["bound"], np.where(side < 0, LINE["rho"], LINE["on_circle"]))
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=np.cos(theta),
            y=np.sin(theta),
            mode="lines",
            name="unit circle |λ| = 1",
            line=dict(color="#9ca3af", width=1.2),
            hoverinfo="skip",
        ),
        go.Scatter(
            **UNCHECKED,
            x=lam.real,
            y=lam.imag,
            mode="markers",
            name="eigenvalues of W<sub>hh</sub>",
            marker=dict(size=7, color=colour.tolist(), opacity=0.85, line=dict(width=0.5, color="white")),
            customdata=mod,
            hovertemplate="λ = %{x:.3f} %{y:+.3f}i<br>|λ| = %{customdata:.3f}<extra></extra>",
        ),
    ]
    r = max(1.1, float(mod.max()) * 1.1 if mod.size else 1.1)
    return figure(
        traces,
        title,
        height,
        xaxis=dict(
            title=dict(text="Re λ"), range=[-r, r], zeroline=True, zerolinecolor=GRID, constrain="domain"
        ),
        yaxis=dict(
            title=dict(text="Im λ"),
            range=[-r, r],
            scaleanchor="x",
            scaleratio=1,
            zeroline=True,
            zerolinecolor=GRID,
            constrain="domain",
        ),
    )
