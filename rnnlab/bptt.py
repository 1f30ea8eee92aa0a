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

Memory is the other cost. Each step's ops work on a few (B, H) slices, so a fresh op costs a few us
whatever it does; but a fresh whole-sequence tensor costs page faults on every update (~1 ms per
3 MB here). So the forward writes states and gate activations in place and turns the activations
into the coefficients in place, the backward writes the gate gradients over the coefficients and
the total gradients over the direct ones, and the buffers that never leave this module are kept
with the model between updates (`_buffer`). What `forward_states` returns besides S lives in those
buffers: it is valid until the next `forward_states` on the same model, and `backward` consumes it.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import torch
from torch import Tensor

from . import activations
from .cells import RecurrentNet


class GRUSaved(NamedTuple):
    """What the GRU backward needs, per step t (shapes T, B, ...). `backward` writes over C and Dn."""

    C: Tensor  # (T, B, 3, H) dh_t/dp_t per unit for the r, z, n blocks of p = h_{t-1} W_hh^T + b_hh
    Z: Tensor  # (T, B, H) update gate: dh_t/dh_{t-1} outside W_hh
    Dn: Tensor  # (T, B, H) (1-z)(1-n^2): dh_t/d(n preactivation), for the input side of n
    h0: Tensor  # (B, H) the state before the first step


class LSTMSaved(NamedTuple):
    """What the LSTM backward needs, per step t (shapes T, B, ...). `backward` writes over C.
    Gates are in the order o, i, f, g (see _oifg), not torch's i, f, g, o."""

    C: Tensor  # (T, B, 4, H) o: dh_t/d preact; i, f, g: dc_t/d preact
    K: Tensor  # (T, B, H) o(1-tanh^2 c_t) = dh_t/dc_t
    F: Tensor  # (T, B, H) forget gate = dc_t/dc_{t-1}
    h0: Tensor  # (B, H) the hidden state before the first step


Saved = Tensor | GRUSaved | LSTMSaved  # the vanilla cell keeps its preactivations A (T, B, H)


_WORK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {key: buffer}


def _buffer(model: RecurrentNet, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A tensor kept with `model` between updates (contents: whatever its last use left), one per
    name and shape (TBPTT's last chunk may be shorter). The model is a weak key: its buffers go with
    it, and runs in other threads have other models."""
    bufs = _WORK.setdefault(model, {})
    key = (name, shape, like.dtype, like.device)
    if key not in bufs:
        bufs[key] = like.new_empty(shape)
    return bufs[key]


def _steps(model: RecurrentNet, view: Tensor) -> tuple[Tensor, ...]:
    """view.unbind(0), one view per step, for a view of one of the model's kept buffers: made once
    and kept too (100 views cost ~70 us, and an update needs a dozen such lists). Views of new
    tensors (S, the gradients) are unbound directly."""
    bufs = _WORK.setdefault(model, {})
    key = ("steps", view.data_ptr(), view.shape, view.stride(), view.dtype, view.device)
    if key not in bufs:  # the views hold the storage, so no other tensor can take its address
        bufs[key] = view.unbind(0)
    return bufs[key]


# ---- forward: no graph, every state written in place -------------------------------------------


def forward_states(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[Saved, Tensor]:
    """No-graph forward over x (T, B, I) from s0 (B, n) or zeros: what `backward` needs (kept in the
    model's buffers, see the module docstring), and the states S (T, B, n), a new tensor."""
    if model.cell == "gru":
        return _gru_forward(model, x, s0)
    if model.cell == "lstm":
        return _lstm_forward(model, x, s0)
    return _rnn_forward(model, x, s0)


def _rnn_forward(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[Tensor, Tensor]:
    """Preactivations A (T, B, H) and states S (T, B, H)."""
    T, B, _ = x.shape
    leak = model.leak
    W_t = model.W_hh.detach().t().contiguous()  # contiguous: each step's matmul is faster
    A = _input_part(x, model.W_xh, model.b_h.detach(), _buffer(model, "A", (T, B, model.H), x))
    S = torch.empty_like(A)
    h = x.new_zeros(B, model.H) if s0 is None else s0  # (B, H)
    f_out = activations.get(model.act).f_out
    for t in range(T):
        A[t].addmm_(h, W_t)  # a_t = x_t W_xh^T + b_h + h_{t-1} W_hh^T
        f_out(A[t], S[t])  # S[t] = f(a_t)
        if leak:
            S[t].mul_(1 - leak).add_(h, alpha=leak)
        h = S[t]
    return A, S


def _gru_forward(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[GRUSaved, Tensor]:
    """GRU states S (T, B, H) and the backward's coefficients."""
    T, B, _ = x.shape
    H = model.H
    W_t = model.weight_hh.detach().t().contiguous()  # (H, 3H); contiguous: each step's matmul is faster
    b_hh = model.bias_hh.detach()
    A = _input_part(x, model.weight_ih, model.bias_ih.detach(), _buffer(model, "A", (T, B, 3 * H), x))
    P = _buffer(model, "P", (T, B, 3 * H), x)  # h_{t-1} W_hh^T + b_hh; becomes the coefficients C
    S = x.new_empty(T, B, H)
    h0 = x.new_zeros(B, H) if s0 is None else s0  # (B, H)
    # per-step views made once: indexing inside the loop would cost as much as the arithmetic
    a_rz, a_n = _steps(model, A[..., : 2 * H]), _steps(model, A[..., 2 * H :])
    r, z = _steps(model, A[..., :H]), _steps(model, A[..., H : 2 * H])
    p, p_rz, p_n = _steps(model, P), _steps(model, P[..., : 2 * H]), _steps(model, P[..., 2 * H :])
    s = S.unbind(0)
    h = h0
    for t in range(T):
        torch.addmm(b_hh, h, W_t, out=p[t])  # (B, 3H)
        a_rz[t].add_(p_rz[t]).sigmoid_()  # [r; z] = sigmoid(x part + h part)
        a_n[t].addcmul_(r[t], p_n[t]).tanh_()  # n = tanh(x part + r * h part)
        torch.lerp(a_n[t], h, z[t], out=s[t])  # h_t = (1-z) n + z h_{t-1}
        h = s[t]
    # coefficients for all steps at once, written over P (and over r, which only they need)
    R, Z, N = A.view(T, B, 3, H).unbind(2)  # (T, B, H) views
    Cr, Cz, Cn = P.view(T, B, 3, H).unbind(2)  # Cr, Cz hold p_r, p_z (not needed), Cn holds p_n
    Dn = torch.mul(N, N, out=_buffer(model, "Dn", (T, B, H), x)).sub_(1)
    Dn.addcmul_(Dn, Z, value=-1).neg_()  # (1-z)(1-n^2)
    torch.mul(Dn, Cn, out=Cr)  # r: through r * p_n, times r(1-r) below
    torch.mul(Dn, R, out=Cn)  # n: p_n enters multiplied by r
    Cr.mul_(R.addcmul_(R, R, value=-1))
    torch.sub(S[:-1], N[1:], out=Cz[1:])  # z: h_t = n + z (h_{t-1} - n), times z(1-z)
    torch.sub(h0, N[0], out=Cz[0])
    Cz.mul_(Z).addcmul_(Cz, Z, value=-1)
    return GRUSaved(P.view(T, B, 3, H), Z, Dn, h0), S


def _lstm_forward(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> tuple[LSTMSaved, Tensor]:
    """LSTM states S = [h; c] (T, B, 2H) and the backward's coefficients."""
    T, B, _ = x.shape
    H = model.H
    W_t = _oifg(model.weight_hh.detach()).t().contiguous()  # (H, 4H) o, i, f, g
    # both biases go into the input part: the gate preactivations are plain sums
    bias = _oifg(model.bias_ih.detach() + model.bias_hh.detach())
    A = _input_part(
        x,
        _oifg(model.weight_ih.detach()),
        bias,  # (T, B, 4H) x part;
        _buffer(model, "A", (T, B, 4 * H), x),
    )
    # it becomes the gate activations in place, then the coefficients
    S = x.new_empty(T, B, 2 * H)  # h and c written straight into their halves
    TC = _buffer(model, "TC", (T, B, H), x)  # tanh(c_t); becomes K after the loop
    FC = _buffer(model, "FC", (T, B, H), x)  # f c_{t-1}: the first term of c_t, kept for C_f
    h0, c0 = (x.new_zeros(B, H), x.new_zeros(B, H)) if s0 is None else (s0[:, :H], s0[:, H:])
    a, a_sig, a_g = _steps(model, A), _steps(model, A[..., : 3 * H]), _steps(model, A[..., 3 * H :])
    o, i, f, g = (_steps(model, A[..., k * H : (k + 1) * H]) for k in range(4))
    hs, cs, tc, fc = S[..., :H].unbind(0), S[..., H:].unbind(0), _steps(model, TC), _steps(model, FC)
    h, c = h0, c0
    for t in range(T):
        a[t].addmm_(h, W_t)  # preactivations (B, 4H): x part + h_{t-1} W_hh^T
        a_sig[t].sigmoid_()  # o, i, f
        a_g[t].tanh_()  # g
        torch.addcmul(torch.mul(f[t], c, out=fc[t]), i[t], g[t], out=cs[t])  # c_t = f c_{t-1} + i g
        torch.tanh(cs[t], out=tc[t])
        torch.mul(o[t], tc[t], out=hs[t])  # h_t = o tanh(c_t)
        h, c = hs[t], cs[t]
    # coefficients for all steps at once, written over the activations (order matters: each line
    # reads only slots not yet overwritten), reusing the loop's products h = o tanh(c) and f c_{t-1}
    Og, Ig, Fg, Gg = A.view(T, B, 4, H).unbind(2)  # (T, B, H) views
    Hh = S[..., :H]
    F = _buffer(model, "F", (T, B, H), x).copy_(Fg)  # f_t itself: dc_t/dc_{t-1}; its slot becomes C_f
    torch.addcmul(Og, Hh, TC, value=-1, out=TC)  # K = o(1 - tanh^2 c)
    torch.addcmul(Hh, Hh, Og, value=-1, out=Og)  # C_o = tanh(c) o(1-o)
    torch.addcmul(FC, FC, Fg, value=-1, out=Fg)  # C_f = c_{t-1} f(1-f)
    tmp = torch.mul(Ig, Gg, out=FC)  # i g
    torch.addcmul(Ig, tmp, Gg, value=-1, out=Gg)  # C_g = i(1-g^2)
    torch.addcmul(tmp, tmp, Ig, value=-1, out=Ig)  # C_i = g i(1-i)
    return LSTMSaved(A.view(T, B, 4, H), TC, F, h0), S


def _oifg(w: Tensor, back: bool = False) -> Tensor:
    """An LSTM weight (4H, ...) or bias (4H,) with torch's gate blocks i, f, g, o as o, i, f, g (or
    back): one sigmoid then covers o, i, f and the backward's e_t multiplies i, f, g side by side.
    A roll by one block, a copy (~6x faster than indexing the blocks)."""
    return torch.roll(w, -w.shape[0] // 4 if back else w.shape[0] // 4, 0)


def _prev_outer(D: Tensor, h: Tensor, h0: Tensor) -> Tensor:
    """D^T [h_0; h_1 .. h_{T-1}] for D (T, B, k) and states h (T, B, H): (k, H), one matmul over all
    steps without building the shifted copy of h."""
    T, B, k = D.shape
    prev = h[:-1].reshape((T - 1) * B, h.shape[-1])  # H spelled out: a one-step chunk has none
    return torch.addmm(D[0].t() @ h0, D[1:].reshape(-1, k).t(), prev)


def _input_part(x: Tensor, W: Tensor, bias: Tensor, out: Tensor) -> Tensor:
    """x W^T + bias for all steps in one matmul, into out: (T, B, I) -> (T, B, g*H). W^T is made
    contiguous first: with I as small as 1 or 2 that makes the matmul ~3x faster."""
    T, B, n_in = x.shape
    torch.addmm(bias, x.reshape(T * B, n_in), W.detach().t().contiguous(), out=out.view(T * B, out.shape[-1]))
    return out


def _slope(act: str, A: Tensor, S: Tensor, leak: float) -> Tensor:
    """(1-leak) f'(a) for all steps, written over A (not needed after), reusing f(a) where that is
    cheaper (tanh, sigmoid)."""
    # without leak S already holds f(a): tanh's slope 1 - f(a)^2 then costs no second tanh
    A = activations.get(act).slope_over(A, None if leak else S)
    return A.mul_(1 - leak) if leak else A


# ---- backward: the recurrence in the loop, everything else in whole-sequence ops ---------------


def backward(
    model: RecurrentNet, x: Tensor, s0: Tensor | None, saved: Saved, S: Tensor, direct: Tensor
) -> Tensor:
    """Accumulate the recurrent and input weights' gradients into .grad given the direct gradients
    d_t (T, B, n) (readout and loss); return the total gradients g_t = dL/ds_t (T, B, n), written
    over `direct`. `saved` comes from `forward_states` on the same x and s0, and is used up."""
    # forward_states saved what this cell needs: the asserts only state that for the type checker
    if model.cell == "gru":
        assert isinstance(saved, GRUSaved)
        return _gru_backward(model, x, S, saved, direct)
    if model.cell == "lstm":
        assert isinstance(saved, LSTMSaved)
        return _lstm_backward(model, x, S, saved, direct)
    assert isinstance(saved, Tensor)
    return _rnn_backward(model, x, s0, saved, S, direct)


def _rnn_backward(
    model: RecurrentNet, x: Tensor, s0: Tensor | None, A: Tensor, S: Tensor, direct: Tensor
) -> Tensor:
    T, B, H = S.shape
    leak = model.leak
    dA = _slope(model.act, A, S, leak)  # (T, B, H) (1-leak) f'(a_t); becomes da_t in the loop
    W = model.W_hh.detach()
    G = direct  # becomes g_t = d_t + c_t, filled from the end (in place)
    for t in range(T - 1, -1, -1):
        dA[t].mul_(G[t])  # da_t = (1-leak) f'(a_t) g_t
        if t > 0:
            G[t - 1].addmm_(dA[t], W)  # g_{t-1} = d_{t-1} + da_t W_hh (+ leak g_t)
            if leak:
                G[t - 1].add_(G[t], alpha=leak)
    h0 = S.new_zeros(B, H) if s0 is None else s0
    flat = dA.view(T * B, H)
    _accumulate(
        model,
        {
            "W_hh": _prev_outer(dA, S, h0),  # (H, H)
            "W_xh": (x.reshape(T * B, x.shape[-1]).t() @ flat).t().contiguous(),  # (H, I); ~10x faster
            "b_h": flat.sum(0),  # (H,)
        },
    )
    return G


def _gru_backward(model: RecurrentNet, x: Tensor, S: Tensor, sv: GRUSaved, direct: Tensor) -> Tensor:
    T, B, H = direct.shape
    W = model.weight_hh.detach()  # (3H, H)
    G = direct  # becomes g_t, filled from the end  (in place)
    g, g1 = G.unbind(0), G[:, :, None].unbind(0)  # (B, H) and (B, 1, H), broadcast over the blocks
    c, c_flat, z = _steps(model, sv.C), _steps(model, sv.C.view(T, B, 3 * H)), _steps(model, sv.Z)
    for t in range(T - 1, -1, -1):
        c[t].mul_(g1[t])  # dL/dp_t = g_t * C_t, written over C_t  (B, 3, H)
        if t > 0:
            g[t - 1].addmm_(c_flat[t], W)  # through W_hh
            g[t - 1].addcmul_(g[t], z[t])  # through z h_{t-1}
    DP = sv.C.view(T, B, 3 * H)  # dL/dp_t
    dp = DP.view(T * B, 3 * H)
    grads = {"weight_hh": _prev_outer(DP, S, sv.h0), "bias_hh": dp.sum(0)}  # (3H, H), (3H,)
    # the x part differs from p only in the n block, which r does not multiply: overwrite it
    torch.mul(G, sv.Dn, out=DP[..., 2 * H :])
    grads["weight_ih"] = (x.reshape(T * B, x.shape[-1]).t() @ dp).t().contiguous()  # (3H, I)
    grads["bias_ih"] = dp.sum(0)
    _accumulate(model, grads)
    return G


def _lstm_backward(model: RecurrentNet, x: Tensor, S: Tensor, sv: LSTMSaved, direct: Tensor) -> Tensor:
    T, B, n = direct.shape
    H = n // 2
    W = _oifg(model.weight_hh.detach())  # (4H, H) o, i, f, g
    G = direct  # becomes [gh_t; gc_t], filled from the end  (in place)
    gh, gc = G[..., :H].unbind(0), G[..., H:].unbind(0)
    e = x.new_empty(B, H)  # this step's dL/dc_t through both of its uses
    e1 = e[:, None]  # (B, 1, H) broadcast over i, f, g
    c, c_o = _steps(model, sv.C.view(T, B, 4 * H)), _steps(model, sv.C[:, :, 0])
    c_ifg, k, f = _steps(model, sv.C[:, :, 1:]), _steps(model, sv.K), _steps(model, sv.F)
    for t in range(T - 1, -1, -1):
        torch.addcmul(gc[t], gh[t], k[t], out=e)  # e_t = gc_t + gh_t o(1-tanh^2 c_t)
        c_ifg[t].mul_(e1)  # dL/d preact of i, f, g: through c_t, written over C_t
        c_o[t].mul_(gh[t])  # o: through h_t only
        if t > 0:
            gh[t - 1].addmm_(c[t], W)
            gc[t - 1].addcmul_(e, f[t])
    DA = sv.C.view(T, B, 4 * H)  # dL/d gate preactivations, o, i, f, g
    da = DA.view(T * B, 4 * H)
    db = _oifg(da.sum(0), back=True)
    _accumulate(
        model,
        {  # back to torch's gate order
            "weight_hh": _oifg(_prev_outer(DA, S[..., :H], sv.h0), back=True),  # (4H, H)
            "weight_ih": _oifg(
                (x.reshape(T * B, x.shape[-1]).t() @ da).t().contiguous(), back=True
            ),  # (4H, I)
            "bias_hh": db,
            "bias_ih": db.clone(),  # its own tensor: clipping scales each .grad in place
        },
    )
    return G


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
