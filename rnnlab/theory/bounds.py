"""The norm bound on ||dh_t/dh_k|| and the Pascanu et al. (2013) conditions on sigma_max(W_hh).

Results that grow exponentially with the lag are log10 values (a straight line on the chart).
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ._checks import _check_lags, _check_positive


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
