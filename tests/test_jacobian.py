"""rnnlab.jacobian against independent oracles: closed forms, the float64 SVD reference, autograd."""

import itertools
import math

import numpy as np
import pytest
import torch

from rnnlab.activations import NAMES as ACTIVATIONS
from rnnlab.jacobian import (
    GRAM_MAX_N,
    NORMS,
    SPECTRAL_METHODS,
    grad_profile,
    heatmap,
    heatmap_values,
    reference_heatmap,
    rnn_step_jacobians,
    state_map_jacobians,
)
from rnnlab.jacobian.bracket import BOUND_LOG10, RATIO, cholesky_bracket, gamma, trace_bracket
from rnnlab.jacobian.gram import CERT_EPS, LADDER_MIN_N, ladder

TOL = 1e-3  # log10 units: 0.23 % in the norm
# the precise gram engine's promise: a certified value has lambda_1 - theta <= CERT_EPS * theta, so
# sigma = sqrt(theta) is within log10(1 + CERT_EPS) / 2 = 2.2e-5 log10 units; the rest are solved
# exactly. Its oracle tests hold it to that bound rather than the generic TOL
GRAM_TOL = math.log10(1.0 + CERT_EPS) / 2
# the default gram engine (bracket.py) proves each value within BOUND_LOG10 = 5e-4 of the computed
# product's; the float32 products' own rounding (measured up to 2.3e-5 at T = 300) comes on top
BRACKET_TOL = BOUND_LOG10 + 3e-5
# the spectral engines ("precise": gram with precise=True); "auto" picks gram or tracking by n
METHODS = ("gram", "precise", "tracking")
# (norm, method) pairs: rms has one engine, spectral three, and every oracle test runs each of them
NORM_METHODS = [("spectral", "gram"), ("spectral", "precise"), ("spectral", "tracking"), ("rms", "auto")]


def _method_kw(method: str) -> dict:
    """heatmap's keywords for a test's method name: "precise" is gram with precise=True."""
    return {"method": "gram", "precise": True} if method == "precise" else {"method": method}


def _orthogonal(n: int, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # (n, n) Haar


def _w_hh(n: int, rho: float, init: str, gen: torch.Generator) -> torch.Tensor:
    """Recurrent matrix with spectral radius exactly rho."""
    if init == "orthogonal":
        return rho * _orthogonal(n, gen)
    w = torch.randn(n, n, generator=gen, dtype=torch.float64) / math.sqrt(n)  # entries N(0, 1/n)
    return w * (rho / torch.linalg.eigvals(w).abs().max())


def _cell_jacs(act, rho, init, leak, n=16, T=60, seed=0, scale=1.5):
    gen = torch.Generator().manual_seed(seed)
    w = _w_hh(n, rho, init, gen)
    a = scale * torch.randn(T, n, generator=gen, dtype=torch.float64)  # (T, n) preactivations
    return rnn_step_jacobians(w, a, act, leak)  # (T, n, n)


def _assert_close_to_reference(jacs, norm, tol=None, method="auto", **kw):
    if tol is None:
        tol = {"gram": BRACKET_TOL, "precise": GRAM_TOL}.get(method, TOL) if norm == "spectral" else TOL
    ref = reference_heatmap(jacs, norm)
    got = heatmap(jacs, norm, **_method_kw(method), **kw).values
    assert np.array_equal(np.isnan(ref), np.isnan(got))
    assert np.array_equal(np.isneginf(ref), np.isneginf(got))
    fin = np.isfinite(ref)
    err = np.abs(got[fin] - ref[fin]).max()
    assert err < tol, f"max |error| {err:.2e} log10 units"
    return ref, got


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("rho", [0.5, 1.0, 1.5])
def test_linear_orthogonal_is_rho_to_the_lag(norm, rho):
    T, n = 120, 8
    q = _orthogonal(n, torch.Generator().manual_seed(1))
    jacs = (rho * q).expand(T, n, n)  # linear cell: J_t = W_hh = rho Q
    t, k = np.tril_indices(T)
    want = (t - k) * math.log10(rho)
    # every product is rho^lag Q': a flat top (all singular values equal), which only the Cholesky
    # certificate proves: within its bound, not exactly; the precise mode solves it to rounding
    atol = BOUND_LOG10 + 1e-6 if norm == "spectral" else 1e-5
    np.testing.assert_allclose(heatmap(jacs, norm).values[t, k], want, atol=atol)
    np.testing.assert_allclose(heatmap(jacs, norm, precise=True).values[t, k], want, atol=1e-5)


@pytest.mark.parametrize("norm", NORMS)
def test_rho_5_at_t_1000_far_beyond_float_range(norm):
    T, n = 1000, 6
    q = _orthogonal(n, torch.Generator().manual_seed(2))
    hm = heatmap((5.0 * q).expand(T, n, n), norm).values
    expected = 999 * math.log10(5.0)  # 698.3: 10^698 overflows even float64
    assert abs(hm[999, 0] - expected) <= 1e-6 * expected
    assert abs(hm[999, 500] - 499 * math.log10(5.0)) <= 1e-6 * expected


@pytest.mark.parametrize(("norm", "T"), [("rms", 1000), ("spectral", 300)])
def test_contracting_cell_is_large_negative_never_minus_inf(norm, T):
    n = 6
    q = _orthogonal(n, torch.Generator().manual_seed(3))
    expected = (T - 1) * math.log10(0.2)  # -698 at T = 1000: far below float64's 1e-308
    for precise in (False, True):
        hm = heatmap((0.2 * q).expand(T, n, n), norm, precise=precise).values
        assert np.isfinite(hm[np.tril_indices(T)]).all()
        # a flat top (orthogonal products): the default spectral engine is within its proven bound
        bound = BOUND_LOG10 + 1e-6 if norm == "spectral" and not precise else 0.0
        assert abs(hm[T - 1, 0] - expected) < 1e-6 * abs(expected) + bound


def test_diagonal_exactly_zero_and_upper_triangle_nan():
    jacs = _cell_jacs("tanh", 1.2, "gaussian", 0.0, T=30)
    for norm in NORMS:
        hm = heatmap(jacs, norm).values
        assert np.all(np.diag(hm) == 0.0)
        assert np.isnan(hm[np.triu_indices(30, 1)]).all()
        assert np.isfinite(hm[np.tril_indices(30)]).all()


# ----------------------------------------------------------------------------- float64 reference


@pytest.mark.parametrize(("norm", "method"), NORM_METHODS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_matches_float64_reference(act, norm, method):
    for init in ("gaussian", "orthogonal"):
        for rho in (0.5, 1.0, 1.5):
            for leak in (0.0, 0.3):
                jacs = _cell_jacs(act, rho, init, leak, seed=int(10 * rho))
                # measured: tanh, gaussian, rho 0.5, leak 0 is 2.176e-5 below the oracle, GRAM_TOL + 5e-8:
                # the float32 products' own rounding (4e-7 here), which the certificate does not cover
                rounding = (act, init, rho, leak) == ("tanh", "gaussian", 0.5, 0.0) and method == "precise"
                tol = GRAM_TOL + 1e-6 if rounding else None  # 1e-6: twice the products' measured rounding
                _assert_close_to_reference(jacs, norm, tol=tol, method=method)


@pytest.mark.parametrize(
    ("act", "init", "leak"),
    [("tanh", "gaussian", 0.0), ("sigmoid", "orthogonal", 0.3), ("relu", "gaussian", 0.0)],
)
def test_matches_reference_wider_than_the_krylov_space(act, init, leak):
    # n = 40 > the refinement's Krylov dimension: the warm-started tracking itself is tested
    jacs = _cell_jacs(act, 1.0, init, leak, n=40, T=80, seed=5)
    _assert_close_to_reference(jacs, "spectral", method="tracking")


@pytest.mark.parametrize("method", METHODS)
def test_matches_reference_long_sequence(method):
    jacs = _cell_jacs("tanh", 1.1, "gaussian", 0.0, n=10, T=300, seed=7)
    # not GRAM_TOL: at T = 300 the float32 products themselves are off by ~2e-5 log10 (rms on the
    # same products: 2.3e-5; gram 2.19e-5 above the oracle, which no Rayleigh quotient can be)
    # so gram gets its bound plus that rounding (3e-5 > the 2.3e-5 measured); tracking its own TOL
    # (the default gram engine's BRACKET_TOL already has that 3e-5 in it)
    tol = {"gram": BRACKET_TOL, "precise": GRAM_TOL + 3e-5}.get(method, TOL)
    _assert_close_to_reference(jacs, "spectral", tol=tol, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_float64_mode_is_tighter(method):
    jacs = _cell_jacs("tanh", 1.0, "gaussian", 0.2, n=12, T=50, seed=8)
    _assert_close_to_reference(jacs, "spectral", tol=1e-6, dtype=torch.float64, method=method)
    _assert_close_to_reference(jacs, "rms", tol=1e-9, dtype=torch.float64)


@pytest.mark.parametrize("method", METHODS)
def test_near_degenerate_top_singular_values(method):
    # J_t = U_t diag(s) V_t^T with s_1, s_2 1e-4 apart and fresh random U_t, V_t each step: the top
    # right vector is ill-determined every step, the norm is not
    gen = torch.Generator().manual_seed(9)
    T, n = 60, 12
    s = torch.linspace(0.5, 1.0, n, dtype=torch.float64)
    s[-2] = 1.0 - 1e-4
    jacs = torch.stack([_orthogonal(n, gen) @ torch.diag(s) @ _orthogonal(n, gen) for _ in range(T)])
    _assert_close_to_reference(jacs, "spectral", method=method)


@pytest.mark.parametrize("method", METHODS)
def test_exactly_degenerate_spectrum_with_saturation(method):
    # tanh with orthogonal W: singular values of J_t are the f'(a_t,i), many nearly equal
    jacs = _cell_jacs("tanh", 1.0, "orthogonal", 0.0, n=24, T=80, scale=0.05)
    _assert_close_to_reference(jacs, "spectral", method=method)


@pytest.mark.parametrize(
    ("act", "scale", "seed"),
    [("sigmoid", 0.5, 0), ("sigmoid", 1.0, 0), ("tanh", 0.5, 0), ("sigmoid", 0.5, 2)],
)
def test_flat_top_at_the_default_hidden_size(act, scale, seed):  # the tracking engine's hard case
    # orthogonal W and small preactivations: J_t = diag(f'(a_t)) Q with f' nearly constant, so the
    # singular values of the products stay within a few percent of each other for many lags. At
    # H = 64 (the app's default) a 24-dimensional Krylov space cannot tell the leader apart; these
    # cases were 2e-3 .. 9e-3 low at lags 3-11 before flat columns were solved exactly
    jacs = _cell_jacs(act, 1.0, "orthogonal", 0.0, n=64, T=100, seed=seed, scale=scale)
    _assert_close_to_reference(jacs, "spectral", method="tracking")


@pytest.mark.parametrize("method", METHODS)
def test_dead_relu_gives_minus_inf_exactly_where_the_product_is_zero(method):
    jacs = _cell_jacs("relu", 1.3, "gaussian", 0.0, n=10, T=40, seed=11)
    gen = torch.Generator().manual_seed(12)
    w = _w_hh(10, 1.3, "gaussian", gen)
    a = torch.randn(40, 10, generator=gen, dtype=torch.float64)
    a[17] = -1.0  # every unit dead at t = 18: J_18 = 0
    a[30, :7] = -1.0  # seven dead units at t = 31: J_31 singular, products stay non-zero
    jacs = rnn_step_jacobians(w, a, "relu", 0.0)
    for norm in NORMS:
        ref, got = _assert_close_to_reference(jacs, norm, method=method)
        dead = np.isneginf(ref)
        assert dead[17:, :17].all() and dead.sum() == 23 * 17  # t >= 18 > k
        assert np.isneginf(got).sum() == dead.sum()


def test_reference_survives_overflow():
    q = _orthogonal(4, torch.Generator().manual_seed(13))
    ref = reference_heatmap((10.0 * q).expand(400, 4, 4), "spectral")
    assert abs(ref[399, 0] - 399.0) < 1e-9  # 10^399 > float64 max, exact through renormalisation


# ----------------------------------------------------------------------------- gru / lstm


def _gru_step(cell: torch.nn.GRUCell):
    w_ih, w_hh, b_ih, b_hh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh

    def step(h, x):  # (H,), (I,) -> (H,): torch's GRU equations, unbatched
        gi = w_ih @ x + b_ih  # (3H,)
        gh = w_hh @ h + b_hh  # (3H,)
        r, z, _ = torch.sigmoid(gi + gh).chunk(3)
        n = torch.tanh(gi.chunk(3)[2] + r * gh.chunk(3)[2])
        return (1 - z) * n + z * h

    return step


def _lstm_step(cell: torch.nn.LSTMCell):
    w_ih, w_hh, b_ih, b_hh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    H = cell.hidden_size

    def step(s, x):  # state s = [h; c] (2H,)
        h, c = s[:H], s[H:]
        i, f, g, o = (w_ih @ x + b_ih + w_hh @ h + b_hh).chunk(4)  # (H,) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.cat([h, c])

    return step


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_state_map_jacobians_match_autograd(kind):
    torch.manual_seed(0)
    H, n_in, T = 5, 3, 12
    if kind == "gru":
        cell = torch.nn.GRUCell(n_in, H).double()
        step, n = _gru_step(cell), H
    else:
        cell = torch.nn.LSTMCell(n_in, H).double()
        step, n = _lstm_step(cell), 2 * H
    xs = torch.randn(T, n_in, dtype=torch.float64)
    states = [torch.zeros(n, dtype=torch.float64)]
    with torch.no_grad():
        for t in range(T):
            states.append(step(states[-1], xs[t]))
        if kind == "gru":  # our step is torch's GRUCell
            ref = cell(xs[:1], states[0][None])[0]
            torch.testing.assert_close(states[1], ref)
        else:
            h, c = cell(xs[:1], (states[0][None, :H], states[0][None, H:]))
            torch.testing.assert_close(states[1], torch.cat([h[0], c[0]]))
    prev = torch.stack(states[:-1]).detach()  # (T, n): s_{t-1}
    got = state_map_jacobians(step, prev, xs)  # (T, n, n)
    for t in range(T):
        want = torch.autograd.functional.jacobian(lambda s, x=xs[t]: step(s, x), prev[t])
        torch.testing.assert_close(got[t], want)
    for method in METHODS:
        _assert_close_to_reference(got.detach(), "spectral", method=method)


# ----------------------------------------------------------------------------- stride, progress, stop


@pytest.mark.parametrize(("norm", "method"), NORM_METHODS)
def test_stride_columns_equal_full_heatmap_columns(norm, method):
    jacs = _cell_jacs("tanh", 1.2, "gaussian", 0.1, n=12, T=47)
    full = heatmap(jacs, norm, **_method_kw(method)).values
    res = heatmap(jacs, norm, stride=5, **_method_kw(method))
    assert res.stride == 5 and list(res.cols) == list(range(1, 48, 5))
    np.testing.assert_allclose(res.values[:, res.cols - 1], full[:, res.cols - 1], atol=TOL, equal_nan=True)
    others = np.setdiff1d(np.arange(47), res.cols - 1)
    assert np.isnan(res.values[:, others]).all()


def test_max_columns_sets_stride_to_ceil():
    jacs = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=6, T=50)
    res = heatmap(jacs, "rms", max_columns=12)
    assert res.stride == math.ceil(50 / 12) == 5
    assert len(res.cols) <= 12 and res.cols[0] == 1
    assert heatmap(jacs, "rms", max_columns=50).stride == 1  # T <= max_columns: untouched


def test_gram_certificates_hold_their_bound():
    # most long-lag pairs of a gaussian tanh cell are accepted on a certificate rather than solved;
    # each accepted value must be within its proven bound (plus the products' rounding): 5e-4 log10
    # by default (the middle of a proven bracket: either side), 2.2e-5 below in the precise mode
    jacs = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=48, T=100, seed=3)
    ref = reference_heatmap(jacs, "spectral")
    fin = np.isfinite(ref)
    res = heatmap(jacs, "spectral", method="gram")
    assert res.certified > 4000 and res.certified + res.exact == 100 * 99 // 2
    err = res.values[fin] - ref[fin]
    assert np.abs(err).max() < BOUND_LOG10 + 3e-6
    res = heatmap(jacs, "spectral", method="gram", precise=True)
    assert res.certified > 1500 and res.exact > 0 and res.certified + res.exact == 100 * 99 // 2
    err = res.values[fin] - ref[fin]
    assert err.max() < 2e-6  # a Rayleigh quotient never overshoots (rounding aside)
    assert -err.min() < 3e-5  # never more than the certified bound (2.2e-5) below


def _spd(top: list[float], n: int, seed: int) -> tuple[torch.Tensor, float]:
    """A Gram matrix (n, n) float32 with the given top eigenvalues over a tail in [0, 0.5], and its
    lambda_1 in float64 (of the float32 matrix itself)."""
    gen = torch.Generator().manual_seed(seed)
    tail = 0.5 * torch.rand(n - len(top), generator=gen).double()  # (n - len(top),)
    lam = torch.cat([torch.tensor(top, dtype=torch.float64), tail])
    q = _orthogonal(n, gen)
    g = (q @ torch.diag(lam) @ q.T).float()
    g = (g + g.T) / 2
    return g, float(torch.linalg.eigvalsh(g.double())[-1])


def test_cholesky_certificate_never_accepts_a_bound_below_lambda_1():
    # lo swept across lambda_1 / RATIO: hi = lo RATIO; the test may accept only when hi >= lambda_1,
    # whatever lo (a wrong, too large lo included), at n = 16, 64, 128 and flat or steep tops
    for n, top in [(16, [1.0, 0.95]), (64, [1.0, 1.0, 1.0]), (64, [1.0, 0.6]), (128, [1.0, 0.999])]:
        g, lam1 = _spd(top, n, seed=n)
        tr = torch.diagonal(g).sum().double()
        lo = lam1 / RATIO * torch.linspace(0.99, 1.02, 301, dtype=torch.float64)  # (301,)
        ok, hi = cholesky_bracket(g.expand(301, n, n), lo, tr.expand(301), gamma(n, torch.float32))
        assert (hi[ok] >= lam1).all()
        assert ok[lo >= lam1 / RATIO * 1.002].all()  # and it does accept once there is room


def test_cholesky_margin_covers_the_rounding():
    # G = c I exactly: lambda_1 = c. A bracket whose top is above c by less than the stated margin
    # (G's rounding 4 gamma tr G, the factorisation's (n+2) gamma64 s) must be refused; with
    # twice the margin, accepted
    n, c = 64, 1.7
    g = (c * torch.eye(n)).expand(2, n, n)
    tr = torch.full((2,), n * c, dtype=torch.float64)
    gam = gamma(n, torch.float32)
    margin = 4 * gam * n * c + (n + 2) * gamma(n, torch.float64) * c
    hi = torch.tensor([c + 0.5 * margin, c + 2 * margin], dtype=torch.float64)
    ok, _ = cholesky_bracket(g, hi / RATIO, tr, gam)
    assert ok.tolist() == [False, True]


def test_flat_top_is_certified_by_cholesky_not_kato_temple():
    # lambda_1 = lambda_2 = lambda_3: no Kato-Temple bound holds (no gap), the Cholesky test does,
    # from a Rayleigh quotient within the ratio; the midpoint is within BOUND_LOG10 of the truth
    n = 64
    g, lam1 = _spd([1.0, 1.0, 1.0], n, seed=4)
    gam = gamma(n, torch.float32)
    gen = torch.Generator().manual_seed(5)
    u = torch.randn(n, generator=gen)
    for _ in range(60):
        u = g @ u
        u = u / torch.linalg.vector_norm(u)
    tr = torch.diagonal(g).sum().double()[None]
    lo, hi = trace_bracket(u[None], (g @ u)[None], tr, gam)
    assert not (hi <= lo * RATIO).all()  # Kato-Temple: the gap condition fails
    theta = float(u @ g @ u)
    ok, hi = cholesky_bracket(g[None], torch.tensor([theta], dtype=torch.float64) - 4 * gam * tr, tr, gam)
    assert ok.all() and hi[0] >= lam1
    sigma = math.sqrt(math.sqrt((theta - 4 * gam * float(tr)) * float(hi[0])))
    assert abs(math.log10(sigma) - math.log10(lam1) / 2) <= BOUND_LOG10


def test_ladder_certifies_clustered_tops_within_its_bound():
    # Gram matrices whose top eigenvalues sit a few percent apart, over a long tail: Kato-Temple on
    # G fails (the tail's Frobenius mass exceeds the top), on G^p it holds; oracle: float64 eigvalsh.
    # A 0.5 % gap is still narrow at p = 32: left uncertified (nan) for the eigen-solve
    gen = torch.Generator().manual_seed(7)
    n, grams = 64, []
    for gap in (0.005, 0.02, 0.05, 0.1):
        top = torch.tensor([1.0, 1.0 - gap, 1.0 - 2 * gap])
        lam = torch.cat([top, 0.9 * torch.rand(n - 3, generator=gen)])
        q = _orthogonal(n, gen)
        grams.append(q @ torch.diag(lam.double()) @ q.T)
    grams.append(torch.zeros(n, n, dtype=torch.float64))  # a zero product: exactly 0
    g = torch.stack(grams).float()  # (5, n, n) in the working precision
    u = torch.randn(5, n, generator=gen)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    lam, done = ladder(g, u)
    exact = torch.linalg.eigvalsh(g.double())[:, -1]
    assert done.tolist() == [False, True, True, True, True] and torch.isnan(lam[0])
    assert lam[-1] == 0
    rel = (lam[1:-1] - exact[1:-1]) / exact[1:-1]
    assert (rel <= 1e-5).all()  # a lower bound, up to float32 rounding of the squarings
    assert (rel >= -CERT_EPS - 1e-5).all()  # never more than the certified bound below


def test_gram_ladder_in_the_engine_matches_the_reference_at_n128():
    # from n = LADDER_MIN_N the young pairs G cannot certify climb the ladder instead of being
    # eigen-solved: nearly all of them certify there, each within its proven bound
    jacs = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=LADDER_MIN_N, T=30, seed=5)
    ref = reference_heatmap(jacs, "spectral")
    res = heatmap(jacs, "spectral", method="gram", precise=True)  # the ladder is the precise engine's
    assert res.certified + res.exact == 30 * 29 // 2 and res.exact < 10
    fin = np.isfinite(ref)
    err = res.values[fin] - ref[fin]
    assert err.max() < 2e-6 and -err.min() < 3e-5


def test_auto_method_is_gram_up_to_the_threshold_and_tracking_above():
    assert SPECTRAL_METHODS == ("auto", "gram", "tracking")
    small = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=GRAM_MAX_N, T=6)
    large = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=GRAM_MAX_N + 1, T=6)
    assert heatmap(small, "spectral").method == "gram"
    assert heatmap(large, "spectral").method == "tracking"
    assert heatmap(small, "rms").method == "frobenius"
    a, b = heatmap(large, "spectral", method="gram"), heatmap(large, "spectral")
    np.testing.assert_allclose(a.values, b.values, atol=TOL, equal_nan=True)  # the two engines agree


def test_should_stop_cancels_and_keeps_rows_done():
    jacs = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=6, T=40)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 10  # stop before step 11

    res = heatmap(jacs, "spectral", should_stop=stop)
    assert res.complete is False and res.rows_done == 10
    full = heatmap(jacs, "spectral").values
    np.testing.assert_allclose(res.values[:10], full[:10], atol=1e-6, equal_nan=True)
    assert np.isnan(res.values[10:]).all()


def test_progress_increases_to_one():
    seen = []
    res = heatmap(_cell_jacs("tanh", 1.0, "gaussian", 0.0, n=6, T=60), "rms", progress=seen.append)
    assert res.complete and seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen)) and len(seen) > 5


def test_heatmap_values_is_the_values():
    jacs = _cell_jacs("sigmoid", 1.0, "gaussian", 0.0, n=6, T=20)
    np.testing.assert_array_equal(heatmap_values(jacs, "rms"), heatmap(jacs, "rms").values)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")
def test_cuda_without_cuda_is_a_clear_value_error():
    with pytest.raises(ValueError, match="device"):
        heatmap(_cell_jacs("tanh", 1.0, "gaussian", 0.0, n=4, T=5), device="cuda")


def test_bad_input_raises():
    jacs = _cell_jacs("tanh", 1.0, "gaussian", 0.0, n=4, T=5)
    with pytest.raises(ValueError, match="norm"):
        heatmap(jacs, "nuclear")
    with pytest.raises(ValueError, match="method"):
        heatmap(jacs, "spectral", method="svd")
    with pytest.raises(ValueError, match="non-finite"):
        heatmap(torch.full((3, 2, 2), float("inf")))
    with pytest.raises(ValueError, match="act"):
        rnn_step_jacobians(torch.eye(3), torch.zeros(2, 3), "gelu", 0.0)


# ----------------------------------------------------------------------------- step Jacobians, gradients


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_rnn_step_jacobians_match_autograd(act):
    gen = torch.Generator().manual_seed(4)
    H, leak = 6, 0.25
    w = _w_hh(H, 1.1, "gaussian", gen)
    u = torch.randn(H, generator=gen, dtype=torch.float64)  # W_xh x_t + b
    h_prev = torch.randn(H, generator=gen, dtype=torch.float64)
    f = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "linear": lambda x: x}[act]
    want = torch.autograd.functional.jacobian(lambda h: leak * h + (1 - leak) * f(w @ h + u), h_prev)
    got = rnn_step_jacobians(w, (w @ h_prev + u)[None], act, leak)[0]
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("every_step", [False, True])
def test_grad_profile_matches_autograd(every_step):
    gen = torch.Generator().manual_seed(6)
    T, B, H, n_in = 25, 4, 7, 3
    w_hh = _w_hh(H, 1.3, "gaussian", gen).requires_grad_(True)
    w_xh = torch.randn(H, n_in, generator=gen, dtype=torch.float64)
    readout = torch.randn(H, generator=gen, dtype=torch.float64)
    xs = torch.randn(T, B, n_in, generator=gen, dtype=torch.float64)
    h = torch.zeros(B, H, dtype=torch.float64)
    hs, pre = [], []
    for t in range(T):  # explicit tanh RNN keeping every state
        a = h @ w_hh.T + xs[t] @ w_xh.T  # (B, H)
        h = torch.tanh(a)
        h.retain_grad()
        hs.append(h)
        pre.append(a.detach())
    outs = torch.stack([hh @ readout for hh in hs])  # (T, B)
    loss = (outs**2).sum() if every_step else (outs[-1] ** 2).sum()
    loss.backward()
    want = np.array([hh.grad.norm().item() for hh in hs])  # total derivative dL/dh_k

    a = torch.stack(pre)  # (T, B, H)
    w = w_hh.detach()
    jacs = torch.stack([rnn_step_jacobians(w, a[:, b], "tanh", 0.0) for b in range(B)], dim=1)  # (T,B,H,H)
    direct = torch.zeros(T, B, H, dtype=torch.float64)  # partial dL/dh_k of the loss terms
    for t in range(T):
        if every_step or t == T - 1:
            direct[t] = 2 * outs[t].detach()[:, None] * readout  # d(out^2)/dh
    np.testing.assert_allclose(grad_profile(jacs, direct), want, rtol=1e-10)
    want_0 = [hh.grad[0].norm().item() for hh in hs]  # batch element 0 alone: unbatched shapes
    np.testing.assert_allclose(grad_profile(jacs[:, 0], direct[:, 0]), want_0, rtol=1e-10)


def test_compiled_and_torch_paths_of_the_bracket_engine_agree(monkeypatch):
    # kernels.py (float32 on CPU) and the torch path (other devices and dtypes) take the same
    # steps: the same tiers, values equal to rounding
    from rnnlab.jacobian import bracket

    jacs = _cell_jacs("tanh", 1.0, "orthogonal", 0.0, n=32, T=60, seed=6, scale=0.5)
    compiled = heatmap(jacs, "spectral", method="gram")
    monkeypatch.setattr(bracket, "COMPILED", False)
    plain = heatmap(jacs, "spectral", method="gram")
    assert compiled.tiers == plain.tiers and sum(plain.tiers.values()) == 60 * 59 // 2
    assert plain.tiers["cholesky"] > 0  # the flat tops reach the Cholesky test
    # the compiled loops accumulate in float64, torch in float32: the middles of the brackets differ
    # by that rounding (1.7e-6 log10 measured), far inside the bound
    np.testing.assert_allclose(compiled.values, plain.values, atol=1e-5, equal_nan=True)
