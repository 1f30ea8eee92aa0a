"""The Theory page's charts: plain numbers in, `go.Figure` out. No Streamlit here.

Each builder draws one formula of the page next to what rnnlab measures, in the house style of
`rnnlab.plots.style`. Trace order is documented per builder, so tests (and readers) can find the
numbers. The numbers themselves come from `rnnlab.theory`.

- `eig_powers_figure(eigvals, steps)`: log10 |lambda_i|^t for every eigenvalue of W_hh.
- `pascanu_figure(rho, sigma_max, act)`: Pascanu's regions on a (radius, activation) map.
- `mean_field_figure(rhos, s2, measured)`: predicted per-step growth against rho, with measurements.
- `cliff_figure(plain, clipped)`: the one-unit loss cliff with two descent paths.
- `cliff_steps_figure(plain, clipped)`: loss and gradient norm along both paths.
- `clip_figure(g, c)`: a gradient, its norm-clipped and its value-clipped version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .. import activations, theory
from .style import (
    ACT_COLOUR,
    CLIPPED,
    EXPLODE_FILL,
    GRID,
    INK,
    LINE,
    MUTED,
    PLAIN,
    VANISH_FILL,
    apply_layout,
    fmt_pow10,
    log_ticks,
    pow10_axis,
)

ACTS = activations.NAMES

# ---- eigenvalue powers ---------------------------------------------------------------------------


def eig_powers_figure(eigvals, steps: int, *, title: str | None = None, height: int = 400) -> go.Figure:
    """log10 |lambda_i|^t against t = 0..steps (`theory.eig_powers`), one line per eigenvalue.

    Traces: [0] the largest modulus (rho; bold), [1] every other eigenvalue outside the unit circle,
    [2] inside it, [3] on it (within theory.UNIT_TOL) (lines separated by NaN so hundreds of them
    stay three traces); each label counts its whole class, the largest included. Conjugate pairs
    share a modulus, so they draw on top of each other.
    """
    lam = np.asarray(eigvals).astype(complex).ravel()
    t, table = theory.eig_powers(lam, int(steps))
    mod = np.abs(lam)
    side = theory.unit_circle_side(lam)
    top = int(np.argmax(mod)) if mod.size else 0
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=t,
            y=np.where(np.isfinite(table[:, top]), table[:, top], np.nan),
            mode="lines",
            name=f"largest |λ| = ρ = {mod[top]:.3g}",
            line=dict(color=INK, width=2.6),
            customdata=[fmt_pow10(v) for v in table[:, top]],
            hovertemplate="t = %{x}: |λ|<sup>t</sup> = %{customdata}<extra>largest</extra>",
        )
    )
    for label, keep, colour in (
        ("|λ| > 1: grows", side > 0, LINE["bound"]),
        ("|λ| < 1: shrinks", side < 0, LINE["rho"]),
        ("|λ| = 1: keeps its size", side == 0, LINE["on_circle"]),
    ):
        idx = [i for i in np.flatnonzero(keep) if i != top]
        xs, ys, cd = [], [], []
        for i in idx:
            col = np.where(np.isfinite(table[:, i]), table[:, i], np.nan)
            xs += [*t, None]
            ys += [*col, None]
            cd += [f"{mod[i]:.3f}"] * len(t) + [""]
        # counts include the largest, so they add up to H and match the Theory page's caption
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=f"{label} ({int(np.sum(keep))})",
                line=dict(color=colour, width=0.9),
                opacity=0.55,
                customdata=cd,
                hovertemplate="t = %{x}, |λ| = %{customdata}<extra></extra>",
            )
        )
    finite = table[np.isfinite(table)]
    lo = float(min(finite.min(), -1.0)) if finite.size else -1.0
    hi = float(max(finite.max(), 1.0)) if finite.size else 1.0
    lo = max(lo, -30.0)  # a few decades below the slowest line are enough; zero eigenvalues are -inf
    pad = 0.05 * (hi - lo)
    apply_layout(fig, title, height, hovermode="closest")
    fig.update_xaxes(title_text="t (steps)", range=[0, int(steps)])
    fig.update_yaxes(title_text="|λ|<sup>t</sup>")
    pow10_axis(fig, lo - pad, hi + pad)
    fig.add_hline(y=0, line=dict(color="#9ca3af", width=1))
    return fig


# ---- Pascanu's conditions --------------------------------------------------------------------------

REGIME_CODE = {"vanishing": 0.0, "boundary": 0.5, "may_explode": 1.0}


def pascanu_figure(
    rho: float,
    sigma_max: float,
    act: str,
    *,
    rho_max: float = 5.0,
    n: int = 401,
    gaussian: bool = True,
    rho_name: str = "ρ",
    title: str | None = None,
    height: int = 440,
) -> go.Figure:
    """Regions of `theory.pascanu_map` over radius x activation, with the current setting marked
    (labelled "{rho_name} = 0.8": the page says whose rho it is).

    Traces: [0] the regions (heatmap, z = 0 vanishing guaranteed, 1 exploding possible; x the radius
    grid, y the activations), [1] the thresholds 1/gamma, [2] the current rho, [3] the measured
    sigma_max of W_hh (the quantity the conditions are about), [4] (gaussian) where a Gaussian W_hh
    of radius rho has sigma_max ~ 2 rho = 1/gamma; then two legend swatches for the region colours.
    """
    rhos = np.linspace(0.0, rho_max, n)
    regions = theory.pascanu_map(rhos, ACTS)
    z = np.array([[REGIME_CODE[r] for r in regions[a]["regime"]] for a in ACTS])  # (4, n)
    hover = np.array(
        [
            [
                (
                    "σ·γ < 1: vanishing guaranteed"
                    if v == 0
                    else "σ·γ > 1: exploding possible (not certain)"
                    if v == 1
                    else "σ·γ = 1"
                )
                for v in row
            ]
            for row in z
        ],
        dtype=object,
    )
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=rhos,
            y=list(ACTS),
            zmin=0,
            zmax=1,
            showscale=False,
            name="regions",
            colorscale=[[0, VANISH_FILL], [0.5, "#ffffff"], [1, EXPLODE_FILL]],
            customdata=hover,
            hovertemplate="%{y}, σ<sub>max</sub> = %{x:.2f}<br>%{customdata}<extra></extra>",
            xgap=0,
            ygap=3,
        )
    )
    thr = [regions[a]["threshold"] for a in ACTS]
    fig.add_trace(
        go.Scatter(
            x=thr,
            y=list(ACTS),
            mode="markers",
            name="threshold 1/γ",
            marker=dict(symbol="line-ns", size=26, line=dict(width=2.5, color=INK)),
            hovertemplate="%{y}: 1/γ = %{x:g}<extra></extra>",
        )
    )
    sg = sigma_max * theory.gamma(act)
    fig.add_trace(
        go.Scatter(
            x=[rho],
            y=[act],
            mode="markers",
            name=f"{rho_name} = {rho:.3g}",
            marker=dict(symbol="circle", size=13, color="white", line=dict(width=2.5, color=INK)),
            hovertemplate=f"spectral radius ρ = {rho:.3g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[min(sigma_max, rho_max)],
            y=[act],
            mode="markers",
            name=(f"measured σ<sub>max</sub> = {sigma_max:.3g} (σ<sub>max</sub>·γ = {sg:.3g})"),
            marker=dict(symbol="diamond", size=13, color=INK, line=dict(width=1, color="white")),
            hovertemplate=(
                f"largest singular value σ<sub>max</sub> = {sigma_max:.3g}"
                f"<br>σ<sub>max</sub>·γ = {sg:.3g}<extra></extra>"
            ),
        )
    )
    if gaussian:
        gx = [t / 2 for t in thr]
        fig.add_trace(
            go.Scatter(
                x=gx,
                y=list(ACTS),
                mode="markers",
                name="Gaussian W<sub>hh</sub>: ρ where σ<sub>max</sub> ≈ 2ρ reaches 1/γ",
                marker=dict(symbol="line-ns", size=18, line=dict(width=1.6, color=MUTED)),
                hovertemplate="%{y}: Gaussian ρ ≈ %{x:g}<extra></extra>",
            )
        )
    for name, colour in (
        ("σ<sub>max</sub>·γ < 1: vanishing guaranteed", VANISH_FILL),
        ("σ<sub>max</sub>·γ > 1: exploding possible", EXPLODE_FILL),
    ):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=name,
                hoverinfo="skip",
                marker=dict(symbol="square", size=14, color=colour, line=dict(width=1, color="#d1d5db")),
            )
        )
    apply_layout(fig, title, height, top=48 if title else 16, hovermode="closest")
    fig.update_layout(
        legend=dict(orientation="h", y=-0.22, yanchor="top", x=0, font=dict(size=11)), margin=dict(b=150)
    )
    fig.update_xaxes(
        title_text="radius of W<sub>hh</sub> (ρ, or σ<sub>max</sub>)", range=[0, rho_max], showgrid=False
    )
    fig.update_yaxes(title_text=None, showgrid=False, categoryorder="array", categoryarray=list(ACTS)[::-1])
    return fig


# ---- mean field ----------------------------------------------------------------------------------


def mean_field_figure(
    rhos,
    s2: float = 0.0,
    measured: Mapping[str, tuple] | None = None,
    *,
    act: str | None = None,
    rho: float | None = None,
    leak: float = 0.0,
    rho_name: str = "ρ",
    title: str | None = None,
    height: int = 540,
) -> go.Figure:
    """Predicted growth per step, log10 (0.5 ln chi), against rho for each activation, with points.

    Traces: [0..3] the mean-field curves (`theory.mean_field_slopes(a, rhos, s2, leak)`) for ACTS in
    order; then one marker trace per entry of `measured` (act -> (rhos, slopes) measured on rms
    heatmaps), in ACTS order. `act` is drawn bold; `rho` adds a vertical line labelled
    "{rho_name} = rho".
    """
    rhos = np.asarray(rhos, dtype=float)
    fig = go.Figure()
    for a in ACTS:
        y = theory.mean_field_slopes(a, rhos, s2, leak)
        fig.add_trace(
            go.Scatter(
                x=rhos,
                y=y,
                mode="lines",
                name=f"{a} (theory)",
                legendgroup=a,
                line=dict(color=ACT_COLOUR[a], width=3 if a == act else 1.6),
                opacity=1 if act in (None, a) else 0.75,
                customdata=[fmt_pow10(v) for v in y],
                hovertemplate=f"{a}, ρ = %{{x:.2f}}<br>predicted %{{y:+.3f}} log₁₀/step "
                f"(×%{{customdata}} per step)<extra>mean field</extra>",
            )
        )
    for a in ACTS:
        if not measured or a not in measured:
            continue
        xs, ys = (np.asarray(v, dtype=float) for v in measured[a])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=f"{a} (measured)",
                legendgroup=a,
                marker=dict(
                    color="white",
                    size=9 if a == act else 7,
                    symbol="circle",
                    line=dict(color=ACT_COLOUR[a], width=2.2),
                ),
                hovertemplate=f"{a}, ρ = %{{x:.2f}}<br>measured %{{y:+.3f}} log₁₀/step<extra>heatmap</extra>",
            )
        )
    fig.add_hline(
        y=0,
        line=dict(color="#9ca3af", width=1),
        annotation_text="no change per step",
        annotation_position="bottom right",
        annotation_font=dict(size=10, color=MUTED),
    )
    if rho is not None and math.isfinite(rho):
        fig.add_vline(
            x=rho,
            line=dict(color=INK, width=1, dash="dot"),
            annotation_text=f"{rho_name} = {rho:.3g}",
            annotation_position="top left",
            annotation_font=dict(size=11, color=INK),
        )
    apply_layout(fig, title, height, top=48 if title else 16, hovermode="closest")
    fig.update_xaxes(title_text="spectral radius ρ of a Gaussian W<sub>hh</sub> (g)", range=[0, rhos.max()])
    fig.update_yaxes(title_text="growth per step back (log₁₀)", range=[-1.2, 0.75], zeroline=False)
    fig.update_layout(
        legend=dict(orientation="h", y=-0.16, yanchor="top", x=0, traceorder="grouped"), margin=dict(b=130)
    )
    return fig


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
