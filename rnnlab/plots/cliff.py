"""The loss cliff and gradient clipping charts of the Theory page. No Streamlit here.

Owns the one-unit cliff (the loss surface with two descent paths, and their steps) and the picture
of norm against value clipping; the numbers come from `rnnlab.theory`. Trace order is documented
per builder, as in `rnnlab.plots.theory`.

- `cliff_figure(plain, clipped)`: the one-unit loss cliff with two descent paths.
- `cliff_steps_figure(plain, clipped)`: loss and gradient norm along both paths.
- `clip_figure(g, c)`: a gradient, its norm-clipped and its value-clipped version.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .. import theory
from .style import CLIPPED, GRID, INK, MUTED, PLAIN, apply_layout, fmt_pow10, log_ticks

# ---- the loss cliff --------------------------------------------------------------------------------


def _jump(path: np.ndarray) -> int:
    """Index of the longest step of a path (0 if it has none)."""
    if len(path) < 2:
        return 0
    return int(np.argmax(np.hypot(*np.diff(path, axis=0).T)))


def cliff_figure(
    plain: theory.CliffPath,
    clipped: theory.CliffPath,
    *,
    w_range=None,
    b_range=None,
    n: int = 181,
    title: str | None = None,
    height: int = 620,
) -> go.Figure:
    """log10 of the cliff loss over (w, b) and two descent paths from the same start.

    Traces: [0] the heatmap of log10 loss, [1] the plain gradient-descent path (x = w, y = b, the
    points of `plain.path`), [2] the clipped path (`clipped.path`), [3] the start. The longest
    step of the plain path gets an arrow; if it leaves the chart, the landing point is written.
    """
    w_range = tuple(w_range or theory.CLIFF_DEFAULTS["w_range"])
    b_range = tuple(b_range or theory.CLIFF_DEFAULTS["b_range"])
    w, b, z = theory.cliff_grid(w_range, b_range, n)
    zmin, zmax = -6.0, 0.0
    vals, text = log_ticks(zmin, zmax)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=z.astype(np.float32),
            x=w,
            y=b,
            zmin=zmin,
            zmax=zmax,
            name="loss",
            colorscale=[
                [0, "#08306b"],
                [0.25, "#2171b5"],
                [0.5, "#6baed6"],
                [0.75, "#c6dbef"],
                [1, "#f7fbff"],
            ],
            colorbar=dict(
                title=dict(text="loss", side="top", font=dict(size=11, color=MUTED)),
                tickvals=vals,
                ticktext=text,
                thickness=12,
                outlinewidth=0,
            ),
            customdata=np.vectorize(fmt_pow10, otypes=[object])(z),
            hovertemplate="w = %{x:.2f}, b = %{y:.2f}<br>loss = %{customdata}<extra></extra>",
        )
    )
    for path, name, colour in ((plain, "gradient descent", PLAIN), (clipped, "with norm clipping", CLIPPED)):
        p = path.path
        fig.add_trace(
            go.Scatter(
                x=p[:, 0],
                y=p[:, 1],
                mode="lines+markers",
                name=name,
                line=dict(color=colour, width=2),
                marker=dict(size=4, color=colour),
                customdata=np.column_stack([np.arange(len(p)), path.losses]),
                hovertemplate="step %{customdata[0]}: w = %{x:.3f}, b = %{y:.3f}<br>"
                "loss %{customdata[1]:.3g}<extra>" + name + "</extra>",
            )
        )
    start = plain.path[0]
    fig.add_trace(
        go.Scatter(
            x=[start[0]],
            y=[start[1]],
            mode="markers",
            name="start",
            marker=dict(symbol="circle", size=11, color="white", line=dict(color=INK, width=2)),
            hovertemplate="start w = %{x:.3f}, b = %{y:.3f}<extra></extra>",
        )
    )
    k = _jump(plain.path)
    if len(plain.path) > 1:
        p0, p1 = plain.path[k], plain.path[k + 1]
        inside = w_range[0] <= p1[0] <= w_range[1] and b_range[0] <= p1[1] <= b_range[1]
        length = float(np.hypot(*(p1 - p0)))
        if length > 1.0:
            if inside:
                fig.add_annotation(
                    x=p1[0],
                    y=p1[1],
                    ax=p0[0],
                    ay=p0[1],
                    xref="x",
                    yref="y",
                    axref="x",
                    ayref="y",
                    showarrow=True,
                    arrowhead=3,
                    arrowwidth=2,
                    arrowcolor=PLAIN,
                    text="",
                )
            fig.add_annotation(
                x=p0[0],
                y=p0[1],
                xref="x",
                yref="y",
                showarrow=True,
                arrowcolor=PLAIN,
                ax=-40,
                ay=40,
                text=(
                    f"step {k + 1}: ‖g‖ = {plain.grad_norms[k]:.3g}, jumps {length:.3g}"
                    + ("" if inside else f"<br>to (w, b) = ({p1[0]:.3g}, {p1[1]:.3g}), off the chart")
                ),
                font=dict(size=11, color=PLAIN),
                bgcolor="rgba(255,255,255,0.85)",
                align="left",
            )
    apply_layout(fig, title, height, hovermode="closest")
    fig.update_xaxes(title_text="w (recurrent weight)", range=list(w_range), showgrid=False)
    fig.update_yaxes(title_text="b (bias)", range=list(b_range), showgrid=False)
    return fig


def cliff_steps_figure(
    plain: theory.CliffPath, clipped: theory.CliffPath, *, title: str | None = None, height: int = 620
) -> go.Figure:
    """Loss (top) and gradient norm before clipping (bottom) along both paths, log axes.

    Traces: [0] plain loss, [1] clipped loss (x = step 0..n, y = path.losses), [2] plain gradient
    norm, [3] clipped gradient norm (x = step 1..n, y = path.grad_norms).
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    pos = lambda a: np.where(np.asarray(a, float) > 0, a, np.nan)
    for path, name, colour in ((plain, "gradient descent", PLAIN), (clipped, "with norm clipping", CLIPPED)):
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(path.losses)),
                y=pos(path.losses),
                mode="lines",
                name=name,
                legendgroup=name,
                line=dict(color=colour, width=2),
                hovertemplate="step %{x}: loss %{y:.3g}<extra>" + name + "</extra>",
            ),
            row=1,
            col=1,
        )
    for path, name, colour in ((plain, "gradient descent", PLAIN), (clipped, "with norm clipping", CLIPPED)):
        fig.add_trace(
            go.Scatter(
                x=np.arange(1, len(path.grad_norms) + 1),
                y=pos(path.grad_norms),
                mode="lines",
                name=name,
                legendgroup=name,
                showlegend=False,
                line=dict(color=colour, width=1.5),
                hovertemplate="step %{x}: ‖g‖ %{y:.3g}<extra>" + name + "</extra>",
            ),
            row=2,
            col=1,
        )
    apply_layout(fig, title, height, hovermode="x unified")
    fig.update_yaxes(type="log", exponentformat="power", title_text="loss", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", title_text="‖∇L‖ before clipping", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    return fig


# ---- clipping and direction ------------------------------------------------------------------------


def clip_figure(g, c: float, *, title: str | None = None, height: int = 360) -> go.Figure:
    """Arrows from the origin: the gradient (trace 0), norm-clipped (1), value-clipped (2); the box
    [-c, c]^2 and the circle of radius c as shapes. Each trace is the segment [(0, 0), v]."""
    vecs = theory.clip_vectors(g, c)
    colours = {"gradient": MUTED, "norm-clipped": CLIPPED, "value-clipped": "#b45309"}
    fig = go.Figure()
    for name, v in vecs.items():
        ang = theory.angle_deg(vecs["gradient"], v) if np.linalg.norm(v) > 0 else 0.0
        fig.add_trace(
            go.Scatter(
                x=[0, v[0]],
                y=[0, v[1]],
                mode="lines+markers",
                name=f"{name} (‖·‖ = {np.linalg.norm(v):.3g}, turned {ang:.1f}°)",
                line=dict(
                    color=colours[name],
                    width=3 if name != "gradient" else 2,
                    dash="dot" if name == "gradient" else "solid",
                ),
                marker=dict(size=[0, 10], symbol="arrow", angleref="previous", color=colours[name]),
                hovertemplate=f"{name}: (%{{x:.3g}}, %{{y:.3g}})<extra></extra>",
            )
        )
    fig.add_shape(type="rect", x0=-c, y0=-c, x1=c, y1=c, line=dict(color="#b45309", width=1, dash="dot"))
    fig.add_shape(type="circle", x0=-c, y0=-c, x1=c, y1=c, line=dict(color=CLIPPED, width=1, dash="dot"))
    gx, gy = vecs["gradient"]
    x0, x1 = min(-1.3 * c, 1.1 * gx), max(1.3 * c, 1.12 * gx)
    y0, y1 = min(-1.3 * c, 1.1 * gy), max(1.3 * c, 1.12 * gy)
    apply_layout(fig, title, height, top=100 if title else 60, hovermode="closest")
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, entrywidth=0))
    fig.update_xaxes(range=[x0, x1], zeroline=True, zerolinecolor=GRID, title_text="g₁", constrain="domain")
    fig.update_yaxes(
        range=[y0, y1],
        zeroline=True,
        zerolinecolor=GRID,
        scaleanchor="x",
        scaleratio=1,
        title_text="g₂",
        constrain="domain",
    )
    return fig
