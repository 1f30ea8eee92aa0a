"""What the app measures, defined once: the at-initialisation view and the decay rate it reads.

The Lab, the Presets gallery, the claim checks (`rnnlab.claims`) and the CLI all ask these
functions, so a number on a preset card is the number the Lab shows for that preset, and the
number a test checks.
"""

from __future__ import annotations

import math

import numpy as np

from . import budget, theory
from .config import RunConfig
from .snapshots import Analysis

INIT_KEYS = ("cell", "act", "hidden", "rho", "init", "leak", "task", "seq_len", "seed", "norm")
"""The keys that shape the untrained network and its probe sequence: nothing else changes the view
at initialisation, so moving the learning rate or the step count never recomputes it."""

HEATMAP_BUDGET = 4e9
"""Flops one at-init heatmap may cost: (columns) x T x n^3 (n the state size, 2H for lstm). The default
(T = 100, H = 64, every column) is ~2.6e9, about 0.8 s for the whole analysis on one thread of the
2-core dev machine; larger settings get fewer columns so the view stays about that fast."""
MIN_COLUMNS = 4
FIT_SHARE = 0.8
"""The decay rate is fitted over lags 1 .. 0.8 (T - 1): the longest lags have few pairs (one at
lag T - 1), so their mean is noisy."""


def init_config(cfg: RunConfig) -> RunConfig:
    """The config with only the keys that matter at initialisation (others at their defaults)."""
    return RunConfig(**{k: getattr(cfg, k) for k in INIT_KEYS})


def heatmap_size(cfg: RunConfig) -> int | None:
    """max_columns for jacobian.heatmap: None (every column) when affordable, else the column budget."""
    n, L = budget.state_size(cfg), cfg.seq_total
    cols = int(HEATMAP_BUDGET / (L * n**3))
    return None if cols >= L else max(MIN_COLUMNS, cols)


def decay_slope(hm: np.ndarray) -> float:
    """The heatmap's decay rate in log10 per step back in time: the least-squares slope of the mean
    log10 norm against the lag (theory.lag_profile), over lags 1 .. FIT_SHARE (T - 1). NaN when
    the heatmap is too short or holds no finite value."""
    lags, mean, _, _ = theory.lag_profile(hm)
    return theory.fit_slope(lags, mean, max_lag=max(2, int(FIT_SHARE * (len(lags) - 1))))


def factor(slope: float) -> float:
    """The per-step factor 10**slope that the app shows ("per step back x0.76"); NaN stays NaN."""
    return 10.0**slope if math.isfinite(slope) else math.nan


def drive_variance(a: Analysis) -> float:
    """s^2 of the mean field's variance map: the mean square of the input drive W_xh x_t + b_h over
    the units and steps of the probe (vanilla cell)."""
    x = np.asarray(a.probe_x, dtype=float)  # (L, I)
    drive = x @ np.asarray(a.weights["W_xh"], float).T + np.asarray(a.weights["b_h"], float)  # (L, H)
    return float(np.mean(drive**2))


def drive_variance_of(cfg: RunConfig) -> float:
    """drive_variance for a config, from its probe and input weights alone (no heatmap): rho and act
    do not change it (W_xh is drawn the same way whatever they are)."""
    from .train import setup

    s = setup(cfg)
    x = s.probe_x[:, 0].double().numpy()  # (L, I)
    drive = x @ s.model.W_xh.detach().double().numpy().T + s.model.b_h.detach().double().numpy()
    return float(np.mean(drive**2))
