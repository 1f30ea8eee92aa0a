"""Compiled per-pair loops of the bracket engine (numba): the work per block is small (n^2 for a
power step on P, n^3 / 3 for a Cholesky test), so in torch it is dominated by the dispatch of many
small batched ops; here each is one loop over the blocks.

Summation order: numba may reassociate sums (fastmath 'reassoc', 'contract'), for SIMD. The
rounding bounds used (gamma_n |a| |b| for a dot product, Higham Thm 10.3 for Cholesky) hold for
any order of summation, so the proofs are unchanged.

The JIT cache goes to NUMBA_CACHE_DIR if set, else to $XDG_CACHE_HOME (or ~/.cache)/rnnlab/numba
(first call with a cold cache: 6-20 s of compilation, once per cache).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
os.environ.setdefault("NUMBA_CACHE_DIR", str(_CACHE / "rnnlab" / "numba"))  # HOME is writable in Docker

import numba  # noqa: E402  (after NUMBA_CACHE_DIR is set)
import numpy as np  # noqa: E402

FAST = {"reassoc", "contract"}  # no 'nnan' or 'ninf': a NaN pivot must still count as a failure


@numba.njit(cache=True, fastmath=FAST)
def trace_tier(q, g0, iters, gam, u_out, g_out, tr_out, lo_out, hi_out):  # pragma: no cover (compiled)
    """iters power steps on P and the trace Kato-Temple bracket, per block (bracket.trace_bracket).

    q (m, n, n) float32: the stored blocks P^T; g0 (m, n): the warm start rows. Writes the unit
    rows u, g = G u (m, n), tr G (m,) and the bracket lo, hi (m,) float64 (hi = inf: no gap).
    """
    m, n, _ = q.shape
    w = np.empty(n, dtype=np.float64)
    gb = np.empty(n, dtype=np.float64)
    for b in range(m):
        tr = 0.0
        for i in range(n):
            for j in range(n):
                tr += np.float64(q[b, i, j]) ** 2
        for j in range(n):
            gb[j] = g0[b, j]
        for _ in range(iters):
            nrm = 0.0
            for j in range(n):
                nrm += gb[j] ** 2
            nrm = math.sqrt(nrm)
            for j in range(n):
                u_out[b, j] = gb[j] / nrm if nrm > 0 else 0.0
            for i in range(n):  # w = P^T u = q u
                acc = 0.0
                for j in range(n):
                    acc += np.float64(q[b, i, j]) * u_out[b, j]
                w[i] = acc
            gb[:] = 0.0
            for i in range(n):  # g = P w = q^T w
                for j in range(n):
                    gb[j] += w[i] * q[b, i, j]
        theta = 0.0
        for j in range(n):
            theta += u_out[b, j] * gb[j]
        r2 = 0.0
        for j in range(n):
            r2 += (gb[j] - theta * u_out[b, j]) ** 2
            g_out[b, j] = gb[j]
        tr_out[b] = tr
        e = 4 * gam * tr
        resid = math.sqrt(r2) + 8 * gam * tr
        lo = theta - e
        gap = lo - (tr * (1 + gam) - lo)
        lo_out[b] = lo
        hi_out[b] = theta + e + (1 + 4 * gam) * resid * resid / gap if gap > 0 else np.inf


@numba.njit(cache=True, fastmath=FAST)
def cholesky_ok(gram, s, ok):  # pragma: no cover (compiled)
    """ok[b] = whether the float64 Cholesky of s[b] I - gram[b] runs to completion (every pivot > 0).

    gram (r, n, n) float32 or float64, s (r,) float64. Stops at the first pivot <= 0 (or NaN).
    """
    low = np.empty((gram.shape[1], gram.shape[1]), dtype=np.float64)
    for b in range(gram.shape[0]):
        ok[b] = _cholesky_one(gram[b], s[b], low)


@numba.njit(cache=True, fastmath=FAST)
def _cholesky_one(g, s, low):  # pragma: no cover (compiled)
    """Whether the float64 Cholesky of s I - g (n, n) completes; low (n, n) is scratch for the factor,
    row-major so that the inner sums are contiguous."""
    n = g.shape[0]
    for j in range(n):
        for i in range(j, n):
            acc = (s if i == j else 0.0) - np.float64(g[i, j])
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            if i == j:
                if not acc > 0.0:
                    return False
                low[j, j] = math.sqrt(acc)
            else:
                low[i, j] = acc / low[j, j]
    return True


@numba.njit(cache=True, fastmath=FAST)
def _power(g, v, iters, u, out):  # pragma: no cover (compiled)
    """iters power steps on symmetric g (n, n) from v (n,) float64: unit u (n,) and out = g u."""
    n = g.shape[0]
    out[:] = v
    for _ in range(iters):
        nrm = math.sqrt(np.sum(out * out))
        for j in range(n):
            u[j] = out[j] / nrm if nrm > 0 else 0.0
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += np.float64(g[i, j]) * u[j]
            out[i] = acc


@numba.njit(cache=True, fastmath=FAST)
def _rayleigh(u, gu, tr, gam):  # pragma: no cover (compiled)
    """(theta, e, resid): bracket._rayleigh for one vector."""
    theta = np.sum(u * gu)
    r = gu - theta * u
    return theta, 4 * gam * tr, math.sqrt(np.sum(r * r)) + 8 * gam * tr


@numba.njit(cache=True, fastmath=FAST)
def gram_tiers(
    gram, g0, tr, iters, more, gam, gam64, ratio, narrow_resid, lam, tier, g_out
):  # pragma: no cover
    """Tiers 2-4 of bracket.py for Gram matrices gram (r, n, n) float32 from warm rows g0 (r, n):
    iters power steps and the Frobenius Kato-Temple bracket; else the Cholesky test (a narrow
    bracket first where the residual says theta converged); else more steps and the test again.
    Writes lam (r,) float64 (the bracket's middle; NaN: not proven, for the eigen-solve), tier
    (r,) int (2, 3, 4; 5 not proven) and g_out = G u (r, n)."""
    r, n, _ = gram.shape
    u, gu = np.empty(n), np.empty(n)
    low = np.empty((n, n))
    for b in range(r):
        _power(gram[b], g0[b].astype(np.float64), iters, u, gu)
        theta, e, resid = _rayleigh(u, gu, tr[b], gam)
        fro2 = np.sum(gram[b].astype(np.float64) ** 2) * (1 + 4 * gam)
        lo = max(theta - e, 0.0)
        other = math.sqrt(max(fro2 - lo * lo, 0.0)) + e
        gap = lo - other
        tier[b], lam[b] = 5, np.nan
        if gap > 0:
            hi = theta + e + (1 + 4 * gam) * resid * resid / gap
            if hi <= lo * ratio:
                tier[b], lam[b] = 2, math.sqrt(lo * hi)
        for attempt in (3, 4):
            if tier[b] != 5:
                break
            if attempt == 4:
                _power(gram[b], gu.copy(), more, u, gu)
                theta, e, resid = _rayleigh(u, gu, tr[b], gam)
            lo = theta - e
            rat = ratio
            if attempt == 3 and resid - 8 * gam * tr[b] <= narrow_resid * theta and lo > 0:
                rat = min(1 + 4 * e / lo + 1e-6, ratio)
            hi = lo * rat
            s = (hi - 4 * gam * tr[b]) / (1 + (n + 2) * gam64)
            if s > lo and _cholesky_one(gram[b], s, low):
                tier[b], lam[b] = attempt, math.sqrt(lo * hi)
        for j in range(n):
            g_out[b, j] = gu[j]
