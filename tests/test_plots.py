"""rnnlab.plots (lab and training charts, style): the right numbers in the right traces.

Oracles: the inputs themselves, closed forms.
"""

import math

import numpy as np
import pandas as pd
import pytest

from rnnlab import plots as F
from rnnlab.comparison import per_step
from rnnlab.plots import style as S


def lower_triangle(L, seed=0):
    """A heatmap-shaped array: finite log10 values for k <= t, NaN above the diagonal, 0 on it."""
    rng = np.random.default_rng(seed)
    hm = np.full((L, L), np.nan)
    for t in range(L):
        hm[t, : t + 1] = -0.3 * (t - np.arange(t + 1)) + rng.normal(0, 0.1, t + 1)
        hm[t, t] = 0.0
    return hm


def z_of(trace):
    return np.asarray(trace.z, dtype=float)


# ---- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e", "text"), [(0, "1"), (1, "10"), (2, "10²"), (-3, "10⁻³"), (-12, "10⁻¹²"), (30, "10³⁰")]
)
def test_pow10_text(e, text):
    assert S.pow10_text(e) == text


def test_log_ticks_are_integer_powers_covering_the_range():
    vals, texts = S.log_ticks(-3.2, 2.7)
    assert vals == [-3, -2, -1, 0, 1, 2]
    assert texts == ["10⁻³", "10⁻²", "10⁻¹", "1", "10", "10²"]
    vals, _ = S.log_ticks(-40, 40, max_ticks=9)  # wide ranges thin out to a round step
    assert vals == list(range(-40, 41, 10))


@pytest.mark.parametrize(
    ("z", "text"),
    [
        (math.log10(3.2e-4), "3.2e-4"),
        (0.0, "1"),
        (math.log10(250), "250"),
        (400.3, "2e400"),
        (-math.inf, "0"),
        (math.nan, "n/a"),
    ],
)
def test_fmt_pow10_reads_the_log_without_overflow(z, text):
    assert S.fmt_pow10(z) == text


# ---- Jacobian heatmap ----------------------------------------------------------------------------------


def test_heatmap_z_equals_the_input():
    hm = lower_triangle(30)
    fig = F.jacobian_heatmap(hm)
    z = z_of(fig.data[0])
    assert z.shape == hm.shape
    np.testing.assert_array_equal(np.isnan(z), np.isnan(hm))
    np.testing.assert_allclose(z[~np.isnan(hm)], hm[~np.isnan(hm)], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fig.data[0].x, np.arange(1, 31))  # k, 1-based
    np.testing.assert_array_equal(fig.data[0].y, np.arange(1, 31))  # t, 1-based
    assert np.isnan(z_of(fig.data[1])).all()  # no exactly-zero cells


def test_heatmap_minus_inf_is_drawn_as_exactly_zero():
    hm = lower_triangle(12)
    dead = [(5, 0), (9, 3), (11, 2)]
    for t, k in dead:
        hm[t, k] = -np.inf
    fig = F.jacobian_heatmap(hm)
    main, zero = z_of(fig.data[0]), z_of(fig.data[1])
    for t, k in dead:
        assert np.isnan(main[t, k])  # not on the colour scale
        assert zero[t, k] == 1.0
    assert np.count_nonzero(zero == 1.0) == len(dead)
    assert "exactly zero" in fig.data[1].hovertemplate
    assert fig.data[1].colorscale[0][1] == S.ZERO_COLOUR and fig.data[1].showscale is False
    assert fig.data[0].customdata is None  # the hover reads z itself: no per-cell text is sent


def test_heatmap_hover_states_t_k_value_and_meaning():
    hm = lower_triangle(10)
    hm[7, 2] = math.log10(1e-3)
    fig = F.jacobian_heatmap(hm)
    assert z_of(fig.data[0])[7, 2] == pytest.approx(-3.0)  # what the hover formats
    assert fig.data[0].customdata is None
    tpl = fig.data[0].hovertemplate
    assert "t=%{y}" in tpl and "k=%{x}" in tpl and "of its size" in tpl
    assert "10<sup>%{z:.2f}</sup>" in tpl  # 10**z from z itself: no underflow at z = -300


def test_heatmap_without_zero_cells_sends_an_empty_overlay():
    fig = F.jacobian_heatmap(lower_triangle(30))
    assert z_of(fig.data[1]).size == 0  # nothing to draw: no grid of NaN sent with every redraw


def test_heatmap_colour_bar_ticks_are_powers_of_ten():
    hm = lower_triangle(20)
    fixed = F.jacobian_heatmap(hm, color_range="fixed").data[0]
    assert (fixed.zmin, fixed.zmax) == S.FIXED_RANGE
    assert list(fixed.colorbar.tickvals) == [-8, -6, -4, -2, 0, 2, 4, 6, 8]
    assert list(fixed.colorbar.ticktext) == ["10⁻⁸", "10⁻⁶", "10⁻⁴", "10⁻²", "1", "10²", "10⁴", "10⁶", "10⁸"]
    auto = F.jacobian_heatmap(hm, color_range="auto").data[0]
    finite = hm[np.isfinite(hm)]
    assert auto.zmin == pytest.approx(min(finite.min(), -1))
    assert auto.zmax == pytest.approx(max(finite.max(), 1))
    assert auto.zmid == 0


@pytest.mark.parametrize(
    ("L", "window", "cuts"),
    [(50, 20, [20, 40]), (50, 10, [10, 20, 30, 40]), (50, 0, []), (50, 50, []), (7, 3, [3, 6])],
)
def test_heatmap_tbptt_lines_at_chunk_boundaries(L, window, cuts):
    fig = F.jacobian_heatmap(lower_triangle(L), tbptt=window)
    vertical = sorted(s.x0 for s in fig.layout.shapes if s.x0 == s.x1)
    horizontal = sorted(s.y0 for s in fig.layout.shapes if s.y0 == s.y1)
    assert vertical == [b + 0.5 for b in cuts]
    assert horizontal == [b + 0.5 for b in cuts]


def test_heatmap_draws_only_computed_columns_of_a_strided_map():
    hm = lower_triangle(40)
    skipped = [c for c in range(40) if c % 4 != 0]
    hm[:, skipped] = np.nan  # jacobian.heatmap(stride=4) computes k = 1, 5, 9, ...
    fig = F.jacobian_heatmap(hm)
    np.testing.assert_array_equal(fig.data[0].x, np.arange(1, 41, 4))
    np.testing.assert_array_equal(fig.data[0].y, np.arange(1, 41, 4))  # same rows: the diagonal stays
    z = z_of(fig.data[0])
    np.testing.assert_allclose(np.diag(z), 0.0)


def test_heatmap_thins_large_maps_evenly():
    hm = lower_triangle(500)
    fig = F.jacobian_heatmap(hm, max_cells=100)
    x = np.asarray(fig.data[0].x)
    assert len(x) == 100 and x[0] == 1 and x[-1] == 500
    z = z_of(fig.data[0])
    idx = x - 1
    np.testing.assert_allclose(z, hm[np.ix_(idx, idx)], rtol=1e-6, atol=1e-6, equal_nan=True)


def test_heatmap_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        F.jacobian_heatmap(np.zeros((3, 4)))


# ---- lag profile and eigenvalues -------------------------------------------------------------------------


def test_lag_profile_traces_hold_the_measurement_and_the_theory():
    lags = np.arange(10)
    mean, lo, hi = -0.2 * lags, -0.25 * lags, -0.15 * lags
    lines = {"bound": 0.1 * lags, "rho": -0.1 * lags}
    fig = F.lag_profile_figure(lags, mean, lo, hi, lines)
    by_name = {t.name: t for t in fig.data}
    np.testing.assert_allclose(by_name["measured (mean over t)"].y, mean)
    np.testing.assert_allclose(by_name["10–90 % of pairs"].y, lo)
    np.testing.assert_allclose(by_name["bound"].y, lines["bound"])
    np.testing.assert_allclose(by_name["rho"].y, lines["rho"])
    assert fig.data[2].name == "measured (mean over t)" and fig.data[3].name == "bound"
    assert "1" in fig.layout.yaxis.ticktext  # powers-of-ten labels on the log10 axis


def test_eigen_figure_plots_real_and_imaginary_parts_and_the_unit_circle():
    lam = np.array([0.5 + 0.5j, 0.5 - 0.5j, -1.2 + 0j, 0.1 + 0j])
    fig = F.eigen_figure(lam)
    np.testing.assert_allclose(fig.data[1].x, lam.real)
    np.testing.assert_allclose(fig.data[1].y, lam.imag)
    r = np.hypot(fig.data[0].x, fig.data[0].y)
    np.testing.assert_allclose(r, 1.0)
    assert list(fig.data[1].marker.color) == [S.LINE["rho"], S.LINE["rho"], S.LINE["bound"], S.LINE["rho"]]


# ---- training charts -------------------------------------------------------------------------------------


def metrics_frame():
    return pd.DataFrame(
        {
            "step": [0, 0, 1, 1, 2, 2],
            "update": [0, 1, 2, 3, 4, 5],
            "loss": [1.0, 0.5, 0.8, 0.4, 0.6, 0.3],
            "seq_loss": [1.5, 1.5, 1.2, 1.2, 0.9, 0.9],
            "grad_norm": [0.5, 3.0, 0.7, 4.0, np.inf, 0.2],
            "grad_norm_clipped": [0.5, 1.0, 0.7, 1.0, np.inf, 0.2],
            "clipped": [0, 1, 0, 1, 0, 0],
            "rho_whh": [1.0, 1.01, 1.02, 1.03, 1.04, 1.05],
            "sigma_max_whh": [2.0] * 6,
        }
    )


def test_loss_figure_has_the_losses_the_baseline_and_the_final_eval():
    fig = F.loss_figure(per_step(metrics_frame()), baseline=1 / 6, final_loss=0.25, steps=3)
    np.testing.assert_allclose(fig.data[0].y, [1.5, 1.2, 0.9])
    base = next(t for t in fig.data if t.name.startswith("baseline"))
    np.testing.assert_allclose(base.y, [1 / 6, 1 / 6])
    final = next(t for t in fig.data if t.name.startswith("final eval"))
    assert list(final.x) == [3] and list(final.y) == [0.25]


def test_loss_axis_turns_logarithmic_for_a_wide_range():
    ps = pd.DataFrame({"step": [0, 1, 2], "seq_loss": [500.0, 0.5, 0.2]})
    assert F.loss_figure(ps).layout.yaxis.type == "log"
    assert F.loss_figure(per_step(metrics_frame())).layout.yaxis.type != "log"


def test_grad_norm_figure_before_after_clipped_and_threshold():
    m = metrics_frame()
    fig = F.grad_norm_figure(m, clip=1.0)
    before, after, marks = fig.data[0], fig.data[1], fig.data[2]
    np.testing.assert_allclose(before.y, [0.5, 3.0, 0.7, 4.0, np.nan, 0.2])  # inf cannot sit on a log axis
    np.testing.assert_allclose(after.y, [0.5, 1.0, 0.7, 1.0, np.nan, 0.2])
    assert list(marks.x) == [1, 3] and list(marks.y) == [3.0, 4.0]
    threshold = next(t for t in fig.data if t.name.startswith("clip threshold"))
    assert list(threshold.y) == [1.0, 1.0]
    assert fig.layout.yaxis.type == "log"
    assert not [t for t in F.grad_norm_figure(m, clip=0).data if t.name.startswith("clip threshold")]


def test_grad_time_figure_log_values_zero_cells_and_tbptt_lines():
    g = np.array([[1e-3, 1e-2, 0.0, 1.0], [np.nan, np.nan, 1e-1, 1e2]])
    fig = F.grad_time_figure(g, tbptt=2)
    z = z_of(fig.data[0])
    np.testing.assert_allclose(z, [[-3, -2, np.nan, 0], [np.nan, np.nan, -1, 2]], atol=1e-6)
    zero = z_of(fig.data[1])
    assert zero[0, 2] == 1.0 and np.count_nonzero(zero == 1.0) == 1
    assert [s.x0 for s in fig.layout.shapes] == [2.5]


def test_radius_figure_traces():
    m = metrics_frame()
    fig = F.radius_figure(m)
    np.testing.assert_allclose(fig.data[0].y, m["rho_whh"])
    np.testing.assert_allclose(fig.data[1].y, m["sigma_max_whh"])


def test_hf_figure_draws_damping_cg_iterations_and_rejected_steps():
    m = pd.DataFrame(
        {
            "update": [0, 1, 2, 3],
            "damping": [0.67, 1.0, 0.67, float("nan")],
            "cg_iters": [12, 30, 25, 0],
            "accepted": [1, 0, 1, 0],
        }
    )
    fig = F.hf_figure(m)
    lam, iters, rejected = fig.data
    np.testing.assert_allclose(lam.y, [0.67, 1.0, 0.67, np.nan])
    np.testing.assert_allclose(iters.y, [12, 30, 25, 0])
    assert iters.yaxis == "y2" and fig.layout.yaxis.type == "log"
    assert list(rejected.x) == [1, 3]


def test_divergence_is_marked():
    fig = F.loss_figure(per_step(metrics_frame()), diverged_at=2)
    assert any(s.x0 == 2 and s.x1 == 2 for s in fig.layout.shapes)
    assert any("diverged" in a.text for a in fig.layout.annotations)


def test_eigenvalues_on_the_circle_to_rounding_get_their_own_colour():
    lam = np.array([1.0 + 3e-8, -(1.0 - 2e-8), 1.5, 0.3])  # what float32 weights give at rho = 1
    colours = list(F.eigen_figure(lam).data[1].marker.color)
    assert colours == [S.LINE["on_circle"], S.LINE["on_circle"], S.LINE["bound"], S.LINE["rho"]]


def test_grad_time_profile_never_aliases_with_the_tbptt_chunk_cycle():
    # 900 updates, 3 per training step (TBPTT chunks of 10 on a 30-step sequence): update u covers
    # chunk u % 3 only. A strided pick of 300 rows would land on the same chunk again and again and
    # draw a "curriculum" that does not exist; every drawn row must show the whole sequence.
    U, L = 900, 30
    g = np.full((U, L), np.nan)
    for u in range(U):
        c = u % 3
        g[u, 10 * c : 10 * (c + 1)] = 10.0**-c  # chunk 0 at 1, chunk 1 at 0.1, chunk 2 at 0.01
    fig = F.grad_time_figure(g, tbptt=10, steps=np.arange(U) // 3)
    z = z_of(fig.data[0])
    assert z.shape == (300, 30)
    expected = np.repeat([0.0, -1.0, -2.0], 10)
    np.testing.assert_allclose(z, np.broadcast_to(expected, z.shape), atol=1e-6)
    assert list(fig.data[0].y) == list(range(300))  # one row per training step


def test_grad_time_profile_averages_rows_and_columns_beyond_the_limits():
    g = 10.0 ** -np.add.outer(np.arange(1000) % 2, np.zeros(500))  # alternating rows: 1, 0.1, 1, ...
    fig = F.grad_time_figure(g, max_rows=100, max_cols=250)
    z = z_of(fig.data[0])
    assert z.shape == (100, 250)
    np.testing.assert_allclose(z, -0.5, atol=1e-6)  # every bin holds both kinds of row, in log space


def test_short_curves_draw_markers_so_a_lone_point_is_visible():
    ps = pd.DataFrame({"step": [0, 1], "seq_loss": [0.5, np.nan]})
    assert "markers" in F.loss_figure(ps).data[0].mode
    long = pd.DataFrame({"step": np.arange(500), "seq_loss": np.linspace(1, 0.1, 500)})
    assert F.loss_figure(long).data[0].mode == "lines"


@pytest.mark.parametrize(("L", "window"), [(50, 20), (50, 10), (50, 0), (50, 50), (7, 3), (1, 1), (9, 8)])
def test_chunk_lines_follow_the_training_rule(L, window):
    from rnnlab.train import chunks

    ends = [t1 for _, t1 in chunks(L, window)]
    assert F.chunk_boundaries(L, window) == ends[:-1]  # a cut after every chunk but the last


def test_rnnlab_imports_without_plotly():
    import subprocess
    import sys

    code = "import sys; sys.modules['plotly'] = None; import rnnlab; rnnlab.run; import rnnlab.theory"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_science_never_imports_streamlit():
    """The boundary of docs/DESIGN.md section 3: every rnnlab module imports with Streamlit blocked."""
    import pkgutil
    import subprocess
    import sys

    import rnnlab

    names = [m.name for m in pkgutil.walk_packages(rnnlab.__path__, "rnnlab.") if m.name != "rnnlab.__main__"]
    block = "import importlib, sys; sys.modules['streamlit'] = None\n"
    code = block + f"for n in {names!r}: importlib.import_module(n)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(names) > 30  # every module was found, not an empty list


def test_lyapunov_figure_marks_zero_colours_by_sign_and_floors_minus_inf():
    from rnnlab.plots import lyapunov_figure, lyapunov_training_figure
    from rnnlab.plots.style import LINE

    fig = lyapunov_figure(np.array([0.2, -0.1, -np.inf]), mean_field=0.15, heatmap_slope=0.18)
    bars = fig.data[0]
    assert list(bars.y[:2]) == [0.2, -0.1] and bars.y[2] < -0.1  # -inf drawn below every finite one
    assert list(bars.marker.color) == [LINE["bound"], LINE["rho"], LINE["rho"]]
    assert bars.customdata[2].startswith("−∞")
    assert [t.y[0] for t in fig.data[1:]] == [0.15, 0.18]
    assert fig.layout.shapes[0].y0 == 0 == fig.layout.shapes[0].y1
    over = lyapunov_training_figure(np.array([0, 10]), np.array([[0.1, -0.2], [-0.05, -0.3]]))
    assert len(over.data) == 2 and list(over.data[0].y) == [0.1, -0.05]
