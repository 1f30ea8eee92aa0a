"""The Compare page's charts: two runs, A and B, on the same axes. No Streamlit here.

A is always drawn in blue and B in orange (`style.RUN_COLOURS`), in every chart of the Compare page.
The numbers compared (per-step loss, the heatmaps' difference, the table) come from
`rnnlab.comparison`.

- `loss_overlay`, `grad_norm_overlay`: the two runs' training curves on one chart.
- `shared_range(hm_a, hm_b, mode)`: one colour range for both heatmaps.
- `difference_heatmap(hm_a, hm_b)`: B - A in log10 units (a ratio B/A), diverging around 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..comparison import difference, finite, per_step
from .style import (
    DIFF_SCALE,
    GRID,
    MUTED,
    apply_layout,
    colorbar,
    colour_range,
    display_index,
    line_mode,
    log_ticks,
    pow10_hover,
)
from .style import RUN_COLOURS as COLOURS


def loss_overlay(
    runs: dict[str, dict[str, Any]], *, title: str | None = None, height: int = 360
) -> go.Figure:
    """Training loss per step of each run (`comparison.per_step` of its metrics) in its colour.

    runs: name -> {"metrics": DataFrame, "baseline": float|None, "final_loss": float|None,
    "steps": int, "diverged_at": int|None}. Traces: one line per run in the given order (x = step,
    y = seq_loss), then for each run with a finite final loss a marker at x = steps (the steps it
    did: a stopped run's marker sits where it stopped). Baselines are dashed lines (one if the runs
    share it). The y axis turns logarithmic when the losses span more than 100x (as in the Lab), so
    a spike does not flatten a final loss just above the baseline.
    """
    fig = go.Figure()
    losses = []
    for name, r in runs.items():
        ps = per_step(r["metrics"])
        losses.append(finite(ps["seq_loss"]))
        fig.add_trace(
            go.Scatter(
                x=ps["step"],
                y=losses[-1],
                mode=line_mode(len(ps)),
                name=f"{name}",
                line=dict(color=COLOURS.get(name, MUTED), width=1.8),
                marker=dict(size=5),
                hovertemplate=f"{name}, step %{{x}}: loss %{{y:.4g}}<extra></extra>",
            )
        )
    for name, r in runs.items():
        fl = r.get("final_loss")
        if fl is not None and math.isfinite(fl):
            fig.add_trace(
                go.Scatter(
                    x=[r["steps"]],
                    y=[fl],
                    mode="markers",
                    name=f"{name} final eval",
                    showlegend=False,
                    marker=dict(
                        color=COLOURS.get(name, MUTED),
                        size=10,
                        symbol="diamond",
                        line=dict(color="white", width=1),
                    ),
                    hovertemplate=f"{name} final evaluation loss %{{y:.4g}}<extra></extra>",
                )
            )
    baselines = {n: r["baseline"] for n, r in runs.items() if r.get("baseline") is not None}
    values = {round(float(v), 12) for v in baselines.values() if math.isfinite(v)}
    for i, v in enumerate(sorted(values)):
        who = [n for n, b in baselines.items() if round(float(b), 12) == v]
        label = "baseline" + ("" if len(values) == 1 else f" ({', '.join(who)})")
        fig.add_hline(
            y=v,
            line=dict(color=MUTED, width=1.1, dash="dash"),
            annotation_text=f"{label} {v:.3g}",
            annotation_position="top right" if i == 0 else "bottom right",
            annotation_font=dict(size=11, color=MUTED),
        )
    for name, r in runs.items():
        d = r.get("diverged_at")
        if d is not None:
            fig.add_vline(
                x=d,
                line=dict(color=COLOURS.get(name, MUTED), width=1.5, dash="dot"),
                annotation_text=f"{name} diverged",
                annotation_position="top left",
                annotation_font=dict(size=11, color=COLOURS.get(name, MUTED)),
            )
    apply_layout(fig, title, height, hovermode="x unified")
    fig.update_xaxes(title_text="training step", rangemode="tozero")
    if wide_range([*losses, np.array([r.get("final_loss") or np.nan for r in runs.values()], float)]):
        fig.update_yaxes(title_text="loss (log scale)", type="log", exponentformat="power")
    else:
        fig.update_yaxes(title_text="loss", rangemode="tozero")
    return fig


def grad_norm_overlay(
    runs: dict[str, dict[str, Any]], *, title: str | None = None, height: int = 360
) -> go.Figure:
    """Global gradient norm per update against the training step, log axis: per run (in order) a
    solid line before clipping, and, for runs that clip, a dotted line after clipping and the
    threshold as a dashed line. The updates of one step (TBPTT chunks) sit at fractions of the step
    (step_positions), so a run with 3 updates per step lines up with one with 1.

    runs: name -> {"metrics": DataFrame with update, grad_norm, grad_norm_clipped; "clip": float;
    "clip_mode": str}. Trace order: run 0 before, [run 0 after], run 1 before, [run 1 after].
    """
    fig = go.Figure()
    for name, r in runs.items():
        m, colour = r["metrics"], COLOURS.get(name, MUTED)
        pos = lambda a: np.where(finite(a) > 0, finite(a), np.nan)
        clip = r.get("clip") or 0.0
        x = step_positions(m)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=pos(m["grad_norm"]),
                mode=line_mode(len(m)),
                name=f"{name}" + (" before clipping" if clip else ""),
                line=dict(color=colour, width=1.5),
                marker=dict(size=5),
                hovertemplate=f"{name}, step %{{x:.3~f}}: ‖g‖ = %{{y:.3g}}<extra></extra>",
            )
        )
        if clip:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=pos(m["grad_norm_clipped"]),
                    mode=line_mode(len(m)),
                    name=f"{name} after clipping",
                    line=dict(color=colour, width=2.2, dash="dot"),
                    marker=dict(size=4),
                    hovertemplate=f"{name}, step %{{x:.3~f}}: ‖g‖ = %{{y:.3g}} after<extra></extra>",
                )
            )
            mode = r.get("clip_mode", "norm")
            fig.add_hline(
                y=clip,
                line=dict(color=colour, width=1, dash="dash"),
                annotation_text=f"{name}: clip {clip:g}" + (" (per value)" if mode == "value" else ""),
                annotation_position="bottom right",
                annotation_font=dict(size=11, color=colour),
            )
    apply_layout(fig, title, height, hovermode="x unified")
    fig.update_xaxes(title_text="training step", rangemode="tozero")
    fig.update_yaxes(title_text="‖∂L/∂θ‖ (global norm)", type="log", exponentformat="power")
    vals = np.concatenate(
        [
            finite(r["metrics"][c])
            for r in runs.values()
            for c in ("grad_norm",)
            if len(r["metrics"]) and c in r["metrics"]
        ]
        or [np.array([])]
    )
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size and np.log10(vals.max() / vals.min()) < 1.5:  # within a decade or so: label 1, 2, 5 only
        fig.update_yaxes(dtick="D2")
    return fig


def step_positions(metrics: pd.DataFrame) -> np.ndarray:
    """x of each update on a training-step axis: step + j / n for the j-th of a step's n updates."""
    if not len(metrics):
        return np.zeros(0)
    steps = metrics["step"].to_numpy()
    j = metrics.groupby("step").cumcount().to_numpy()
    n = metrics.groupby("step")["step"].transform("size").to_numpy()
    return steps + j / n


def wide_range(arrays) -> bool:
    """Whether the positive finite values span more than 100x: a log axis then shows them all (the
    rule of training.loss_figure)."""
    v = np.concatenate([np.asarray(a, float).ravel() for a in arrays] or [np.zeros(0)])
    v = v[np.isfinite(v) & (v > 0)]
    return v.size > 1 and v.max() / v.min() > 100


def shared_range(hm_a: np.ndarray, hm_b: np.ndarray, mode: str = "fixed") -> tuple[float, float]:
    """One (zmin, zmax) for both heatmaps: the fixed range, or the auto range of both together."""
    both = np.concatenate([np.asarray(hm_a, float).ravel(), np.asarray(hm_b, float).ravel()])
    return colour_range(both, mode)


def difference_heatmap(
    hm_a: np.ndarray, hm_b: np.ndarray, *, title: str | None = None, max_cells: int = 160, height: int = 460
) -> go.Figure:
    """Heatmap of `difference(hm_a, hm_b)` (trace 0) on a diverging scale centred at 0, symmetric,
    at least one decade each way; colour-bar ticks read as ratios ("×10²")."""
    d = difference(hm_a, hm_b)
    idx = display_index(np.where(np.isnan(hm_a) & np.isnan(hm_b), np.nan, 0.0), max_cells)
    sub = d[np.ix_(idx, idx)]
    steps = idx + 1
    fin = sub[np.isfinite(sub)]
    m = max(1.0, float(np.abs(fin).max())) if fin.size else 1.0
    vals, text = log_ticks(-m, m, max_ticks=7)
    text = ["×" + t for t in text]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=sub.astype(np.float32),
            x=steps,
            y=steps,
            zmin=-m,
            zmax=m,
            zmid=0,
            colorscale=DIFF_SCALE,
            hoverongaps=False,
            name="B / A",
            hovertemplate=f"t=%{{y}}, k=%{{x}}<br>B / A = <b>×{pow10_hover()}</b><extra></extra>",
            colorbar=colorbar("B / A", vals, text, len=0.92),
        )
    )
    L = d.shape[0]
    apply_layout(fig, title, height, top=56 if title else 24)
    fig.update_xaxes(title_text="k (earlier step)", range=[0.5, L + 0.5], showgrid=False)
    fig.update_yaxes(title_text="t (later step)", range=[L + 0.5, 0.5], showgrid=False, gridcolor=GRID)
    return fig
