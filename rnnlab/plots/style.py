"""The house style of every RNN Lab chart: fonts, colours, the template, powers-of-ten ticks, layout.

Every builder in `rnnlab.plots` draws through `figure` (one construction, for the live charts) or
`apply_layout` (for builders that add traces one by one or use subplots); both take the same title,
margins and template from `frame`, so a chart looks the same whichever way it was built.

Every chart of a log10 quantity labels its axis or colour bar in powers of ten ("10⁻³"), so the
reader sees the size, not the logarithm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go

from .. import activations

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK = "#1f2937"  # text and axes
GRID = "#e5e7eb"
MUTED = "#6b7280"
ZERO_COLOUR = "#111111"  # exactly-zero cells
# Diverging: deep blue (vanishing) .. white (norm 1) .. deep red (exploding).
DIVERGING = [
    [0.0, "#08306b"],
    [0.15, "#2171b5"],
    [0.32, "#6baed6"],
    [0.45, "#c6dbef"],
    [0.5, "#f7f7f7"],
    [0.55, "#fcd5c0"],
    [0.68, "#fb8a6a"],
    [0.85, "#d7301f"],
    [1.0, "#67000d"],
]
# Viridis as the stops Plotly's checks expand the name to: unchecked traces send it as it is written
_VIRIDIS = pcolors.sequential.Viridis
SEQUENTIAL = [[i / (len(_VIRIDIS) - 1), c] for i, c in enumerate(_VIRIDIS)]
LINE = {
    "measured": "#1f2937",
    "bound": "#d7301f",
    "rho": "#2171b5",
    "mean_field": "#7c3aed",
    "after": "#0f766e",
    "before": "#9ca3af",
    "clipped": "#d7301f",
    "eval": "#7c3aed",
    "baseline": "#6b7280",
    "sigma": "#9ca3af",
    "on_circle": "#111827",
}
# Compare: A blue, B orange (Okabe-Ito, safe for colour-blind readers); red/blue stay reserved for
# the heatmaps' exploding/vanishing scale, so the difference map uses purple-orange (PuOr).
RUN_COLOURS = {"A": "#0072B2", "B": "#E69F00"}
DIFF_SCALE = [
    [0.0, "#2d004b"],
    [0.2, "#8073ac"],
    [0.4, "#d8daeb"],
    [0.5, "#f7f7f7"],
    [0.6, "#fee0b6"],
    [0.8, "#e08214"],
    [1.0, "#7f3b08"],
]
# Theory: one colour per activation, descent without / with clipping, Pascanu's two regions.
_ACT_PALETTE = ("#1f77b4", "#b45309", "#0f766e", "#7c3aed", "#be185d", "#4d7c0f")
ACT_COLOUR = {a: _ACT_PALETTE[i % len(_ACT_PALETTE)] for i, a in enumerate(activations.NAMES)}
PLAIN, CLIPPED = "#d7301f", "#0f766e"
VANISH_FILL, EXPLODE_FILL = "#dbe7f5", "#fbdcd2"
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
        return f"{10.0**z:.3g}"
    e = math.floor(z)
    m = 10.0 ** (z - e)
    if round(m, 1) >= 10:
        m, e = m / 10, e + 1
    return f"{m:.2g}e{e}"


AXIS = dict(
    gridcolor=GRID,
    zeroline=False,
    linecolor="#9ca3af",
    ticks="outside",
    tickcolor="#9ca3af",
    showline=True,
    automargin=True,
)
TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family=FONT, size=12, color=INK),
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis=AXIS,
        yaxis=AXIS,
        hoverlabel=dict(bgcolor="white", font=dict(family=FONT, size=12)),
        legend=dict(
            orientation="h",
            yanchor="bottom",
            y=1.015,
            x=0,
            xanchor="left",
            bgcolor="rgba(255,255,255,0)",
            font=dict(size=11),
        ),
        colorway=["#1f2937", "#2171b5", "#d7301f", "#7c3aed", "#0f766e"],
    )
)


UNCHECKED = {"_validate": False}
"""Keyword arguments of a graph object built without Plotly's per-property checks. The live charts
(the Lab's at-init view on every control change, training's charts twice a second) are built
through `figure` and their traces take these: checking costs about three times the building
(~18 of ~25 ms for the Lab's five charts). tests/conftest.py re-validates every figure `figure` builds
during the tests, in full, against the same JSON, through FIGURE_CHECKS."""

FIGURE_CHECKS: list[Callable[[go.Figure], None]] = []  # run on every figure `figure` builds (tests)


def frame(title: str | None, height: int, top: int | None = None) -> dict:
    """The layout every chart shares: the template, a left-aligned title, height and margins
    (a taller top margin when there is a title, so the legend above the plot clears it)."""
    return dict(
        template=TEMPLATE,
        height=height,
        title=dict(
            text=title,
            x=0.01,
            xanchor="left",
            xref="container",
            y=0.985,
            yanchor="top",
            yref="container",
            font=dict(size=15, color=INK),
        )
        if title
        else None,
        margin=dict(l=64, r=24, t=top if top is not None else (84 if title else 40), b=52),
    )


def figure(
    traces: list,
    title: str | None,
    height: int,
    *,
    top: int | None = None,
    xaxis: dict | None = None,
    yaxis: dict | None = None,
    shapes: Iterable[dict] = (),
    annotations: Iterable[dict] = (),
    **layout,
) -> go.Figure:
    """One construction with the whole layout: several times cheaper than update_layout,
    update_xaxes and add_hline one by one (it matters for the live charts redrawn twice a second)."""
    lay = dict(
        frame(title, height, top),
        xaxis=xaxis or {},
        yaxis=yaxis or {},
        shapes=list(shapes),
        annotations=list(annotations),
        **layout,
    )
    # Plotly's checks drop None and empty lists; unchecked, they would be sent as null and []
    lay = {k: v for k, v in lay.items() if v is not None and not (isinstance(v, list) and not v)}
    fig = go.Figure(data=traces, layout=lay, **UNCHECKED)
    for check in FIGURE_CHECKS:
        check(fig)
    return fig


def apply_layout(fig: go.Figure, title: str | None, height: int, top: int | None = None, **kw) -> go.Figure:
    """`frame` on a figure built trace by trace; the axis style goes on every axis (subplots too)."""
    fig.update_layout(**frame(title, height, top), **kw)
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    return fig


def pow10_axis(fig: go.Figure, lo: float, hi: float, axis: str = "y", max_ticks: int = 8) -> None:
    """An axis of log10 values over [lo, hi], ticked at whole powers of ten."""
    vals, text = log_ticks(lo, hi, max_ticks=max_ticks)
    getattr(fig, f"update_{axis}axes")(tickvals=vals, ticktext=text, range=[lo, hi])


def line_trace(
    x0: float, x1: float, y: float, name: str, color: str, dash: str = "dash", showlegend: bool = True
) -> go.Scatter:
    """A horizontal reference line as a trace (data coordinates on any axis type, in the legend)."""
    return go.Scatter(
        **UNCHECKED,
        x=[x0, x1],
        y=[y, y],
        mode="lines",
        name=name,
        showlegend=showlegend,
        line=dict(color=color, width=1.2, dash=dash),
        hoverinfo="skip",
    )


def int_axis(values) -> dict:
    """Axis settings for counts (steps, updates): whole-number ticks when the range is short."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    span = float(v.max() - v.min()) if v.size else 0.0
    return dict(dtick=1, tick0=0) if span < 8 else dict(tickformat="d")


FEW_POINTS = 60  # up to this many points a curve also draws markers: a lone finite point stays visible


def line_mode(n: int) -> str:
    """ "lines+markers" for short curves (a line trace draws nothing for a point between gaps, e.g.
    the one finite update of a run that diverged at its second step), "lines" otherwise."""
    return "lines+markers" if n <= FEW_POINTS else "lines"


def vline(x: float, color: str, text: str = "") -> tuple[dict, list[dict]]:
    shape = dict(
        type="line",
        xref="x",
        x0=x,
        x1=x,
        yref="paper",
        y0=0,
        y1=1,
        line=dict(color=color, width=1.5, dash="dot"),
    )
    ann = (
        [
            dict(
                x=x,
                y=1,
                xref="x",
                yref="paper",
                text=text,
                showarrow=False,
                xanchor="right",
                yanchor="top",
                font=dict(color=color, size=11),
                bgcolor="white",
            )
        ]
        if text
        else []
    )
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


def display_index(hm: np.ndarray, max_cells: int = MAX_CELLS) -> np.ndarray:
    """0-based indices of the steps to draw: the computed columns (a strided heatmap has all-NaN
    columns), thinned evenly to at most max_cells. Rows use the same indices, so the diagonal stays."""
    hm = np.asarray(hm, dtype=float)
    L = hm.shape[1]
    computed = np.flatnonzero(~np.all(np.isnan(hm), axis=0))
    if computed.size == 0:
        computed = np.arange(L)
    if computed.size > max_cells:
        keep = np.unique(np.round(np.linspace(0, computed.size - 1, max_cells)).astype(int))
        computed = computed[keep]
    return computed


def pow10_hover(var: str = "z") -> str:
    """Hover text of 10**v for a log10 value v that the chart already holds (its z or y), e.g.
    10<sup>-3.49</sup>, read like the colour bar's powers of ten. Plotly formats the number in
    the browser, so no per-cell string is built or sent, and no 10**v is formed that would underflow
    or overflow (products of -300 or +400 decades are legitimate)."""
    return f"10<sup>%{{{var}:.2f}}</sup>"


def no_zeros(zeros: np.ndarray) -> np.ndarray:
    """The exactly-zero overlay's z: as given when some cell is zero, else an empty grid (a full
    grid of NaN would send tens of kB of nothing to the browser with every redraw)."""
    return zeros if np.any(zeros == 1.0) else np.zeros((0, 0))


def numbers(values: Iterable) -> list[float]:
    """Plain floats (NaN for missing): what a chart's trace should hold, for tests and checks."""
    return [float("nan") if v is None else float(v) for v in values]


def colorbar(title: str, tickvals, ticktext, **kw) -> dict:
    """The colour bar every heatmap shares: a small title on top, labelled ticks, no outline."""
    return dict(
        title=dict(text=title, side="top", font=dict(size=11, color=MUTED)),
        tickvals=tickvals,
        ticktext=ticktext,
        thickness=12,
        outlinewidth=0,
        **kw,
    )


def zero_overlay(zeros: np.ndarray, x, y, hovertemplate: str) -> go.Heatmap:
    """Cells whose norm is exactly zero (z = 1 there, NaN elsewhere), drawn in ZERO_COLOUR over a
    log-scale heatmap, where log10(0) = -inf has no colour of its own."""
    return go.Heatmap(
        **UNCHECKED,
        z=no_zeros(zeros).astype(np.float32),
        x=x,
        y=y,
        zmin=0,
        zmax=1,
        showscale=False,
        name="exactly zero",
        colorscale=[[0, ZERO_COLOUR], [1, ZERO_COLOUR]],
        hovertemplate=hovertemplate,
        hoverongaps=False,
    )
