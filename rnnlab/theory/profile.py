"""Reading a measured heatmap of log10 ||dh_t/dh_k||: its lag profile, its slope, and words for it."""

from __future__ import annotations

import math

import numpy as np

from ._checks import _check_positive

REGIME_TOL = 0.005
"""|slope| in log10 per step below which a profile counts as near-isometric.

0.005 log10 per step is a factor of about 1.0116 per step: a 1000-fold change takes 600 steps,
longer than any sequence the app trains on, so calling it vanishing or exploding would mislead.
"""


def lag_profile(hm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse a (T, T) heatmap of log10 ||dh_t/dh_k|| onto the lag t - k.

    Returns (lags, mean, lo, hi): lags 0..T-1, the mean of the finite values on each sub-diagonal,
    and their 10th and 90th percentiles as a spread. NaN (above the diagonal, or not computed) and
    -inf (an exactly zero product, e.g. dead ReLUs) are left out, so the mean describes the paths
    along which gradient still flows; a lag with no finite value gets NaN.

    All lags in one pass (a loop of np.percentile per lag cost ~10 ms at T = 100, on every control
    change); `tests/test_theory.py` holds the loop as the oracle.
    """
    hm = np.asarray(hm, dtype=float)
    if hm.ndim != 2 or hm.shape[0] != hm.shape[1] or hm.shape[0] == 0:
        raise ValueError(f"hm must be a non-empty square (T, T) array, got shape {hm.shape}")
    T = hm.shape[0]
    lags = np.arange(T)
    diag = _sub_diagonals(hm)  # (T, T): row d holds hm[k + d, k], NaN past the end
    ok = np.isfinite(diag)
    n = ok.sum(axis=1)  # finite values per lag
    with np.errstate(invalid="ignore", divide="ignore"):  # a lag with none: 0 / 0 = NaN
        mean = np.where(ok, diag, 0.0).sum(axis=1) / n
    ranked = np.sort(np.where(ok, diag, np.nan), axis=1)  # finite values first, in order
    lo, hi = (_percentile_sorted(ranked, n, q) for q in (10, 90))
    return lags, mean, lo, hi


def _sub_diagonals(hm: np.ndarray) -> np.ndarray:
    """(T, T) with row d = the d-th sub-diagonal hm[d:, :].diagonal(), padded with NaN to length T:
    a strided view of hm stacked on T rows of NaN (element [d, k] sits at row k + d, column k)."""
    T = hm.shape[0]
    padded = np.vstack([hm, np.full_like(hm, np.nan)])
    rs, cs = padded.strides
    return np.lib.stride_tricks.as_strided(padded, shape=(T, T), strides=(rs, rs + cs)).copy()


def _percentile_sorted(ranked: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """np.percentile(row[:n], q) of every row at once: numpy's default "linear" rule, the same
    arithmetic (its _lerp), on rows sorted ascending with n[i] finite values first. NaN where n = 0."""
    virtual = (n - 1) * (q / 100)
    below = np.clip(np.floor(virtual).astype(np.intp), 0, None)
    above = np.minimum(below + 1, np.maximum(n - 1, 0))
    rows = np.arange(ranked.shape[0])
    a, b = ranked[rows, below], ranked[rows, above]
    t = virtual - below
    diff = b - a
    out = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return np.where(n > 0, out, np.nan)


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


def reading_text(
    slope_log10: float,
    predicted_log10: float | None = None,
    tol: float = REGIME_TOL,
    length: int | None = None,
) -> str:
    """One paragraph for a learner: what the measured slope means, optionally against the theory.

    length: the sequence length the slope was measured on; a thousand-fold change that needs more
    steps than the sequence has is said to happen "not within this sequence".
    """
    r = reading(slope_log10, tol)
    factor = r["factor_per_step"]
    when = thousandfold(slope_log10, length)
    far = when == "not within this sequence"
    lags = length - 1 if length is not None else 0  # read only when far, which implies a length
    if r["regime"] == "vanishing":
        text = (
            f"Going one step further back in time multiplies the gradient signal by about "
            f"{factor:.3g}, so it shrinks. "
            + (
                f"A thousand-fold fall would take about {r['steps_to_1000x']:.0f} steps, not within this "
                f"sequence: across all of it ({lags} steps back) the signal falls about "
                f"{10 ** (-slope_log10 * lags):.3g}-fold."
                if far
                else f"After roughly {when} it is a thousand times weaker: inputs that far back barely "
                f"influence the update, and the network struggles to learn dependencies that long."
            )
        )
    elif r["regime"] == "exploding":
        text = (
            f"Going one step further back in time multiplies the gradient signal by about "
            f"{factor:.3g}, so it grows. "
            + (
                f"A thousand-fold rise would take about {r['steps_to_1000x']:.0f} steps, not within this "
                f"sequence: across all of it ({lags} steps back) the signal grows about "
                f"{10 ** (slope_log10 * lags):.3g}-fold."
                if far
                else f"After roughly {when} it is a thousand times stronger: distant steps dominate the "
                f"update, single updates can be huge, and clipping the gradient norm is what keeps "
                f"training stable."
            )
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


# ---- the sum over lags ----------------------------------------------------------------------------


def lag_share(hm) -> tuple[np.ndarray, np.ndarray]:
    """From a heatmap of log10 ||dh_t/dh_k||: the last row's norms as shares of their sum, by lag.

    Returns (lags 0..L-1, share): share[d] = ||dh_L/dh_{L-d}|| / sum_k ||dh_L/dh_k|| (NaN where not
    computed). A crude picture of how much of a loss at the end can reach each earlier step: each
    term of the gradient's sum over k carries that factor.
    """
    hm = np.asarray(hm, dtype=float)
    row = hm[-1, ::-1]  # lag 0 (k = L) first
    with np.errstate(over="ignore"):
        shift = np.nanmax(np.where(np.isfinite(row), row, np.nan)) if np.isfinite(row).any() else 0.0
        v = np.where(np.isnan(row), np.nan, 10.0 ** (row - shift))  # -inf -> 0
    total = np.nansum(v)
    return np.arange(row.size), v / total if total > 0 else v
