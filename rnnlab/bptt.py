"""Hand-written backpropagation through time for the vanilla cell.

Autograd records ~4 nodes per time step and replays them one by one; for a small RNN that overhead,
not arithmetic, dominates an update. The vanilla cell's backward pass is short enough to write out:

    g_t     = d_t + c_t                    total dL/dh_t: direct term plus what flows back from t+1
    da_t    = (1-leak) * f'(a_t) * g_t     through the activation
    c_{t-1} = da_t W_hh + leak * g_t       into h_{t-1}
    dW_hh = sum_t da_t^T h_{t-1},  dW_xh = sum_t da_t^T x_t,  db_h = sum_t da_t   (one matmul each)

It yields the temporal gradient profile ||g_t|| for free. Tested equal to autograd in
tests/test_engine.py. The readout and the loss still go through autograd (one small graph).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cells import RecurrentNet


def forward_states(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[Tensor, Tensor]:
    """No-graph forward: preactivations A (T, B, H) and states S (T, B, H), written in place."""
    T, B, _ = x.shape
    leak = model.leak
    W_t = model.W_hh.detach().t()
    A = torch.matmul(x, model.W_xh.detach().t()) + model.b_h.detach()  # (T, B, H) input part
    S = torch.empty_like(A)
    h = x.new_zeros(B, model.H) if s0 is None else s0  # (B, H)
    for t in range(T):
        A[t].addmm_(h, W_t)  # a_t = x_t W_xh^T + b_h + h_{t-1} W_hh^T
        _activate(model.act, A[t], S[t])  # S[t] = f(a_t)
        if leak:
            S[t].mul_(1 - leak).add_(h, alpha=leak)
        h = S[t]
    return A, S


def _activate(act: str, a: Tensor, out: Tensor) -> None:
    if act == "tanh":
        torch.tanh(a, out=out)
    elif act == "sigmoid":
        torch.sigmoid(a, out=out)
    elif act == "relu":
        torch.clamp(a, min=0, out=out)
    else:
        out.copy_(a)


def slope(act: str, A: Tensor, S: Tensor, leak: float) -> Tensor:
    """f'(a) for all steps, reusing f(a) where that is cheaper (tanh, sigmoid)."""
    if act == "linear":
        return torch.ones_like(A)
    if act == "relu":
        return (A > 0).to(A.dtype)
    fa = torch.tanh(A) if leak else S  # without leak, S already holds f(A)
    if act == "tanh":
        return 1 - fa * fa
    fa = torch.sigmoid(A)
    return fa * (1 - fa)


def backward(model: RecurrentNet, x: Tensor, s0: Tensor | None, A: Tensor, S: Tensor,
             direct: Tensor) -> Tensor:
    """Accumulate dL/dW_hh, dL/dW_xh, dL/db_h into .grad given the direct gradients d_t (T, B, H);
    return the total gradients g_t = dL/dh_t (T, B, H)."""
    T, B, H = S.shape
    leak = model.leak
    D = slope(model.act, A, S, leak) * (1 - leak)  # (T, B, H)
    W = model.W_hh.detach()
    G = direct.clone()  # becomes g_t = d_t + c_t, filled from the end
    dA = torch.empty_like(direct)
    for t in range(T - 1, -1, -1):
        torch.mul(G[t], D[t], out=dA[t])  # da_t = (1-leak) f'(a_t) g_t
        if t > 0:
            G[t - 1].addmm_(dA[t], W)  # g_{t-1} = d_{t-1} + da_t W_hh (+ leak g_t)
            if leak:
                G[t - 1].add_(G[t], alpha=leak)
    h0 = torch.zeros(1, B, H) if s0 is None else s0[None]
    prev = torch.cat([h0, S[:-1]])  # (T, B, H) h_{t-1}
    flat = dA.reshape(T * B, H)
    grads = {
        "W_hh": flat.t() @ prev.reshape(T * B, H),  # (H, H)
        "W_xh": flat.t() @ x.reshape(T * B, -1),  # (H, I)
        "b_h": flat.sum(0),  # (H,)
    }
    for name, g in grads.items():
        p = getattr(model, name)
        if p.requires_grad:
            p.grad = g if p.grad is None else p.grad + g
    return G


def supported(model: RecurrentNet, omega: float, free_running: bool) -> bool:
    """The hand-written path covers the vanilla cell without the omega term or output feedback."""
    return model.cell == "rnn" and omega == 0 and not free_running
