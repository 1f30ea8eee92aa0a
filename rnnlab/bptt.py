"""Hand-written backpropagation through time for the vanilla, GRU and LSTM cells.

Autograd records several nodes per time step and replays them one by one; for a small RNN that
overhead, not arithmetic, dominates an update. The backward passes are short enough to write out.
The vanilla cell:

    g_t     = d_t + c_t                    total dL/dh_t: direct term plus what flows back from t+1
    da_t    = (1-leak) * f'(a_t) * g_t     through the activation
    c_{t-1} = da_t W_hh + leak * g_t       into h_{t-1}
    dW_hh = sum_t da_t^T h_{t-1},  dW_xh = sum_t da_t^T x_t,  db_h = sum_t da_t   (one matmul each)

Gated cells follow the same plan. Everything a step's backward needs is elementwise in the total
gradient g_t, so the forward pass keeps the gate activations and, after its loop, turns them into
per-step coefficient tensors C_t in a few whole-sequence ops. The backward loop is then only the
recurrence (3 in-place ops per step for GRU, 5 for LSTM); the gradients with respect to the gate
preactivations are kept, and the input-side gradients and every weight gradient are one
whole-sequence op each after the loop.

    GRU (torch.nn.GRUCell; p = W_hh h_{t-1} + b_hh, gates r, z, n):
    dp_t    = g_t * C_t,  C_t = [(1-z)(1-n^2) p_n r(1-r),  (h_{t-1}-n) z(1-z),  (1-z)(1-n^2) r]
    g_{t-1} = d_{t-1} + dp_t W_hh + g_t * z_t
    d(x W_ih^T) = [dp_r, dp_z, g_t (1-z)(1-n^2)]    (the input part of n is not multiplied by r)

    LSTM (torch.nn.LSTMCell; state s = [h; c], g_t = [gh_t; gc_t]):
    e_t      = gc_t + gh_t * o(1-tanh^2 c_t)           dL/dc_t through both uses of c_t
    da_t     = [e_t * tanh(g) i(1-i),  e_t * c_{t-1} f(1-f),  e_t * i(1-g^2),  gh_t * tanh(c_t) o(1-o)]
    gh_{t-1} = d_{t-1} + da_t W_hh,   gc_{t-1} = e_t * f_t

The LSTM's gc_t is what reaches c_t from step t+1 only, not the part that flows through h_t = o
tanh(c_t) within step t: exactly autograd's gradient for a probe added to [h_t; c_t] after the step.

Each backward returns the total gradients g_t = dL/ds_t (T, B, n): the temporal gradient profile for
free. Tested equal to autograd in tests/test_engine.py and tests/test_bptt.py. The readout and the
loss still go through autograd (one small graph).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .cells import RecurrentNet


class GRUSaved(NamedTuple):
    """What the GRU backward needs, per step t (shapes T, B, ...)."""

    C: Tensor  # (T, B, 3, H) dh_t/dp_t per unit for the r, z, n blocks of p = W_hh h + b_hh
    Z: Tensor  # (T, B, H) update gate: dh_t/dh_{t-1} outside W_hh
    Dn: Tensor  # (T, B, H) (1-z)(1-n^2): dh_t/d(n preactivation), for the input side of n
    prev: Tensor  # (T, B, H) h_{t-1}


class LSTMSaved(NamedTuple):
    """What the LSTM backward needs, per step t (shapes T, B, ...)."""

    C: Tensor  # (T, B, 4, H) i, f, g: d c_t/d preact; o: d h_t/d preact
    K: Tensor  # (T, B, H) o(1-tanh^2 c_t) = dh_t/dc_t
    F: Tensor  # (T, B, H) forget gate = dc_t/dc_{t-1}
    prev_h: Tensor  # (T, B, H) h_{t-1}


Saved = Tensor | GRUSaved | LSTMSaved  # the vanilla cell keeps its preactivations A (T, B, H)


# ---- forward: no graph, every state written in place -------------------------------------------

def forward_states(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[Saved, Tensor]:
    """No-graph forward over x (T, B, I): what `backward` needs, and the states S (T, B, n)."""
    if model.cell == "gru":
        return _gru_forward(model, x, s0)
    if model.cell == "lstm":
        return _lstm_forward(model, x, s0)
    return _rnn_forward(model, x, s0)


def _rnn_forward(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[Tensor, Tensor]:
    """Preactivations A (T, B, H) and states S (T, B, H)."""
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


def _gru_forward(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[GRUSaved, Tensor]:
    """GRU states S (T, B, H) and the backward's coefficients."""
    T, B, _ = x.shape
    H = model.H
    W_t = model.weight_hh.detach().t()  # (H, 3H)
    b_hh = model.bias_hh.detach()
    XP = _input_part(model, x, model.bias_ih.detach())  # (T, B, 3H) x W_ih^T + b_ih
    P = x.new_empty(T, B, 3 * H)  # W_hh h_{t-1} + b_hh, kept: the n block is needed for r's slope
    RZ = x.new_empty(T, B, 2 * H)  # gates r, z
    N = x.new_empty(T, B, H)  # candidate n
    S = x.new_empty(T, B, H)
    h0 = x.new_zeros(B, H) if s0 is None else s0  # (B, H)
    # per-step views made once: indexing inside the loop would cost as much as the arithmetic
    xrz, xn = XP[..., :2 * H].unbind(0), XP[..., 2 * H:].unbind(0)
    p, prz, pn = P.unbind(0), P[..., :2 * H].unbind(0), P[..., 2 * H:].unbind(0)
    rz, r, z = RZ.unbind(0), RZ[..., :H].unbind(0), RZ[..., H:].unbind(0)
    n, s = N.unbind(0), S.unbind(0)
    h = h0
    for t in range(T):
        torch.addmm(b_hh, h, W_t, out=p[t])  # (B, 3H)
        torch.add(xrz[t], prz[t], out=rz[t]).sigmoid_()  # [r; z] = sigmoid(x part + h part)
        torch.addcmul(xn[t], r[t], pn[t], out=n[t]).tanh_()  # n = tanh(x part + r * h part)
        torch.lerp(n[t], h, z[t], out=s[t])  # h_t = (1-z) n + z h_{t-1}
        h = s[t]
    prev = torch.cat([h0[None], S[:-1]])  # (T, B, H) h_{t-1}
    R, Z = RZ[..., :H], RZ[..., H:].contiguous()  # contiguous: Z is read once per backward step
    Dn = (1 - Z) * (1 - N * N)  # (T, B, H)
    C = x.new_empty(T, B, 3, H)
    torch.mul(Dn * P[..., 2 * H:], R * (1 - R), out=C[:, :, 0])  # r: through r * p_n
    torch.mul(prev - N, Z * (1 - Z), out=C[:, :, 1])  # z: h_t = n + z (h_{t-1} - n)
    torch.mul(Dn, R, out=C[:, :, 2])  # n: p_n enters multiplied by r
    return GRUSaved(C, Z, Dn, prev), S


def _lstm_forward(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[LSTMSaved, Tensor]:
    """LSTM states S = [h; c] (T, B, 2H) and the backward's coefficients."""
    T, B, _ = x.shape
    H = model.H
    W_t = model.weight_hh.detach().t()  # (H, 4H)
    # both biases go into the input part: the gate preactivations are plain sums
    GA = _input_part(model, x, model.bias_ih.detach() + model.bias_hh.detach())  # (T, B, 4H)
    ACT = torch.empty_like(GA)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    Hs, Cs, TC = (x.new_empty(T, B, H) for _ in range(3))  # h_t, c_t, tanh(c_t)
    h0, c0 = (x.new_zeros(B, H), x.new_zeros(B, H)) if s0 is None else (s0[:, :H], s0[:, H:])
    ga, act = GA.unbind(0), ACT.unbind(0)
    ga_g, act_g = GA[..., 2 * H:3 * H].unbind(0), ACT[..., 2 * H:3 * H].unbind(0)
    i, f, g, o = (ACT[..., k * H:(k + 1) * H].unbind(0) for k in range(4))
    hs, cs, tc = Hs.unbind(0), Cs.unbind(0), TC.unbind(0)
    h, c = h0, c0
    for t in range(T):
        ga[t].addmm_(h, W_t)  # preactivations (B, 4H): input part + h_{t-1} W_hh^T
        torch.sigmoid(ga[t], out=act[t])  # one op for all blocks; the g block is replaced next
        torch.tanh(ga_g[t], out=act_g[t])
        torch.mul(f[t], c, out=cs[t]).addcmul_(i[t], g[t])  # c_t = f c_{t-1} + i g
        torch.tanh(cs[t], out=tc[t])
        torch.mul(o[t], tc[t], out=hs[t])  # h_t = o tanh(c_t)
        h, c = hs[t], cs[t]
    prev_h = torch.cat([h0[None], Hs[:-1]])  # (T, B, H)
    prev_c = torch.cat([c0[None], Cs[:-1]])
    Ig, Fg, Gg, Og = ACT.view(T, B, 4, H).unbind(2)  # gate activations
    C = x.new_empty(T, B, 4, H)
    dsig = ACT * (1 - ACT)  # sigmoid slopes (meaningless in the g block, not used there)
    di, df, _, do = dsig.view(T, B, 4, H).unbind(2)
    torch.mul(Gg, di, out=C[:, :, 0])  # c_t = ... + i g
    torch.mul(prev_c, df, out=C[:, :, 1])  # c_t = f c_{t-1} + ...
    torch.mul(Ig, 1 - Gg * Gg, out=C[:, :, 2])
    torch.mul(TC, do, out=C[:, :, 3])  # h_t = o tanh(c_t)
    K = Og * (1 - TC * TC)
    return LSTMSaved(C, K, Fg.contiguous(), prev_h), torch.cat([Hs, Cs], -1)


def _input_part(model: RecurrentNet, x: Tensor, bias: Tensor) -> Tensor:
    """x W_ih^T + bias for all steps in one matmul: (T, B, I) -> (T, B, g*H)."""
    T, B, n_in = x.shape
    return torch.addmm(bias, x.reshape(T * B, n_in), model.weight_ih.detach().t()).view(T, B, -1)


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


# ---- backward: the recurrence in the loop, everything else in whole-sequence ops ---------------

def backward(model: RecurrentNet, x: Tensor, s0: Tensor | None, saved: Saved, S: Tensor,
             direct: Tensor) -> Tensor:
    """Accumulate the recurrent and input weights' gradients into .grad given the direct gradients
    d_t (T, B, n) (readout and loss); return the total gradients g_t = dL/ds_t (T, B, n)."""
    if model.cell == "gru":
        return _gru_backward(model, x, saved, direct)
    if model.cell == "lstm":
        return _lstm_backward(model, x, saved, direct)
    return _rnn_backward(model, x, s0, saved, S, direct)


def _rnn_backward(model: RecurrentNet, x: Tensor, s0: Tensor | None, A: Tensor, S: Tensor,
                  direct: Tensor) -> Tensor:
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
    h0 = S.new_zeros(1, B, H) if s0 is None else s0[None]
    prev = torch.cat([h0, S[:-1]])  # (T, B, H) h_{t-1}
    flat = dA.reshape(T * B, H)
    _accumulate(model, {
        "W_hh": flat.t() @ prev.reshape(T * B, H),  # (H, H)
        "W_xh": flat.t() @ x.reshape(T * B, -1),  # (H, I)
        "b_h": flat.sum(0),  # (H,)
    })
    return G


def _gru_backward(model: RecurrentNet, x: Tensor, sv: GRUSaved, direct: Tensor) -> Tensor:
    T, B, H = direct.shape
    W = model.weight_hh.detach()  # (3H, H)
    G = direct.clone()  # becomes g_t, filled from the end
    DP = x.new_empty(T, B, 3, H)  # dL/dp_t for the r, z, n blocks
    g, g1 = G.unbind(0), G[:, :, None].unbind(0)  # (B, H) and (B, 1, H), broadcast over the blocks
    dp, dp_flat = DP.unbind(0), DP.view(T, B, 3 * H).unbind(0)
    c, z = sv.C.unbind(0), sv.Z.unbind(0)
    for t in range(T - 1, -1, -1):
        torch.mul(g1[t], c[t], out=dp[t])  # dp_t = g_t * C_t  (B, 3, H)
        if t > 0:
            g[t - 1].addmm_(dp_flat[t], W)  # through W_hh
            g[t - 1].addcmul_(g[t], z[t])  # through z h_{t-1}
    dp = DP.view(T * B, 3 * H)
    dx = torch.cat([dp[:, :2 * H], (G * sv.Dn).view(T * B, H)], 1)  # (T*B, 3H) d(x W_ih^T + b_ih)
    _accumulate(model, {
        "weight_hh": dp.t() @ sv.prev.reshape(T * B, H),  # (3H, H)
        "bias_hh": dp.sum(0),
        "weight_ih": dx.t() @ x.reshape(T * B, -1),  # (3H, I)
        "bias_ih": dx.sum(0),
    })
    return G


def _lstm_backward(model: RecurrentNet, x: Tensor, sv: LSTMSaved, direct: Tensor) -> Tensor:
    T, B, n = direct.shape
    H = n // 2
    W = model.weight_hh.detach()  # (4H, H)
    GH, GC = direct[..., :H].clone(), direct[..., H:].clone()  # become gh_t, gc_t
    E = x.new_empty(T, B, H)  # dL/dc_t through both of its uses
    DA = x.new_empty(T, B, 4, H)  # dL/d gate preactivations
    gh, gc, e, e1 = GH.unbind(0), GC.unbind(0), E.unbind(0), E[:, :, None].unbind(0)
    da, da_ifg, da_o = DA.view(T, B, 4 * H).unbind(0), DA[:, :, :3].unbind(0), DA[:, :, 3].unbind(0)
    c_ifg, c_o, k, f = sv.C[:, :, :3].unbind(0), sv.C[:, :, 3].unbind(0), sv.K.unbind(0), sv.F.unbind(0)
    for t in range(T - 1, -1, -1):
        torch.addcmul(gc[t], gh[t], k[t], out=e[t])  # e_t = gc_t + gh_t o(1-tanh^2 c_t)
        torch.mul(e1[t], c_ifg[t], out=da_ifg[t])  # i, f, g: through c_t  (B, 3, H)
        torch.mul(gh[t], c_o[t], out=da_o[t])  # o: through h_t only
        if t > 0:
            gh[t - 1].addmm_(da[t], W)
            gc[t - 1].addcmul_(e[t], f[t])
    da = DA.view(T * B, 4 * H)
    db = da.sum(0)
    _accumulate(model, {
        "weight_hh": da.t() @ sv.prev_h.reshape(T * B, H),  # (4H, H)
        "weight_ih": da.t() @ x.reshape(T * B, -1),  # (4H, I)
        "bias_hh": db,
        "bias_ih": db.clone(),  # its own tensor: clipping scales each .grad in place
    })
    return torch.cat([GH, GC], -1)


def _accumulate(model: RecurrentNet, grads: dict[str, Tensor]) -> None:
    """Add to .grad (which may already hold, e.g., a weight penalty's gradient); skip frozen weights."""
    for name, g in grads.items():
        p = getattr(model, name)
        if p.requires_grad:
            p.grad = g if p.grad is None else p.grad + g


def supported(model: RecurrentNet, omega: float, free_running: bool) -> bool:
    """The hand-written path covers every cell without the omega term (vanilla only) or output
    feedback (free-running sine stays on autograd)."""
    return model.cell in ("rnn", "gru", "lstm") and omega == 0 and not free_running
