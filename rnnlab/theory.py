"""Theory that the app draws next to the measurements.

Everything here is a pure function of plain numbers or numpy arrays, so it can be checked against
closed forms and used from a notebook. Quantities that grow or shrink exponentially with the lag
are returned as log10 values: (sigma*gamma)^lag overflows float64 long before a chart runs out of
room, while its logarithm is just a straight line.

Contents
--------
- Norm bound and the Pascanu et al. (2013) conditions: ``gamma``, ``norm_bound``,
  ``orthogonal_linear``, ``pascanu_regime``, ``pascanu_map``.
- Mean-field prediction of the per-step growth of ``ln ||J_t ... J_1 v||`` for a random recurrent
  matrix: ``mean_field``, ``mean_field_from_q``, ``mean_field_slopes``.
- Reading a measured heatmap: ``lag_profile``, ``fit_slope``, ``reading``, ``reading_text``.
- Eigenvalue powers for the "lambda^t" chart: ``eig_powers``.
- The one-unit loss cliff of Pascanu et al. (2013): ``cliff_loss``, ``cliff_grad``,
  ``cliff_descent`` and ``CLIFF_DEFAULTS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import activations

REGIME_TOL = 0.005
"""|slope| in log10 per step below which a profile counts as near-isometric.

0.005 log10 per step is a factor of about 1.0116 per step: a 1000-fold change takes 600 steps,
longer than any sequence the app trains on, so calling it vanishing or exploding would mislead.
"""



# ----------------------------------------------------------------------------- validation helpers


def _check_act(act: str) -> str:
    return activations.get(act).name  # raises for a name that is not an activation


def _check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return value


def _check_leak(leak: float) -> float:
    leak = _check_positive("leak", leak, allow_zero=True)
    if leak >= 1:
        raise ValueError(f"leak must satisfy 0 <= leak < 1, got {leak!r}")
    return leak


def _check_lags(lags) -> np.ndarray:
    lags = np.asarray(lags, dtype=float)
    if not np.all(np.isfinite(lags)) or np.any(lags < 0):
        raise ValueError("lags must be finite and >= 0")
    return lags


# ------------------------------------------------------------------- norm bound and Pascanu conditions


def gamma(act: str) -> float:
    """Largest slope of the activation, max |f'(x)|, which caps what one step can amplify."""
    return activations.get(act).gamma


def norm_bound(sigma_max: float, act: str, lags, leak: float = 0.0) -> np.ndarray:
    """log10 of the bound (sigma_max * gamma)^lag on ||dh_t/dh_k|| with lag = t - k.

    Each one-step Jacobian is diag(f') W_hh, whose norm is at most gamma * sigma_max(W_hh); the
    product of lag of them is bounded by the power. Returned in log10 so lags of thousands are fine.
    With leak, one step is leak*I + (1-leak)*diag(f') W_hh, whose norm is at most
    leak + (1-leak)*gamma*sigma_max (triangle inequality).
    """
    sigma_max = _check_positive("sigma_max", sigma_max, allow_zero=True)
    lags = _check_lags(lags)
    per_step = _leaky(sigma_max * gamma(act), leak)
    log_step = math.log10(per_step) if per_step > 0 else -math.inf
    with np.errstate(invalid="ignore"):  # 0 * -inf at lag 0; the identity has norm 1 there
        return np.where(lags == 0, 0.0, lags * log_step)


def orthogonal_linear(rho: float, lags, leak: float = 0.0) -> np.ndarray:
    """log10 of rho^lag: the exact norm of dh_t/dh_k for a linear cell with W_hh = rho * Q, Q orthogonal.

    Every singular value of rho * Q equals rho, so the product of lag copies has norm rho^lag
    exactly; the app uses it as the one case where theory and measurement must coincide. With leak
    the step is leak*I + (1-leak)*rho*Q, drawn as (leak + (1-leak)*rho)^lag.
    """
    rho = _check_positive("rho", rho)
    return _check_lags(lags) * math.log10(_leaky(rho, leak))


def _leaky(per_step: float, leak: float) -> float:
    """The per-step factor of a leaky cell: leak + (1-leak)*per_step (per_step when leak = 0)."""
    return per_step if leak == 0 else leak + (1 - leak) * per_step


def pascanu_regime(sigma_max: float, act: str) -> str:
    """What the Pascanu et al. (2013) conditions say about sigma_max(W_hh) for this activation.

    "vanishing": sigma_max < 1/gamma, which is sufficient for gradients over long lags to vanish.
    "may_explode": sigma_max > 1/gamma, the necessary condition for exploding holds (it is not
    sufficient: the gradients may still vanish). "boundary": exactly 1/gamma.
    """
    sigma_max = _check_positive("sigma_max", sigma_max, allow_zero=True)
    product = sigma_max * gamma(act)
    if math.isclose(product, 1.0, rel_tol=1e-12):
        return "boundary"
    return "vanishing" if product < 1.0 else "may_explode"


def pascanu_map(rhos, acts=activations.NAMES) -> dict[str, dict]:
    """Regions of a (radius, activation) chart: per activation the threshold 1/gamma and the regime per rho.

    The conditions are about sigma_max. On a rho axis the threshold is exact for normal W_hh
    (orthogonal or identity init, where rho = sigma_max). For a Gaussian W_hh, sigma_max is about
    2 * rho for large H, so rho < 1/gamma is not enough for the sufficient condition; but since
    rho <= sigma_max always, rho > 1/gamma does put W_hh in the "may_explode" region.
    """
    rhos = np.asarray(rhos, dtype=float)
    if not np.all(np.isfinite(rhos)) or np.any(rhos < 0):
        raise ValueError("rhos must be finite and >= 0")
    out = {}
    for act in acts:
        regimes = np.array([pascanu_regime(r, act) for r in rhos.ravel()], dtype=object)
        out[act] = {"threshold": 1.0 / gamma(act), "regime": regimes.reshape(rhos.shape)}
    return out


# ---------------------------------------------------------------------------------------- mean field


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


# --------------------------------------------------------------------------- reading a heatmap


def lag_profile(hm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse a (T, T) heatmap of log10 ||dh_t/dh_k|| onto the lag t - k.

    Returns (lags, mean, lo, hi): lags 0..T-1, the mean of the finite values on each sub-diagonal,
    and their 10th and 90th percentiles as a spread. NaN (above the diagonal, or not computed) and
    -inf (an exactly zero product, e.g. dead ReLUs) are left out, so the mean describes the paths
    along which gradient still flows; a lag with no finite value gets NaN.
    """
    hm = np.asarray(hm, dtype=float)
    if hm.ndim != 2 or hm.shape[0] != hm.shape[1] or hm.shape[0] == 0:
        raise ValueError(f"hm must be a non-empty square (T, T) array, got shape {hm.shape}")
    T = hm.shape[0]
    lags = np.arange(T)
    mean, lo, hi = (np.full(T, np.nan) for _ in range(3))
    for d in lags:
        vals = np.diagonal(hm, offset=-d)  # hm[k-1+d, k-1]: rows t, columns k with t - k = d
        vals = vals[np.isfinite(vals)]
        if vals.size:
            mean[d] = vals.mean()
            lo[d], hi[d] = np.percentile(vals, [10, 90])
    return lags, mean, lo, hi


def fit_slope(lags, mean, max_lag: int | None = None, min_lag: int = 1) -> float:
    """Least-squares slope (log10 per step) of mean against lag, over finite points in [min_lag, max_lag].

    Lag 0 is skipped by default: it is 0 by definition and says nothing about the rate. Compare
    with the mean-field slope on the rms-norm heatmap: for a Gaussian W_hh the spectral norm of a
    product of n steps carries an extra ~0.5 log10(n) (its top singular value outgrows the typical
    vector), which biases a fit over 100 lags by about +0.005 log10 per step. Returns NaN
    when fewer than two usable points remain, so callers can say "not enough data" instead of crash.
    """
    lags = np.asarray(lags, dtype=float)
    mean = np.asarray(mean, dtype=float)
    if lags.shape != mean.shape:
        raise ValueError(f"lags and mean must have the same shape, got {lags.shape} and {mean.shape}")
    keep = np.isfinite(lags) & np.isfinite(mean) & (lags >= min_lag)
    if max_lag is not None:
        keep &= lags <= max_lag
    x, y = lags[keep], mean[keep]
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def reading(slope_log10: float, tol: float = REGIME_TOL) -> dict:
    """Plain numbers behind a one-line verdict on a slope in log10 per step.

    Keys: regime ("vanishing", "exploding", "near-isometric"), slope_log10, factor_per_step
    (10**slope), steps_to_1000x (3/|slope|: steps for a 1000-fold fall or rise; inf for slope 0),
    direction ("falls" or "grows"), tol.
    """
    try:
        slope = float(slope_log10)
    except (TypeError, ValueError):
        raise ValueError(f"slope_log10 must be a number, got {slope_log10!r}") from None
    if not math.isfinite(slope):
        raise ValueError(f"slope_log10 must be finite, got {slope_log10!r}")
    tol = _check_positive("tol", tol, allow_zero=True)
    regime = "vanishing" if slope < -tol else "exploding" if slope > tol else "near-isometric"
    return {
        "regime": regime,
        "slope_log10": slope,
        "factor_per_step": 10.0**slope,
        "steps_to_1000x": 3.0 / abs(slope) if slope != 0 else math.inf,
        "direction": "falls" if slope < 0 else "grows",
        "tol": tol,
    }


def thousandfold(slope_log10: float, length: int | None = None) -> str:
    """How many steps back the norm takes to change a thousand-fold, in words: "26 steps", or "not
    within this sequence" when that is more steps than the sequence has lags (length - 1)."""
    steps = 3.0 / abs(slope_log10) if slope_log10 else math.inf
    if not math.isfinite(steps) or (length is not None and steps > length - 1):
        return "not within this sequence" if length is not None else "never"
    return f"{steps:.0f} steps"


def reading_text(slope_log10: float, predicted_log10: float | None = None, tol: float = REGIME_TOL,
                 length: int | None = None) -> str:
    """One paragraph for a learner: what the measured slope means, optionally against the theory.

    length: the sequence length the slope was measured on; a thousand-fold change that needs more
    steps than the sequence has is said to happen "not within this sequence".
    """
    r = reading(slope_log10, tol)
    factor = r["factor_per_step"]
    when = thousandfold(slope_log10, length)
    far = when == "not within this sequence"
    if r["regime"] == "vanishing":
        text = (
            f"Going one step further back in time multiplies the gradient signal by about "
            f"{factor:.3g}, so it shrinks. "
            + (f"A thousand-fold fall would take about {r['steps_to_1000x']:.0f} steps, not within this "
               f"sequence: across all of it ({length - 1} steps back) the signal falls about "
               f"{10 ** (-slope_log10 * (length - 1)):.3g}-fold."
               if far else
               f"After roughly {when} it is a thousand times weaker: inputs that far back barely "
               f"influence the update, and the network struggles to learn dependencies that long.")
        )
    elif r["regime"] == "exploding":
        text = (
            f"Going one step further back in time multiplies the gradient signal by about "
            f"{factor:.3g}, so it grows. "
            + (f"A thousand-fold rise would take about {r['steps_to_1000x']:.0f} steps, not within this "
               f"sequence: across all of it ({length - 1} steps back) the signal grows about "
               f"{10 ** (slope_log10 * (length - 1)):.3g}-fold."
               if far else
               f"After roughly {when} it is a thousand times stronger: distant steps dominate the "
               f"update, single updates can be huge, and clipping the gradient norm is what keeps "
               f"training stable.")
        )
    else:
        text = (
            f"The gradient signal keeps nearly the same size as it travels back in time (about "
            f"{factor:.4g} per step). This is the balanced regime that lets distant inputs still "
            f"shape learning."
        )
    if predicted_log10 is not None and math.isfinite(predicted_log10):
        text += (
            f" Mean-field theory predicts {predicted_log10:+.4f} log10 per step, against the "
            f"measured {r['slope_log10']:+.4f}."
        )
    return text


UNIT_TOL = 1e-6
"""Relative tolerance of "on the unit circle". W_hh is stored in float32 (relative rounding 6e-8)
and scaled to an exact spectral radius in float64, so at rho = 1 the top eigenvalues come out as
1.0000000x: they are on the circle, not outside it."""


def unit_circle_side(eigvals) -> np.ndarray:
    """-1 inside the unit circle, 0 on it (within UNIT_TOL), +1 outside, per eigenvalue."""
    mod = np.abs(np.asarray(eigvals).astype(complex).ravel())
    return np.where(mod > 1 + UNIT_TOL, 1, np.where(mod < 1 - UNIT_TOL, -1, 0))


# ----------------------------------------------------------------------------------- eigenvalues


def eig_powers(eigvals, steps) -> tuple[np.ndarray, np.ndarray]:
    """log10 |lambda|^t for each eigenvalue and t = 0..steps: the (steps+1, n) table behind "lambda^t".

    Eigenvalues outside the unit circle grow as straight rising lines, those inside fall; a zero
    eigenvalue gives -inf for t > 0. Returns (t, table).
    """
    lam = np.asarray(eigvals).ravel()
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigvals must be finite")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    t = np.arange(steps + 1)
    with np.errstate(divide="ignore"):
        log_mod = np.log10(np.abs(lam))
    with np.errstate(invalid="ignore"):
        table = t[:, None] * log_mod[None, :]
    table[0, :] = 0.0  # |lambda|^0 = 1, also for lambda = 0 (0 * -inf would be NaN)
    return t, table


# --------------------------------------------------------------------------------- the loss cliff

CLIFF_DEFAULTS = {
    "w0": 4.5,
    "b0": -2.75,
    "lr": 0.3,
    "clip": 1.0,
    "steps": 100,
    "T": 50,
    "x0": 0.5,
    "target": 0.7,
    "w_range": (-2.0, 10.0),
    "b_range": (-8.0, 4.0),
}
"""A start where plain gradient descent falls off the cliff and clipped descent does not.

From (4.5, -2.75) descent walks down the high-loss plateau towards the wall near w ~ 4.5,
b ~ -2.3; at step 8 the gradient norm reaches about 160 and the unclipped update throws the
parameters about 48 units away (to w ~ 30, b ~ 39), onto a flat plateau with loss 0.09 where it
stays. With the norm clipped at 1 the same step is at most lr * 1 = 0.3 long and descent settles
near loss 0.001. Found by a grid search over starts and learning rates; where exactly a step lands
near the wall is very sensitive to the start, which is part of the lesson.
"""


def _sigmoid(x):
    """Logistic without overflow warnings: 0.5 (1 + tanh(x/2))."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _cliff_forward(w, b, T, x0):
    """x_T with dx_T/dw and dx_T/db by forward-mode recurrences (float64, broadcast over w, b).

    x_t = w s(x_{t-1}) + b, so dx_t/dw = s + w s' dx_{t-1}/dw and dx_t/db = 1 + w s' dx_{t-1}/db.
    """
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be an integer >= 1, got {T!r}")
    w, b = np.broadcast_arrays(np.asarray(w, dtype=float), np.asarray(b, dtype=float))
    x = np.full(w.shape, float(x0))
    dxdw = np.zeros(w.shape)
    dxdb = np.zeros(w.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(T):
            s = _sigmoid(x)
            ds = s * (1.0 - s)
            dxdw = s + w * ds * dxdw
            dxdb = 1.0 + w * ds * dxdb
            x = w * s + b
    return x, dxdw, dxdb


def cliff_loss(w, b, T: int = 50, x0: float = 0.5, target: float = 0.7) -> np.ndarray:
    """L(w, b) = (sigmoid(x_T) - target)^2 for x_t = w sigmoid(x_{t-1}) + b; vectorised over w, b."""
    x, _, _ = _cliff_forward(w, b, T, x0)
    return (_sigmoid(x) - target) ** 2


def cliff_grad(w, b, T: int = 50, x0: float = 0.5, target: float = 0.7):
    """Exact (dL/dw, dL/db), from the forward-mode recurrences, as float64 arrays."""
    x, dxdw, dxdb = _cliff_forward(w, b, T, x0)
    y = _sigmoid(x)
    dLdx = 2.0 * (y - target) * y * (1.0 - y)
    with np.errstate(over="ignore", invalid="ignore"):
        return dLdx * dxdw, dLdx * dxdb


@dataclass(frozen=True)
class CliffPath:
    """A descent on the cliff loss.

    path: (n+1, 2) points (w, b), the start first. losses: (n+1,) loss at each point.
    grad_norms: (n,) gradient norm before clipping at each step. clipped: (n,) whether it was clipped.
    stopped: None, or why the path ended before the requested steps (a non-finite gradient or point).
    """

    path: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    clipped: np.ndarray
    stopped: str | None = None


def cliff_descent(
    w0: float,
    b0: float,
    lr: float,
    steps: int,
    clip: float | None = None,
    T: int = 50,
    x0: float = 0.5,
    target: float = 0.7,
) -> CliffPath:
    """Plain gradient descent on the cliff loss, or with norm clipping when clip is a positive number.

    Clipping keeps the direction and caps the length: g <- clip * g / ||g|| when ||g|| > clip, so
    no step is longer than lr * clip. clip None or 0 means off (as in the app's `clip` key).
    """
    lr = _check_positive("lr", lr)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if clip is not None:
        clip = _check_positive("clip", clip, allow_zero=True) or None
    p = np.array([float(w0), float(b0)])
    if not np.all(np.isfinite(p)):
        raise ValueError("w0 and b0 must be finite")
    path, norms, clipped, stopped = [p], [], [], None
    for k in range(steps):
        g = np.array(cliff_grad(p[0], p[1], T, x0, target), dtype=float)
        norm = float(np.hypot(g[0], g[1]))
        if not math.isfinite(norm):
            stopped = f"gradient is not finite at step {k} (w={p[0]:.4g}, b={p[1]:.4g})"
            break
        cut = clip is not None and norm > clip
        if cut:
            g = g * (clip / norm)
        with np.errstate(over="ignore", invalid="ignore"):
            p_new = p - lr * g
        if not np.all(np.isfinite(p_new)):
            stopped = f"parameters became non-finite at step {k}"
            break
        p = p_new
        path.append(p)
        norms.append(norm)
        clipped.append(cut)
    path = np.array(path)
    losses = np.asarray(cliff_loss(path[:, 0], path[:, 1], T, x0, target), dtype=float)
    return CliffPath(
        path=path,
        losses=losses,
        grad_norms=np.array(norms, dtype=float),
        clipped=np.array(clipped, dtype=bool),
        stopped=stopped,
    )
