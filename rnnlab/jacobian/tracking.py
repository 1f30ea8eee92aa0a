"""Spectral norm without an SVD per pair: warm-started block Krylov per column, for large n.

Each column keeps two vectors V, estimates of the top right singular vectors of P(t, k), and their
images Y = P V. The top right singular vectors of a forward product J_t ... J_{k+1} converge as t
grows (the right-hand factors are fixed: Oseledets), so last step's V is a good start. Per step:
Y <- J_t Y, Z = A V with A = P^T P (one pass over the buffer), and one vector carried across
columns: P(t, k) = P(t, k+s) J_{k+s} ... J_{k+1}, so w = J_{k+1}^T ... (A v)_{k+s} brings the newer
neighbour's top direction down (left vectors are the ones that agree across k). Rayleigh-Ritz on
span(V, Z, w) gives the estimate: every Ritz value of A is <= its largest eigenvalue, so it is a
lower bound on sigma_max^2, and near-degenerate tops make the vector ambiguous but not the value.

Columns whose estimate still rose by more than TOL in the step, and the newest, are refined by
block Lanczos; the EXACT_LAGS freshest columns, with no history yet, are solved exactly. A refined
column whose top two Ritz values lie within FLAT of each other has a flat top (a small Krylov space
cannot tell the leader) and is solved exactly too. Accuracy figures: docs/jacobian-engines.md.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .engine import Engine
from .products import Stack

TOL = 1e-3  # relative rise of an estimate in one step that marks a column as still moving
TRACKED = 2  # Ritz vectors tracked per column: a swap of the top pair costs nothing
EXACT_LAGS = 2  # the freshest columns get an exact eigen-solve: no warm start exists yet
KRYLOV_DIM = 24  # Krylov dimension of a refinement (blocks of TRACKED + 2)
FLAT = 0.15  # top two Ritz values of a refinement this close (relative): solve that column exactly


class TrackingEngine(Engine):
    """Rows v_1, v_2 of ``v`` (orthonormal) estimate the top two right singular vectors of P(t, k);
    ``y`` holds their images (P v_i)^T. Tracking two directions makes a swap of the top pair (a
    common way a warm start goes stale) harmless: Rayleigh-Ritz on their span picks it up.
    """

    method = "tracking"

    def __init__(self, jn: Tensor, ks: Tensor, stride: int):
        super().__init__(jn, ks, stride)
        self.jn, self.ks, self.stride = jn, ks, stride  # (T, n, n) Jn_t^T, (C,) 1-based k
        b, ncols, n = TRACKED, len(ks), jn.shape[-1]
        self.v = torch.empty(ncols, b, n, dtype=jn.dtype, device=jn.device)  # (C, b, n) Ritz vectors
        self.y = torch.empty(ncols, b, n, dtype=jn.dtype, device=jn.device)  # (C, b, n) rows (P v_i)^T
        gen = torch.Generator().manual_seed(0)
        g = torch.linalg.qr(torch.randn(n + b + 2, n + b + 2, generator=gen, dtype=torch.float64))[0]
        g = g[: b + 2, :n] / torch.linalg.vector_norm(g[: b + 2, :n], dim=1, keepdim=True)  # generic rows
        g = g.to(dtype=jn.dtype, device=jn.device)
        self.start = g[:b].contiguous()  # (b, n) new columns start here
        self.kick = g[b:].contiguous()  # (2, n) exploration for refinement

    def start_column(self, m: int) -> None:
        self.v[m] = self.start  # P = I: y = v
        self.y[m] = self.start

    def rescaled(self, idx: Tensor, factor: Tensor) -> None:
        self.y[idx] = self.y[idx] / factor[:, None, None].to(self.y.dtype)  # y = P v scales with the block

    def block_norms(self, stack: Stack, t: int) -> Tensor:
        """One block-Krylov step per column on the advanced blocks; refine the movers. (m,)

        Rayleigh-Ritz on span(v_1, v_2, A v_1, A v_2, w), A = P^T P, where w = P(t, k)^T u with u
        the top left vector of the next newer column: P(t, k) = P(t, k+s) J_{k+s} ... J_{k+1}, so
        w = J_{k+1}^T ... J_{k+s}^T (A v)_{newer}. Right vectors are warm in t, left vectors in k;
        w carries a good direction from the exactly solved fresh columns down to older ones.
        """
        m, q = stack.m, stack.blocks  # q: (m, n, n), q_k = P_k^T
        y = self.y[:m] @ self.jn[t - 1]  # (m, b, n): rows (Jn P_old v_i)^T = (P_new v_i)^T
        s_old = torch.linalg.vector_norm(y, dim=2).amax(1)  # (m,) best old vector (Ritz rows)
        z = torch.bmm(y, q.mT)  # (m, b, n): rows (A v_i)^T, first pass over the buffer
        w = from_newer_neighbour(z[:, 0], self.jn, self.ks[:m], self.stride)  # (m, n)
        basis = extend_basis(self.v[:m], torch.cat([z, w[:, None]], dim=1))  # (m, 2b+1, n) orthonormal
        images = torch.cat([y, torch.bmm(basis[:, TRACKED:], q)], dim=1)  # (m, 2b+1, n), second pass
        lam, _, v, y = ritz(basis, images, TRACKED)
        norms = torch.linalg.vector_norm(v, dim=2, keepdim=True)  # (m, b, 1) ~1: stop drift
        self.v[:m], self.y[:m] = v / norms, y / norms
        s = torch.sqrt(lam)  # (m,) lower bound on sigma_max
        moving = torch.nonzero((s - s_old > TOL * s) | (s == 0)).flatten()
        newest = torch.tensor([m - 1], device=s.device)  # lag 1 column: no warm start yet
        moving = torch.unique(torch.cat([moving, newest]))
        s[moving] = self._refine(q, moving)
        fresh = slice(max(0, m - EXACT_LAGS), m)  # no history to warm-start from: solve exactly
        s[fresh], v = exact_top(q[fresh], TRACKED)
        self.v[fresh], self.y[fresh] = v, torch.bmm(v, q[fresh])  # exact warm start for the next lag
        return s

    def _refine(self, q: Tensor, idx: Tensor) -> Tensor:
        """Block Lanczos (full reorthogonalisation) on A = P^T P for the columns idx. (len(idx),)

        The start block is the two warm vectors plus two fixed generic directions, so a top
        direction the warm start has lost still carries weight; a Krylov space of dimension
        KRYLOV_DIM costs O(dim n^2) per column, not the O(n^3) of a Gram matrix or an SVD.
        """
        qs = q[idx]  # (r, n, n) gathered copy
        amax = qs.abs().amax(dim=(1, 2))  # (r,)
        live = amax > 0  # exactly zero products keep estimate 0 -> -inf
        qs = qs / torch.where(live, amax, torch.ones_like(amax))[:, None, None]  # (r, n, n) scale-free
        start = torch.cat([self.v[idx], self.kick.expand(len(idx), -1, -1)], dim=1)  # (r, b+2, n)
        basis, images = block_krylov(qs, start, KRYLOV_DIM)  # (r, d, n) each
        lam, flat_top, v, y = ritz(basis, images, TRACKED)  # y at the amax scale
        s = torch.sqrt(lam)  # (r,)
        flat = torch.nonzero(live & flat_top).flatten()
        if len(flat):  # a flat top: the Krylov space cannot tell the leader, so solve exactly
            s[flat], v[flat] = exact_top(qs[flat], TRACKED)
            y[flat] = torch.bmm(v[flat], qs[flat])
            self.exact += len(flat)
        self.v[idx], self.y[idx] = v, y * amax[:, None, None]
        self.refined += len(idx)
        return torch.where(live, s * amax, torch.zeros_like(amax))


def from_newer_neighbour(z: Tensor, jn_all: Tensor, ks: Tensor, stride: int) -> Tensor:
    """Rows (J_{k+1}^T ... J_{k+s}^T z_{newer})^T for each column (m, n); the newest gets zeros.

    z (m, n) rows hold P(t, k)^T P(t, k) v for the active columns k = ks (1-based, ascending);
    jn_all (T, n, n) holds Jn_t^T. Columns are evenly spaced, so the factors are strided views.
    """
    m, _n = z.shape
    w = torch.zeros_like(z)  # (m, n)
    if m < 2:
        return w
    row = z[1:]  # (m-1, n): the newer neighbour of columns 0..m-2
    k0 = int(ks[0])
    for i in range(stride):  # J_{k+s}, then J_{k+s-1}, ..., then J_{k+1}
        j0 = k0 + stride - i - 1  # 0-based index of J_{k+s-i} for the oldest column
        jn = jn_all[j0 : j0 + stride * (m - 1) : stride]  # (m-1, n, n) Jn^T views
        row = torch.bmm(row[:, None, :], jn.mT)[:, 0]  # (m-1, n): row @ Jn
    w[:-1] = row / torch.linalg.vector_norm(row, dim=1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
    return w


def ritz(basis: Tensor, images: Tensor, keep: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Rayleigh-Ritz for A = P^T P on the orthonormal rows of basis (r, d, n) (zero rows allowed).

    images rows are (P b_j)^T. Returns the top Ritz value (r,) (a lower bound on sigma_max^2),
    whether the top two Ritz values lie within FLAT of each other (r,) bool (a flat top), and the
    top ``keep`` Ritz vectors (r, keep, n), largest first, with their images.
    """
    lam, vecs = torch.linalg.eigh(images @ images.mT)  # (r, d) ascending, (r, d, d)
    top = vecs[:, :, -keep:].flip(-1).mT  # (r, keep, d)
    flat = lam[:, -2] > (1.0 - FLAT) * lam[:, -1]
    return lam[:, -1].clamp_min(0), flat, top @ basis, top @ images


def extend_basis(v: Tensor, z: Tensor) -> Tensor:
    """Rows of z (r, b', n) made orthonormal to the orthonormal rows of v (r, b, n) and each other."""
    return torch.cat([v, orth_block(z, v)], dim=1)  # (r, b+b', n): v then the new directions


def exact_top(q: Tensor, keep: int) -> tuple[Tensor, Tensor]:
    """sigma_max (r,) and the top ``keep`` right singular vectors (r, keep, n) of blocks q (r, n, n).

    Float64 eigen-solve of the Gram matrices P^T P = Q Q^T (n^3 each: only for a few columns).
    """
    gram = q.to(torch.float64) @ q.to(torch.float64).mT  # (r, n, n)
    lam, vecs = torch.linalg.eigh(gram)  # (r, n) ascending, (r, n, n)
    top = vecs[:, :, -keep:].flip(-1).mT  # (r, keep, n) largest first
    return torch.sqrt(lam[:, -1].clamp_min(0)).to(q.dtype), top.to(q.dtype)


def block_krylov(qs: Tensor, start: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Orthonormal basis of span(X, A X, A^2 X, ...) (A = P^T P, X = start (r, b, n)) and images.

    Returns (basis, images), each (r, d, n) with d = min(n, dim) rounded to whole blocks; rows of
    images are (P b_j)^T. Rows that vanish (invariant subspace reached) stay zero.
    """
    n, bsz = qs.shape[1], start.shape[1]
    basis: Tensor | None = None  # (r, j, n) orthonormal rows so far
    images: list[Tensor] = []  # (r, b, n) rows (P b_j)^T per block
    x = start
    while (0 if basis is None else basis.shape[1]) + bsz <= max(min(n, dim), bsz):
        x = orth_block(x, basis)  # (r, b, n)
        basis = x if basis is None else torch.cat([basis, x], dim=1)
        images.append(torch.bmm(x, qs))  # (r, b, n) rows (P x_i)^T
        x = torch.bmm(images[-1], qs.mT)  # (r, b, n): rows (A x_i)^T
    assert basis is not None
    return basis, torch.cat(images, dim=1)  # (r, d, n) each


def orth_block(x: Tensor, done: Tensor | None) -> Tensor:
    """Rows of x (r, b, n) made orthonormal to each other and to the orthonormal rows of done.

    Block Gram-Schmidt against done, each row scaled to unit length, then Cholesky QR on the
    block's float64 Gram matrix; all of it twice (CholQR2), so the result is orthonormal to
    rounding even when the first round's rows were mostly cancellation noise, as they are once a
    Krylov space is nearly invariant. Rows that are (numerically) in the span of done or of the
    other rows come out as zero rows, which Rayleigh-Ritz ignores. Batched matmuls only.
    """
    tiny = torch.finfo(x.dtype).tiny
    eye = torch.eye(x.shape[1], dtype=torch.float64, device=x.device)  # (b, b)
    for _ in range(2):
        if done is not None:
            for _ in range(2):
                x = x - (x @ done.mT) @ done  # (r, b, n)
        nrm = torch.linalg.vector_norm(x, dim=2, keepdim=True)  # (r, b, 1)
        x = torch.where(nrm > tiny**0.5, x / nrm.clamp_min(tiny), torch.zeros_like(x))
        x64 = x.to(torch.float64)
        gram = x64 @ x64.mT  # (r, b, b), unit diagonal (or zero rows)
        chol = torch.linalg.cholesky(gram + 1e-10 * eye)  # (r, b, b)
        x = torch.linalg.solve_triangular(chol, x64, upper=False).to(x.dtype)  # (r, b, n)
        keep = torch.diagonal(chol, dim1=1, dim2=2) > 1e-4  # (r, b): row had a new direction
        x = torch.where(keep[:, :, None], x, torch.zeros_like(x))
    return x
