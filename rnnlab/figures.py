"""Plotly figure builders: plain data in, `go.Figure` out. No Streamlit here.

Every chart of a log10 quantity labels its axis or colour bar in powers of ten ("10⁻³"), so the
reader sees the size, not the logarithm. Heatmaps of ||dh_t/dh_k|| use one diverging scale centred
on 1 (no change): blue where a change in h_k reaches h_t shrunk (vanishing), red where amplified
(exploding). A product that is exactly zero (dead ReLU units) is log10 = -inf; it cannot sit on a
colour scale, so it is drawn by a second trace in its own colour with its own hover text.

Functions
---------
- `jacobian_heatmap(hm, ...)`: log10 ||dh_t/dh_k|| with TBPTT chunk boundaries.
- `lag_profile_figure(lags, mean, lo, hi, lines, ...)`: mean log-norm against the lag t-k, with theory.
- `eigen_figure(eigvals, ...)`: eigenvalues of W_hh on the complex plane with the unit circle.
- `loss_figure`, `grad_norm_figure`, `grad_time_figure`, `radius_figure`: training charts.
- `log_ticks`, `pow10_text`, `display_index`: helpers shared by the builders (and tested).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .theory import unit_circle_side

# ---- style ---------------------------------------------------------------------------------------

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK = "#1f2937"  # text and axes
GRID = "#e5e7eb"
MUTED = "#6b7280"
ZERO_COLOUR = "#111111"  # exactly-zero cells
# Diverging: deep blue (vanishing) .. white (norm 1) .. deep red (exploding).
DIVERGING = [
    [0.0, "#08306b"], [0.15, "#2171b5"], [0.32, "#6baed6"], [0.45, "#c6dbef"], [0.5, "#f7f7f7"],
    [0.55, "#fcd5c0"], [0.68, "#fb8a6a"], [0.85, "#d7301f"], [1.0, "#67000d"],
]
SEQUENTIAL = "Viridis"
LINE = {"measured": "#1f2937", "bound": "#d7301f", "rho": "#2171b5", "mean_field": "#7c3aed",
        "after": "#0f766e", "before": "#9ca3af", "clipped": "#d7301f", "eval": "#7c3aed",
        "baseline": "#6b7280", "sigma": "#9ca3af", "on_circle": "#111827"}
FIXED_RANGE = (-8.0, 8.0)  # log10 colour range of the "fixed" option: 1e-8 .. 1e8
MAX_CELLS = 160  # largest heatmap side drawn (larger inputs are subsampled evenly)

_SUPER = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def pow10_text(e: int) -> str:
    """Tick text for 10**e: '1', '10', '10²', '10⁻³'."""
    e = int(e)
    if e == 0:
        return "1"
    if e == 1:
        return "10"
    return "10" + str(e).translate(_SUPER)


def log_ticks(lo: float, hi: float, max_ticks: int = 9) -> tuple[list[int], list[str]]:
    """Integer log10 tick positions covering [lo, hi] (at most about max_ticks) and their texts."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi < lo:
        lo, hi = hi, lo
    a, b = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    if b < a:  # range narrower than one decade: label the nearest power anyway
        a = b = round((lo + hi) / 2)
    span = b - a
    step = 1
    for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        step = s
        if span / s + 1 <= max_ticks:
            break
    start = math.ceil(a / step) * step
    vals = list(range(start, b + 1, step)) or [a]
    return vals, [pow10_text(v) for v in vals]


def fmt_pow10(z: float) -> str:
    """10**z as short text from its log10 z, without overflow: 0.00032 -> '3.2e-4', 1 -> '1'."""
    if z is None or (isinstance(z, float) and math.isnan(z)):
        return "n/a"
    if z == -math.inf:
        return "0"
    if z == math.inf:
        return "∞"
    if -3 <= z < 4:
        return f"{10.0 ** z:.3g}"
    e = math.floor(z)
    m = 10.0 ** (z - e)
    if round(m, 1) >= 10:
        m, e = m / 10, e + 1
    return f"{m:.2g}e{e}"


_AXIS = dict(gridcolor=GRID, zeroline=False, linecolor="#9ca3af", ticks="outside", tickcolor="#9ca3af",
             showline=True, automargin=True)
TEMPLATE = go.layout.Template(layout=dict(
    font=dict(family=FONT, size=12, color=INK), paper_bgcolor="white", plot_bgcolor="white",
    xaxis=_AXIS, yaxis=_AXIS, hoverlabel=dict(bgcolor="white", font=dict(family=FONT, size=12)),
    legend=dict(orientation="h", yanchor="bottom", y=1.015, x=0, xanchor="left",
                bgcolor="rgba(255,255,255,0)", font=dict(size=11)),
    colorway=["#1f2937", "#2171b5", "#d7301f", "#7c3aed", "#0f766e"]))


def _figure(traces: list, title: str | None, height: int, *, top: int | None = None,
            xaxis: dict | None = None, yaxis: dict | None = None, shapes: Iterable[dict] = (),
            annotations: Iterable[dict] = (), **layout) -> go.Figure:
    """One construction with the whole layout: several times cheaper than update_layout,
    update_xaxes and add_hline one by one (it matters for the live charts redrawn twice a second)."""
    lay = dict(
        template=TEMPLATE, height=height,
        title=dict(text=title, x=0.01, xanchor="left", xref="container", y=0.985, yanchor="top",
                   yref="container", font=dict(size=15, color=INK)) if title else None,
        margin=dict(l=64, r=24, t=top if top is not None else (84 if title else 40), b=52),
        xaxis=xaxis or {}, yaxis=yaxis or {}, shapes=list(shapes), annotations=list(annotations),
        **layout)
    return go.Figure(data=traces, layout=lay)


def _line_trace(x0: float, x1: float, y: float, name: str, color: str, dash: str = "dash",
                showlegend: bool = True) -> go.Scatter:
    """A horizontal reference line as a trace (data coordinates on any axis type, in the legend)."""
    return go.Scatter(x=[x0, x1], y=[y, y], mode="lines", name=name, showlegend=showlegend,
                      line=dict(color=color, width=1.2, dash=dash), hoverinfo="skip")


def _int_axis(values) -> dict:
    """Axis settings for counts (steps, updates): whole-number ticks when the range is short."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    span = float(v.max() - v.min()) if v.size else 0.0
    return dict(dtick=1, tick0=0) if span < 8 else dict(tickformat="d")


FEW_POINTS = 60  # up to this many points a curve also draws markers: a lone finite point stays visible


def line_mode(n: int) -> str:
    """"lines+markers" for short curves (a line trace draws nothing for a point between gaps, e.g.
    the one finite update of a run that diverged at its second step), "lines" otherwise."""
    return "lines+markers" if n <= FEW_POINTS else "lines"


def _vline(x: float, color: str, text: str = "") -> tuple[dict, list[dict]]:
    shape = dict(type="line", xref="x", x0=x, x1=x, yref="paper", y0=0, y1=1,
                 line=dict(color=color, width=1.5, dash="dot"))
    ann = [dict(x=x, y=1, xref="x", yref="paper", text=text, showarrow=False, xanchor="right",
                yanchor="top", font=dict(color=color, size=11), bgcolor="white")] if text else []
    return shape, ann


def colour_range(values: np.ndarray, mode: str | tuple[float, float] = "fixed") -> tuple[float, float]:
    """(zmin, zmax) of a log10 colour scale: the fixed range, or the finite values' range (auto).

    Auto keeps 0 (norm 1) inside the range so white always means "no change", and spans at least
    one decade each side so a flat map does not turn into noise.
    """
    if isinstance(mode, tuple):
        return float(mode[0]), float(mode[1])
    if mode == "fixed":
        return FIXED_RANGE
    if mode != "auto":
        raise ValueError(f"colour range must be 'fixed', 'auto' or (lo, hi), got {mode!r}")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -1.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    return min(lo, -1.0), max(hi, 1.0)


# ---- the Jacobian heatmap --------------------------------------------------------------------------

def display_index(hm: np.ndarray, max_size: int = MAX_CELLS) -> np.ndarray:
    """0-based indices of the steps to draw: the computed columns (a strided heatmap has all-NaN
    columns), thinned evenly to at most max_size. Rows use the same indices, so the diagonal stays."""
    hm = np.asarray(hm, dtype=float)
    L = hm.shape[1]
    computed = np.flatnonzero(~np.all(np.isnan(hm), axis=0))
    if computed.size == 0:
        computed = np.arange(L)
    if computed.size > max_size:
        keep = np.unique(np.round(np.linspace(0, computed.size - 1, max_size)).astype(int))
        computed = computed[keep]
    return computed


def chunk_boundaries(L: int, window: int) -> list[int]:
    """Steps b after which truncated BPTT with this window cuts the graph (chunks [0,w), [w,2w), ...):
    the boundary lies between step b and step b+1 (1-based)."""
    if window <= 0 or window >= L:
        return []
    return list(range(window, L, window))


def _value_text(z: np.ndarray) -> np.ndarray:
    """Short text of 10**z per cell ("3.2e-4"); "" where z is NaN or -inf (drawn elsewhere)."""
    out = np.full(z.shape, "", dtype=object)
    for idx in zip(*np.nonzero(np.isfinite(z))):
        out[idx] = fmt_pow10(float(z[idx]))
    return out


HOVER_FINITE = ("t=%{y}, k=%{x}<br>‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ = <b>%{customdata}</b><br>"
                "a change in h<sub>%{x}</sub> moves h<sub>%{y}</sub> by {bound}~%{customdata} of its size"
                "<extra></extra>")
HOVER_ZERO = ("t=%{y}, k=%{x}<br>‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ = <b>exactly zero</b><br>"
              "no change in h<sub>%{x}</sub> reaches h<sub>%{y}</sub> (dead units)<extra></extra>")


def jacobian_heatmap(hm: np.ndarray, *, norm: str = "spectral", tbptt: int = 0,
                     color_range: str | tuple[float, float] = "fixed", title: str | None = None,
                     max_size: int = MAX_CELLS, height: int = 460) -> go.Figure:
    """Heatmap of log10 ||dh_t/dh_k|| (hm[t-1, k-1]; NaN above the diagonal or not computed).

    Traces: [0] the finite values on the diverging scale (-inf cells NaN there), [1] the exactly
    zero cells (z = 1 where hm is -inf, else NaN) in ZERO_COLOUR. TBPTT chunk boundaries are dashed
    lines (layout shapes) at k = b + 0.5 and t = b + 0.5.
    """
    hm = np.asarray(hm, dtype=float)
    if hm.ndim != 2 or hm.shape[0] != hm.shape[1]:
        raise ValueError(f"heatmap must be square (L, L), got shape {hm.shape}")
    L = hm.shape[0]
    idx = display_index(hm, max_size)
    sub = hm[np.ix_(idx, idx)]  # (n, n)
    steps = idx + 1  # 1-based t (rows) and k (columns)
    zeros = np.where(sub == -np.inf, 1.0, np.nan)
    finite = np.where(np.isfinite(sub), sub, np.nan)
    zmin, zmax = colour_range(finite, color_range)
    tickvals, ticktext = log_ticks(zmin, zmax)
    bound = "at most " if norm == "spectral" else "typically "
    traces = [
        go.Heatmap(z=finite.astype(np.float32), x=steps, y=steps, zmin=zmin, zmax=zmax,
                   zmid=0 if zmin < 0 < zmax else None, colorscale=DIVERGING,
                   customdata=_value_text(finite), hovertemplate=HOVER_FINITE.replace("{bound}", bound),
                   hoverongaps=False, name="log10 norm",
                   colorbar=dict(title=dict(text="norm", side="top", font=dict(size=11, color=MUTED)),
                                 tickvals=tickvals, ticktext=ticktext, thickness=12, len=0.92,
                                 outlinewidth=0)),
        go.Heatmap(z=zeros.astype(np.float32), x=steps, y=steps, zmin=0, zmax=1, showscale=False,
                   name="exactly zero", colorscale=[[0, ZERO_COLOUR], [1, ZERO_COLOUR]],
                   hovertemplate=HOVER_ZERO, hoverongaps=False),
    ]
    shapes, annotations = [], []
    line = dict(color="#111827", width=1.2, dash="dash")
    for b in chunk_boundaries(L, tbptt):
        shapes.append(dict(type="line", x0=b + 0.5, x1=b + 0.5, y0=0.5, y1=L + 0.5, line=line,
                           name=f"tbptt-k-{b}"))
        shapes.append(dict(type="line", x0=0.5, x1=L + 0.5, y0=b + 0.5, y1=b + 0.5, line=line,
                           name=f"tbptt-t-{b}"))
    if shapes:
        annotations.append(dict(x=1, y=1.0, xref="paper", yref="paper", xanchor="right",
                                yanchor="bottom", text=f"dashed: TBPTT chunks of {tbptt} steps",
                                showarrow=False, font=dict(size=11, color=MUTED)))
    return _figure(traces, title, height, top=56 if title else 24, shapes=shapes, annotations=annotations,
                   xaxis=dict(title=dict(text="k (earlier step)"), range=[0.5, L + 0.5], showgrid=False),
                   yaxis=dict(title=dict(text="t (later step)"), range=[L + 0.5, 0.5], showgrid=False))


# ---- lag profile -------------------------------------------------------------------------------

def lag_profile_figure(lags: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       lines: Mapping[str, np.ndarray] | None = None, *, title: str | None = None,
                       height: int = 460, y_range: tuple[float, float] | None = None) -> go.Figure:
    """Mean log10 ||dh_t/dh_k|| against the lag t-k, its 10-90 % spread, and theory lines.

    `lines` maps a legend label to log10 values over the same lags (e.g. the norm bound). The y
    axis is in log10 units labelled as powers of ten. Trace order: band upper, band lower, measured
    mean, then one trace per theory line in the given order.
    """
    lags = np.asarray(lags)
    mean, lo, hi = (np.asarray(a, dtype=float) for a in (mean, lo, hi))
    traces = [
        go.Scatter(x=lags, y=hi, mode="lines", line=dict(width=0), showlegend=False,
                   name="90th percentile", hoverinfo="skip"),
        go.Scatter(x=lags, y=lo, mode="lines", line=dict(width=0), fill="tonexty",
                   fillcolor="rgba(31,41,55,0.12)", name="10–90 % of pairs", hoverinfo="skip"),
        go.Scatter(x=lags, y=mean, mode="lines", name="measured (mean over t)",
                   line=dict(color=LINE["measured"], width=2.5), customdata=[fmt_pow10(v) for v in mean],
                   hovertemplate="measured: %{customdata}<extra></extra>"),
    ]
    colours = [LINE["bound"], LINE["rho"], LINE["mean_field"], "#0f766e", "#b45309"]
    dashes = ["dash", "dot", "dashdot", "longdash", "solid"]
    theory = {k: np.asarray(v, dtype=float) for k, v in (lines or {}).items()}
    for i, (label, values) in enumerate(theory.items()):
        traces.append(go.Scatter(x=lags, y=np.where(np.isfinite(values), values, np.nan), mode="lines",
                                 name=label, line=dict(color=colours[i % 5], width=1.8, dash=dashes[i % 5]),
                                 customdata=[fmt_pow10(v) for v in values],
                                 hovertemplate=f"{label}: %{{customdata}}<extra></extra>"))
    if y_range is None:
        finite = np.concatenate([a[np.isfinite(a)] for a in (mean, lo, hi)])
        y_lo = float(finite.min()) if finite.size else -1.0
        y_hi = float(finite.max()) if finite.size else 1.0
        pad = max(0.5, 0.08 * (y_hi - y_lo))
        tops = [float(np.max(v[np.isfinite(v)])) for v in theory.values() if np.isfinite(v).any()]
        head = min(max(tops + [y_hi]), y_hi + max(2.0, 0.25 * (y_hi - y_lo)))  # show where theory starts
        y_range = (min(y_lo, 0) - pad, max(head, 0) + pad)
    tickvals, ticktext = log_ticks(*y_range, max_ticks=8)
    x_max = float(lags.max()) if lags.size else 1.0
    traces.append(_line_trace(0, x_max, 0.0, "1 (no change)", "#9ca3af", dash="solid", showlegend=False))
    return _figure(traces, title, height, hovermode="x unified",
                   xaxis=dict(title=dict(text="lag t − k (steps back in time)")),
                   yaxis=dict(title=dict(text="‖∂h<sub>t</sub>/∂h<sub>k</sub>‖"), range=list(y_range),
                              tickvals=tickvals, ticktext=ticktext))


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
        go.Scatter(x=np.cos(theta), y=np.sin(theta), mode="lines", name="unit circle |λ| = 1",
                   line=dict(color="#9ca3af", width=1.2), hoverinfo="skip"),
        go.Scatter(x=lam.real, y=lam.imag, mode="markers", name="eigenvalues of W<sub>hh</sub>",
                   marker=dict(size=7, color=colour.tolist(),
                               opacity=0.85, line=dict(width=0.5, color="white")),
                   customdata=mod,
                   hovertemplate="λ = %{x:.3f} %{y:+.3f}i<br>|λ| = %{customdata:.3f}<extra></extra>"),
    ]
    r = max(1.1, float(mod.max()) * 1.1 if mod.size else 1.1)
    return _figure(traces, title, height,
                   xaxis=dict(title=dict(text="Re λ"), range=[-r, r], zeroline=True, zerolinecolor=GRID,
                              constrain="domain"),
                   yaxis=dict(title=dict(text="Im λ"), range=[-r, r], scaleanchor="x", scaleratio=1,
                              zeroline=True, zerolinecolor=GRID, constrain="domain"))


# ---- training charts -------------------------------------------------------------------------------

def loss_figure(per_step: pd.DataFrame, *, baseline: float | None = None, final_loss: float | None = None,
                steps: int | None = None, diverged_at: int | None = None, title: str | None = None,
                height: int = 340) -> go.Figure:
    """Training loss per step (trace 0: seq_loss against step); the task's baseline (a dashed trace
    named "baseline ...") and the final evaluation loss (a marker at x = steps: pass the steps the
    run actually did, so a stopped run's marker sits where it stopped)."""
    df = per_step
    y = pd.to_numeric(df["seq_loss"], errors="coerce").to_numpy(float)
    x = df["step"].to_numpy()
    x_end = steps if steps is not None else (int(x.max()) + 1 if len(x) else 1)
    traces = [go.Scatter(x=x, y=np.where(np.isfinite(y), y, np.nan), mode=line_mode(len(x)),
                         name="training loss (minibatch)", line=dict(color=LINE["measured"], width=1.6),
                         marker=dict(size=5),
                         hovertemplate="step %{x}: loss %{y:.4g}<extra></extra>")]
    if baseline is not None and math.isfinite(baseline):
        traces.append(_line_trace(0, x_end, baseline, f"baseline {baseline:.3g} (input-blind)",
                                  LINE["baseline"]))
    if final_loss is not None and math.isfinite(final_loss):
        traces.append(go.Scatter(x=[x_end], y=[final_loss], mode="markers",
                                 name=f"final eval {final_loss:.4g}",
                                 marker=dict(color=LINE["eval"], size=10, symbol="diamond"),
                                 hovertemplate="final evaluation loss %{y:.4g}<extra></extra>"))
    shapes, anns = [], []
    if diverged_at is not None:
        shape, anns = _vline(diverged_at, LINE["bound"], f"diverged at step {diverged_at}")
        shapes.append(shape)
    pos = y[np.isfinite(y) & (y > 0)]
    log = pos.size > 1 and pos.max() / pos.min() > 100  # a first spike would flatten the rest
    yaxis = dict(title=dict(text="loss" + (" (log scale)" if log else "")))
    yaxis.update(dict(type="log", exponentformat="power") if log else dict(rangemode="tozero"))
    return _figure(traces, title, height, shapes=shapes, annotations=anns,
                   xaxis=dict(title=dict(text="training step"), rangemode="tozero",
                              **_int_axis([0, x_end])), yaxis=yaxis)


def grad_norm_figure(metrics: pd.DataFrame, *, clip: float = 0.0, clip_mode: str = "norm",
                     diverged_at_update: int | None = None, title: str | None = None,
                     height: int = 340) -> go.Figure:
    """Global gradient norm per update before (trace 0) and after (trace 1) clipping on a log axis;
    updates where clipping acted are marked (trace 2); the clip threshold is a dashed trace."""
    df = metrics
    x = df["update"].to_numpy()
    before = pd.to_numeric(df["grad_norm"], errors="coerce").to_numpy(float)
    after = pd.to_numeric(df["grad_norm_clipped"], errors="coerce").to_numpy(float)
    ok = lambda a: np.where(np.isfinite(a) & (a > 0), a, np.nan)  # log axis: positive finite only
    clipped = (df["clipped"].to_numpy() == 1) if "clipped" in df else np.zeros(len(df), bool)
    traces = [
        go.Scatter(x=x, y=ok(before), mode=line_mode(len(x)), name="before clipping",
                   line=dict(color=LINE["before"], width=1.4), marker=dict(size=5),
                   hovertemplate="update %{x}: ‖g‖ = %{y:.3g} before<extra></extra>"),
        go.Scatter(x=x, y=ok(after), mode=line_mode(len(x)), name="after clipping",
                   line=dict(color=LINE["after"], width=1.6), marker=dict(size=4),
                   hovertemplate="update %{x}: ‖g‖ = %{y:.3g} after<extra></extra>"),
        go.Scatter(x=x[clipped], y=ok(before[clipped]), mode="markers", name="clipped update",
                   marker=dict(color=LINE["clipped"], size=6, symbol="x-thin",
                               line=dict(width=1.5, color=LINE["clipped"])),
                   hovertemplate="update %{x}: clipped (was %{y:.3g})<extra></extra>"),
    ]
    if clip and clip > 0:
        label = f"clip threshold {clip:g}" if clip_mode == "norm" else f"value clip ±{clip:g} (per component)"
        traces.append(_line_trace(0, float(x.max()) if len(x) else 1.0, clip, label, LINE["clipped"]))
    shapes, anns = [], []
    if diverged_at_update is not None:
        shape, anns = _vline(diverged_at_update, LINE["bound"], "non-finite")
        shapes.append(shape)
    return _figure(traces, title, height, shapes=shapes, annotations=anns,
                   xaxis=dict(title=dict(text="update"), **_int_axis(x)),
                   yaxis=dict(title=dict(text="‖∂L/∂θ‖ (global norm)"), type="log", exponentformat="power"))


def bin_mean(z: np.ndarray, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Means over at most n runs of consecutive entries along `axis` (NaN ignored; all-NaN stays NaN),
    and the index of each run's first entry. Every entry lands in exactly one run, so a periodic
    pattern is averaged, never sampled at a stride that could alias with it."""
    size = z.shape[axis]
    if size <= n:
        return z, np.arange(size)
    edges = np.linspace(0, size, n + 1).round().astype(int)  # n runs of near-equal length
    parts = np.split(z, edges[1:-1], axis=axis)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-NaN run is NaN, as meant
        means = [np.nanmean(p, axis=axis, keepdims=True) for p in parts]
    return np.concatenate(means, axis=axis), edges[:-1]


def per_step_profile(grad_time: np.ndarray, steps: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """One row per training step: the updates of a step (one per TBPTT chunk) cover disjoint
    positions, so their profiles combine without loss (the finite value wherever one exists).
    Returns (rows (S, L), the step of each row (S,))."""
    g = np.asarray(grad_time, dtype=float)
    steps = np.asarray(steps)
    uniq, first = np.unique(steps, return_index=True)
    if len(uniq) == len(steps):
        return g, steps
    out = np.full((len(uniq), g.shape[1]), np.nan)
    where = np.searchsorted(uniq, steps)
    for row, i in zip(g, where):
        out[i] = np.where(np.isnan(out[i]), row, out[i])
    return out, uniq


def grad_time_figure(grad_time: np.ndarray, *, tbptt: int = 0, steps: Sequence[int] | None = None,
                     title: str | None = None, max_rows: int = 300, max_cols: int = 300,
                     height: int = 360) -> go.Figure:
    """Temporal gradient profile: log10 ||dL/dh_k|| per training step (rows) and position k (columns).

    `steps` gives each update's training step (metrics["step"]); the updates of one step are combined
    into one row (per_step_profile). More rows or columns than max_rows / max_cols are averaged in
    consecutive runs in log space (bin_mean), never subsampled at a stride: a TBPTT run's updates
    cycle through its chunks, and a strided pick would draw a pattern that is not there.
    Trace 0 the finite values (viridis, this profile's own range), trace 1 the exactly-zero cells.
    NaN (outside the chunk the update's graph covers) is left blank. TBPTT chunk boundaries are
    dashed vertical lines (layout shapes at x = b + 0.5).
    """
    g = np.asarray(grad_time, dtype=float)
    if g.ndim != 2:
        g = np.zeros((0, 0))
    y = np.arange(len(g)) if steps is None else np.asarray(steps)
    if steps is not None and len(g):
        g, y = per_step_profile(g, steps)
    L = g.shape[1]
    zeros_full = (g == 0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(g > 0, np.log10(np.where(g > 0, g, 1.0)), np.nan)
    logs, row_start = bin_mean(logs, max_rows, axis=0)
    logs, col_start = bin_mean(logs, max_cols, axis=1)
    zeros, _ = bin_mean(zeros_full, max_rows, axis=0)
    zeros, _ = bin_mean(zeros, max_cols, axis=1)
    finite = np.where(np.isfinite(logs), logs, np.nan)
    zeros = np.where((zeros > 0) & np.isnan(finite), 1.0, np.nan)  # only where nothing finite remains
    y = y[row_start] if len(y) else y
    x = col_start + 1
    zmin, zmax = -1.0, 1.0
    if np.isfinite(finite).any():
        zmin, zmax = float(np.nanmin(finite)), float(np.nanmax(finite))
        if zmax - zmin < 1:
            zmin, zmax = zmin - 0.5, zmax + 0.5
    tickvals, ticktext = log_ticks(zmin, zmax)
    row = "step" if steps is not None else "update"
    hover = (f"{row} %{{y}}, k=%{{x}}<br>‖∂L/∂h<sub>k</sub>‖ = <b>%{{customdata}}</b>"
             "<br>how much the loss reacts to a change in h<sub>%{x}</sub><extra></extra>")
    traces = [
        go.Heatmap(z=finite.astype(np.float32), x=x, y=y, zmin=zmin, zmax=zmax, colorscale=SEQUENTIAL,
                   customdata=_value_text(finite), hovertemplate=hover, hoverongaps=False,
                   colorbar=dict(title=dict(text="norm", side="top", font=dict(size=11, color=MUTED)),
                                 tickvals=tickvals, ticktext=ticktext, thickness=12, outlinewidth=0)),
        go.Heatmap(z=zeros.astype(np.float32), x=x, y=y, zmin=0, zmax=1, showscale=False,
                   name="exactly zero", colorscale=[[0, ZERO_COLOUR], [1, ZERO_COLOUR]],
                   hovertemplate=f"{row} %{{y}}, k=%{{x}}<br>‖∂L/∂h<sub>k</sub>‖ = <b>exactly zero</b>"
                                 "<extra></extra>", hoverongaps=False),
    ]
    shapes = [dict(type="line", xref="x", x0=b + 0.5, x1=b + 0.5, yref="paper", y0=0, y1=1,
                   line=dict(color="#6b7280", width=1.2, dash="dash"), name=f"tbptt-k-{b}")
              for b in chunk_boundaries(L, tbptt)]
    return _figure(traces, title, height, top=56 if title else 24, shapes=shapes,
                   xaxis=dict(title=dict(text="position k in the sequence"), showgrid=False),
                   yaxis=dict(title=dict(text="training " + row), showgrid=False, autorange="reversed",
                              **_int_axis(y)))


def radius_figure(metrics: pd.DataFrame, *, title: str | None = None, height: int = 340) -> go.Figure:
    """Spectral radius of W_hh per update (trace 0) and its largest singular value (trace 1, dotted),
    with the line 1."""
    df = metrics
    x = df["update"].to_numpy()
    traces = [go.Scatter(x=x, y=df["rho_whh"], mode=line_mode(len(x)), name="spectral radius ρ",
                         line=dict(color=LINE["rho"], width=2), marker=dict(size=5),
                         hovertemplate="update %{x}: ρ = %{y:.4f}<extra></extra>")]
    if "sigma_max_whh" in df and df["sigma_max_whh"].notna().any():
        traces.append(go.Scatter(x=x, y=df["sigma_max_whh"], mode="lines",
                                 name="largest singular value σ<sub>max</sub>",
                                 line=dict(color=LINE["sigma"], width=1.4, dash="dot"),
                                 hovertemplate="update %{x}: σ<sub>max</sub> = %{y:.4f}<extra></extra>"))
    traces.append(_line_trace(0, float(x.max()) if len(x) else 1.0, 1.0, "1", MUTED, showlegend=False))
    return _figure(traces, title, height, xaxis=dict(title=dict(text="update"), **_int_axis(x)),
                   yaxis=dict(title=dict(text="W<sub>hh</sub>"), rangemode="tozero"))


# ---- shared plotly config ---------------------------------------------------------------------

def plotly_config(filename: str) -> dict:
    """Modebar config for st.plotly_chart: PNG download named after the chart, no logo."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def per_step(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per training step: step, seq_loss (the minibatch loss, summed over TBPTT chunks)."""
    if metrics.empty:
        return pd.DataFrame({"step": pd.Series(dtype=int), "seq_loss": pd.Series(dtype=float)})
    if "seq_loss" in metrics:
        return metrics.groupby("step", as_index=False)["seq_loss"].first()
    return metrics.groupby("step", as_index=False)["loss"].sum(min_count=1).rename(
        columns={"loss": "seq_loss"})


def numbers(values: Iterable) -> list[float]:
    """Plain floats (NaN for missing): what a chart's trace should hold, for tests and checks."""
    return [float("nan") if v is None else float(v) for v in values]
