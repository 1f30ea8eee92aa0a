"""Recurrent cells with an explicit time loop that keeps every hidden state.

The vanilla cell follows docs/DESIGN.md (section 6.1): a_t = W_hh h_{t-1} + W_xh x_t + b_h,
h_t = leak*h_{t-1} + (1-leak)*f(a_t). GRU and LSTM follow torch.nn.GRUCell / LSTMCell exactly
(same parameter names, gate order and equations) so tests can copy weights across. The state of an
LSTM is [h; c] (size 2H), which is what the Jacobian engine differentiates.

`forward` optionally adds a zero leaf `probe` (T, B, n) to each state: the gradient of the loss with
respect to it is dL/dh_t for every t in one backward pass (the temporal gradient profile), which is
much cheaper than calling retain_grad on T intermediate tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from rnnlab import activations

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
STATE_NAMES = {"rnn": "h", "gru": "h", "lstm": "[h; c]"}  # the state the heatmap differentiates


def state_size(cell: str, hidden: int) -> int:
    """n, the size of a cell's state: H, or 2H for the LSTM's [h; c]."""
    return 2 * hidden if cell == "lstm" else hidden


LSTM_FORGET_BIAS = 1.0
"""The LSTM's forget gate starts mostly open, sigmoid(1) = 0.73, as is common practice (Gers et al. 2000;
Jozefowicz et al. 2015): with a bias of 0 the cell state is halved every step, and the LSTM preset
decayed faster at initialisation than the vanilla cell (x0.73 against x0.77 per step) and did not
learn the adding task. It sits in bias_hh; bias_ih stays 0 (torch.nn.LSTMCell adds the two)."""


def recurrent_init(kind: str, H: int, rho: float, gen: torch.Generator) -> Tensor:
    """An (H, H) matrix from `kind`, scaled so that its spectral radius is exactly `rho`.

    The eigenvalues are computed in float64 so that the radius after scaling is exact to ~1e-12
    before the cast to float32 (relative error ~1e-7).
    """
    if kind == "identity":
        W = torch.eye(H, dtype=torch.float64)
    else:
        G = torch.randn(H, H, generator=gen, dtype=torch.float64) / H**0.5  # (H, H)
        if kind == "orthogonal":
            Q, R = torch.linalg.qr(G)
            W = Q * torch.sign(torch.diagonal(R))  # sign fix: Haar-distributed Q
        elif kind == "gaussian":
            W = G
        else:
            raise ValueError(f"init: {kind!r} is not one of gaussian, orthogonal, identity")
    radius = torch.linalg.eigvals(W).abs().max().item()
    return (W * (rho / radius)).to(torch.float32)


@dataclass
class Trace:
    """What one forward pass keeps. Shapes: T steps, B batch, n state size, H hidden, O outputs."""

    states: Tensor  # (T, B, n) s_1..s_T (h for rnn/gru, [h; c] for lstm)
    out: Tensor  # (T, B, O) readout at every step
    preact: Tensor | None  # (T, B, H) a_t of the vanilla cell, None for gated cells
    inputs: Tensor  # (T, B, I) inputs actually fed (differ from x in free-running mode)


class RecurrentNet(nn.Module):
    """A recurrent cell plus a linear readout y_t = W_hy h_t + b_y."""

    def __init__(self, cell: str, act: str, hidden: int, n_in: int, n_out: int, leak: float = 0.0):
        super().__init__()
        self.cell, self.act, self.H, self.leak = cell, act, hidden, leak
        self.f = activations.get(act).f
        g = GATES[cell]
        H = hidden
        if cell == "rnn":
            self.W_hh = nn.Parameter(torch.zeros(H, H))
            self.W_xh = nn.Parameter(torch.zeros(H, n_in))
            self.b_h = nn.Parameter(torch.zeros(H))
        else:  # torch.nn.GRUCell / LSTMCell names and layout: gates stacked along dim 0
            self.weight_hh = nn.Parameter(torch.zeros(g * H, H))
            self.weight_ih = nn.Parameter(torch.zeros(g * H, n_in))
            self.bias_hh = nn.Parameter(torch.zeros(g * H))
            self.bias_ih = nn.Parameter(torch.zeros(g * H))
        self.W_hy = nn.Parameter(torch.zeros(n_out, H))
        self.b_y = nn.Parameter(torch.zeros(n_out))

    @property
    def state_size(self) -> int:
        return state_size(self.cell, self.H)

    def init_weights(self, init: str, rho: float, gen: torch.Generator) -> None:
        """Recurrent blocks from `init` scaled to `rho`; input weights N(0, 1/I); readout N(0, 1/H);
        biases 0, except the LSTM's forget gate (LSTM_FORGET_BIAS)."""
        H = self.H
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name in ("W_hh", "weight_hh"):
                    blocks = [recurrent_init(init, H, rho, gen) for _ in range(GATES[self.cell])]
                    p.copy_(torch.cat(blocks, 0))
                elif name in ("W_xh", "weight_ih", "W_hy"):
                    fan_in = p.shape[1]
                    p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)
                else:
                    p.zero_()
            if self.cell == "lstm":  # gate order i, f, g, o: the second block is the forget gate
                self.bias_hh[H : 2 * H] = LSTM_FORGET_BIAS

    def recurrent_matrix(self) -> Tensor:
        """The (H, H) matrix whose spectrum the charts show: W_hh, or the candidate block of a gated
        cell (GRU's n-gate block, LSTM's g-gate block), the one that plays W_hh's role."""
        if self.cell == "rnn":
            return self.W_hh
        H = self.H  # gate order: GRU r,z,n ; LSTM i,f,g,o -> the third block in both
        return self.weight_hh[2 * H : 3 * H]

    def recurrent_params(self) -> list[nn.Parameter]:
        names = (
            ("W_hh", "W_xh", "b_h")
            if self.cell == "rnn"
            else ("weight_hh", "weight_ih", "bias_hh", "bias_ih")
        )
        return [getattr(self, n) for n in names]

    # ---- one step on a batch ------------------------------------------------------------------
    def step(self, s: Tensor, xp: Tensor) -> tuple[Tensor, Tensor | None]:
        """One step from state s (B, n) with the input projection xp = x W_ih^T + b_ih (B, g*H).

        Returns the new state (B, n) and, for the vanilla cell, the preactivation a (B, H).
        """
        H = self.H
        if self.cell == "rnn":
            a = torch.addmm(xp, s, self.W_hh.t())  # (B, H)
            h = self.f(a)
            if self.leak:
                h = self.leak * s + (1.0 - self.leak) * h
            return h, a
        if self.cell == "gru":
            hp = torch.addmm(self.bias_hh, s, self.weight_hh.t())  # (B, 3H)
            r = torch.sigmoid(xp[:, :H] + hp[:, :H])
            z = torch.sigmoid(xp[:, H : 2 * H] + hp[:, H : 2 * H])
            n = torch.tanh(xp[:, 2 * H :] + r * hp[:, 2 * H :])
            return (1 - z) * n + z * s, None
        h, c = s[:, :H], s[:, H:]
        gates = xp + torch.addmm(self.bias_hh, h, self.weight_hh.t())  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.cat([h, c], 1), None

    def in_proj(self, x: Tensor) -> Tensor:
        """Input projection for all steps at once: (T, B, I) -> (T, B, g*H). One matmul, not T."""
        if self.cell == "rnn":
            return torch.matmul(x, self.W_xh.t()) + self.b_h
        return torch.matmul(x, self.weight_ih.t()) + self.bias_ih

    def hidden_of(self, s: Tensor) -> Tensor:
        return s[..., : self.H]

    def readout(self, s: Tensor) -> Tensor:
        return torch.matmul(self.hidden_of(s), self.W_hy.t()) + self.b_y

    # ---- the time loop -----------------------------------------------------------------------
    def forward(
        self, x: Tensor, s0: Tensor | None = None, probe: Tensor | None = None, free_running: bool = False
    ) -> Trace:
        """Run the explicit time loop over x (T, B, I), keeping every state.

        probe: optional zero tensor (T, B, n) added to each state so that probe.grad = dL/ds_t.
        free_running: feed the model's own previous output as the next input (sine task without
        teacher forcing); the first input is the true one.
        """
        T, B, _ = x.shape
        s = x.new_zeros(B, self.state_size) if s0 is None else s0  # (B, n)
        states, preacts, outs = [], [], []
        if free_running:
            inputs = [x[0]]
            for t in range(T):
                xp = self.in_proj(inputs[t].unsqueeze(0))[0]  # (B, g*H)
                s, a = self.step(s, xp)
                if probe is not None:
                    s = s + probe[t]
                y = self.readout(s)  # (B, O)
                states.append(s)
                preacts.append(a)
                outs.append(y)
                if t + 1 < T:
                    inputs.append(y)
            out = torch.stack(outs)
            inp = torch.stack(inputs)
        else:
            xps = self.in_proj(x)  # (T, B, g*H)
            for t in range(T):
                s, a = self.step(s, xps[t])
                if probe is not None:
                    s = s + probe[t]
                states.append(s)
                preacts.append(a)
            out = None
            inp = x
        S = torch.stack(states)  # (T, B, n)
        if out is None:
            out = self.readout(S)  # (T, B, O): one matmul for all steps
        # the vanilla cell's step always returns its preactivation, so no entry is None here
        pre = torch.stack(cast(list[Tensor], preacts)) if self.cell == "rnn" else None
        return Trace(states=S, out=out, preact=pre, inputs=inp)

    def step_fn(self) -> Callable[[Tensor, Tensor], Tensor]:
        """Unbatched state map s_{t-1} (n,), x_t (I,) -> s_t (n,) with the current weights, for
        torch.func Jacobians of gated cells."""

        def fn(s: Tensor, x: Tensor) -> Tensor:
            xp = self.in_proj(x[None, None])[0]  # (1, g*H)
            return self.step(s[None], xp)[0][0]

        return fn
