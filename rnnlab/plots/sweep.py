"""A sweep's phase diagram: one metric over two settings, with the theory's lines on top.

Both axes are drawn in cell-index coordinates (a log-spaced or listed axis gets equal-width cells) with
the values as tick labels; a theory line's x is mapped onto them piecewise linearly, the way the
measured zero is interpolated. Colour: the decay rate on the heatmaps' diverging scale centred on 0
(blue vanishing, red exploding), the loss ratio centred on 1 (the baseline), others sequential.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..config import format_value
from ..sweep import METRICS, PhaseGrid, TheoryLine
from .style import DIVERGING, LINE, MUTED, SEQUENTIAL, colorbar, figure

LINE_STYLE = {
    "mean field χ = 1": dict(color=LINE["mean_field"], width=2.5, dash="dash"),
    "measured zero": dict(color=LINE["measured"], width=2.5),
}
XI_STYLE = dict(color=LINE["after"], width=2.5, dash="dot")
CENTRE = {"decay_rate": 0.0, "lambda_1": 0.0, "loss_ratio": 1.0}


def tick(v) -> str:
    """A value as a tick label: floats to 4 significant digits (a linspace gives 0.714285714286)."""
    return f"{v:.4g}" if isinstance(v, float) else format_value(v)


def _label(column: str) -> str:
    for m in METRICS.values():
        if column in m.columns:
            return m.label if m.columns[0] == column else column
    return column


def x_index(grid: PhaseGrid, xs: Sequence[float]) -> np.ndarray:
    """Values along the x axis -> fractional cell index (piecewise linear between cell centres)."""
    vals = np.asarray([float(v) for v in grid.x_values])
    order = np.argsort(vals)
    x = np.asarray(xs, dtype=float)
    idx = np.interp(x, vals[order], np.arange(len(vals))[order])
    return np.where(np.isfinite(x), idx, np.nan)


def colour_scale(grid: PhaseGrid) -> dict:
    """zmin/zmax/colorscale: symmetric about the metric's centre when it has one."""
    z = grid.z[np.isfinite(grid.z)]
    if grid.column in CENTRE:
        c = CENTRE[grid.column]
        half = float(np.max(np.abs(z - c))) if z.size else 1.0
        half = half if half > 0 else 1.0
        return dict(zmin=c - half, zmax=c + half, colorscale=DIVERGING)
    if not z.size:
        return dict(colorscale=SEQUENTIAL)
    return dict(
        zmin=float(z.min()),
        zmax=float(z.max()) if z.max() > z.min() else float(z.min()) + 1,
        colorscale=SEQUENTIAL,
    )


def phase_figure(
    grid: PhaseGrid,
    lines: Sequence[TheoryLine] = (),
    *,
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """The diagram: a heatmap of grid.z (mean over seeds; hover: the values, the mean, seeds done),
    the theory lines over it, each in the legend."""
    ny, nx = grid.z.shape
    xt = [tick(v) for v in grid.x_values]
    yt = [tick(v) for v in grid.y_values] if grid.y_key else [""]
    ylab = grid.y_key or ""
    custom = np.empty((ny, nx, 3), dtype=object)
    for i in range(ny):
        for j in range(nx):
            z = grid.z[i, j]
            custom[i, j] = (
                xt[j],
                yt[i],
                f"{z:.4g} (mean of {grid.n[i, j]}/{grid.seeds} seeds)" if np.isfinite(z) else "not yet",
            )
    hover = (
        f"{grid.x_key} = %{{customdata[0]}}"
        + (f"<br>{ylab} = %{{customdata[1]}}" if grid.y_key else "")
        + f"<br>{_label(grid.column)}: <b>%{{customdata[2]}}</b><extra></extra>"
    )
    traces: list = [
        go.Heatmap(
            z=grid.z,
            x=list(range(nx)),
            y=list(range(ny)),
            customdata=custom,
            hovertemplate=hover,
            hoverongaps=True,
            name=grid.column,
            colorbar=colorbar(_label(grid.column), None, None),
            **colour_scale(grid),
        )
    ]
    for line in lines:
        style = LINE_STYLE.get(line.name, XI_STYLE)
        traces.append(
            go.Scatter(
                x=x_index(grid, line.x),
                y=list(line.y),
                mode="lines",
                name=line.name,
                line=style,
                hoverinfo="skip",
            )
        )
    step = max(1, nx // 12)
    xaxis = dict(
        title=dict(text=grid.x_key),
        tickvals=list(range(0, nx, step)),
        ticktext=xt[::step],
        range=[-0.5, nx - 0.5],
        showgrid=False,
        zeroline=False,
    )
    ystep = max(1, ny // 12)
    yaxis = dict(
        title=dict(text=ylab),
        tickvals=list(range(0, ny, ystep)),
        ticktext=yt[::ystep],
        range=[-0.5, ny - 0.5],
        showgrid=False,
        zeroline=False,
    )
    return figure(
        traces,
        title,
        height,
        xaxis=xaxis,
        yaxis=yaxis,
        legend=dict(orientation="h", y=-0.3, x=0, font=dict(color=MUTED)),  # below the x title
    )
