"""The Lyapunov spectrum of the state map along the probe sequence, by repeated QR (Benettin et al.).

The heatmap measures one number per pair of steps, ||J_t ... J_{k+1}||. The spectrum splits that
growth into directions: carry k orthonormal vectors Q through the one-step Jacobians the heatmap uses,
re-orthonormalise after every step (Z = J_t Q_{t-1} = Q_t R_t), and average the logs of R_t's
diagonal. The i-th average is the i-th exponent lambda_i: a gradient component along the i-th
direction grows or shrinks like exp(lambda_i * lag). lambda_1 is the heatmap's long-lag slope (in
natural log per step); how many exponents are near zero says how many directions carry a gradient
over long lags without vanishing or exploding.

    spectrum(jacs, k, warmup)   the exponents (natural log per step, descending) and their running
                                estimate, with the Kaplan-Yorke dimension and the count of lambda >= 0
    exponents_k(n)              how many exponents a state size gets (all up to ALL_MAX_N)
    slope_gap(spec, heatmap)    lambda_1 against the heatmap's fitted long-lag slope, same units

Float64 throughout: the sum of all exponents is the mean ln|det J_t| to rounding (tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .cells import state_size
from .fields import CAP_ENV
from .theory import fit_slope, lag_profile

ALL_MAX_N = state_size("lstm", CAP_ENV["hidden"][1])
"""Every exponent is computed up to this state size (lstm's [h; c] at the default hidden cap)."""
TOP_K = 64
"""Above ALL_MAX_N (a raised cap), only the top TOP_K exponents."""
RUNNING = 3
"""How many of the top exponents keep a running estimate (their convergence)."""
WARMUP = 0.1
"""Default warm-up: this fraction of the sequence is run before averaging, so the orthonormal frame
aligns with the directions the dynamics favour before anything is counted."""


@dataclass(frozen=True)
class Spectrum:
    """The Lyapunov exponents of one network on one input sequence.

    exponents: (k,) float64, natural log per step, descending; -inf for a direction that a step
        maps exactly to zero (a dead ReLU row). running: (T - warmup, m) the estimate of the top m
        exponents after each averaged step (its last row is exponents[:m] before sorting); a curve
        still moving at the end says the sequence is too short to trust the digits.
    """

    exponents: np.ndarray  # (k,)
    running: np.ndarray  # (T - warmup, m)
    n: int  # state size (k <= n)
    warmup: int  # steps run before averaging
    rate_sd: float = math.nan  # standard deviation of the top direction's per-step rate ln |R_11|

    @property
    def k(self) -> int:
        return len(self.exponents)

    @property
    def steps(self) -> int:
        """Steps averaged."""
        return self.running.shape[0]

    @property
    def lambda_1(self) -> float:
        return float(self.exponents[0]) if self.k else math.nan

    @property
    def nonnegative(self) -> int:
        """How many exponents are >= 0: directions along which a perturbation does not decay."""
        return int(np.sum(self.exponents >= 0))

    @property
    def kaplan_yorke(self) -> float:
        return kaplan_yorke(self.exponents)

    @property
    def drift(self) -> float:
        """How much lambda_1's running estimate still moved over the last half of the averaged
        steps (max - min): the convergence, in natural log per step. NaN with fewer than 4 steps."""
        if self.steps < 4 or not self.running.shape[1]:
            return math.nan
        tail = self.running[self.steps // 2 :, 0]
        tail = tail[np.isfinite(tail)]
        return float(np.ptp(tail)) if tail.size else math.nan


def exponents_k(n: int) -> int:
    """How many exponents a state of size n gets: all of them up to ALL_MAX_N, else TOP_K."""
    return n if n <= ALL_MAX_N else TOP_K


def warmup_steps(T: int, warmup: int | None) -> int:
    """The warm-up in steps: `warmup` when given, else WARMUP of T; always leaving one step."""
    w = int(WARMUP * T) if warmup is None else int(warmup)
    if w < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    return min(w, T - 1)


@torch.no_grad()
def spectrum(jacs: Tensor, k: int | None = None, warmup: int | None = None) -> Spectrum:
    """Lyapunov exponents of the products of jacs (T, n, n), jacs[t-1] = J_t, by repeated QR.

    k: how many exponents (default exponents_k(n)); warmup: steps run before averaging (default
    WARMUP of T). The frame starts as the identity's first k columns turned by a fixed random
    rotation (seed 0), so a top-k frame is not special to any axis; k = n starts from the identity.
    """
    if jacs.dim() != 3 or jacs.shape[1] != jacs.shape[2] or jacs.shape[0] < 1:
        raise ValueError(f"jacs must be (T, n, n) with T >= 1, got {tuple(jacs.shape)}")
    T, n = jacs.shape[0], jacs.shape[1]
    k = exponents_k(n) if k is None else int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    w = warmup_steps(T, warmup)
    J = jacs.detach().to(torch.float64)  # torch, not numpy: its thread count is the app's setting
    Q = start_frame(n, k)  # (n, k) orthonormal
    logs = torch.empty(T - w, k, dtype=torch.float64)  # ln |R_ii| of every averaged step
    for t in range(T):
        Q, R = torch.linalg.qr(J[t] @ Q)  # (n, k), (k, k)
        if t >= w:
            logs[t - w] = torch.log(torch.abs(torch.diagonal(R)))  # -inf for a zeroed direction
    m = min(RUNNING, k)
    counts = torch.arange(1, T - w + 1, dtype=torch.float64)[:, None]  # (T - w, 1)
    running = torch.cumsum(logs[:, :m], 0) / counts  # (T - w, m)
    exps = torch.sort(logs.mean(0), descending=True).values  # (k,)
    sd = float(logs[:, 0].std(correction=0)) if T - w > 1 else math.nan
    return Spectrum(exps.numpy(), running.numpy(), n, w, sd)


def start_frame(n: int, k: int) -> Tensor:
    """(n, k) float64 orthonormal start: the identity for k = n, else a fixed random frame."""
    if k == n:
        return torch.eye(n, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    return torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=torch.float64))[0]


def kaplan_yorke(exponents: np.ndarray) -> float:
    """The Kaplan-Yorke (Lyapunov) dimension D = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|,
    j the largest index whose partial sum is >= 0 (exponents sorted descending).

    0 when lambda_1 < 0 (a fixed point attracts everything); j = k when every partial sum is >= 0
    (with only the top k exponents known, D is then at least k).
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    if lam.size == 0 or not lam[0] >= 0:
        return 0.0
    sums = np.cumsum(lam)
    j = int(np.sum(sums >= 0))  # partial sums fall once the exponents turn negative
    if j == lam.size:
        return float(j)
    return float(j + sums[j - 1] / abs(lam[j]))


@dataclass(frozen=True)
class SlopeGap:
    """lambda_1 from the QR method against the heatmap's fitted long-lag slope, both in ln per step.

    The heatmap's slope is log10 per step; times ln 10 it is in the spectrum's units. Both average
    the same per-step growth rates rho_s of the fastest direction, with different weights: the QR
    method weights every step after the warm-up equally (v_s), the slope fit weights step s by how
    many pairs at each fitted lag cover it, combined with the least-squares weights of the lags
    (u_s, `fit_weights`). So the gap is sum_s (v_s - u_s) rho_s plus what the norm of a product adds
    to the growth of one direction. `tolerance` bounds both:

    - 3 sd(rho) ||u - v||_2: three standard deviations of the weighted difference, for per-step
      rates that vary independently around their mean with the measured sd;
    - 0.5 ln(max_lag / min_lag) / (max_lag - min_lag): the spectral norm of a product of d steps
      exceeds the growth of a typical direction by about 0.5 ln d (the largest of the finite-time
      fluctuations, see rnnlab.theory.fit_slope), and this is that term's slope over the fitted lags.

    Derived for the spectral norm; an rms heatmap mixes in the other directions at short lags.
    """

    lambda_1: float
    slope_ln: float  # the heatmap's fitted slope, ln per step
    min_lag: int
    max_lag: int
    tolerance: float

    @property
    def gap(self) -> float:
        return self.lambda_1 - self.slope_ln

    @property
    def agrees(self) -> bool:
        return abs(self.gap) <= self.tolerance


def heatmap_slope_ln(heatmap: np.ndarray) -> tuple[float, int, int]:
    """The heatmap's long-lag slope in ln per step, and the lags it is fitted over.

    Lags from L/10 (past the top direction's alignment) to L/2 (every sub-diagonal still averages
    at least L/2 pairs). Returns (slope, min_lag, max_lag); the slope is NaN where too few lags.
    """
    L = heatmap.shape[0]
    lo, hi = max(1, L // 10), max(2, L // 2)
    lags, mean, _, _ = lag_profile(heatmap)
    return fit_slope(lags, mean, max_lag=hi, min_lag=lo) * math.log(10.0), lo, hi


def fit_weights(T: int, min_lag: int, max_lag: int) -> np.ndarray:
    """u (T,): the heatmap's fitted slope is sum_s u_s rho_s when log ||J_t...J_{k+1}|| = sum of rho_s.

    The lag profile at lag d averages the T - d pairs (k + d, k), k = 1..T-d, whose products hold
    the steps s = k+1..k+d; the least-squares slope weights lag d by (d - mean) / sum (d - mean)^2.
    """
    d = np.arange(min_lag, max_lag + 1, dtype=np.float64)  # (D,) fitted lags
    a = (d - d.mean()) / np.sum((d - d.mean()) ** 2)  # (D,) least-squares slope weights
    s = np.arange(1, T + 1)[None, :]  # (1, T) the step index of J_s
    D = d.astype(np.int64)[:, None]  # (D, 1)
    cover = np.clip(np.minimum(T - D, s - 1) - np.maximum(1, s - D) + 1, 0, None)  # (D, T) pairs over s
    return (a[:, None] * cover / (T - D)).sum(0)  # (T,)


def slope_gap(spec: Spectrum, heatmap: np.ndarray) -> SlopeGap:
    """lambda_1 against the heatmap's long-lag slope (converted to ln per step), with the tolerance
    within which the two should agree (SlopeGap's docstring derives it)."""
    T = heatmap.shape[0]
    if spec.steps + spec.warmup != T:
        raise ValueError(f"the heatmap covers {T} steps, the spectrum {spec.steps + spec.warmup}")
    slope, lo, hi = heatmap_slope_ln(heatmap)
    if hi >= T or not math.isfinite(spec.rate_sd):
        return SlopeGap(spec.lambda_1, slope, lo, hi, math.nan)
    v = np.zeros(T)
    v[spec.warmup :] = 1.0 / (T - spec.warmup)  # the QR average's weights
    spread = 3.0 * spec.rate_sd * float(np.linalg.norm(fit_weights(T, lo, hi) - v))
    return SlopeGap(spec.lambda_1, slope, lo, hi, spread + 0.5 * math.log(hi / lo) / (hi - lo))


# ---- gradient flossing (Engelken 2023) ----------------------------------------------------------

FLOSS_K = 4
"""Gradient flossing pushes the top FLOSS_K exponents (or all n, when fewer) toward zero."""


def top_exponents(jacs: Tensor, k: int, warmup: int = 0) -> Tensor:
    """The top k exponents of jacs (T, n, n) as a differentiable function of the Jacobians: the same
    repeated QR as `spectrum`, kept on autograd's tape (torch.linalg.qr has a backward), in the
    Jacobians' dtype, unsorted (the QR order, largest first once aligned). (k,)"""
    T, n = jacs.shape[0], jacs.shape[1]
    Q = start_frame(n, k).to(jacs.dtype)  # (n, k)
    total = jacs.new_zeros(k)
    for t in range(T):
        Q, R = torch.linalg.qr(jacs[t] @ Q)  # (n, k), (k, k)
        if t >= warmup:
            total = total + torch.log(torch.abs(torch.diagonal(R)))
    return total / (T - warmup)


def floss_penalty(jacs: Tensor, k: int = FLOSS_K) -> Tensor:
    """sum_i lambda_i^2 over the top min(k, n) exponents: zero when they all sit at zero, which is
    where a gradient neither vanishes nor explodes along those directions. Differentiable."""
    lam = top_exponents(jacs, min(k, jacs.shape[1]), warmup_steps(jacs.shape[0], None))
    return (lam**2).sum()
