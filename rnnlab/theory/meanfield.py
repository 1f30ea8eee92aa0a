"""Mean-field prediction of the per-step growth of ln ||J_t ... J_1 v|| for a random W_hh."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .. import activations
from ._checks import _check_act, _check_leak, _check_positive


@dataclass(frozen=True)
class MeanField:
    """Mean-field prediction for a vanilla RNN with W_hh entries N(0, g^2/H).

    q: preactivation variance used (the fixed point, or the measured value from mean_field_from_q).
    chi: per-step growth factor of E||J_t ... J_1 v||^2; g^2 E[f'^2] without leak (see _leaky_chi).
    slope_ln, slope_log10: predicted growth per step of ln (resp. log10) ||J_t ... J_1 v||.
    converged: whether the fixed-point iteration settled (always True when q was given).
    """

    act: str
    g: float
    q: float
    chi: float
    slope_ln: float
    slope_log10: float
    s2: float | None
    leak: float
    converged: bool = True


def _fixed_point_q(
    act: str, g: float, s2: float, q0: float = 1.0, tol: float = 1e-12, max_iter: int = 20000
) -> tuple[float, bool]:
    """Iterate q <- g^2 E[f(sqrt(q) z)^2] + s2 from q0; returns (q, converged).

    Iterating (rather than root-finding) picks the fixed point the network actually reaches from a
    typical start. Linear and relu are homogeneous, so q* has a closed form, and there is no finite
    fixed point once g^2 E[f(z)^2] >= 1 with drive (q grows without bound): reported as inf. Their
    chi does not depend on q, so the slope is still defined.
    """
    c = activations.get(act).square_gain  # homogeneous f: E[f(sqrt(q) z)^2] = c q
    if c is not None:
        gain = g * g * c
        if gain < 1:
            return s2 / (1.0 - gain), True
        if s2 == 0 and gain == 1:
            return q0, True  # every q is a fixed point; the start stays put
        return math.inf, True
    q = q0
    for _ in range(max_iter):
        q_new = g * g * activations.mean_square(act, q) + s2
        if abs(q_new - q) <= tol * max(q_new, 1e-300) or q_new < 1e-250:
            return q_new, True
        q = q_new
    return q, False


def _leaky_chi(g: float, m1: float, m2: float, leak: float) -> float:
    """Per-step growth of E||v||^2 under J_t = leak*I + (1-leak) D_t W, D_t = diag(f'(a_t)).

    The naive guess leak^2 + (1-leak)^2 g^2 m2 is wrong: v_{t-1} already contains W v_{t-2}, so
    the cross term v.D W v does not average out (it underestimates the measured rate badly).
    Instead split D_t = m1 I + (D_t - m1 I). The mean part gives A = leak I + (1-leak) m1 W, whose
    iterates on a vector have E||A^n u||^2 = sum_k C(n,k)^2 leak^(2(n-k)) c^(2k) ||u||^2 with
    c = (1-leak) g m1 (powers of an iid W act on u as near-orthogonal vectors of norm g^k). The
    fluctuating part injects fresh noise of power s = (1-leak)^2 g^2 (m2 - m1^2) ||v||^2 each step,
    assuming f'(a_t) decorrelates from step to step (true with input drive). Summing the renewal
    series, E||v_t||^2 grows like mu^t with
        mu = x + y + sqrt(4 x y + s^2),   x = c^2, y = leak^2.
    Checks: leak = 0 gives g^2 m2 (the usual chi); linear (s = 0) gives (leak + (1-leak) g)^2, the
    squared spectral radius of leak I + (1-leak) W.
    """
    x = ((1.0 - leak) * g * m1) ** 2
    y = leak * leak
    s = (1.0 - leak) ** 2 * g * g * (m2 - m1 * m1)
    return x + y + math.sqrt(4.0 * x * y + s * s)


def _make(act, g, q, s2, leak, converged) -> MeanField:
    m1, m2 = activations.slope_moments(act, q)
    chi = _leaky_chi(g, m1, m2, leak)
    slope_ln = 0.5 * math.log(chi) if chi > 0 else -math.inf
    return MeanField(
        act=act,
        g=g,
        q=q,
        chi=chi,
        slope_ln=slope_ln,
        slope_log10=slope_ln / math.log(10.0),
        s2=s2,
        leak=leak,
        converged=converged,
    )


def mean_field(act: str, g: float, s2: float = 0.0, leak: float = 0.0) -> MeanField:
    """Mean-field growth rate of ||J_t ... J_1 v|| for W_hh entries N(0, g^2/H) and drive variance s2.

    q* solves q = g^2 E[f(sqrt(q) z)^2] + s2 (iterated from q0 = 1); chi = g^2 E[f'(sqrt(q*) z)^2];
    each step multiplies ||v||^2 by chi on average, so ln ||v|| grows by 0.5 ln chi per step. The
    spectral radius of such W is about g (circular law), so the app passes rho as g.

    Closed forms: linear 0.5 ln chi = ln g (any q); relu 0.5 ln(g^2/2) (any q); tanh with s2 = 0
    and g < 1 has q* = 0 and gives ln g.

    Leak: chi becomes the growth factor of a leaky product (see _leaky_chi); it assumes input drive
    keeps f'(a_t) changing from step to step, and is rough without drive. The fixed point q* itself
    ignores leak (exact for leak = 0); with leak, pass the measured preactivation variance to
    mean_field_from_q instead.
    """
    act = _check_act(act)
    g = _check_positive("g", g)
    s2 = _check_positive("s2", s2, allow_zero=True)
    leak = _check_leak(leak)
    q, converged = _fixed_point_q(act, g, s2)
    q_for_chi = q if math.isfinite(q) else 1.0  # only linear/relu reach inf, and their chi ignores q
    mf = _make(act, g, q_for_chi, s2, leak, converged)
    return mf if q_for_chi == q else replace(mf, q=q)


def mean_field_from_q(act: str, g: float, q: float, leak: float = 0.0) -> MeanField:
    """Mean-field slope using a given (measured) preactivation variance q instead of the fixed point.

    A trained or driven network rarely sits at the textbook fixed point; the variance of a_t
    measured on the probe sequence tells how saturated the units really are, which is what sets chi.
    """
    act = _check_act(act)
    g = _check_positive("g", g)
    q = _check_positive("q", q, allow_zero=True)
    leak = _check_leak(leak)
    return _make(act, g, q, None, leak, True)


def mean_field_slopes(act: str, gs, s2: float = 0.0, leak: float = 0.0) -> np.ndarray:
    """Predicted slope in log10 per step for each g in gs: a curve to draw against rho."""
    gs = np.asarray(gs, dtype=float)
    return np.array([mean_field(act, g, s2, leak).slope_log10 for g in gs.ravel()]).reshape(gs.shape)


def critical_rho(act: str, s2: float = 0.0, leak: float = 0.0, lo: float = 1e-3, hi: float = 10.0) -> float:
    """The g where the mean field's growth is zero (chi = 1): the edge between vanishing and exploding
    for a random W_hh with drive s2 (a phase diagram's critical line). Bisection on the slope, which
    rises with g; NaN when it does not change sign in [lo, hi] (e.g. sigmoid's chi stays below 1)."""
    slope = lambda g: mean_field(act, g, s2, leak).slope_log10
    if not slope(lo) < 0 < slope(hi):
        return math.nan
    for _ in range(80):  # 2^-80 of the bracket: far below float rounding
        mid = 0.5 * (lo + hi)
        if slope(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
