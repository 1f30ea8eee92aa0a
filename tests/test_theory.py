"""Tests for rnnlab.theory against independent oracles: closed forms, Monte Carlo, a simulated
random network, plain-Python loops and finite differences."""

import math

import numpy as np
import pytest

from rnnlab.activations import ACTIVATIONS
from rnnlab.theory import (
    CLIFF_DEFAULTS,
    cliff_descent,
    cliff_grad,
    cliff_loss,
    eig_powers,
    fit_slope,
    gamma,
    lag_profile,
    mean_field,
    mean_field_from_q,
    mean_field_slopes,
    norm_bound,
    orthogonal_linear,
    pascanu_map,
    pascanu_regime,
    reading,
    reading_text,
)

# ------------------------------------------------------------------------ norm bound and Pascanu


def test_gamma_values():
    assert [gamma(a) for a in ("tanh", "sigmoid", "relu", "linear")] == [1.0, 0.25, 1.0, 1.0]
    with pytest.raises(ValueError, match="act"):
        gamma("gelu")


def test_norm_bound_closed_form_and_no_overflow():
    lags = np.array([0, 1, 5, 2000])
    got = norm_bound(3.0, "sigmoid", lags)
    np.testing.assert_allclose(got, lags * math.log10(0.75), atol=1e-12)
    assert np.isfinite(norm_bound(9.0, "tanh", [5000])).all()  # 9^5000 overflows; its log does not
    np.testing.assert_array_equal(norm_bound(0.0, "tanh", [0, 3]), [0.0, -np.inf])
    with pytest.raises(ValueError, match="sigma_max"):
        norm_bound(-1.0, "tanh", [1])
    with pytest.raises(ValueError, match="lags"):
        norm_bound(1.0, "tanh", [-1])


def test_norm_bound_holds_for_a_real_tanh_product():
    rng = np.random.default_rng(1)
    H, T = 32, 30
    W = rng.normal(0, 1.3 / math.sqrt(H), (H, H))
    sigma = np.linalg.norm(W, 2)
    h, P = np.zeros(H), np.eye(H)
    for t in range(1, T + 1):
        a = W @ h + rng.normal(0, 0.5, H)
        h = np.tanh(a)
        P = np.diag(1 - h**2) @ W @ P
        assert math.log10(np.linalg.norm(P, 2)) <= norm_bound(sigma, "tanh", [t])[0] + 1e-9


def test_orthogonal_linear_matches_matrix_power():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    for rho in (0.7, 1.0, 1.3):
        for n in (1, 4, 25):
            exact = math.log10(np.linalg.norm(np.linalg.matrix_power(rho * Q, n), 2))
            assert orthogonal_linear(rho, [n])[0] == pytest.approx(exact, abs=1e-9)


def test_pascanu_regime_and_map():
    assert pascanu_regime(0.9, "tanh") == "vanishing"
    assert pascanu_regime(1.1, "tanh") == "may_explode"
    assert pascanu_regime(3.9, "sigmoid") == "vanishing"
    assert pascanu_regime(4.1, "sigmoid") == "may_explode"
    assert pascanu_regime(4.0, "sigmoid") == "boundary"
    m = pascanu_map([0.5, 2.0, 5.0], ["tanh", "sigmoid"])
    assert m["sigmoid"]["threshold"] == 4.0 and m["tanh"]["threshold"] == 1.0
    assert list(m["tanh"]["regime"]) == ["vanishing", "may_explode", "may_explode"]
    assert list(m["sigmoid"]["regime"]) == ["vanishing", "vanishing", "may_explode"]


# ---------------------------------------------------------------------------------- mean field


@pytest.mark.parametrize("g", [0.3, 0.9, 1.0, 1.7])
@pytest.mark.parametrize("s2", [0.0, 0.5])
def test_mean_field_linear_is_ln_g(g, s2):
    assert mean_field("linear", g, s2).slope_ln == pytest.approx(math.log(g), abs=1e-12)


@pytest.mark.parametrize("g", [0.5, 1.0, 1.3, 2.0])
@pytest.mark.parametrize("s2", [0.0, 0.4])
def test_mean_field_relu_closed_form(g, s2):
    assert mean_field("relu", g, s2).slope_ln == pytest.approx(0.5 * math.log(g * g / 2), abs=1e-12)


@pytest.mark.parametrize("g", [0.3, 0.6, 0.9])
def test_mean_field_tanh_without_drive_below_one_is_ln_g(g):
    mf = mean_field("tanh", g)
    assert mf.q < 1e-10 and mf.converged
    assert mf.slope_ln == pytest.approx(math.log(g), abs=1e-8)
    assert mf.slope_log10 == pytest.approx(math.log10(g), abs=1e-8)


def test_mean_field_tanh_with_drive_against_monte_carlo():
    z = np.random.default_rng(0).standard_normal(2_000_000)
    for g, s2 in [(1.5, 0.5), (0.8, 1.0), (3.0, 0.0)]:
        mf = mean_field("tanh", g, s2)
        t = np.tanh(math.sqrt(mf.q) * z)
        assert mf.q == pytest.approx(g * g * np.mean(t**2) + s2, rel=3e-3)  # a fixed point
        assert mf.chi == pytest.approx(g * g * np.mean((1 - t**2) ** 2), rel=3e-3)


def _simulated_slope(act, g, s2, leak=0.0, H=256, T=300, burn=100, seeds=3):
    """Average growth per step of ln ||J_t ... J_1 v|| in an actual random network, and mean q."""
    f = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}[act]
    fp = {"tanh": lambda x: 1 - np.tanh(x) ** 2, "relu": lambda x: (x > 0) * 1.0}[act]
    rates, qs = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        W = rng.normal(0, g / math.sqrt(H), (H, H))
        h, v, total = np.zeros(H), rng.normal(size=H), 0.0
        for t in range(burn + T):
            a = W @ h + rng.normal(0, math.sqrt(s2), H)
            v = leak * v + (1 - leak) * fp(a) * (W @ v)
            h = leak * h + (1 - leak) * f(a)
            n = np.linalg.norm(v)
            v /= n
            if t >= burn:
                total += math.log(n)
                qs.append(a.var())
        rates.append(total / T)
    return float(np.mean(rates)), float(np.mean(qs))


@pytest.mark.parametrize(("g", "s2"), [(1.5, 0.5), (0.8, 1.0), (2.5, 0.2)])
def test_mean_field_predicts_a_simulated_tanh_network(g, s2):
    measured, q = _simulated_slope("tanh", g, s2)
    assert mean_field("tanh", g, s2).slope_ln == pytest.approx(measured, abs=0.05)
    assert mean_field_from_q("tanh", g, q).slope_ln == pytest.approx(measured, abs=0.05)


@pytest.mark.parametrize(
    ("act", "g", "s2", "leak"), [("tanh", 1.5, 0.5, 0.5), ("tanh", 1.0, 0.5, 0.7), ("relu", 1.0, 0.5, 0.5)]
)
def test_leaky_mean_field_predicts_a_simulated_network(act, g, s2, leak):
    measured, q = _simulated_slope(act, g, s2, leak)
    assert mean_field_from_q(act, g, q, leak).slope_ln == pytest.approx(measured, abs=0.05)


@pytest.mark.parametrize("leak", [0.0, 0.3, 0.9])
def test_leaky_linear_is_log_of_spectral_radius(leak):
    # J = leak*I + (1-leak)*W has spectral radius leak + (1-leak)*g for iid W (circular law)
    for g in (0.5, 1.0, 2.0):
        got = mean_field("linear", g, 0.3, leak).slope_ln
        assert got == pytest.approx(math.log(leak + (1 - leak) * g), abs=1e-12)


def test_mean_field_slopes_and_validation():
    gs = np.array([0.5, 2.0])
    np.testing.assert_allclose(mean_field_slopes("linear", gs), np.log10(gs), atol=1e-12)
    with pytest.raises(ValueError, match="g"):
        mean_field("tanh", 0.0)
    with pytest.raises(ValueError, match="leak"):
        mean_field("tanh", 1.0, leak=1.0)
    with pytest.raises(ValueError, match="s2"):
        mean_field("tanh", 1.0, s2=-1)
    with pytest.raises(ValueError, match="q"):
        mean_field_from_q("tanh", 1.0, q=float("nan"))


# -------------------------------------------------------------------------- reading a heatmap


def _synthetic_heatmap(T, s):
    t, k = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    hm = (t - k) * s
    hm[k > t] = np.nan
    return hm


def test_lag_profile_and_fit_slope_recover_known_slope():
    T, s = 40, -0.037
    hm = _synthetic_heatmap(T, s)
    hm[10, 3] = hm[20, 5] = -np.inf  # exactly-zero products must not drag the mean to -inf
    lags, mean, lo, hi = lag_profile(hm)
    np.testing.assert_array_equal(lags, np.arange(T))
    np.testing.assert_allclose(mean, lags * s, atol=1e-12)
    np.testing.assert_allclose(lo, mean, atol=1e-12)
    np.testing.assert_allclose(hi, mean, atol=1e-12)
    assert fit_slope(lags, mean) == pytest.approx(s, abs=1e-12)
    assert fit_slope(lags, mean, max_lag=5) == pytest.approx(s, abs=1e-12)


def test_lag_profile_spread_and_all_infinite_lag():
    T = 6
    hm = _synthetic_heatmap(T, 0.1)
    hm[np.arange(1, T), np.arange(T - 1)] = [0.0, 1.0, 2.0, 3.0, 4.0]  # lag 1 spread out
    hm[T - 1, 0] = -np.inf  # the only lag-5 cell
    _, mean, lo, hi = lag_profile(hm)
    assert mean[1] == pytest.approx(2.0)
    assert lo[1] == pytest.approx(0.4) and hi[1] == pytest.approx(3.6)
    assert np.isnan(mean[5]) and np.isnan(lo[5])


def _lag_profile_loop(hm):
    """The oracle: one sub-diagonal at a time, numpy's own mean and percentile."""
    T = hm.shape[0]
    mean, lo, hi = (np.full(T, np.nan) for _ in range(3))
    for d in range(T):
        vals = np.diagonal(hm, offset=-d)
        vals = vals[np.isfinite(vals)]
        if vals.size:
            mean[d] = vals.mean()
            lo[d], hi[d] = np.percentile(vals, [10, 90])
    return mean, lo, hi


@pytest.mark.parametrize("seed", range(40))
def test_lag_profile_matches_a_loop_over_sub_diagonals(seed):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(1, 50))
    hm = rng.normal(size=(T, T)) * rng.choice([1.0, 300.0])  # z of -300 .. 400 are legitimate
    hm[np.triu_indices(T, 1)] = np.nan
    cut = rng.random((T, T))
    hm[cut < 0.1] = -np.inf
    hm[(cut > 0.1) & (cut < 0.2)] = np.nan
    hm[(cut > 0.2) & (cut < 0.22)] = np.inf
    if seed % 4 == 0:
        hm[:, ::3] = np.nan  # a strided heatmap: whole columns not computed
    lags, mean, lo, hi = lag_profile(hm)
    want_mean, want_lo, want_hi = _lag_profile_loop(hm)
    np.testing.assert_array_equal(lags, np.arange(T))
    # the sum runs in another order (one pass over every lag): equal to rounding
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(lo, want_lo)  # the same interpolation arithmetic: bit for bit
    np.testing.assert_array_equal(hi, want_hi)


def test_fit_slope_is_robust_to_missing_data():
    lags = np.arange(10.0)
    y = 0.02 * lags
    y[3], y[7] = np.nan, -np.inf
    assert fit_slope(lags, y) == pytest.approx(0.02)
    assert math.isnan(fit_slope(lags, np.full(10, np.nan)))
    assert math.isnan(fit_slope(lags, y, max_lag=1))  # one usable point is not a line
    with pytest.raises(ValueError, match="hm"):
        lag_profile(np.zeros((3, 4)))


def test_reading_regimes_and_thousandfold_steps():
    r = reading(-0.03)
    assert r["regime"] == "vanishing" and r["steps_to_1000x"] == pytest.approx(100.0)
    assert r["factor_per_step"] == pytest.approx(10**-0.03)
    r = reading(0.06)
    assert r["regime"] == "exploding" and r["steps_to_1000x"] == pytest.approx(50.0)
    assert reading(0.004)["regime"] == "near-isometric"
    assert reading(-0.004)["regime"] == "near-isometric"
    assert reading(0.0)["steps_to_1000x"] == math.inf
    with pytest.raises(ValueError, match="slope_log10"):
        reading(float("nan"))


def test_reading_text_mentions_the_numbers():
    text = reading_text(-0.03, predicted_log10=-0.028)
    assert "100 steps" in text and "shrinks" in text and "-0.0280" in text
    assert "grows" in reading_text(0.06)


def test_eig_powers_matches_direct_powers():
    lam = np.array([1.2, 0.5j, -0.9 + 0.1j, 0.0])
    t, table = eig_powers(lam, 6)
    assert table.shape == (7, 4)
    with np.errstate(divide="ignore"):
        expected = np.log10(np.abs(lam)[None, :] ** t[:, None])
    np.testing.assert_allclose(table, expected, atol=1e-12)
    with pytest.raises(ValueError, match="steps"):
        eig_powers(lam, -1)


# ------------------------------------------------------------------------------------ the cliff


def _loop_loss(w, b, T=50, x0=0.5, target=0.7):
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))
    x = x0
    for _ in range(T):
        x = w * sig(x) + b
    return (sig(x) - target) ** 2


def test_cliff_loss_matches_a_plain_loop():
    pts = [(4.5, -2.75), (6.0, -4.5), (-1.0, 2.0), (3.0, -1.0), (8.0, -3.0)]
    w, b = np.array(pts).T
    np.testing.assert_allclose(cliff_loss(w, b), [_loop_loss(*p) for p in pts], rtol=1e-12)
    W, B = np.meshgrid(np.linspace(-2, 10, 7), np.linspace(-8, 4, 5))
    assert cliff_loss(W, B).shape == (5, 7)
    assert cliff_loss(3.0, -1.0, T=7) == pytest.approx(_loop_loss(3.0, -1.0, T=7), rel=1e-12)


@pytest.mark.parametrize(("w", "b"), [(4.5, -2.75), (3.0, -1.0), (-1.0, 2.0), (5.5, -3.0)])
def test_cliff_grad_matches_central_differences(w, b):
    eps = 1e-6
    fd_w = (_loop_loss(w + eps, b) - _loop_loss(w - eps, b)) / (2 * eps)
    fd_b = (_loop_loss(w, b + eps) - _loop_loss(w, b - eps)) / (2 * eps)
    gw, gb = cliff_grad(w, b)
    assert gw == pytest.approx(fd_w, rel=1e-5, abs=1e-9)
    assert gb == pytest.approx(fd_b, rel=1e-5, abs=1e-9)


def test_default_descent_falls_off_the_cliff_and_clipping_prevents_it():
    d = CLIFF_DEFAULTS
    plain = cliff_descent(d["w0"], d["b0"], d["lr"], d["steps"])
    clipped = cliff_descent(d["w0"], d["b0"], d["lr"], d["steps"], clip=d["clip"])
    for run in (plain, clipped):
        assert run.path.shape == (d["steps"] + 1, 2) and run.stopped is None
        assert run.losses.shape == (d["steps"] + 1,) and run.grad_norms.shape == (d["steps"],)
        assert np.isfinite(run.path).all()
    plain_steps = np.linalg.norm(np.diff(plain.path, axis=0), axis=1)
    clipped_steps = np.linalg.norm(np.diff(clipped.path, axis=0), axis=1)
    assert clipped_steps.max() <= d["lr"] * d["clip"] * (1 + 1e-12)
    assert clipped.clipped.any() and not plain.clipped.any()
    assert plain_steps.max() > 20 * clipped_steps.max()
    assert clipped.losses[-1] < 0.01 < plain.losses[-1]


def test_descent_stops_cleanly_when_numbers_overflow():
    run = cliff_descent(4.9, -2.55, lr=1e307, steps=5)  # ||g|| ~ 26 there: lr*||g|| > float max
    assert run.stopped is not None and "step" in run.stopped
    assert np.isfinite(run.path).all() and len(run.path) == len(run.grad_norms) + 1
    with pytest.raises(ValueError, match="lr"):
        cliff_descent(0.0, 0.0, lr=0.0, steps=1)
    with pytest.raises(ValueError, match="clip"):
        cliff_descent(0.0, 0.0, lr=0.1, steps=1, clip=-1.0)


def test_gamma_table_is_the_public_vocabulary():
    assert set(ACTIVATIONS) == {"tanh", "sigmoid", "relu", "linear"}


OLD_NAMES = [
    "CLIFF_DEFAULTS",
    "CliffPath",
    "MeanField",
    "REGIME_TOL",
    "UNIT_TOL",
    "cliff_descent",
    "cliff_grad",
    "cliff_loss",
    "eig_powers",
    "fit_slope",
    "gamma",
    "lag_profile",
    "mean_field",
    "mean_field_from_q",
    "mean_field_slopes",
    "norm_bound",
    "orthogonal_linear",
    "pascanu_map",
    "pascanu_regime",
    "reading",
    "reading_text",
    "thousandfold",
    "unit_circle_side",
]


def test_the_package_keeps_every_name_of_the_old_module():
    import rnnlab.theory as T

    for name in [*OLD_NAMES, "lag_share", "clip_vectors", "angle_deg", "cliff_grid"]:
        assert getattr(T, name) is not None, name
    assert T.mean_field("linear", 0.5).slope_ln == pytest.approx(math.log(0.5))
