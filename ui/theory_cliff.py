"""The Theory page's sections 7 and 8: the loss cliff, and what gradient clipping keeps.

Owns the one-unit cliff example (its sliders, its cached descents and charts) and the picture of
norm against value clipping. Neither depends on the sidebar: both are toy problems with controls of
their own, which is why they sit apart from `ui.theory`.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from rnnlab import theory
from rnnlab.plots import cliff as cf

from .widgets import chart, text_and_chart


@st.cache_data(max_entries=32, show_spinner=False)
def cliff_paths(
    w0: float, b0: float, lr: float, clip: float, steps: int
) -> tuple[theory.CliffPath, theory.CliffPath]:
    return (theory.cliff_descent(w0, b0, lr, steps), theory.cliff_descent(w0, b0, lr, steps, clip=clip))


@st.cache_data(max_entries=32, show_spinner=False)
def _cliff_figure(w0, b0, lr, clip, steps, zoom):
    plain, clipped = cliff_paths(w0, b0, lr, clip, steps)
    ranges = dict(w_range=(w0 - 1.0, w0 + 1.0), b_range=(b0 - 1.0, b0 + 1.0), n=201) if zoom else {}
    return cf.cliff_figure(
        plain, clipped, title="Loss over (w, b), and two descents from the same start", **ranges
    ), cf.cliff_steps_figure(plain, clipped, title="Along the two paths")


def cliff() -> None:
    st.subheader("7 · The loss cliff, and why clipping tames it", anchor="cliff")
    d = theory.CLIFF_DEFAULTS
    left, right = st.columns([1, 2.6], gap="large")
    with left:
        st.markdown("A one-unit recurrent network, run for 50 steps from x₀ = 0.5:")
        st.latex(r"x_t = w\,\sigma(x_{t-1}) + b")
        st.latex(r"L = \big(\sigma(x_{50}) - 0.7\big)^2")
        st.markdown(
            "For some (w, b) the unit has two stable states and x₅₀ lands in one or the other. "
            "Crossing the border between them flips the output, so the loss drops abruptly: a "
            "wall. On the wall the gradient is enormous, and one plain step throws the "
            "parameters far away. Clipping the gradient's norm caps the step length at "
            "lr × threshold and keeps its direction, so descent walks down the wall instead."
        )
        with st.container(border=True):
            w0 = st.slider("start w₀", -2.0, 10.0, float(d["w0"]), 0.05, key="th.w0")
            b0 = st.slider("start b₀", -8.0, 4.0, float(d["b0"]), 0.05, key="th.b0")
            lr = st.select_slider(
                "learning rate", [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0], value=float(d["lr"]), key="th.lr"
            )
            clip = st.select_slider(
                "clip threshold (norm)",
                [0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
                value=float(d["clip"]),
                key="th.clip",
            )
            steps = st.slider("steps", 10, 300, int(d["steps"]), 10, key="th.steps")
            whole = st.toggle(
                "Show the whole landscape",
                value=False,
                key="th.whole",
                help="Off: a 2 × 2 window around the start, where the paths are visible.",
            )
    plain, clipped = cliff_paths(w0, b0, lr, clip, steps)
    fig_map, fig_steps = _cliff_figure(w0, b0, lr, clip, steps, not whole)
    with right:
        c1, c2 = st.columns([1.6, 1], gap="small")
        with c1:
            chart(fig_map, "theory-cliff", key="th.cliff")
        with c2:
            chart(fig_steps, "theory-cliff-steps", key="th.cliffsteps")
        k = int(np.argmax(plain.grad_norms)) if plain.grad_norms.size else 0
        gmax = float(plain.grad_norms.max()) if plain.grad_norms.size else math.nan
        jump = float(np.hypot(*(plain.path[k + 1] - plain.path[k]))) if len(plain.path) > k + 1 else 0.0
        st.caption(
            f"Plain descent: largest gradient ‖g‖ = {gmax:.3g} at step {k + 1}, a step of length "
            f"{jump:.3g}; final loss {plain.losses[-1]:.3g}. With clipping at {clip:g}: "
            f"{int(clipped.clipped.sum())} of {len(clipped.clipped)} steps clipped, "
            "no step longer than "
            f"{lr * clip:.3g}; final loss {clipped.losses[-1]:.3g}."
            + (f" Plain descent stopped: {plain.stopped}." if plain.stopped else "")
        )


def clipping() -> None:
    st.subheader("8 · What clipping keeps, and what it does not", anchor="clipping")
    left, right = text_and_chart((1.3, 1))
    g, c = np.array([4.0, 0.9]), 1.0
    v = theory.clip_vectors(g, c)
    turn = theory.angle_deg(g, v["value-clipped"])  # degrees value clipping turns g by
    with left:
        st.markdown(
            "Norm clipping rescales the *whole* gradient vector, every parameter together, by "
            "one positive number:"
        )
        st.latex(r"\|g\| > c \;\Rightarrow\; g \leftarrow \frac{c}{\|g\|}\,g")
        st.markdown(
            "So the step points the same way as before; only its length shrinks, to at most "
            "lr·c. Far from a cliff the gradient is smaller than c and nothing changes at all."
        )
        st.markdown(
            f"Two edge cases. **Value clipping** clamps each component to [−c, c] separately: a "
            f"large component is cut while a small one is not, so the direction turns (here "
            f"{turn:.1f}°). Clipping **each parameter tensor on its "
            "own** (per-layer norms) also turns the overall direction, for the same reason. And "
            "clipping only limits the damage of an exploding gradient: it does nothing for a "
            "vanishing one, whose long-range terms stay buried."
        )
        st.caption(
            f"The example: g = ({g[0]:g}, {g[1]:g}), c = {c:g}. The sidebar's `clip_mode` picks "
            "norm or value clipping for training."
        )
    with right:
        chart(
            cf.clip_figure(g, c, height=380, title="One gradient, clipped two ways"),
            "theory-clip",
            key="th.clipfig",
        )
