"""rnnlab.lyapunov against independent oracles: closed forms (rho Q), the determinant identity, a
numpy float64 QR written here, the mean-field theory, and the heatmap's own slope."""

import math

import numpy as np
import pytest
import torch

from rnnlab import jacobian, lyapunov
from rnnlab.config import RunConfig
from rnnlab.snapshots import step_jacobians
from rnnlab.theory import mean_field
from rnnlab.train import setup


def orthogonal(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]


def net_jacobians(cfg: RunConfig) -> torch.Tensor:
    s = setup(cfg)
    return step_jacobians(s.model, s.probe_x)[0].double()


@pytest.mark.parametrize("k", [None, 5])
def test_linear_rho_q_gives_ln_rho_for_every_exponent(k):
    """J_t = rho Q for a linear cell (f' = 1): every singular value of a product of d steps is rho^d."""
    rho, n, T = 0.8, 24, 60
    W = rho * orthogonal(n, 1)
    a = torch.randn(T, n, dtype=torch.float64)  # any preactivation: the linear slope is 1
    spec = lyapunov.spectrum(jacobian.rnn_step_jacobians(W, a, "linear", 0.0), k=k, warmup=3)
    assert spec.k == (k or n)
    np.testing.assert_allclose(spec.exponents, math.log(rho), atol=1e-6)
    np.testing.assert_allclose(spec.running, math.log(rho), atol=1e-6)  # converged from the first step
    assert spec.nonnegative == 0 and spec.kaplan_yorke == 0.0


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(hidden=16, seq_len=40, rho=1.5),
        RunConfig(hidden=16, seq_len=40, act="relu", rho=1.2, leak=0.3),
        RunConfig(hidden=16, seq_len=40, act="sigmoid", rho=3.0),
        RunConfig(cell="gru", hidden=12, seq_len=40, rho=2.0),
        RunConfig(cell="lstm", hidden=8, seq_len=40),
    ],
    ids=["tanh", "relu-leak", "sigmoid", "gru", "lstm"],
)
def test_sum_of_exponents_is_mean_log_det(cfg):
    """prod_i |R_ii| = |det(J_t Q)| = |det J_t|: the exponents sum to mean ln|det J_t| past the warm-up."""
    J = net_jacobians(cfg)
    spec = lyapunov.spectrum(J, warmup=5)
    want = torch.log(torch.abs(torch.linalg.det(J[5:]))).mean().item()
    assert spec.k == J.shape[1]
    assert abs(spec.exponents.sum() - want) <= 1e-8 * max(1.0, abs(want))
    assert np.all(np.diff(spec.exponents) <= 0)  # sorted descending


def gram_schmidt(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q R = A by modified Gram-Schmidt (no LAPACK), diag(R) >= 0."""
    Q, R = A.copy(), np.zeros((A.shape[1], A.shape[1]))
    for j in range(A.shape[1]):
        for i in range(j):
            R[i, j] = Q[:, i] @ Q[:, j]
            Q[:, j] -= R[i, j] * Q[:, i]
        R[j, j] = np.linalg.norm(Q[:, j])
        Q[:, j] /= R[j, j]
    return Q, R


def numpy_spectrum(jacs: np.ndarray, warmup: int) -> np.ndarray:
    """Independent float64 oracle: Gram-Schmidt written here, every exponent, sorted descending."""
    Q = np.eye(jacs.shape[1])
    total = np.zeros(jacs.shape[1])
    for t, J in enumerate(jacs):
        Q, R = gram_schmidt(J @ Q)
        if t >= warmup:
            total += np.log(np.abs(np.diag(R)))
    return np.sort(total / (len(jacs) - warmup))[::-1]


def test_running_estimate_ends_at_the_exponents():
    J = net_jacobians(RunConfig(hidden=16, seq_len=80, rho=2.0))
    spec = lyapunov.spectrum(J)
    assert spec.warmup == int(lyapunov.WARMUP * J.shape[0]) and spec.steps == J.shape[0] - spec.warmup
    np.testing.assert_allclose(spec.running[-1], spec.exponents[:3], atol=1e-12)
    np.testing.assert_allclose(spec.exponents, numpy_spectrum(J.numpy(), spec.warmup), atol=1e-10)
    assert math.isfinite(spec.drift) and spec.drift >= 0


def test_top_k_matches_the_full_spectrum():
    J = net_jacobians(RunConfig(hidden=24, seq_len=200, rho=1.8))
    full, top = lyapunov.spectrum(J), lyapunov.spectrum(J, k=4)
    np.testing.assert_allclose(top.exponents, full.exponents[:4], atol=0.02)


def test_kaplan_yorke_closed_forms():
    assert lyapunov.kaplan_yorke(np.array([-0.1, -0.5])) == 0.0
    assert lyapunov.kaplan_yorke(np.array([0.3, -0.1, -0.4])) == pytest.approx(2 + 0.2 / 0.4)
    assert lyapunov.kaplan_yorke(np.array([0.5, 0.2])) == 2.0  # every partial sum >= 0
    assert lyapunov.kaplan_yorke(np.array([0.0, -np.inf])) == 1.0  # a dead direction


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="k must be"):
        lyapunov.spectrum(torch.eye(3)[None], k=4)
    with pytest.raises(ValueError, match="warmup"):
        lyapunov.spectrum(torch.eye(3)[None], warmup=-1)


@pytest.mark.slow
@pytest.mark.parametrize("g", [2.0, 3.0])
def test_lambda_1_matches_mean_field_for_chaotic_tanh(g):
    """Gaussian W_hh N(0, g^2/H), H = 128, input x_t ~ N(0, 0.1^2) through W_x ~ N(0, 1): the state's
    input variance is s2 = 0.01. The QR lambda_1 is within 3/H + 0.01 of 0.5 ln chi(g, q*(s2))."""
    H, T = 128, 300
    gen = torch.Generator().manual_seed(int(g))
    W = torch.randn(H, H, generator=gen, dtype=torch.float64) * g / math.sqrt(H)
    Wx = torch.randn(H, generator=gen, dtype=torch.float64)
    x = 0.1 * torch.randn(T, generator=gen, dtype=torch.float64)
    h, pre = torch.zeros(H, dtype=torch.float64), []
    for t in range(T):
        a = W @ h + Wx * x[t]
        h = torch.tanh(a)
        pre.append(a)
    spec = lyapunov.spectrum(jacobian.rnn_step_jacobians(W, torch.stack(pre), "tanh", 0.0))
    assert abs(spec.lambda_1 - mean_field("tanh", g, s2=0.01).slope_ln) <= 3 / H + 0.01
    assert spec.nonnegative > 1 and spec.kaplan_yorke > spec.nonnegative  # a chaotic attractor


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(hidden=32, rho=2.0),
        RunConfig(hidden=32, rho=0.9, seq_len=150),
        RunConfig(hidden=32, act="relu", rho=1.2),
        RunConfig(hidden=32, rho=1.5, leak=0.5, seq_len=200),
        RunConfig(cell="gru", hidden=24, rho=2.0),
        RunConfig(cell="lstm", hidden=16),
    ],
    ids=["tanh-chaotic", "tanh-ordered", "relu", "leak", "gru", "lstm"],
)
def test_lambda_1_agrees_with_the_heatmap_slope(cfg):
    """Two measures of the same rate: within SlopeGap.tolerance (derived in its docstring)."""
    J = net_jacobians(cfg)
    spec = lyapunov.spectrum(J)
    gap = lyapunov.slope_gap(spec, jacobian.heatmap(J, norm="spectral").values)
    assert math.isfinite(gap.slope_ln) and 0 < gap.tolerance < 0.1
    assert gap.agrees, (gap.gap, gap.tolerance)


def test_fit_weights_reproduce_the_fitted_slope():
    """The linear functional fit_weights is the heatmap's fit applied to a heatmap of summed rates."""
    T, lo, hi = 50, 5, 25
    rates = np.random.default_rng(0).normal(0.1, 0.5, T)  # rates[s-1] = rho_s
    c = np.concatenate([[0.0], np.cumsum(rates)])  # c[t] = rho_1 + ... + rho_t
    hm = np.full((T, T), np.nan)
    for t in range(1, T + 1):
        for k in range(1, t + 1):
            hm[t - 1, k - 1] = (c[t] - c[k]) / math.log(10)  # log10 of prod_{s=k+1}^t e^rho_s
    from rnnlab.theory import fit_slope, lag_profile

    lags, mean, _, _ = lag_profile(hm)
    want = fit_slope(lags, mean, max_lag=hi, min_lag=lo) * math.log(10)
    assert lyapunov.fit_weights(T, lo, hi) @ rates == pytest.approx(want, abs=1e-12)


# ------------------------------------------------------------------------ recorded and exported


def numpy_rnn_jacobians(W, Wx, b, x, act: str, leak: float) -> np.ndarray:
    """J_t of the vanilla cell in float64 numpy from the exported weights and probe (no torch)."""
    f = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}[act]
    df = {"tanh": lambda a: 1 - np.tanh(a) ** 2, "relu": lambda a: (a > 0).astype(float)}[act]
    h, jacs = np.zeros(W.shape[0]), []
    for xt in x:
        a = W @ h + Wx @ xt + b
        jacs.append(leak * np.eye(len(h)) + (1 - leak) * df(a)[:, None] * W)
        h = leak * h + (1 - leak) * f(a)
    return np.array(jacs)


@pytest.mark.parametrize(("act", "leak"), [("tanh", 0.0), ("relu", 0.4)])
def test_exported_spectrum_matches_a_numpy_reference(tmp_path, act, leak):
    from rnnlab.reading import load_run
    from rnnlab.train import run

    cfg = RunConfig(act=act, leak=leak, hidden=12, seq_len=60, steps=6, snapshots=2, rho=1.5, lr=0.05)
    r = load_run(run(cfg).save(tmp_path))
    a = {k: v.astype(np.float64) for k, v in r.arrays.items() if k != "eigvals"}
    L = a["probe_x"].shape[0]
    for i in range(len(r.snapshot_steps)):
        J = numpy_rnn_jacobians(a["W_hh"][i], a["W_xh"][i], a["b_h"][i], a["probe_x"], act, leak)
        want = numpy_spectrum(J, int(lyapunov.WARMUP * L))
        np.testing.assert_allclose(r.exponents(i), want, atol=1e-4)
        run_i = a["lyapunov_running"][i]
        assert np.isnan(run_i[: int(lyapunov.WARMUP * L)]).all() and np.isfinite(run_i[-1]).all()


def test_spectrum_k_respects_the_view_budget(monkeypatch):
    from rnnlab import budget

    assert budget.spectrum_k(100, 64) == 64
    monkeypatch.setenv(budget.VIEW_GFLOP_ENV, "40")  # 10 GFLOP for the spectrum
    k = budget.spectrum_k(1000, 512)
    assert 1 <= k < 512
    assert budget.spectrum_flops(1000, 512, k) <= 10e9 < budget.spectrum_flops(1000, 512, k + 1)


def test_export_refuses_a_spectrum_that_does_not_fit(tmp_path):
    from rnnlab.reading import load_run
    from rnnlab.safezip import ExportError
    from rnnlab.schema import validate
    from rnnlab.train import run

    r = run(RunConfig(hidden=6, seq_len=20, steps=2, snapshots=2))
    assert r.arrays["lyapunov"].shape == (2, 6) and r.arrays["lyapunov_running"].shape == (2, 20, 3)
    validate(r)
    alone = {k: v for k, v in r.arrays.items() if k != "lyapunov_running"}
    with pytest.raises(ExportError, match="lyapunov_running is missing"):
        validate(type(r)(r.config, r.metrics, alone, r.summary))
    wide = {**r.arrays, "lyapunov": np.zeros((2, 7))}  # more exponents than the state has
    with pytest.raises(ExportError, match=r"lyapunov has shape \(2, 7\)"):
        validate(type(r)(r.config, r.metrics, wide, r.summary))
    older = {k: v for k, v in r.arrays.items() if not k.startswith("lyapunov")}  # before the spectrum
    r.arrays = older
    assert load_run(r.save(tmp_path)).exponents().size == 0
