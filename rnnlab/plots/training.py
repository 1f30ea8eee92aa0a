"""The Lab's training charts: loss, gradient norm, the temporal gradient profile, the spectral radius.

Plain data in (the run's metrics table, its grad_time array), `go.Figure` out; no Streamlit here.

- `loss_figure(per_step, ...)`: training loss per step, the task's baseline and the final evaluation.
- `grad_norm_figure(metrics, ...)`: gradient norm per update before and after clipping.
- `grad_time_figure(grad_time, ...)`: log10 ||dL/dh_k|| per training step and position k.
- `radius_figure(metrics)`: spectral radius and largest singular value of W_hh per update.
- `hf_figure(metrics)`: a Hessian-free run's damping and CG iterations per update.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .lab import chunk_boundaries
from .style import (
    LINE,
    MUTED,
    SEQUENTIAL,
    UNCHECKED,
    colorbar,
    figure,
    int_axis,
    line_mode,
    line_trace,
    log_ticks,
    pow10_hover,
    vline,
    zero_overlay,
)


def loss_figure(
    per_step: pd.DataFrame,
    *,
    baseline: float | None = None,
    final_loss: float | None = None,
    steps: int | None = None,
    diverged_at: int | None = None,
    title: str | None = None,
    height: int = 340,
) -> go.Figure:
    """Training loss per step (trace 0: seq_loss against step); the task's baseline (a dashed trace
    named "baseline ...") and the final evaluation loss (a marker at x = steps: pass the steps the
    run actually did, so a stopped run's marker sits where it stopped)."""
    df = per_step
    y = pd.to_numeric(df["seq_loss"], errors="coerce").to_numpy(float)
    x = df["step"].to_numpy()
    x_end = steps if steps is not None else (int(x.max()) + 1 if len(x) else 1)
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=x,
            y=np.where(np.isfinite(y), y, np.nan),
            mode=line_mode(len(x)),
            name="training loss (minibatch)",
            line=dict(color=LINE["measured"], width=1.6),
            marker=dict(size=5),
            hovertemplate="step %{x}: loss %{y:.4g}<extra></extra>",
        )
    ]
    if baseline is not None and math.isfinite(baseline):
        traces.append(
            line_trace(0, x_end, baseline, f"baseline {baseline:.3g} (input-blind)", LINE["baseline"])
        )
    if final_loss is not None and math.isfinite(final_loss):
        traces.append(
            go.Scatter(
                **UNCHECKED,
                x=[x_end],
                y=[final_loss],
                mode="markers",
                name=f"final eval {final_loss:.4g}",
                marker=dict(color=LINE["eval"], size=10, symbol="diamond"),
                hovertemplate="final evaluation loss %{y:.4g}<extra></extra>",
            )
        )
    shapes: list[dict] = []
    anns: list[dict] = []
    if diverged_at is not None:
        shape, anns = vline(diverged_at, LINE["bound"], f"diverged at step {diverged_at}")
        shapes.append(shape)
    pos = y[np.isfinite(y) & (y > 0)]
    log = pos.size > 1 and pos.max() / pos.min() > 100  # a first spike would flatten the rest
    yaxis: dict[str, Any] = dict(title=dict(text="loss" + (" (log scale)" if log else "")))
    yaxis.update(dict(type="log", exponentformat="power") if log else dict(rangemode="tozero"))
    return figure(
        traces,
        title,
        height,
        shapes=shapes,
        annotations=anns,
        xaxis=dict(title=dict(text="training step"), rangemode="tozero", **int_axis([0, x_end])),
        yaxis=yaxis,
    )


def grad_norm_figure(
    metrics: pd.DataFrame,
    *,
    clip: float = 0.0,
    clip_mode: str = "norm",
    diverged_at_update: int | None = None,
    title: str | None = None,
    height: int = 340,
) -> go.Figure:
    """Global gradient norm per update before (trace 0) and after (trace 1) clipping on a log axis;
    updates where clipping acted are marked (trace 2); the clip threshold is a dashed trace."""
    df = metrics
    x = df["update"].to_numpy()
    before = pd.to_numeric(df["grad_norm"], errors="coerce").to_numpy(float)
    after = pd.to_numeric(df["grad_norm_clipped"], errors="coerce").to_numpy(float)
    ok = lambda a: np.where(np.isfinite(a) & (a > 0), a, np.nan)  # log axis: positive finite only
    clipped = (df["clipped"].to_numpy() == 1) if "clipped" in df else np.zeros(len(df), bool)
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=x,
            y=ok(before),
            mode=line_mode(len(x)),
            name="before clipping",
            line=dict(color=LINE["before"], width=1.4),
            marker=dict(size=5),
            hovertemplate="update %{x}: ‖g‖ = %{y:.3g} before<extra></extra>",
        ),
        go.Scatter(
            **UNCHECKED,
            x=x,
            y=ok(after),
            mode=line_mode(len(x)),
            name="after clipping",
            line=dict(color=LINE["after"], width=1.6),
            marker=dict(size=4),
            hovertemplate="update %{x}: ‖g‖ = %{y:.3g} after<extra></extra>",
        ),
        go.Scatter(
            **UNCHECKED,
            x=x[clipped],
            y=ok(before[clipped]),
            mode="markers",
            name="clipped update",
            marker=dict(
                color=LINE["clipped"], size=6, symbol="x-thin", line=dict(width=1.5, color=LINE["clipped"])
            ),
            hovertemplate="update %{x}: clipped (was %{y:.3g})<extra></extra>",
        ),
    ]
    if clip and clip > 0:
        label = f"clip threshold {clip:g}" if clip_mode == "norm" else f"value clip ±{clip:g} (per component)"
        traces.append(line_trace(0, float(x.max()) if len(x) else 1.0, clip, label, LINE["clipped"]))
    shapes: list[dict] = []
    anns: list[dict] = []
    if diverged_at_update is not None:
        shape, anns = vline(diverged_at_update, LINE["bound"], "non-finite")
        shapes.append(shape)
    return figure(
        traces,
        title,
        height,
        shapes=shapes,
        annotations=anns,
        xaxis=dict(title=dict(text="update"), **int_axis(x)),
        yaxis=dict(title=dict(text="‖∂L/∂θ‖ (global norm)"), type="log", exponentformat="power"),
    )


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
    step_of = np.asarray(steps)
    uniq, _first = np.unique(step_of, return_index=True)
    if len(uniq) == len(step_of):
        return g, step_of
    out = np.full((len(uniq), g.shape[1]), np.nan)
    where = np.searchsorted(uniq, step_of)
    for row, i in zip(g, where):
        out[i] = np.where(np.isnan(out[i]), row, out[i])
    return out, uniq


def grad_time_figure(
    grad_time: np.ndarray,
    *,
    tbptt: int = 0,
    steps: Sequence[int] | None = None,
    title: str | None = None,
    max_rows: int = 300,
    max_cols: int = 300,
    height: int = 360,
) -> go.Figure:
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
    hover = (
        f"{row} %{{y}}, k=%{{x}}<br>‖∂L/∂h<sub>k</sub>‖ = <b>{pow10_hover()}</b>"
        "<br>how much the loss reacts to a change in h<sub>%{x}</sub><extra></extra>"
    )
    traces = [
        go.Heatmap(
            **UNCHECKED,
            z=finite.astype(np.float32),
            x=x,
            y=y,
            zmin=zmin,
            zmax=zmax,
            colorscale=SEQUENTIAL,
            hovertemplate=hover,
            hoverongaps=False,
            colorbar=colorbar("norm", tickvals, ticktext),
        ),
        zero_overlay(
            zeros, x, y, f"{row} %{{y}}, k=%{{x}}<br>‖∂L/∂h<sub>k</sub>‖ = <b>exactly zero</b><extra></extra>"
        ),
    ]
    shapes = [
        dict(
            type="line",
            xref="x",
            x0=b + 0.5,
            x1=b + 0.5,
            yref="paper",
            y0=0,
            y1=1,
            line=dict(color="#6b7280", width=1.2, dash="dash"),
            name=f"tbptt-k-{b}",
        )
        for b in chunk_boundaries(L, tbptt)
    ]
    return figure(
        traces,
        title,
        height,
        top=56 if title else 24,
        shapes=shapes,
        xaxis=dict(title=dict(text="position k in the sequence"), showgrid=False),
        yaxis=dict(title=dict(text="training " + row), showgrid=False, autorange="reversed", **int_axis(y)),
    )


def radius_figure(metrics: pd.DataFrame, *, title: str | None = None, height: int = 340) -> go.Figure:
    """Spectral radius of W_hh per update (trace 0) and its largest singular value (trace 1, dotted),
    with the line 1."""
    df = metrics
    x = df["update"].to_numpy()
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=x,
            y=df["rho_whh"],
            mode=line_mode(len(x)),
            name="spectral radius ρ",
            line=dict(color=LINE["rho"], width=2),
            marker=dict(size=5),
            hovertemplate="update %{x}: ρ = %{y:.4f}<extra></extra>",
        )
    ]
    if "sigma_max_whh" in df and df["sigma_max_whh"].notna().any():
        traces.append(
            go.Scatter(
                **UNCHECKED,
                x=x,
                y=df["sigma_max_whh"],
                mode="lines",
                name="largest singular value σ<sub>max</sub>",
                line=dict(color=LINE["sigma"], width=1.4, dash="dot"),
                hovertemplate="update %{x}: σ<sub>max</sub> = %{y:.4f}<extra></extra>",
            )
        )
    traces.append(line_trace(0, float(x.max()) if len(x) else 1.0, 1.0, "1", MUTED, showlegend=False))
    return figure(
        traces,
        title,
        height,
        xaxis=dict(title=dict(text="update"), **int_axis(x)),
        yaxis=dict(title=dict(text="W<sub>hh</sub>"), rangemode="tozero"),
    )


def hf_figure(metrics: pd.DataFrame, *, title: str | None = None, height: int = 340) -> go.Figure:
    """A Hessian-free run's damping lambda after each update (trace 0, log axis on the left) and the
    CG iterations it used (trace 1, bars on the right axis); updates whose step the line search
    rejected are marked on the damping line (trace 2)."""
    df = metrics
    x = df["update"].to_numpy()
    lam = pd.to_numeric(df["damping"], errors="coerce").to_numpy(float)
    iters = pd.to_numeric(df["cg_iters"], errors="coerce").to_numpy(float)
    rejected = pd.to_numeric(df["accepted"], errors="coerce").to_numpy(float) == 0
    ok = np.where(np.isfinite(lam) & (lam > 0), lam, np.nan)
    traces = [
        go.Scatter(
            **UNCHECKED,
            x=x,
            y=ok,
            mode=line_mode(len(x)),
            name="damping λ",
            line=dict(color=LINE["rho"], width=2),
            marker=dict(size=5),
            hovertemplate="update %{x}: λ = %{y:.3g}<extra></extra>",
        ),
        go.Bar(
            **UNCHECKED,
            x=x,
            y=iters,
            name="CG iterations",
            marker=dict(color=LINE["before"], opacity=0.45),
            yaxis="y2",
            hovertemplate="update %{x}: %{y:.0f} CG iterations<extra></extra>",
        ),
        go.Scatter(
            **UNCHECKED,
            x=x[rejected],
            y=ok[rejected],
            mode="markers",
            name="step rejected",
            marker=dict(
                color=LINE["clipped"], size=7, symbol="x-thin", line=dict(width=1.5, color=LINE["clipped"])
            ),
            hovertemplate="update %{x}: no step lowered the loss<extra></extra>",
        ),
    ]
    return figure(
        traces,
        title,
        height,
        xaxis=dict(title=dict(text="update"), **int_axis(x)),
        yaxis=dict(title=dict(text="damping λ (after the update)"), type="log", exponentformat="power"),
        yaxis2=dict(
            title=dict(text="CG iterations"),
            overlaying="y",
            side="right",
            rangemode="tozero",
            showgrid=False,
            tickmode="array",  # round whole counts
            tickvals=_count_ticks(iters),
        ),
        barmode="overlay",
    )


def _count_ticks(counts: np.ndarray) -> list[int]:
    """At most six round ticks from 0 to the largest count."""
    top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 1.0
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if top / s <= 5)
    return list(range(0, int(top) + step, step))
