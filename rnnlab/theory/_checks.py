"""Argument checks shared by the theory modules: a clear ValueError instead of a NaN further on."""

from __future__ import annotations

import math

import numpy as np

from .. import activations


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
