"""One-step Jacobians J_t = dh_t/dh_{t-1}, and the backward pass that uses them.

The vanilla cell has a closed form; gru and lstm go through autograd on their state map (for lstm
the state is [h; c], so n = 2H). ``grad_profile`` runs the backward recursion of BPTT on given
J_t, which is how the temporal gradient profile is checked against autograd.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .. import activations


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
