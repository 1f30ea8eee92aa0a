"""Eigenvalues of W_hh: which side of the unit circle, and their powers |lambda|^t."""

from __future__ import annotations

import numpy as np

UNIT_TOL = 1e-6
"""Relative tolerance of "on the unit circle". W_hh is stored in float32 (relative rounding 6e-8)
and scaled to an exact spectral radius in float64, so at rho = 1 the top eigenvalues come out as
1.0000000x: they are on the circle, not outside it."""


def unit_circle_side(eigvals) -> np.ndarray:
    """-1 inside the unit circle, 0 on it (within UNIT_TOL), +1 outside, per eigenvalue."""
    mod = np.abs(np.asarray(eigvals).astype(complex).ravel())
    return np.where(mod > 1 + UNIT_TOL, 1, np.where(mod < 1 - UNIT_TOL, -1, 0))


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
