"""The Theory page: each formula of the argument next to a chart rnnlab computes for the sidebar.

Sections: the chain of Jacobians; eigenvalue powers; the norm bound against the measured lag profile;
Pascanu's conditions on a (radius, activation) map; the mean-field growth rate against measurements;
why a vanishing long-range term matters; the loss cliff and clipping; what clipping does to direction;
what curvature (Hessian-free optimisation with structural damping) buys on a long-range task.
Everything is computed at initialisation (no training), cached, and fast.

This module draws sections 1 to 6, which are about the sidebar's network; sections 7 and 8 (the
loss cliff and clipping) have their own controls and live in `ui.theory_cliff`.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from rnnlab import RunConfig, analyse, lyapunov, measure, plots, theory
from rnnlab.plots import theory as tf

from . import analysis
from .state import Screen
from .theory_cliff import cliff, clipping
from .widgets import chart, text_and_chart

MF_RHOS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # where the mean-field chart measures (6 small analyses each)
MF_HIDDEN, MF_SEQ = 64, 60
MF_GRID = np.linspace(0.05, 4.5, 180)


def theory_config(cfg: RunConfig) -> RunConfig:
    """The vanilla-cell version of the sidebar's config (the formulas are about the vanilla cell)."""
    if cfg.cell == "rnn":
        return cfg
    return cfg.replace(cell="rnn", omega=0.0)


# ---- cached computations -----------------------------------------------------------------------------


drive_variance = measure.drive_variance  # s^2 of the mean field's map (one definition, in rnnlab)


@st.cache_data(max_entries=16, show_spinner=False)
def measured_slopes(
    task: str, seed: int, acts: tuple[str, ...] = tf.ACTS
) -> tuple[dict[str, tuple[list[float], list[float]]], float]:
    """Slopes (log10 per step) of rms heatmaps of small Gaussian networks at MF_RHOS, and the drive s^2."""
    out, s2 = {}, math.nan
    for act in acts:
        xs, ys = [], []
        for rho in MF_RHOS:
            cfg = RunConfig(
                act=act,
                rho=rho,
                hidden=MF_HIDDEN,
                seq_len=MF_SEQ,
                init="gaussian",
                norm="rms",
                task=task,
                seed=seed,
                steps=0,
            )
            a = analyse(cfg)
            if not math.isfinite(s2):
                s2 = drive_variance(a)
            lags, mean, _, _ = theory.lag_profile(a.heatmap)
            slope = theory.fit_slope(lags, mean, max_lag=int(0.8 * (len(lags) - 1)))
            if math.isfinite(slope):
                xs.append(rho)
                ys.append(slope)
        out[act] = (xs, ys)
    return out, s2


# ---- the page ---------------------------------------------------------------------------------------


def page(screen: Screen) -> None:
    cfg = theory_config(screen.cfg)
    if cfg is not screen.cfg:
        st.info(
            f"The formulas here are about the vanilla cell. The sidebar has cell = {screen.cfg.cell}; "
            f"the charts use a vanilla {cfg.act} cell with the same ρ, size and seed.",
            icon=":material/info:",
        )
    with st.spinner("Computing the network at initialisation…"):
        a = analysis.init_view(cfg, "th")
    contents()
    chain(cfg)
    if a is not None:
        eigen(cfg, a)
        bound(cfg, a)
        pascanu(cfg, a)
    else:
        st.caption(
            "Sections 2 to 4 and 6 draw your network at initialisation: they appear here when its "
            "view is ready (above)."
        )
    mean_field(cfg, screen)
    if a is not None:
        long_range(cfg, a)
    cliff()
    clipping()
    if a is not None:
        lyapunov_section(cfg, a)
    curvature(screen.cfg)


def contents() -> None:
    st.markdown(
        "[1 · A product of Jacobians](#chain) · [2 · Eigenvalues](#eigen) · [3 · The norm bound](#bound) · "
        "[4 · Pascanu's conditions](#pascanu) · [5 · Mean field](#mean-field) · "
        "[6 · Why vanishing matters](#long-range) · [7 · The loss cliff](#cliff) · "
        "[8 · What clipping keeps](#clipping) · [9 · The Lyapunov spectrum](#lyapunov) · "
        "[10 · What curvature buys](#curvature)"
    )


def chain(cfg: RunConfig) -> None:
    st.subheader("1 · A product of Jacobians", anchor="chain")
    left, right = text_and_chart((1, 1))
    with left:
        st.markdown(
            "The vanilla cell reads the previous state through one matrix and squashes the result "
            "(α is the `leak`; α = 0 is the plain RNN):"
        )
        st.latex(r"a_t = W_{hh}\,h_{t-1} + W_{xh}\,x_t + b")
        st.latex(r"h_t = \alpha\,h_{t-1} + (1-\alpha)\,f(a_t)")
        st.markdown(
            "A small change in an early state h_k reaches a later state h_t only by passing "
            "through every step in between. The chain rule turns that into a product with one "
            "factor per step:"
        )
        st.latex(r"\frac{\partial h_t}{\partial h_k} \;=\; \prod_{j=k+1}^{t} J_j")
        st.latex(
            r"J_j = \frac{\partial h_j}{\partial h_{j-1}} = \alpha I + (1-\alpha)\,"
            r"\operatorname{diag}\!\big(f'(a_j)\big)\,W_{hh}"
        )
    with right:
        st.markdown(
            "Training needs the gradient of a loss summed over time. Each loss term L_t reaches "
            "a parameter θ through every earlier step k, so the gradient is a double sum, and the "
            "product above is in every term:"
        )
        st.latex(
            r"\frac{\partial L}{\partial \theta} = \sum_{t}\sum_{k \le t} "
            r"\frac{\partial L_t}{\partial h_t}\;\frac{\partial h_t}{\partial h_k}\;"
            r"\frac{\partial^{+} h_k}{\partial \theta}"
        )
        st.markdown(
            f"With {cfg.seq_len} steps, a term that spans the whole sequence multiplies "
            f"{cfg.seq_len - 1} Jacobians. A product of many matrices tends to shrink or grow "
            "geometrically, which is the whole story of this page: the heatmaps in the Lab show "
            "log₁₀ ‖∂h_t/∂h_k‖ for every pair (k, t)."
        )
        st.caption("∂⁺h_k/∂θ is the immediate effect of θ on h_k, holding h_{k−1} fixed.")


def eigen(cfg: RunConfig, a: analysis.InitView) -> None:
    st.subheader("2 · Eigenvalues: what repeated multiplication does", anchor="eigen")
    left, right = text_and_chart()
    steps = int(min(cfg.seq_len, 500))
    with left:
        st.markdown(
            "Take the simplest case: a linear cell (f′ = 1, α = 0), so every Jacobian is W_hh "
            "itself. If W_hh has a basis of eigenvectors, powers act on each eigen-direction "
            "separately:"
        )
        st.latex(r"W_{hh} = V\Lambda V^{-1} \;\Rightarrow\; W_{hh}^{\,n} = V\Lambda^{n} V^{-1}")
        st.latex(r"\|\Lambda^{n} e_i\| = |\lambda_i|^{n}")
        st.markdown(
            "Directions with |λ| < 1 fade, those with |λ| > 1 grow, both geometrically. After "
            "enough steps the largest |λ|, the spectral radius ρ, decides: a long product is "
            "roughly ρⁿ times something."
        )
        side = theory.unit_circle_side(a.eigvals)
        n_out, n_on = int(np.sum(side > 0)), int(np.sum(side == 0))
        st.caption(
            f"Your W_hh ({cfg.init} init, H = {cfg.hidden}): ρ = {a.rho:.3g}, {n_out} of "
            f"{len(a.eigvals)} eigenvalues outside the unit circle"
            + (f" and {n_on} on it (to float rounding)" if n_on else "")
            + ". The nonlinearity adds its own factor f′ ≤ γ at every step (next section)."
        )
    with right:
        chart(
            tf.eig_powers_figure(
                a.eigvals, steps, title=f"|λᵢ|ᵗ for the {len(a.eigvals)} eigenvalues of W<sub>hh</sub>"
            ),
            "theory-eig-powers",
            key="th.eig",
        )


def bound(cfg: RunConfig, a: analysis.InitView) -> None:
    st.subheader("3 · The norm bound", anchor="bound")
    gamma_max = theory.gamma(cfg.act)
    left, right = text_and_chart()
    with left:
        st.markdown(
            "Eigenvalues describe long powers of one matrix, but the Jacobians change from step "
            "to step. Norms handle that: the norm of a product is at most the product of the "
            "norms, and each factor is bounded by the largest singular value of W_hh times the "
            "largest slope γ of the activation:"
        )
        st.latex(r"\|J_j\| \le \|\operatorname{diag}(f'(a_j))\|\,\|W_{hh}\| \le \gamma\,\sigma_{\max}")
        st.latex(
            r"\left\|\frac{\partial h_t}{\partial h_k}\right\| \le "
            r"\prod_{j=k+1}^{t}\|J_j\| \le (\sigma_{\max}\,\gamma)^{\,t-k}"
        )
        st.markdown(
            "γ = max |f′|: **1** for tanh, ReLU and linear, **¼** for the sigmoid (its slope "
            "peaks at ¼ in the middle)."
        )
        if cfg.leak:
            st.caption(
                f"With leak α = {cfg.leak:g} each factor is at most α + (1 − α)·σ_max·γ, which is "
                "what the chart draws."
            )
        c = st.columns(3)
        c[0].metric("σ_max(W_hh)", f"{a.sigma_max:.3g}")
        c[1].metric(f"γ ({cfg.act})", f"{gamma_max:g}")
        c[2].metric("σ_max·γ per step", f"{a.sigma_max * gamma_max:.3g}")
        st.caption(
            "The bound is an upper limit, not a prediction: the measured curve sits below it "
            "because f′ is usually smaller than γ and the factors' worst directions do not line "
            "up. When σ_max·γ < 1 the bound alone forces the decay."
        )
    with right:
        lines = {k: v for k, v in a.lines.items() if not k.startswith("mean field")}
        fig = plots.lag_profile_figure(
            a.lags,
            a.mean,
            a.lo,
            a.hi,
            lines,
            title=f"Measured ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ ({cfg.norm} norm) against the bound",
        )
        chart(fig, "theory-bound", key="th.bound")


def pascanu(cfg: RunConfig, a: analysis.InitView) -> None:
    st.subheader("4 · Pascanu's conditions", anchor="pascanu")
    gamma_max = theory.gamma(cfg.act)
    left, right = text_and_chart()
    with left:
        st.markdown(
            "Pascanu, Mikolov and Bengio (2013) turned the bound into two statements about "
            "σ_max, the largest singular value of W_hh:"
        )
        st.latex(
            r"\sigma_{\max} < \tfrac{1}{\gamma} \;\Longrightarrow\; \text{vanishing}"
            r"\qquad(\text{sufficient})"
        )
        st.latex(
            r"\text{exploding} \;\Longrightarrow\; \sigma_{\max} > \tfrac{1}{\gamma}"
            r"\qquad(\text{necessary})"
        )
        st.markdown(
            "The asymmetry matters. Below the threshold vanishing is **guaranteed**. Above it, "
            "exploding is merely **possible**: saturated units (small f′) can still make the "
            "gradients vanish."
        )
        sg = a.sigma_max * gamma_max
        regime = theory.pascanu_regime(a.sigma_max, cfg.act)
        verdict = {
            "vanishing": "below 1: vanishing is guaranteed",
            "may_explode": "above 1: exploding is possible, not certain",
            "boundary": "exactly 1",
        }[regime]
        st.markdown(f"**Your setting:** σ_max·γ = {sg:.3g}, {verdict}.")
        if cfg.init == "gaussian":
            st.caption(
                f"The map's axis is a radius. For orthogonal or identity init σ_max = ρ, so your "
                f"ρ marks the condition directly. A Gaussian W_hh is not normal: its singular "
                f"values spread to about twice its spectral radius (σ_max ≈ 2ρ for large H; here "
                f"{a.sigma_max:.3g} against ρ = {a.rho:.3g}), so the diamond, not the circle, is "
                "what the conditions test."
            )
        else:
            st.caption(
                f"With {cfg.init} init W_hh is a scaled orthogonal matrix, so σ_max = ρ and the "
                "circle and the diamond coincide."
            )
    with right:
        fig = tf.pascanu_figure(
            a.rho,
            a.sigma_max,
            cfg.act,
            rho_max=max(5.0, 1.1 * a.sigma_max),
            gaussian=True,
            rho_name="your ρ",
            title="Where each activation sits (σ<sub>max</sub> on the axis)",
        )
        chart(fig, "theory-pascanu", key="th.pascanu")


def mean_field(cfg: RunConfig, screen: Screen) -> None:
    st.subheader("5 · Mean field: the typical rate, not the worst case", anchor="mean-field")
    left, right = text_and_chart()
    with st.spinner("Measuring small networks at six radii…"):
        measured, s2 = measured_slopes(cfg.task, cfg.seed)
    with left:
        st.markdown(
            "For a large random W_hh with entries N(0, g²/H), and its spectral radius close to g, "
            "the typical size of the product can be predicted. The preactivations settle to a "
            "variance q, and each step multiplies a vector's squared norm by χ on average:"
        )
        st.latex(r"q = g^2\,\mathbb{E}_z\!\left[f(\sqrt{q}\,z)^2\right] + s^2")
        st.latex(r"\chi = g^2\,\mathbb{E}_z\!\left[f'(\sqrt{q}\,z)^2\right]")
        st.latex(
            r"\log_{10}\left\|\frac{\partial h_t}{\partial h_k}\,v\right\| \approx "
            r"(t-k)\cdot\frac{\ln\chi}{2\ln 10}"
        )
        st.markdown(
            "z is a standard normal and s² the variance the input adds. Linear: ln χ/2 = ln g; "
            "ReLU: half the units pass, so χ = g²/2; tanh flattens as q grows, so the rate rises "
            "more slowly than ln g; the sigmoid's slope never exceeds ¼, so it needs g near 4."
        )
        st.caption(
            f"Dots: slopes of rms-norm heatmaps of Gaussian networks (H = {MF_HIDDEN}, T = {MF_SEQ}, "
            f"task {cfg.task}, seed {cfg.seed}), fitted over lags 1–{int(0.8 * (MF_SEQ - 1))}. "
            f"Curves use the measured input variance s² = {s2:.3g}."
        )
    with right:
        fig = tf.mean_field_figure(
            MF_GRID,
            s2,
            measured,
            act=cfg.act,
            rho=cfg.rho,
            rho_name="your ρ",
            title="Growth per step back in time: theory (lines) and measurement (dots)",
        )
        chart(fig, "theory-mean-field", key="th.mf")


def long_range(cfg: RunConfig, a: analysis.InitView) -> None:
    st.subheader("6 · Why a vanishing long-term term matters", anchor="long-range")
    left, right = text_and_chart((1.25, 1))
    lags, share = theory.lag_share(a.jacobian)
    L = len(lags)
    far = max(2, L // 4)
    far_share = float(np.nansum(share[lags >= far]))
    near_share = float(np.nansum(share[lags < 10]))
    with left:
        st.markdown(
            "A fair objection: the gradient is a *sum* over lags, and the short-range terms are "
            "healthy, so the total gradient need not be small at all. Training still moves. "
            "That is exactly the problem. The update is dominated by what the last few steps "
            "say, and the terms that would connect an output to an input far back are orders of "
            "magnitude smaller, lost next to the short-range ones (and in minibatch noise). "
            "The network learns short dependencies and never finds the long ones, even though "
            "nothing looks wrong with the size of its gradient."
        )
        st.markdown(
            "The mirror image: when long-range terms explode, they swamp everything else, and a "
            "single update can be huge. That is the loss cliff below."
        )
    with right:
        c = st.columns(2)
        c[0].metric(
            "signal from the last 10 steps",
            f"{100 * near_share:.3g} %",
            help="Share of Σ_k ‖∂h_T/∂h_k‖ coming from lags 0–9, for your network at initialisation.",
        )
        c[1].metric(
            f"from {far}+ steps back",
            f"{100 * far_share:.2g} %"
            if far_share >= 1e-4
            else f"10{_sup(math.floor(math.log10(max(far_share * 100, 1e-300))))} %",
            help=f"Share coming from lags ≥ {far} (a quarter of the sequence).",
        )
        st.caption(
            f"For your settings: how much of what reaches the last state h_T comes from each range of "
            f"earlier steps, measured as shares of Σ_k ‖∂h_T/∂h_k‖ at initialisation "
            f"(T = {L}, {cfg.norm} norm)."
        )


def curvature(cfg: RunConfig) -> None:
    """Section 9: Hessian-free optimisation and structural damping, in words, with the sizes that
    make G impossible to write down for the sidebar's network."""
    st.subheader("10 · What curvature buys: Hessian-free optimisation", anchor="curvature")
    left, right = text_and_chart((1.6, 1))
    with left:
        st.markdown(
            "Section 6 showed why a first-order method misses long-range structure: the terms that "
            "tie the answer to inputs far back are tiny next to the short-range ones, and gradient "
            "descent moves each direction in proportion to its slope. A learning rate large enough "
            "to move the faint directions would throw the steep ones off a cliff (section 7). The "
            "point of a second-order method is that the faint directions are usually also the "
            "*flat* ones: a small slope over an even smaller curvature can still promise a large "
            "decrease. Dividing the slope by the curvature, which is what a Newton-type step does, "
            "gives those directions long steps and the steep ones short ones."
        )
        st.markdown(
            "Hessian-free optimisation (Martens 2010) takes such steps without ever writing the "
            "curvature down. It uses the Gauss-Newton matrix G, the curvature of the loss seen "
            "through the network's outputs, which never has negative directions, and solves "
            "(G + λI) d = −g by conjugate gradient. CG only needs products G·v, and each costs "
            "about two passes through the network: one forward with dual numbers for J·v, one "
            "backward for Jᵀ·(…). CG settles the steep directions in its first iterations and the "
            "flat ones, where the long-range signal lives, in its later ones."
        )
        st.markdown(
            "A quadratic model is only right near where it was made, and in a recurrent network "
            "“near” in weight space can be far in behaviour: the same repeated multiplication that "
            "shrinks or blows up gradients also amplifies a change of the weights along the "
            "sequence, and a step can push the hidden dynamics across a bifurcation. Plain damping "
            "λ‖d‖² charges every weight change alike, so to be safe it has to be large, and the "
            "steps shrink back to gradient descent. **Structural damping** (Martens & Sutskever "
            "2011) adds λμ times how far the step would move the hidden states, "
            "‖J_s d‖²: steps that keep the trajectory of h_t nearly where it was stay cheap, steps "
            "that would swing it, exactly where the model's prediction is worthless, become "
            "expensive. λ itself is adjusted after every update by comparing the loss's actual "
            "decrease with the model's prediction (Levenberg-Marquardt), and a line search on the "
            "true loss guards the rest."
        )
        st.markdown(
            "To see it, load the presets **hf-off** and **hf-on** (the remedies gallery, or "
            "Compare): the same adding problem over 50 steps, where Adam with 300 updates stays at "
            "the baseline and HF with 20 updates ends far below it. For any run with "
            "optimizer = hf, the Lab draws λ and the CG iterations next to the loss."
        )
    with right:
        P = sum(p.numel() for p in _network(cfg).parameters())
        c = st.columns(2)
        c[0].metric("parameters P", f"{P:,}", help="Weights and biases of the sidebar's network.")
        c[1].metric(
            "G written out",
            _bytes(4.0 * P * P),
            help="P × P float32 numbers. Hessian-free never forms it: each product G·v costs about "
            "two passes through the network.",
        )
        st.caption(
            f"For your settings ({cfg.cell}, hidden {cfg.hidden}, task {cfg.task}): the curvature "
            "matrix HF would need if it wrote G down, against the P numbers a product G·v needs."
        )


def _network(cfg: RunConfig):
    from rnnlab.cells import RecurrentNet
    from rnnlab.tasks import make_task

    task = make_task(cfg.task, cfg.seq_len)
    return RecurrentNet(cfg.cell, cfg.act, cfg.hidden, task.n_in, task.n_out)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


def _sup(e: int) -> str:
    return str(e).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def lyapunov_section(cfg: RunConfig, a: analysis.InitView) -> None:
    st.subheader("9 · The Lyapunov spectrum: every direction, not only the fastest", anchor="lyapunov")
    left, right = text_and_chart()
    with left:
        st.markdown(
            "The heatmap reports one number per pair of steps, the norm of the product, and that "
            "norm follows whichever direction grows fastest. Underneath, the product stretches some "
            "directions of the state and squeezes others, each at its own steady rate per step: "
            "the Lyapunov exponents λ₁ ≥ λ₂ ≥ … ≥ λₙ (Benettin et al. 1980)."
        )
        st.markdown(
            "**The QR method.** Take k orthonormal vectors Q₀. Apply one step's Jacobian to all of "
            "them, then straighten them out again with a QR decomposition:"
        )
        st.latex(r"J_t\,Q_{t-1} = Q_t R_t, \qquad \lambda_i = \frac{1}{T-w}\sum_{t>w} \ln |(R_t)_{ii}|")
        st.markdown(
            "Without the QR step every vector would swing round to the fastest direction and the "
            "others would be lost to rounding. With it, the first vector follows the fastest "
            "direction, the second the fastest one left over, and so on; the diagonal of R_t says "
            "how much each was stretched in step t. The first w steps (a tenth of the sequence) "
            "only line the vectors up and are not counted."
        )
        st.markdown(
            "**Link to the heatmap.** Far from the diagonal, log₁₀ ‖∂h_t/∂h_k‖ grows like "
            "λ₁ (t − k) / ln 10: the heatmap's slope is λ₁ in other units. The rest of the spectrum "
            "is what the heatmap cannot show: how many directions survive. A gradient from far "
            "back reaches the loss only along directions with λ near zero; when all of them are "
            "clearly negative, long dependencies are out of reach, and when λ₁ > 0 some direction "
            "explodes. Gradient flossing (Engelken 2023) trains exactly these exponents toward 0."
        )
    with right:
        spec = a.spectrum
        if spec is None:
            st.caption("No spectrum for this network (its step Jacobians were not formed).")
            return
        gap = lyapunov.slope_gap(spec, a.jacobian) if np.isfinite(a.jacobian).any() else None
        fig = plots.lyapunov_figure(
            spec.exponents,
            mean_field=a.predicted * math.log(10.0),
            heatmap_slope=gap.slope_ln if gap is not None else math.nan,
            title="Your network at initialisation: λ<sub>i</sub>, ln per step",
        )
        chart(fig, "theory-lyapunov", key="th.lyap")
        if gap is not None and math.isfinite(gap.slope_ln):
            st.caption(
                f"λ₁ = {spec.lambda_1:.4f} by QR; the heatmap's slope over lags {gap.min_lag}–"
                f"{gap.max_lag} is {gap.slope_ln / math.log(10.0):.4f} log₁₀ per step = "
                f"{gap.slope_ln:.4f} ln per step. {spec.nonnegative} of {spec.k} exponents ≥ 0."
            )
