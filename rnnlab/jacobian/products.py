"""The products P(t, k) = J_t ... J_{k+1} of every active column, kept near norm 1.

Going forward in t, every column k < t advances by the same left factor, P(t, k) = J_t P(t-1, k),
so one wide matmul per step advances all columns at once: the blocks are stored transposed and
stacked, Q_k = P(t, k)^T, in one (C, n, n) buffer, and a step is Q[:m].view(m*n, n) @ J_t^T
written into a second buffer (ping-pong: no allocation, no copy). T^2 n^3 flops in all, in one
large GEMM per step.

Range: each J_t is divided by c_t ~ sigma_max(J_t), and the scales live in float64 logs,

    log10 ||P(t, k)|| = log10 ||stored block|| + s_k + C_t - C_k,   C_t = sum_{j<=t} log10 c_j,

with s_k the column's own renormalisation log. A block is rescaled to norm 1 only when its norm
leaves [tiny^0.2, max^0.2] of the working dtype, which leaves room for the squares (and squares
of squares) the gram engine takes. So products far outside the float range are exact to
rounding, and a block is exactly zero only when the product is (dead ReLU units).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class Stack:
    """Renormalised products of the active columns, stored transposed: Q_k = P(t, k)^T / scale_k."""

    def __init__(self, ncols: int, n: int, dtype: torch.dtype, device: torch.device):
        self.n, self.m = n, 0  # m: columns active so far (they enter in order)
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


def normalised_steps(jacs: Tensor, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """(Jn_t^T (T, n, n) in dtype on device, C (T+1,) float64 cumulative log10 c_t with C_0 = 0)."""
    j64 = jacs.to(device=device, dtype=torch.float64)  # (T, n, n)
    c = step_scales(j64)  # (T,)
    jn_t = (j64 / c[:, None, None]).mT.to(dtype).contiguous()  # (T, n, n) transposed for Q @ Jn^T
    cum = torch.cat([torch.zeros(1, dtype=torch.float64, device=device), torch.cumsum(torch.log10(c), 0)])
    return jn_t, cum  # (T, n, n), (T+1,)


def step_scales(j64: Tensor, iters: int = 8) -> Tensor:
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
