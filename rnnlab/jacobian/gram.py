"""The precise gram engine (heatmap(..., precise=True), and every float64 run): spectral norm from
each block's Gram matrix G = P P^T, a certified Rayleigh quotient within 2.2e-5 log10, or exact.
The default float32 engine is bracket.py (within 5e-4 log10, 1.6-1.9x faster at T = 100, n = 64).

Per step, one batched product forms every G; a few power steps on G from a warm left vector give
theta = u^T G u <= lambda_1 = sigma_max^2. Kato-Temple turns theta into a proof: every other
eigenvalue is at most b = sqrt(||G||_F^2 - theta^2) (the squares of the others sum to
||G||_F^2 - lambda_1^2), so if theta > b,

    lambda_1 <= theta + |G u - theta u|^2 / (theta - b).

theta is accepted when that excess is <= CERT_EPS * theta: sigma_max = sqrt(theta) is then within
log10(1 + CERT_EPS) / 2 = 2.2e-5 log10 units, a proven bound, not an estimate. Pairs that do not
certify (young products with a flat top, conjugate pairs) climb a ladder of powers G^2 .. G^32,
where the same certificate sees the gap raised to the p-th power, and only then get a full
eigen-solve. So every value is exact to the rounding of the products or within the bound.
Timings that set GRAM_MAX_N and LADDER_MIN_N: docs/jacobian-engines.md.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .bracket import BOUND_LOG10
from .engine import Engine, warm_vectors
from .products import Stack

GRAM_ITERS = 3  # power steps on G per step (warm-started) before the certificate is checked
GRAM_MORE = 12  # further power steps (in rounds of GRAM_ITERS) for the columns not yet certified
CERT_EPS = 1e-4  # certified: lambda_1 - theta <= this * theta, i.e. <= 2.2e-5 log10 units in sigma
CERT_EPS_F64 = 1e-12  # the same in float64 mode, whose promise is tighter (tests: 1e-6 log10)
LADDER_TOP = 32  # highest power of G (by squaring) tried for a certificate before an eigen-solve
LADDER_MIN_N = 128  # below this n an eigen-solve is cheaper than the squarings (measured)


def cert_eps(dtype: str) -> float:
    """The relative bound on lambda_1 a certificate accepts in this working precision."""
    return CERT_EPS_F64 if dtype == "float64" else CERT_EPS


def certified_bound_log10(dtype: str = "float32", precise: bool = False) -> float:
    """The proven error bound on a certified spectral norm, in log10 units of the norm.

    The default gram engine (float32 and other working precisions below float64) is the bracket
    engine: bracket.BOUND_LOG10 = 5e-4. With ``precise`` (and always in float64) it is this
    module's Kato-Temple engine: log10(1 + CERT_EPS) / 2 = 2.2e-5 (2.2e-13 in float64).
    Provenance does not record ``precise``, so a precise float32 export's caption states 5e-4:
    looser than what was proven, never tighter.
    """
    if precise or dtype == "float64":
        return math.log10(1.0 + cert_eps(dtype)) / 2  # sigma = sqrt(lambda): half of lambda's bound
    return BOUND_LOG10


class GramEngine(Engine):
    """sigma_max of every stored block, certified (Kato-Temple, then the ladder) or solved exactly.

    The warm start is last step's left vector u carried through J_t: the top left vector of J_t P
    is near J_t u. Work is in the working precision; a float32 eigen-solve that fails to converge
    is redone in float64. Blocks are kept near norm 1, so the squares neither under- nor overflow,
    and an exactly zero block gives exactly 0.
    """

    method = "gram"

    def __init__(self, jn: Tensor, ks: Tensor, stride: int):
        super().__init__(jn, ks, stride)
        self.jn = jn  # (T, n, n) Jn_t^T
        self.u, self.start = warm_vectors(jn, len(ks))  # (C, n) warm unit left vectors, (n,) fixed start

    def start_column(self, m: int) -> None:
        self.u[m] = self.start

    def block_norms(self, stack: Stack, t: int) -> Tensor:
        """sigma_max (m,) float64 of the advanced blocks."""
        q, m = stack.blocks, stack.m  # q_k = P^T (m, n, n)
        gram = q.mT @ q  # (m, n, n) P P^T
        g = self.u[:m] @ self.jn[t - 1]  # (m, n) rows (J_t u)^T: the warm start
        lost = torch.linalg.vector_norm(g, dim=1) == 0  # J_t killed u (dead units): start afresh
        g = torch.where(lost[:, None], self.start, g)
        u, g = power_steps(gram, g)
        lam, bad = self._certified(gram, u, g)
        if len(bad):
            lam[bad] = _eigen_top(gram[bad])
        self.certified += m - len(bad)
        self.exact += len(bad)
        norm_g = torch.linalg.vector_norm(g, dim=1, keepdim=True)
        tiny = torch.finfo(q.dtype).tiny
        self.u[:m] = torch.where(norm_g > 0, g / norm_g.clamp_min(tiny), u)  # one more power step
        return torch.sqrt(lam.clamp_min(0.0))

    def _certified(self, gram: Tensor, u: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """lambda_1 (m,) float64 where certified, and the indices still uncertified.

        u, g (m, n) are updated in place for the columns that took more power steps.
        """
        fro2 = torch.linalg.matrix_norm(gram).to(torch.float64) ** 2  # (m,) ||G||_F^2, once per step
        lam, ok = certify(u, g, fro2)
        bad = torch.nonzero(~ok).flatten()
        for _ in range(GRAM_MORE // GRAM_ITERS):  # not yet certified: more power steps, on those only
            if not len(bad):
                break
            ub, vb = power_steps(gram[bad], g[bad])
            lam_b, ok_b = certify(ub, vb, fro2[bad])
            lam[bad], g[bad], u[bad] = lam_b, vb, ub
            bad = bad[~ok_b]
        if len(bad) and gram.shape[1] >= LADDER_MIN_N:  # powers of G widen the gap: certified there
            lam_b, ok_b = ladder(gram[bad], u[bad])
            lam[bad] = lam_b
            bad = bad[~ok_b]
        return lam, bad


def _eigen_top(gram: Tensor) -> Tensor:
    """lambda_1 (r,) float64 by a full eigen-solve; float64 if the working precision's fails."""
    try:
        return torch.linalg.eigvalsh(gram)[:, -1].to(torch.float64)
    except torch.linalg.LinAlgError:
        return torch.linalg.eigvalsh(gram.to(torch.float64))[:, -1]


def power_steps(mat: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """GRAM_ITERS power steps on symmetric mat (r, n, n) from g (r, n): unit rows u and g = mat u.

    The product is taken as the row vector u^T mat (mat is symmetric): about twice as fast on CPU
    as mat @ u as a column, which batched matmul handles poorly.
    """
    tiny = torch.finfo(g.dtype).tiny
    u = g
    for _ in range(GRAM_ITERS):
        u = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(tiny)
        g = torch.bmm(u[:, None, :], mat)[:, 0]  # (r, n) (mat u)^T
    return u, g


def ladder(gram: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """lambda_1 (r,) float64 of Gram matrices (r, n, n) that G itself did not certify, and which did.

    In the working precision, M = G / tr G, then M <- M^2 / tr(M^2) for p = 2, 4, ..., LADDER_TOP: M's
    eigenvalues are lambda_i^p / S_p (S_p kept in logs), so a gap of a few percent on G becomes a
    wide one on G^p, and the Kato-Temple certificate of certify holds where it failed on G. A
    bound lambda_1^p <= theta_p (1 + p eps) puts lambda_1 within (1 + p eps)^(1/p) <= 1 + eps of
    (theta_p S_p)^(1/p), the value returned. Warm start: u, the power iterate on G, then
    GRAM_ITERS power steps per level. One squaring costs about what forming G did, against
    ~20x that for an eigen-solve. Entries not certified at p = LADDER_TOP are nan.
    """
    r, eps = gram.shape[0], cert_eps(str(gram.dtype).replace("torch.", ""))
    lam = torch.full((r,), float("nan"), dtype=torch.float64, device=gram.device)
    done = torch.zeros(r, dtype=torch.bool, device=gram.device)
    tr = torch.diagonal(gram, dim1=1, dim2=2).sum(1)  # (r,) > 0 unless G = 0
    zero = tr <= 0
    lam[zero], done[zero] = 0.0, True
    idx = torch.nonzero(~zero).flatten()
    m, v, logs = gram[idx] / tr[idx, None, None], u[idx], torch.log(tr[idx].to(torch.float64))
    p = 1
    while p < LADDER_TOP and len(idx):
        m = m @ m
        s = torch.diagonal(m, dim1=1, dim2=2).sum(1)  # (r',) > 0: M is PSD and not zero
        m, logs, p = m / s[:, None, None], 2 * logs + torch.log(s.to(torch.float64)), 2 * p
        v, g = power_steps(m, torch.bmm(v[:, None, :], m)[:, 0])  # g = M v
        theta, ok = certify(v, g, torch.linalg.matrix_norm(m).to(torch.float64) ** 2, eps * p)
        lam[idx[ok]] = torch.exp((torch.log(theta[ok]) + logs[ok]) / p)
        done[idx[ok]] = True
        keep = ~ok
        idx, m, v, logs = idx[keep], m[keep], v[keep], logs[keep]
    return lam, done


def certify(u: Tensor, g: Tensor, fro2: Tensor, eps: float | None = None) -> tuple[Tensor, Tensor]:
    """Rayleigh quotient theta (r,) float64 of unit rows u (g = G u) and whether it is certified.

    Kato-Temple: every eigenvalue but the largest is at most b = sqrt(||G||_F^2 - theta^2), so if
    theta > b then lambda_1 <= theta + |G u - theta u|^2 / (theta - b); certified when that excess
    is at most CERT_EPS * theta (CERT_EPS_F64 in float64 mode). fro2 (r,) is ||G||_F^2.
    """
    theta = (u * g).sum(1).to(torch.float64)  # (r,) <= lambda_1
    resid2 = ((g - theta[:, None].to(g.dtype) * u) ** 2).sum(1).to(torch.float64)  # (r,) |r|^2
    f64 = g.dtype == torch.float64
    # room for the rounding of G in the working precision
    other = torch.sqrt((fro2 - theta**2).clamp_min(0.0) + (1e-12 if f64 else 1e-5) * fro2)
    gap = theta - other
    if eps is None:
        eps = cert_eps("float64" if f64 else "float32")
    return theta, (gap > 0) & (resid2 <= eps * gap * theta)
