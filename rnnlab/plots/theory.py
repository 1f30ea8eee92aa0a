"""The Theory page's charts: plain numbers in, `go.Figure` out. No Streamlit here.

Each builder draws one formula of the page next to what rnnlab measures, in the house style of
`rnnlab.plots.style`. Trace order is documented per builder, so tests (and readers) can find the
numbers. The numbers themselves come from `rnnlab.theory`.

- `eig_powers_figure(eigvals, steps)`: log10 |lambda_i|^t for every eigenvalue of W_hh.
- `pascanu_figure(rho, sigma_max, act)`: Pascanu's regions on a (radius, activation) map.
- `mean_field_figure(rhos, s2, measured)`: predicted per-step growth against rho, with measurements.

The cliff and clipping charts live in `rnnlab.plots.cliff`; they are re-exported here so older
`from rnnlab.plots.theory import cliff_figure` lines keep working.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .. import activations, theory

# moved to .cliff; re-exported for imports written against this module
from .cliff import cliff_figure, cliff_steps_figure, clip_figure  # noqa: F401
from .style import (
    ACT_COLOUR,
    EXPLODE_FILL,
    INK,
    LINE,
    MUTED,
    VANISH_FILL,
    apply_layout,
    fmt_pow10,
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
