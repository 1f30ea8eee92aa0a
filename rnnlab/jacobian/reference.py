"""The slow float64 oracle the engines are tested against: every product formed, then its norm.

Test-only: nothing in the app calls it. It shares no code with the engines on purpose (numpy, no
renormalisation scheme in common), so agreement means something.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from .engine import NORMS


def reference_heatmap(jacs, norm: str) -> np.ndarray:
    """Slow float64 oracle: each product formed explicitly, numpy SVD / Frobenius per pair.

    For each t the product R = J_t ... J_{k+1} is extended to the right one factor at a time and
    divided by its max-abs after every factor (log10 scales summed), so it is exact for products
    far outside the float range; an exactly zero product gives -inf. rms is ||R||_F / sqrt(n).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    J = np.asarray(jacs.detach().cpu() if isinstance(jacs, Tensor) else jacs, dtype=np.float64)  # (T, n, n)
    T, n = J.shape[0], J.shape[1]
    hm = np.full((T, T), np.nan)
    for t in range(1, T + 1):
        hm[t - 1, t - 1] = 0.0
        prods, logs = _reference_products(J, t)  # (t-1, n, n), (t-1,) for k = t-1 .. 1
        if len(prods) == 0:
            continue
        if norm == "spectral":
            nrm = np.linalg.norm(prods, ord=2, axis=(1, 2))
        else:
            nrm = np.linalg.norm(prods, axis=(1, 2)) / math.sqrt(n)
        with np.errstate(divide="ignore"):
            hm[t - 1, t - 2 :: -1] = np.log10(nrm) + logs  # k = t-1 down to 1
    return hm


def _reference_products(J: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-abs-normalised J_t ... J_{k+1} for k = t-1 down to 1, with their log10 scales."""
    n = J.shape[1]
    r, scale = np.eye(n), 0.0
    prods, logs = [], []
    for k in range(t - 1, 0, -1):
        r = r @ J[k]  # J[k] = J_{k+1}
        m = np.abs(r).max()
        if m > 0:
            r, scale = r / m, scale + math.log10(m)
        prods.append(r)
        logs.append(scale)
    return np.array(prods).reshape(-1, n, n), np.array(logs)
