"""Exact all-pairs Jacobian norms: the heatmap of log10 ||dh_t/dh_k||.

Definitions (DESIGN.md): J_t = dh_t/dh_{t-1}; for 1 <= k <= t <= T the heatmap holds
``hm[t-1, k-1] = log10 ||J_t J_{t-1} ... J_{k+1}||`` (identity on the diagonal, so 0.0 there), NaN
above the diagonal and -inf only where the product is exactly zero. Norms: ``spectral`` (largest
singular value) and ``rms`` (Frobenius / sqrt(n)).

Algorithm
---------
Write P(t, k) = J_t ... J_{k+1}. Going forward in t, every column k < t advances by the same left
factor, P(t, k) = J_t P(t-1, k), so one wide matmul per step advances all columns at once. The
products are stored transposed and stacked, Q_k = P(t, k)^T, in one contiguous (C, n, n) buffer,
and the step is ``Q[:m].view(m*n, n) @ J_t^T`` written into a second buffer of the same shape
(ping-pong: no allocation and no copy per step). Total cost is T^2 n^3 flops, all of it in one
large GEMM per step, so the engine runs near the machine's matmul rate.

Range (log space). Each J_t is divided by c_t ~ sigma_max(J_t) before use, so the stored blocks can
only shrink; the scale is kept in float64 logs: value = log10 ||stored block|| + s_k + C_t - C_k with
C_t = sum_{j<=t} log10 c_j and s_k the column's own renormalisation log. A block is rescaled to
norm 1 (and s_k updated) only when its norm leaves [lo, hi] = [tiny^0.2, max^0.2] of the working
dtype (about 1e-7.6 .. 1e7.7 in float32), which leaves room for the squares taken below. Products
far beyond the float range (rho = 5, T = 1000: 10^698) are therefore exact to rounding, and a
block is exactly zero only if the product is (dead ReLU units): that is the one source of -inf.

Precision. The products are formed in float32 by default (2-3x the float64 matmul rate here).
The error of a long product is rounding per step (~6e-8 relative) propagated by later factors;
for rms every tested entry is within 1e-4 log10 units of the float64 reference (1e-3 is 0.23 %).
``dtype=torch.float64`` is available for a slower, more exact run.

Spectral norm: two engines, ``method="gram"`` and ``method="tracking"`` ("auto" picks gram for
n <= _GRAM_MAX_N = 256 and tracking above). Gram (class _Gram): per step, every stored block's
Gram matrix G = P P^T (one batched product), three warm-started power steps on G, and a
Kato-Temple certificate for the Rayleigh quotient (up to 12 more power steps for the pairs not
yet certified). A pair whose certificate still fails (young products with a flat top, conjugate
eigenvalue pairs) climbs a ladder of powers, G^2, G^4, ..., G^32 by repeated squaring, where the
same certificate sees the gap raised to the p-th power (_ladder); only a pair that no rung
certifies gets a full batched eigen-solve of G. Every value is therefore either exact to the
rounding of the products or within a proven 2.2e-5 log10 units. The squarings are done in the
working precision, so a rung's certificate is for the computed G^p; its rounding is of the order
of the products' own (measured at T=300, H=128: every ladder value within 5e-7 log10 above the
eigen-solve's, 2.2e-5 below). The ladder took that heatmap from 7.6-8.1 s to 6.3-7.0 s (three
alternating runs each) and its eigen-solves from 3610 to 17; T=100, H=128: 1.72-1.76 s to
1.52-1.55 s. Below n = 128 (_LADDER_MIN_N) an eigen-solve is cheap enough that the ladder's
squarings lose (T=100, H=64: 0.45-0.51 s against 0.66-0.68 s; H=96 lost too), so it is not used
there. Before the ladder, measured side by
side on 2 cores (tanh, gaussian W): T=100, H=64: 0.55 s against 1.83 s for tracking; T=100,
H=128: 1.7 s against 3.1 s; T=300, H=128: 8.3 s against 16.5 s; T=100,
H=256: 9.9 s against 11.8 s. Larger n was not measured, so tracking keeps n > 256.

Tracking: the spectral norm without an SVD per pair, by warm-started block Krylov per column.
Each column keeps two vectors V (Ritz vectors for the top right singular vectors of P(t, k)) and their images
Y = P V. The top right singular vectors of a forward product J_t ... J_{k+1} converge as t grows
(the right-hand factors are fixed: Oseledets), so last step's V is a good start. Per step:
Y <- J_t Y (n^2 per column), Z = A V with A = P^T P (one pass over the buffer), plus one vector
carried across columns: P(t, k) = P(t, k+s) J_{k+s} ... J_{k+1}, so w = J_{k+1}^T ... (A v)_{k+s}
applies one left power step from the newer neighbour's top left vector (left vectors are the ones
that agree across k). Rayleigh-Ritz on the orthonormalised span(V, Z, w) (images of the new
directions: the second pass) gives the estimate. Every Ritz value of A on a subspace is <= its
largest eigenvalue, so each estimate is a lower bound on sigma_max^2, exact up to
sum_i w_i (s_1^2 - s_i^2) for the weights w_i the subspace misses; near-degenerate top values
(orthogonal W) make the vector ambiguous but the value exact. Columns whose estimate still rose by
more than ``tol`` (relative) in this step, and the newest column, are refined by block Lanczos with
full reorthogonalisation (dimension 24, starting from V plus two generic directions) on a gathered
copy; the _EXACT_LAGS freshest columns, which have no history to warm-start from, are solved
exactly (float64 eigen-solve of the Gram matrix) and hand exact vectors to the next lag. A refined
column whose top two Ritz values lie within _FLAT (15 %) of each other has a flat top: a small
Krylov space cannot tell which of many nearly equal directions leads, so that column is solved
exactly too (``HeatmapResult.exact`` counts these).

Accuracy (tests/test_jacobian.py compares every entry with the float64 SVD reference): all four
activations, gaussian and orthogonal W, rho 0.5..1.5, leak 0 and 0.3, hidden sizes up to 64 and
T up to 300: typically < 1e-4 log10 units, always < 1e-3 in the test matrix. The hard case is a
flat top: orthogonal W with small preactivations (J_t = diag(f') Q, f' nearly constant), whose
products keep many singular values within a few percent for tens of lags. Before the _FLAT rule,
sigmoid at H = 64 came out 2e-3 .. 9e-3 low at lags 3-11; with it, < 2e-4 (a scan of 14 such
cases at H = 64 and 16 cases at H = 64 and 128 all stayed below 2e-4).

Also here: one-step Jacobians of the vanilla cell in closed form, a generic autograd route for
the gru/lstm state maps, the temporal gradient profile by vector-Jacobian products, and the slow
float64 oracle ``reference_heatmap``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import activations

NORMS = ("spectral", "rms")
SPECTRAL_METHODS = ("auto", "gram", "tracking")

_SPECTRAL_TOL = 1e-3  # relative rise of an estimate in one step that marks a column as still moving
_TRACKED = 2  # Ritz vectors tracked per column: a swap of the top pair costs nothing
_EXACT_LAGS = 2  # the freshest columns get an exact eigen-solve: no warm start exists yet
_KRYLOV_DIM = 24  # Krylov dimension of a refinement (blocks of _TRACKED + 2)
_GRAM_ITERS = 3  # power steps on G per step (warm-started) before the certificate is checked
_GRAM_MORE = 12  # further power steps (in rounds of _GRAM_ITERS) for the columns not yet certified
_CERT_EPS = 1e-4  # certified: lambda_1 - theta <= this * theta, i.e. <= 2.2e-5 log10 units in sigma
_CERT_EPS_F64 = 1e-12  # the same in float64 mode, whose promise is tighter (tests: 1e-6 log10)
_LADDER_TOP = 32  # highest power of G (by squaring) tried for a certificate before an eigen-solve
_LADDER_MIN_N = 128  # the ladder pays from here (measured: 12-15 % faster at n=128, slower at 64, 96)
_GRAM_MAX_N = 256  # method="auto" uses the gram engine up to this n (measured: faster there)
_FLAT = 0.15  # top two Ritz values of a refinement this close (relative): solve that column exactly
_PROGRESS_EVERY = 0.01  # fraction of the work between progress() calls


# ----------------------------------------------------------------------------- one-step Jacobians


def rnn_step_jacobians(W_hh: Tensor, a: Tensor, act: str, leak: float) -> Tensor:
    """J_t = leak*I + (1-leak)*diag(f'(a_t)) W_hh for every step: (T, H, H) from a (T, H)."""
    if W_hh.dim() != 2 or W_hh.shape[0] != W_hh.shape[1]:
        raise ValueError(f"W_hh must be square (H, H), got {tuple(W_hh.shape)}")
    if a.dim() != 2 or a.shape[1] != W_hh.shape[0]:
        raise ValueError(f"a must be (T, {W_hh.shape[0]}), got {tuple(a.shape)}")
    if not 0.0 <= leak < 1.0:
        raise ValueError(f"leak must be in [0, 1), got {leak}")
    d = activations.get(act).slope(a)  # (T, H) f'(a_t)
    jacs = (1.0 - leak) * d[:, :, None] * W_hh[None]  # (T, H, H): row i scaled by f'(a_t,i)
    if leak:
        jacs = jacs + leak * torch.eye(W_hh.shape[0], dtype=jacs.dtype, device=jacs.device)
    return jacs


def state_map_jacobians(step_fn: Callable[[Tensor, Tensor], Tensor], states: Tensor, xs: Tensor) -> Tensor:
    """J_t = d step_fn(s_{t-1}, x_t) / d s_{t-1} for t = 1..T: (T, n, n).

    ``step_fn(s_prev (n,), x (I,)) -> s (n,)`` is unbatched; ``states[t-1] = s_{t-1}`` (the state
    before step t) and ``xs[t-1] = x_t``. Used for gru and for lstm with the state [h; c].
    """
    if states.dim() != 2 or xs.dim() != 2 or states.shape[0] != xs.shape[0]:
        raise ValueError(
            f"states (T, n) and xs (T, I) must share T, got {tuple(states.shape)} and {tuple(xs.shape)}"
        )
    return torch.func.vmap(torch.func.jacrev(step_fn, argnums=0))(states, xs)  # (T, n, n)


# ----------------------------------------------------------------------------- heatmap


@dataclass
class HeatmapResult:
    """Heatmap of log10 ||dh_t/dh_k||: ``values[t-1, k-1]`` (float64, (T, T)).

    Columns k not in ``cols`` (under a stride) are NaN, as are rows not reached when cancelled
    (``complete`` False) and everything above the diagonal.
    """

    values: np.ndarray  # (T, T) float64
    cols: np.ndarray  # (C,) int64, the 1-based k computed
    norm: str
    stride: int
    complete: bool
    rows_done: int  # rows t = 1..rows_done are filled
    dtype: str  # working precision of the products
    refined: int = 0  # spectral diagnostics: column-steps refined by block Lanczos
    exact: int = 0  # spectral: pairs solved by a full eigen-solve (gram: uncertified; tracking: flat tops)
    certified: int = 0  # spectral, gram: pairs whose Rayleigh quotient carried a proven error bound
    method: str = "gram"  # how the norms were found: "gram", "tracking" (spectral) or "frobenius" (rms)


def _resolve_device(device, jacs: Tensor) -> torch.device:
    if device is None:
        return jacs.device
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; use device='cpu' or None"
        )
    return dev


def _resolve_stride(T: int, stride: int, max_size: int | None) -> int:
    """stride, raised to ceil(T / max_size) when T > max_size (so at most max_size columns)."""
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride}")
    if max_size is not None:
        if int(max_size) != max_size or max_size < 1:
            raise ValueError(f"max_size must be an integer >= 1 or None, got {max_size}")
        if T > max_size:
            stride = max(int(stride), math.ceil(T / max_size))
    return int(stride)


def _check_jacs(jacs: Tensor) -> tuple[int, int]:
    if not isinstance(jacs, Tensor):
        raise TypeError(f"jacs must be a torch.Tensor, got {type(jacs).__name__}")
    if jacs.dim() != 3 or jacs.shape[1] != jacs.shape[2] or jacs.shape[0] < 1:
        raise ValueError(f"jacs must be (T, n, n) with T >= 1, got {tuple(jacs.shape)}")
    if not torch.isfinite(jacs).all():
        raise ValueError("jacs contains non-finite values (inf or NaN); the heatmap is undefined")
    return jacs.shape[0], jacs.shape[1]


def _step_scales(j64: Tensor, iters: int = 8) -> Tensor:
    """c_t ~ sigma_max(J_t) (T,) float64, > 0; any positive value is exact (it is summed in logs)."""
    T, n, _ = j64.shape
    fro = torch.linalg.matrix_norm(j64)  # (T,)
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(n, generator=gen, dtype=torch.float64).to(j64.device).expand(T, n)  # (T, n)
    for _ in range(iters):  # power iteration on J^T J, all steps at once
        w = torch.linalg.vecdot(j64, v[:, None, :])  # (T, n) = J v
        v = torch.linalg.vecdot(j64.mT, w[:, None, :])  # (T, n) = J^T J v
        v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True).clamp_min(1e-300)
    est = torch.linalg.vector_norm(torch.linalg.vecdot(j64, v[:, None, :]), dim=1)  # (T,)
    est = torch.maximum(est, fro / math.sqrt(n))  # sigma_max >= Fro/sqrt(n): never a tiny scale
    return torch.where(est > 0, est, torch.ones_like(est))  # J_t = 0: any scale, product stays 0


class _Stack:
    """Renormalised products of the active columns, stored transposed: Q_k = P(t, k)^T / scale_k."""

    def __init__(self, ncols: int, n: int, dtype: torch.dtype, device: torch.device):
        self.n, self.m = n, 0
        self.bufs = [torch.empty(ncols, n, n, dtype=dtype, device=device) for _ in range(2)]  # (C, n, n) x2
        self.cur = 0
        self.log_scale = torch.zeros(ncols, dtype=torch.float64, device=device)  # (C,) s_k
        self.eye = torch.eye(n, dtype=dtype, device=device)  # (n, n)
        info = torch.finfo(dtype)
        self.lo, self.hi = info.tiny**0.2, info.max**0.2  # squares of squares stay in range

    @property
    def blocks(self) -> Tensor:
        return self.bufs[self.cur][: self.m]  # (m, n, n)

    def append_identity(self) -> None:
        self.bufs[self.cur][self.m].copy_(self.eye)  # P(k, k) = I
        self.m += 1

    def advance(self, jn_t: Tensor) -> None:
        """Q_k <- Q_k @ Jn^T for all active k in one GEMM into the other buffer."""
        src = self.bufs[self.cur][: self.m].view(self.m * self.n, self.n)  # (m*n, n)
        dst = self.bufs[1 - self.cur][: self.m].view(self.m * self.n, self.n)  # (m*n, n)
        torch.matmul(src, jn_t, out=dst)
        self.cur = 1 - self.cur

    def rescale(self, idx: Tensor, factor: Tensor) -> None:
        """Divide blocks idx by factor (> 0) and book the factor into their log scale."""
        q = self.bufs[self.cur]
        q[idx] = q[idx] / factor[:, None, None].to(q.dtype)  # (len(idx), n, n)
        self.log_scale[idx] += torch.log10(factor.to(torch.float64))

    def out_of_range(self, scale: Tensor) -> Tensor:
        """Indices of non-zero blocks whose scale left [lo, hi]."""
        return torch.nonzero((scale > 0) & ((scale < self.lo) | (scale > self.hi))).flatten()


def _rms_norms(stack: _Stack) -> Tensor:
    """Frobenius / sqrt(n) of every stored block (m,), exact zeros only for zero blocks."""
    est = torch.linalg.matrix_norm(stack.blocks) / math.sqrt(stack.n)  # (m,)
    zero = torch.nonzero(est == 0).flatten()
    if len(zero):  # sum of squares may underflow: rescale by max-abs and recompute
        amax = stack.blocks[zero].abs().amax(dim=(1, 2))  # (z,)
        live = zero[amax > 0]
        if len(live):
            stack.rescale(live, amax[amax > 0])
            est[live] = torch.linalg.matrix_norm(stack.blocks[live]) / math.sqrt(stack.n)
    return est


def _from_newer_neighbour(z: Tensor, jn_all: Tensor, ks: Tensor, stride: int) -> Tensor:
    """Rows (J_{k+1}^T ... J_{k+s}^T z_{newer})^T for each column (m, n); the newest gets zeros.

    z (m, n) rows hold P(t, k)^T P(t, k) v for the active columns k = ks (1-based, ascending);
    jn_all (T, n, n) holds Jn_t^T. Columns are evenly spaced, so the factors are strided views.
    """
    m, n = z.shape
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


def _ritz(basis: Tensor, images: Tensor, keep: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Rayleigh-Ritz for A = P^T P on the orthonormal rows of basis (r, d, n) (zero rows allowed).

    images rows are (P b_j)^T. Returns the top Ritz value (r,) (a lower bound on sigma_max^2),
    whether the top two Ritz values lie within _FLAT of each other (r,) bool (a flat top), and the
    top ``keep`` Ritz vectors (r, keep, n), largest first, with their images.
    """
    lam, vecs = torch.linalg.eigh(images @ images.mT)  # (r, d) ascending, (r, d, d)
    top = vecs[:, :, -keep:].flip(-1).mT  # (r, keep, d)
    flat = lam[:, -2] > (1.0 - _FLAT) * lam[:, -1]
    return lam[:, -1].clamp_min(0), flat, top @ basis, top @ images


def _extend_basis(v: Tensor, z: Tensor) -> Tensor:
    """Rows of z (r, b', n) made orthonormal to the orthonormal rows of v (r, b, n) and each other."""
    return torch.cat([v, _orth_block(z, v)], dim=1)  # (r, b+b', n): v then the new directions


class _Power:
    """Warm-started block Krylov per column for sigma_max of the stored blocks (module docstring).

    Rows v_1, v_2 of ``v`` (orthonormal) estimate the top two right singular vectors of P(t, k);
    ``y`` holds their images (P v_i)^T. Tracking two directions makes a swap of the top pair (a
    common way a warm start goes stale) harmless: Rayleigh-Ritz on their span picks it up.
    """

    def __init__(self, ncols: int, n: int, dtype: torch.dtype, device: torch.device):
        b = _TRACKED
        self.v = torch.empty(ncols, b, n, dtype=dtype, device=device)  # (C, b, n) Ritz vectors
        self.y = torch.empty(ncols, b, n, dtype=dtype, device=device)  # (C, b, n) rows (P v_i)^T
        gen = torch.Generator().manual_seed(0)
        g = torch.linalg.qr(torch.randn(n + b + 2, n + b + 2, generator=gen, dtype=torch.float64))[0]
        g = g[: b + 2, :n] / torch.linalg.vector_norm(g[: b + 2, :n], dim=1, keepdim=True)  # generic rows
        self.start = g[:b].to(dtype=dtype, device=device).contiguous()  # (b, n) new columns start here
        self.kick = g[b:].to(dtype=dtype, device=device).contiguous()  # (2, n) exploration for refinement
        self.tol = _SPECTRAL_TOL
        self.refined = 0
        self.exact = 0

    def append(self, m: int) -> None:
        self.v[m] = self.start  # P = I: y = v
        self.y[m] = self.start

    def estimate(self, stack: _Stack, jn_t: Tensor, jn_all: Tensor, ks: Tensor, stride: int) -> Tensor:
        """One block-Krylov step per column on the advanced blocks; refine the movers. (m,)

        Rayleigh-Ritz on span(v_1, v_2, A v_1, A v_2, w), A = P^T P, where w = P(t, k)^T u with u
        the top left vector of the next newer column: P(t, k) = P(t, k+s) J_{k+s} ... J_{k+1}, so
        w = J_{k+1}^T ... J_{k+s}^T (A v)_{newer}. Right vectors are warm in t, left vectors in k;
        w carries a good direction from the exactly solved fresh columns down to older ones.
        """
        m, q = stack.m, stack.blocks  # q: (m, n, n), q_k = P_k^T
        y = self.y[:m] @ jn_t  # (m, b, n): rows (Jn P_old v_i)^T = (P_new v_i)^T
        s_old = torch.linalg.vector_norm(y, dim=2).amax(1)  # (m,) best old vector (Ritz rows)
        z = torch.bmm(y, q.mT)  # (m, b, n): rows (A v_i)^T, first pass over the buffer
        w = _from_newer_neighbour(z[:, 0], jn_all, ks[:m], stride)  # (m, n)
        basis = _extend_basis(self.v[:m], torch.cat([z, w[:, None]], dim=1))  # (m, 2b+1, n) orthonormal
        images = torch.cat([y, torch.bmm(basis[:, _TRACKED:], q)], dim=1)  # (m, 2b+1, n), second pass
        lam, _, v, y = _ritz(basis, images, _TRACKED)
        norms = torch.linalg.vector_norm(v, dim=2, keepdim=True)  # (m, b, 1) ~1: stop drift
        self.v[:m], self.y[:m] = v / norms, y / norms
        s = torch.sqrt(lam)  # (m,) lower bound on sigma_max
        moving = torch.nonzero((s - s_old > self.tol * s) | (s == 0)).flatten()
        newest = torch.tensor([m - 1], device=s.device)  # lag 1 column: no warm start yet
        moving = torch.unique(torch.cat([moving, newest]))
        s[moving] = self._refine(q, moving)
        fresh = slice(max(0, m - _EXACT_LAGS), m)  # no history to warm-start from: solve exactly
        s[fresh], v = _exact_top(q[fresh], _TRACKED)
        self.v[fresh], self.y[fresh] = v, torch.bmm(v, q[fresh])  # exact warm start for the next lag
        return s

    def _refine(self, q: Tensor, idx: Tensor) -> Tensor:
        """Block Lanczos (full reorthogonalisation) on A = P^T P for the columns idx. (len(idx),)

        The start block is the two warm vectors plus two fixed generic directions, so a top
        direction the warm start has lost still carries weight; a Krylov space of dimension
        _KRYLOV_DIM costs O(dim n^2) per column, not the O(n^3) of a Gram matrix or an SVD.
        """
        qs = q[idx]  # (r, n, n) gathered copy
        amax = qs.abs().amax(dim=(1, 2))  # (r,)
        live = amax > 0  # exactly zero products keep estimate 0 -> -inf
        qs = qs / torch.where(live, amax, torch.ones_like(amax))[:, None, None]  # (r, n, n) scale-free
        start = torch.cat([self.v[idx], self.kick.expand(len(idx), -1, -1)], dim=1)  # (r, b+2, n)
        basis, images = _block_krylov(qs, start, _KRYLOV_DIM)  # (r, d, n) each
        lam, flat_top, v, y = _ritz(basis, images, _TRACKED)  # y at the amax scale
        s = torch.sqrt(lam)  # (r,)
        flat = torch.nonzero(live & flat_top).flatten()
        if len(flat):  # a flat top: the Krylov space cannot tell the leader, so solve exactly
            s[flat], v[flat] = _exact_top(qs[flat], _TRACKED)
            y[flat] = torch.bmm(v[flat], qs[flat])
            self.exact += len(flat)
        self.v[idx], self.y[idx] = v, y * amax[:, None, None]
        self.refined += len(idx)
        return torch.where(live, s * amax, torch.zeros_like(amax))


def _exact_top(q: Tensor, keep: int) -> tuple[Tensor, Tensor]:
    """sigma_max (r,) and the top ``keep`` right singular vectors (r, keep, n) of blocks q (r, n, n).

    Float64 eigen-solve of the Gram matrices P^T P = Q Q^T (n^3 each: only for a few columns).
    """
    gram = q.to(torch.float64) @ q.to(torch.float64).mT  # (r, n, n)
    lam, vecs = torch.linalg.eigh(gram)  # (r, n) ascending, (r, n, n)
    top = vecs[:, :, -keep:].flip(-1).mT  # (r, keep, n) largest first
    return torch.sqrt(lam[:, -1].clamp_min(0)).to(q.dtype), top.to(q.dtype)


def _block_krylov(qs: Tensor, start: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Orthonormal basis of span(X, A X, A^2 X, ...) (A = P^T P, X = start (r, b, n)) and images.

    Returns (basis, images), each (r, d, n) with d = min(n, dim) rounded to whole blocks; rows of
    images are (P b_j)^T. Rows that vanish (invariant subspace reached) stay zero.
    """
    n, bsz = qs.shape[1], start.shape[1]
    basis: Tensor | None = None  # (r, j, n) orthonormal rows so far
    images: list[Tensor] = []  # (r, b, n) rows (P b_j)^T per block
    x = start
    while (0 if basis is None else basis.shape[1]) + bsz <= max(min(n, dim), bsz):
        x = _orth_block(x, basis)  # (r, b, n)
        basis = x if basis is None else torch.cat([basis, x], dim=1)
        images.append(torch.bmm(x, qs))  # (r, b, n) rows (P x_i)^T
        x = torch.bmm(images[-1], qs.mT)  # (r, b, n): rows (A x_i)^T
    assert basis is not None
    return basis, torch.cat(images, dim=1)  # (r, d, n) each


def _orth_block(x: Tensor, done: Tensor | None) -> Tensor:
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


def _normalised_steps(jacs: Tensor, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """(Jn_t^T (T, n, n) in dtype on device, C (T+1,) float64 cumulative log10 c_t with C_0 = 0)."""
    j64 = jacs.to(device=device, dtype=torch.float64)  # (T, n, n)
    c = _step_scales(j64)  # (T,)
    jn_t = (j64 / c[:, None, None]).mT.to(dtype).contiguous()  # (T, n, n) transposed for Q @ Jn^T
    cum = torch.cat([torch.zeros(1, dtype=torch.float64, device=device), torch.cumsum(torch.log10(c), 0)])
    return jn_t, cum  # (T, n, n), (T+1,)


def _cert_eps(dtype: str) -> float:
    """The relative bound on lambda_1 a certificate accepts in this working precision."""
    return _CERT_EPS_F64 if dtype == "float64" else _CERT_EPS


def certified_bound_log10(dtype: str = "float32") -> float:
    """The gram engine's proven error bound on an accepted value, in log10 units of the norm."""
    return math.log10(1.0 + _cert_eps(dtype)) / 2  # sigma = sqrt(lambda): half of lambda's bound


def spectral_engine(n: int, method: str = "auto") -> str:
    """The engine ("gram" or "tracking") that heatmap's spectral norm uses for state size n."""
    if method not in SPECTRAL_METHODS:
        raise ValueError(f"method must be one of {SPECTRAL_METHODS}, got {method!r}")
    if method == "auto":
        return "gram" if n <= _GRAM_MAX_N else "tracking"
    return method


@torch.no_grad()
def heatmap(
    jacs: Tensor,
    norm: str = "spectral",
    stride: int = 1,
    max_size: int | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device=None,
    *,
    dtype: torch.dtype = torch.float32,
    method: str = "auto",
) -> HeatmapResult:
    """All-pairs log10 ||J_t ... J_{k+1}|| for jacs (T, n, n) with jacs[t-1] = J_t.

    stride s computes columns k = 1, 1+s, 1+2s, ... (every row t); if ``max_size`` is given and
    T > max_size, the stride becomes max(stride, ceil(T / max_size)), so at most max_size columns.
    ``progress(fraction)`` is called about every 1 % of the work and with 1.0 at the end;
    ``should_stop()`` is polled every step and returning True ends the run early with
    ``complete=False`` (rows done so far are filled). ``device`` None (jacs' device), "cpu" or
    "cuda"; asking for CUDA where there is none raises ValueError. ``dtype`` is the working
    precision of the products (float32 default; accuracy is argued in the module docstring).
    ``method`` picks how the spectral norm of each product is found: "gram" (an exact
    eigen-solve of every product's Gram matrix, or a certified Rayleigh quotient within 2.2e-5 log10
    units), "tracking" (warm-started Rayleigh-Ritz, module docstring) or "auto" (gram up to
    n = _GRAM_MAX_N, where it is also the faster of the two).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    T, n = _check_jacs(jacs)
    method = spectral_engine(n, method)
    stride = _resolve_stride(T, stride, max_size)
    dev = _resolve_device(device, jacs)
    cols = np.arange(1, T + 1, stride, dtype=np.int64)  # (C,) 1-based k
    jn_t, cum = _normalised_steps(jacs, dtype, dev)
    stack = _Stack(len(cols), n, dtype, dev)
    power = _Power(len(cols), n, dtype, dev) if norm == "spectral" and method == "tracking" else None
    gram = _Gram(len(cols), n, dtype, dev) if norm == "spectral" and method == "gram" else None
    rows = torch.full((T, len(cols)), float("nan"), dtype=torch.float64, device=dev)  # (T, C)
    ks = torch.as_tensor(cols, device=dev)  # (C,)
    work_total, work_done, reported = _work_total(cols, T), 0, 0.0
    rows_done, complete = 0, True
    for t in range(1, T + 1):
        if should_stop is not None and should_stop():
            complete = False
            break
        if stack.m < len(cols) and cols[stack.m] == t - 1:  # column k = t-1 enters as P(t-1, t-1) = I
            if power is not None:
                power.append(stack.m)
            if gram is not None:
                gram.append(stack.m)
            stack.append_identity()
        if stack.m:
            rows[t - 1, : stack.m] = _advance_row(
                stack, power, jn_t, t, cum[t] - cum[ks[: stack.m]], ks, stride, gram
            )
        if stack.m < len(cols) and cols[stack.m] == t:
            rows[t - 1, stack.m] = 0.0  # diagonal: identity
        rows_done = t
        work_done += stack.m + 1
        if progress is not None and work_done / work_total - reported >= _PROGRESS_EVERY:
            reported = work_done / work_total
            progress(min(reported, 1.0))
    if progress is not None and complete:
        progress(1.0)
    return _result(rows, cols, T, norm, stride, complete, rows_done, dtype, power, method, gram)


def _work_total(cols: np.ndarray, T: int) -> int:
    """Sum over steps of (active columns + 1): the denominator of progress()."""
    return int(np.sum(T - cols + 1)) + T


def _advance_row(
    stack: _Stack,
    power: _Power | None,
    jn_all: Tensor,
    t: int,
    log_c: Tensor,
    ks: Tensor,
    stride: int,
    gram: _Gram | None = None,
) -> Tensor:
    """Advance every active column by J_t; returns their log10 norms (m,) float64."""
    stack.advance(jn_all[t - 1])
    if gram is not None:
        est = gram.estimate(stack, jn_all[t - 1])
    elif power is None:
        est = _rms_norms(stack)
    else:
        est = power.estimate(stack, jn_all[t - 1], jn_all, ks, stride)  # (m,)
    row = torch.log10(est.to(torch.float64)) + stack.log_scale[: stack.m] + log_c  # (m,) -inf iff zero
    far = stack.out_of_range(est)
    if len(far):  # keep blocks near norm 1: exact to rounding whatever the true scale
        stack.rescale(far, est[far])
        if power is not None:
            power.y[far] = power.y[far] / est[far, None, None].to(
                power.y.dtype
            )  # y = P v scales with the block
    return row


class _Gram:
    """sigma_max of every stored block from its Gram matrix G = P P^T: certified or solved exactly.

    Per step and column: G (one batched product), _GRAM_ITERS power steps on G from a warm left
    vector u (last step's, carried through J_t, since the top left vector of J_t P is near J_t u),
    then the Rayleigh quotient theta = u^T G u <= lambda_1 and the residual r = G u - theta u.
    Columns not certified after that get up to _GRAM_MORE further power steps (on those only).
    Certificate (Kato-Temple): every other eigenvalue is at most b = sqrt(||G||_F^2 - theta^2)
    (the squares of the others sum to ||G||_F^2 - lambda_1^2), so if theta > b then
    lambda_1 <= theta + |r|^2 / (theta - b). When that excess is <= _CERT_EPS * theta, theta is
    accepted: sigma_max = sqrt(theta) within 2.2e-5 log10 units, a proven bound, not an estimate.
    Columns that fail (young products with a flat top, mostly) try the certificate on G^2 .. G^32
    (_ladder, for n >= _LADDER_MIN_N) and only then get the full eigen-solve of G.
    The work is in the working precision; a float32 eigen-solve that fails to converge is redone
    in float64. Blocks are kept near norm 1, so the squares neither under- nor overflow, and an
    exactly zero block gives exactly 0 (-inf in the heatmap).
    """

    def __init__(self, ncols: int, n: int, dtype: torch.dtype, device: torch.device):
        self.u = torch.empty(ncols, n, dtype=dtype, device=device)  # (C, n) warm unit left vectors
        gen = torch.Generator().manual_seed(0)
        start = torch.randn(n, generator=gen, dtype=torch.float64)
        self.start = (start / torch.linalg.vector_norm(start)).to(dtype=dtype, device=device)  # (n,)
        self.certified = 0
        self.solved = 0

    def append(self, m: int) -> None:
        self.u[m] = self.start

    def estimate(self, stack: _Stack, jn_t: Tensor) -> Tensor:
        """sigma_max (m,) float64 of the advanced blocks; jn_t (n, n) is Jn_t^T."""
        q, m = stack.blocks, stack.m  # q_k = P^T (m, n, n)
        tiny = torch.finfo(q.dtype).tiny
        gram = q.mT @ q  # (m, n, n) P P^T
        g = self.u[:m] @ jn_t  # (m, n) rows (J_t u)^T: the warm start
        lost = torch.linalg.vector_norm(g, dim=1) == 0  # J_t killed u (dead units): start afresh
        g = torch.where(lost[:, None], self.start, g)
        u, g = _power_steps(gram, g)
        fro2 = torch.linalg.matrix_norm(gram).to(torch.float64) ** 2  # (m,) ||G||_F^2, once per step
        lam, ok = _certify(u, g, fro2)
        bad = torch.nonzero(~ok).flatten()
        for _ in range(_GRAM_MORE // _GRAM_ITERS):  # not yet certified: more power steps, on those only
            if not len(bad):
                break
            ub, vb = _power_steps(gram[bad], g[bad])
            lam_b, ok_b = _certify(ub, vb, fro2[bad])
            lam[bad], g[bad], u[bad] = lam_b, vb, ub
            bad = bad[~ok_b]
        if len(bad) and q.shape[1] >= _LADDER_MIN_N:  # powers of G widen the gap: certified there
            lam_b, ok_b = _ladder(gram[bad], u[bad])
            lam[bad] = lam_b
            bad = bad[~ok_b]
        if len(bad):
            try:
                lam[bad] = torch.linalg.eigvalsh(gram[bad])[:, -1].to(torch.float64)
            except torch.linalg.LinAlgError:
                lam[bad] = torch.linalg.eigvalsh(gram[bad].to(torch.float64))[:, -1]
        self.certified += m - len(bad)
        self.solved += len(bad)
        norm_g = torch.linalg.vector_norm(g, dim=1, keepdim=True)
        self.u[:m] = torch.where(norm_g > 0, g / norm_g.clamp_min(tiny), u)  # one more power step
        return torch.sqrt(lam.clamp_min(0.0))


def _power_steps(mat: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """_GRAM_ITERS power steps on symmetric mat (r, n, n) from g (r, n): unit rows u and g = mat u.

    The product is taken as the row vector u^T mat (mat is symmetric): about twice as fast on CPU
    as mat @ u as a column, which batched matmul handles poorly.
    """
    tiny = torch.finfo(g.dtype).tiny
    u = g
    for _ in range(_GRAM_ITERS):
        u = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(tiny)
        g = torch.bmm(u[:, None, :], mat)[:, 0]  # (r, n) (mat u)^T
    return u, g


def _ladder(gram: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """lambda_1 (r,) float64 of Gram matrices (r, n, n) that G itself did not certify, and which did.

    In the working precision, M = G / tr G, then M <- M^2 / tr(M^2) for p = 2, 4, ..., _LADDER_TOP: M's
    eigenvalues are lambda_i^p / S_p (S_p kept in logs), so a gap of a few percent on G becomes a
    wide one on G^p, and the Kato-Temple certificate of _certify holds where it failed on G. A
    bound lambda_1^p <= theta_p (1 + p eps) puts lambda_1 within (1 + p eps)^(1/p) <= 1 + eps of
    (theta_p S_p)^(1/p), the value returned. Warm start: u, the power iterate on G, then
    _GRAM_ITERS power steps per level. One squaring costs about what forming G did, against
    ~20x that for an eigen-solve. Entries not certified at p = _LADDER_TOP are nan.
    """
    r, eps = gram.shape[0], _cert_eps(str(gram.dtype).replace("torch.", ""))
    lam = torch.full((r,), float("nan"), dtype=torch.float64, device=gram.device)
    done = torch.zeros(r, dtype=torch.bool, device=gram.device)
    tr = torch.diagonal(gram, dim1=1, dim2=2).sum(1)  # (r,) > 0 unless G = 0
    zero = tr <= 0
    lam[zero], done[zero] = 0.0, True
    idx = torch.nonzero(~zero).flatten()
    m, v, logs = gram[idx] / tr[idx, None, None], u[idx], torch.log(tr[idx].to(torch.float64))
    p = 1
    while p < _LADDER_TOP and len(idx):
        m = m @ m
        s = torch.diagonal(m, dim1=1, dim2=2).sum(1)  # (r',) > 0: M is PSD and not zero
        m, logs, p = m / s[:, None, None], 2 * logs + torch.log(s.to(torch.float64)), 2 * p
        v, g = _power_steps(m, torch.bmm(v[:, None, :], m)[:, 0])  # g = M v
        theta, ok = _certify(v, g, torch.linalg.matrix_norm(m).to(torch.float64) ** 2, eps * p)
        lam[idx[ok]] = torch.exp((torch.log(theta[ok]) + logs[ok]) / p)
        done[idx[ok]] = True
        keep = ~ok
        idx, m, v, logs = idx[keep], m[keep], v[keep], logs[keep]
    return lam, done


def _certify(u: Tensor, g: Tensor, fro2: Tensor, eps: float | None = None) -> tuple[Tensor, Tensor]:
    """Rayleigh quotient theta (r,) float64 of unit rows u (g = G u) and whether it is certified.

    Kato-Temple: every eigenvalue but the largest is at most b = sqrt(||G||_F^2 - theta^2), so if
    theta > b then lambda_1 <= theta + |G u - theta u|^2 / (theta - b); certified when that excess
    is at most _CERT_EPS * theta (_CERT_EPS_F64 in float64 mode). fro2 (r,) is ||G||_F^2.
    """
    theta = (u * g).sum(1).to(torch.float64)  # (r,) <= lambda_1
    resid2 = ((g - theta[:, None].to(g.dtype) * u) ** 2).sum(1).to(torch.float64)  # (r,) |r|^2
    f64 = g.dtype == torch.float64
    # room for the rounding of G in the working precision
    other = torch.sqrt((fro2 - theta**2).clamp_min(0.0) + (1e-12 if f64 else 1e-5) * fro2)
    gap = theta - other
    if eps is None:
        eps = _cert_eps("float64" if f64 else "float32")
    return theta, (gap > 0) & (resid2 <= eps * gap * theta)


def _result(rows, cols, T, norm, stride, complete, rows_done, dtype, power, method, gram) -> HeatmapResult:
    values = np.full((T, T), np.nan)  # (T, T)
    values[:, cols - 1] = rows.cpu().numpy()
    values[np.triu_indices(T, 1)] = np.nan  # k > t is undefined
    values[rows_done:] = np.nan
    return HeatmapResult(
        values=values,
        cols=cols,
        norm=norm,
        stride=stride,
        complete=complete,
        rows_done=rows_done,
        dtype=str(dtype).replace("torch.", ""),
        refined=power.refined if power else 0,
        exact=power.exact if power else gram.solved if gram else 0,
        certified=gram.certified if gram else 0,
        method=method if norm == "spectral" else "frobenius",
    )


def heatmap_values(jacs: Tensor, norm: str = "spectral") -> np.ndarray:
    """Just the (T, T) float64 values of ``heatmap(jacs, norm)``."""
    return heatmap(jacs, norm=norm).values


# ----------------------------------------------------------------------------- gradient profile


@torch.no_grad()
def grad_profile(jacs: Tensor, direct: Tensor) -> np.ndarray:
    """||dL/dh_k|| for k = 1..T (T,) by g_T = d_T, g_k = d_k + J_{k+1}^T g_{k+1}.

    jacs (T, n, n) or (T, B, n, n); direct (T, n) or (T, B, n) with direct[k-1] = partial dL/dh_k.
    The norm is Frobenius over batch and units. Float64, O(T n^2) per batch element.
    """
    j, d = jacs.to(torch.float64), direct.to(torch.float64)
    if j.dim() == 3:
        j, d = j[:, None], d[:, None]  # (T, 1, n, n), (T, 1, n)
    if j.dim() != 4 or d.dim() != 3 or j.shape[:2] != d.shape[:2] or j.shape[-1] != d.shape[-1]:
        shapes = f"{tuple(jacs.shape)} vs {tuple(direct.shape)}"
        raise ValueError(f"jacs (T[,B],n,n) and direct (T[,B],n) disagree: {shapes}")
    T = j.shape[0]
    out = np.empty(T)
    g = d[T - 1]  # (B, n)
    out[T - 1] = torch.linalg.vector_norm(g).item()
    for i in range(T - 2, -1, -1):  # i = k-1; jacs[i+1] = J_{k+1}
        g = d[i] + torch.linalg.vecdot(j[i + 1].mT, g[:, None, :])  # (B, n): d_k + J^T g
        out[i] = torch.linalg.vector_norm(g).item()
    return out


# ----------------------------------------------------------------------------- float64 oracle


def reference_heatmap(jacs, norm: str) -> np.ndarray:
    """Slow float64 oracle: each product formed explicitly, numpy SVD / Frobenius per pair.

    For each t the product R = J_t ... J_{k+1} is extended to the right one factor at a time and
    divided by its max-abs after every factor (log10 scales summed), so it is exact for products
    far outside the float range; an exactly zero product gives -inf.
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
