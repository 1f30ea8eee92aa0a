"""Spectral norm by proven brackets: lambda_1 = sigma_max^2 of each block's Gram matrix G = P P^T
is shut in [lo, hi] with hi / lo <= RATIO, and sigma is reported as (lo hi)^(1/4), the geometric
middle, so it is within BOUND_LOG10 = 5e-4 log10 units of the true sigma (the width is 1e-3).

Tiers, cheapest first; a block leaves at the first that proves its bracket:

1. ``power``: warm-started power steps on P itself (u <- P (P^T u): two n^2 matvecs, G is never
   formed) and Kato-Temple with the trace bound lambda_2 <= tr G - lambda_1, tr G = ||P||_F^2.
   Old products are nearly rank one: this settles most pairs.
2. ``frobenius``: G is formed for the rest, a few power steps on it, and Kato-Temple with the
   Frobenius bound lambda_2 <= sqrt(||G||_F^2 - lambda_1^2).
3. ``cholesky``: no gap needed. If the Cholesky factorisation of s I - G (in float64) runs to
   completion, s I - G is positive semidefinite up to the factorisation's backward error, so
   lambda_1 <= s (plus the margin below); with s = lo RATIO that proves the bracket whenever the
   Rayleigh quotient lo is within the ratio, flat tops included.
4. ``cholesky_more``: more power steps on G, then the Cholesky test again.
5. ``eigen``: a full eigen-solve (exact to rounding), the last resort.

Rounding, bounded and added to every bracket (u the unit roundoff, gamma = (n+2) u / (1 - (n+2) u)):
the computed G (or the matvecs with P) are within gamma tr G of the exact ones (|G_fl - P P^T| <=
gamma |P| |P^T|, whose 2-norm is at most ||P||_F^2 = tr G), which moves lambda_1, the Rayleigh
quotient and the residual by a few gamma tr G; so lo and hi are widened by 4 gamma tr G, the
residual by 8 gamma tr G. A float64 Cholesky that completes has R^T R = A + E with |E| <=
gamma64 |R^T| |R| (Higham, Thm 10.3), so lambda_min(A) >= -gamma64 tr A / (1 - gamma64) >=
-gamma64' n s: hi gets the factor 1 + (n+2) gamma64 on s. In float32 at n = 64 these margins are
at most ~5e-4 relative in lambda for a flat spectrum (tr G = n lambda_1), usually far less;
subnormal underflow is ignored (blocks are kept near norm 1). The products' own rounding is
not covered here, as in every engine: a value is proven for the computed product.

Tier 1 and tiers 2-4 run as compiled loops over the blocks (kernels.py) in float32 on CPU: in
torch the many small batched ops per step cost as much as the eigen-solves they replace. Other
devices and dtypes take the torch functions below, which do the same steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import kernels
from .engine import Engine, warm_vectors
from .products import Stack

BOUND_LOG10 = 5e-4  # proven: a certified sigma is within this of the computed product's, log10 units
RATIO = 10.0 ** (4 * BOUND_LOG10)  # accepted when hi / lo <= RATIO (lambda = sigma^2, middle reported)
P_ITERS = 2  # power steps on P per step (warm-started: the last left vector carried through J_t)
G_ITERS = 8  # power steps on G once it is formed, before the Frobenius certificate
NORM_EVERY = 4  # power steps on G / tr G between renormalisations (|v| shrinks by <= n per step)
NARROW_RESID = 1e-3  # |G u - theta u| / theta below which the first Cholesky asks for a narrow bracket
G_MORE = 12  # further power steps on G for the pairs the first Cholesky test refused
NEIGHBOUR_START = True
COMPILED = True  # use kernels.py where it applies (False: the torch path everywhere, e.g. to compare)
TIERS = ("power", "frobenius", "cholesky", "cholesky_more", "eigen")


def gamma(n: int, dtype: torch.dtype) -> float:
    """(n+2) u / (1 - (n+2) u): the relative rounding of an n-term dot product, with room to spare."""
    u = torch.finfo(dtype).eps / 2
    return (n + 2) * u / (1 - (n + 2) * u)


class BracketEngine(Engine):
    """sigma_max of every stored block within BOUND_LOG10, proven per block, or solved exactly."""

    method = "gram"  # the name exports store: G's top eigenvalue, as the precise gram engine

    def __init__(self, jn: Tensor, ks: Tensor, stride: int):
        super().__init__(jn, ks, stride)
        self.jn = jn  # (T, n, n) Jn_t^T
        n = jn.shape[-1]
        self.u, self.start = warm_vectors(jn, len(ks))  # (C, n) warm unit left vectors, (n,) fixed start
        self.gam = gamma(n, jn.dtype)
        self.tiers = dict.fromkeys(TIERS, 0)  # pairs settled by each tier (zero blocks: in exact only)

    def start_column(self, m: int) -> None:
        self.u[m] = self.u[m - 1] if m and NEIGHBOUR_START else self.start

    def block_norms(self, stack: Stack, t: int) -> Tensor:
        """sigma_max (m,) float64 of the advanced blocks."""
        q, m = stack.blocks, stack.m  # q_k = P^T (m, n, n)
        g = self.u[:m] @ self.jn[t - 1]  # (m, n) rows (J_t u)^T: the warm start
        lost = torch.linalg.vector_norm(g, dim=1) == 0  # J_t killed u (dead units): start afresh
        g = torch.where(lost[:, None], self.start, g)
        u, g, tr, lo, hi = self._tier_one(q, g)
        lam = torch.sqrt(lo * hi)  # (m,) geometric middle of the bracket
        bad = torch.nonzero(~(hi <= lo * RATIO) & (tr > 0)).flatten()  # tr G = 0: P = 0, lam = 0
        self.tiers["power"] += m - len(bad)
        solved = self.exact
        if len(bad):  # the young columns, mostly the newest: G of the tail from the first, no copy
            b0 = int(bad[0])
            lam[bad], g[bad] = self._on_gram(q[b0:], bad - b0, u[bad], g[bad], tr[bad])
        self.exact += int((tr == 0).sum())  # exactly zero products: exactly 0
        self.certified += m - (self.exact - solved)
        norm_g = torch.linalg.vector_norm(g, dim=1, keepdim=True)
        self.u[:m] = torch.where(norm_g > 0, g / norm_g.clamp_min(torch.finfo(q.dtype).tiny), u)
        return torch.sqrt(torch.where(tr > 0, lam, 0.0).clamp_min(0.0))

    def _tier_one(self, q: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Unit rows u, g = G u (m, n) after one power step on P from g, tr G, and the trace bracket
        (lo, hi) (m,) float64: compiled on CPU in float32 (kernels.py), else in torch."""
        if _compiled(q):
            m = len(g)
            u, g_out = torch.empty_like(g), torch.empty_like(g)  # (m, n)
            tr, lo, hi = (torch.empty(m, dtype=torch.float64) for _ in range(3))  # (m,)
            kernels.trace_tier(
                q.numpy(),
                g.contiguous().numpy(),
                P_ITERS,
                self.gam,
                u.numpy(),
                g_out.numpy(),
                tr.numpy(),
                lo.numpy(),
                hi.numpy(),
            )
            return u, g_out, tr, lo, hi
        tr = torch.linalg.vector_norm(q.reshape(len(q), -1), dim=1).to(torch.float64) ** 2  # (m,) ||P||_F^2
        u, g = p_steps(q, g)
        return u, g, tr, *trace_bracket(u, g, tr, self.gam)

    def _on_gram(self, tail: Tensor, sel: Tensor, u: Tensor, g: Tensor, tr: Tensor) -> tuple[Tensor, Tensor]:
        """lambda_1 (r,) float64 and the last G u (r, n) of the blocks tail[sel] that tier 1 left;
        tail (m', n, n) is a view of the newest blocks, sel (r,) indexes it."""
        gram = tail.mT @ tail if len(sel) > len(tail) // 2 else tail[sel].mT @ tail[sel]  # (m', n, n) P P^T
        if len(gram) > len(sel):
            gram = gram[sel]  # (r, n, n)
        if _compiled(gram):
            return self._gram_compiled(gram, g, tr)
        u, g = power_steps(gram, g, G_ITERS, tr)
        fro2 = torch.linalg.matrix_norm(gram).to(torch.float64) ** 2  # (r,) ||G||_F^2
        lo, hi = frobenius_bracket(u, g, fro2, tr, self.gam)
        lam = torch.sqrt(lo * hi)  # (r,)
        bad = torch.nonzero(~(hi <= lo * RATIO)).flatten()
        self.tiers["frobenius"] += len(lam) - len(bad)
        if len(bad):
            lam[bad], g[bad] = self._cholesky_tiers(gram[bad], u[bad], g[bad], tr[bad])
        return lam, g

    def _gram_compiled(self, gram: Tensor, g: Tensor, tr: Tensor) -> tuple[Tensor, Tensor]:
        """_on_gram's tiers 2-4 in one compiled loop (kernels.gram_tiers), then the eigen-solves."""
        r, n = g.shape
        lam = torch.empty(r, dtype=torch.float64)  # (r,)
        tier = torch.empty(r, dtype=torch.int64)  # (r,) 2..4: settled there, 5: not proven
        g_out = torch.empty(r, n, dtype=torch.float64)  # (r, n) G u
        gam64 = gamma(n, torch.float64)
        args = (G_ITERS, G_MORE, self.gam, gam64, RATIO, NARROW_RESID)
        kernels.gram_tiers(
            gram.numpy(), g.contiguous().numpy(), tr.numpy(), *args, lam.numpy(), tier.numpy(), g_out.numpy()
        )
        counts = torch.bincount(tier, minlength=6).tolist()
        for name, c in zip(TIERS[1:4], counts[2:5], strict=True):
            self.tiers[name] += c
        bad = torch.nonzero(tier == 5).flatten()
        if len(bad):
            lam[bad] = eigen_top(gram[bad])
            self.tiers["eigen"] += len(bad)
            self.exact += len(bad)
        return lam, g_out.to(g.dtype)

    def _cholesky_tiers(self, gram: Tensor, u: Tensor, g: Tensor, tr: Tensor) -> tuple[Tensor, Tensor]:
        """lambda_1 (r,) float64 and G u (r, n) for Gram matrices (r, n, n) no Kato-Temple bound settled:
        the Cholesky test, then more power steps and the test again, then an eigen-solve."""
        lam = torch.empty(len(gram), dtype=torch.float64, device=gram.device)  # (r,)
        theta, e, resid = _rayleigh(u, g, tr, self.gam)
        lo = theta - e  # (r,)
        # where the residual says theta has converged (exact flat tops: orthogonal products), first
        # ask for a bracket just wider than the margins: the value is then far inside the bound
        narrow = (resid - 8 * self.gam * tr <= NARROW_RESID * theta) & (lo > 0)
        ratio = torch.where(narrow, 1 + 4 * e / lo.clamp_min(1e-300) + 1e-6, RATIO).clamp_max(RATIO)
        ok, hi = cholesky_bracket(gram, lo, tr, self.gam, ratio)
        lam[ok] = torch.sqrt(lo[ok] * hi[ok])
        bad = torch.nonzero(~ok).flatten()
        self.tiers["cholesky"] += len(lam) - len(bad)
        if len(bad):
            gb, trb = gram[bad], tr[bad]  # (r', n, n), (r',)
            ub, g[bad] = power_steps(gb, g[bad], G_MORE, trb)
            lo = rayleigh_lower(ub, g[bad], trb, self.gam)
            ok, hi = cholesky_bracket(gb, lo, trb, self.gam)
            lam[bad[ok]] = torch.sqrt(lo[ok] * hi[ok])
            self.tiers["cholesky_more"] += int(ok.sum())
            bad = bad[~ok]
        if len(bad):
            lam[bad] = eigen_top(gram[bad])
            self.tiers["eigen"] += len(bad)
            self.exact += len(bad)
        return lam, g


def p_steps(q: Tensor, g: Tensor, iters: int = P_ITERS) -> tuple[Tensor, Tensor]:
    """Power steps on G = P P^T through q = P^T (r, n, n) from g (r, n): unit rows u and g = G u.

    Row vectors: (P^T u)^T = u^T q^T and (G u)^T = (P^T u)^T q, two n^2 matvecs instead of n^3.
    """
    tiny = torch.finfo(g.dtype).tiny
    u = g
    for _ in range(iters):
        u = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(tiny)
        w = torch.bmm(u[:, None, :], q.mT)  # (r, 1, n) (P^T u)^T
        g = torch.bmm(w, q)[:, 0]  # (r, n) (G u)^T
    return u, g


def power_steps(gram: Tensor, g: Tensor, iters: int, tr: Tensor) -> tuple[Tensor, Tensor]:
    """Power steps on symmetric gram (r, n, n) from g (r, n): unit rows u and g = gram u (row form,
    about twice as fast on CPU as gram @ u as a column). tr (r,) is tr G: the steps run on G / tr G,
    whose top eigenvalue is in [1/n, 1], so the vector is renormalised only every NORM_EVERY steps."""
    scaled = gram / tr[:, None, None].to(gram.dtype)  # (r, n, n)
    v = g
    for i in range(iters - 1):
        if i % NORM_EVERY == 0:
            v = _unit(v)
        v = torch.bmm(v[:, None, :], scaled)[:, 0]  # (r, n)
    u = _unit(v)
    return u, torch.bmm(u[:, None, :], gram)[:, 0]


def _unit(v: Tensor) -> Tensor:
    """Rows of v (r, n) scaled to unit length (zero rows stay zero)."""
    return v / torch.linalg.vector_norm(v, dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def _rayleigh(u: Tensor, g: Tensor, tr: Tensor, gam: float) -> tuple[Tensor, Tensor, Tensor]:
    """theta (r,) float64 (rounded), its rounding room e (r,), and a bound on |G u - theta u| (r,)."""
    theta = (u * g).sum(1).to(torch.float64)  # (r,)
    resid = torch.linalg.vector_norm(g - theta[:, None].to(g.dtype) * u, dim=1).to(torch.float64)
    return theta, 4 * gam * tr, resid + 8 * gam * tr


def rayleigh_lower(u: Tensor, g: Tensor, tr: Tensor, gam: float) -> Tensor:
    """A proven lower bound (r,) on lambda_1 of P P^T: the Rayleigh quotient less its rounding."""
    theta, e, _ = _rayleigh(u, g, tr, gam)
    return theta - e


def _kato_temple(theta: Tensor, e: Tensor, resid: Tensor, other: Tensor, gam: float) -> tuple[Tensor, Tensor]:
    """Bracket (lo, hi) from Kato-Temple, lambda_1 <= rho + |r|^2 / (rho - b), b >= lambda_2 given as
    other; hi = inf where the gap condition rho > b fails."""
    lo = theta - e
    gap = lo - other
    hi = theta + e + (1 + 4 * gam) * resid**2 / gap.clamp_min(1e-300)
    return lo, torch.where(gap > 0, hi, math.inf)


def trace_bracket(u: Tensor, g: Tensor, tr: Tensor, gam: float) -> tuple[Tensor, Tensor]:
    """(lo, hi) (r,) float64 on lambda_1 of P P^T from unit rows u and g = G u: Kato-Temple with
    lambda_2 <= tr G - lambda_1 <= tr G - lo (the eigenvalues of G are >= 0)."""
    theta, e, resid = _rayleigh(u, g, tr, gam)
    return _kato_temple(theta, e, resid, tr * (1 + gam) - (theta - e), gam)


def frobenius_bracket(u: Tensor, g: Tensor, fro2: Tensor, tr: Tensor, gam: float) -> tuple[Tensor, Tensor]:
    """(lo, hi) (r,) as trace_bracket with lambda_2 <= sqrt(||G||_F^2 - lambda_1^2), fro2 = ||G_fl||_F^2;
    G_fl's rounding (<= gamma tr G in norm) is in e, and fro2 gets a relative 4 gamma of room."""
    theta, e, resid = _rayleigh(u, g, tr, gam)
    lo = (theta - e).clamp_min(0.0)
    other = torch.sqrt((fro2 * (1 + 4 * gam) - lo**2).clamp_min(0.0)) + e
    return _kato_temple(theta, e, resid, other, gam)


def cholesky_bracket(
    gram: Tensor, lo: Tensor, tr: Tensor, gam: float, ratio: Tensor | float = RATIO
) -> tuple[Tensor, Tensor]:
    """Whether lambda_1 <= hi is proven (r,) bool, and hi (r,) float64, for Gram matrices (r, n, n)
    with the lower bounds lo (r,): hi is set to lo * ratio (<= RATIO), and s I - G_fl is tested by a
    float64 Cholesky with s chosen so that the margins (G_fl's rounding gamma tr G, the
    factorisation's backward error (n+2) gamma64 s) still fit under hi."""
    n = gram.shape[-1]
    g64 = gamma(n, torch.float64)
    hi = lo * ratio  # (r,)
    s = (hi - 4 * gam * tr) / (1 + (n + 2) * g64)  # (r,)
    if _compiled(gram):
        ok = torch.empty(len(gram), dtype=torch.bool)  # (r,)
        kernels.cholesky_ok(gram.contiguous().numpy(), s.numpy(), ok.numpy())
    else:
        a = gram.to(torch.float64).neg_()  # (r, n, n) -G, then s I - G
        a.diagonal(dim1=1, dim2=2).add_(s[:, None])
        ok = torch.linalg.cholesky_ex(a)[1] == 0
    return ok & (s > lo), hi


def _compiled(x: Tensor) -> bool:
    """Whether the compiled loops (kernels.py, float32 on CPU) take this tensor."""
    return COMPILED and x.device.type == "cpu" and x.dtype == torch.float32


def eigen_top(gram: Tensor) -> Tensor:
    """lambda_1 (r,) float64 by a full eigen-solve; float64 if the working precision's fails."""
    try:
        return torch.linalg.eigvalsh(gram)[:, -1].to(torch.float64)
    except torch.linalg.LinAlgError:
        return torch.linalg.eigvalsh(gram.to(torch.float64))[:, -1]
