"""Named configurations, each with a title and a few sentences on what to look at.

`REMEDIES` pairs presets as (without, with) for the Compare page: same seed, one idea switched on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import ConfigError, RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    text: str
    settings: dict[str, Any] = field(default_factory=dict)

    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.settings)


_P = Preset
_ALL = [
    _P("vanishing-tanh", "Vanishing gradients with tanh",
       "A tanh network whose recurrent matrix has spectral radius 0.8. In the heatmap every step back "
       "in time multiplies the gradient by less than one, so the colour fades quickly away from the "
       "diagonal. Read the decay per step in the lag profile and compare it with the norm bound.",
       {"act": "tanh", "rho": 0.8, "seq_len": 100, "steps": 200}),
    _P("exploding", "Exploding gradients, no clipping",
       "A ReLU network started with spectral radius 1.6 and a large learning rate. Products of "
       "Jacobians grow geometrically with the lag, the gradient norm spikes by orders of magnitude, "
       "and training soon leaves the finite numbers altogether.",
       {"act": "relu", "rho": 1.6, "seq_len": 50, "lr": 0.05, "steps": 200}),
    _P("exploding-clipped", "The same network rescued by clipping",
       "Identical to 'exploding', but the global gradient norm is clipped to 1. The gradient-norm "
       "chart shows the spikes before clipping and the capped value after; the direction of each "
       "step is kept, only its length is limited, so training carries on.",
       {"act": "relu", "rho": 1.6, "seq_len": 50, "lr": 0.05, "steps": 200, "clip": 1.0}),
    _P("orthogonal-edge", "Orthogonal init at the edge (rho = 1)",
       "An orthogonal recurrent matrix with spectral radius exactly 1. Every singular value is 1, so "
       "only the slopes of tanh shrink the gradient: the heatmap stays bright far from the diagonal. "
       "Move rho a little below and above 1 to see how sharp the edge is.",
       {"act": "tanh", "init": "orthogonal", "rho": 1.0, "seq_len": 200, "steps": 200}),
    _P("irnn-adding", "Identity-initialised ReLU on the adding task",
       "The IRNN recipe: ReLU units with W_hh = I. At the start the network copies its state forward "
       "unchanged, so gradients neither vanish nor explode along the sequence, and the adding task "
       "can be learnt over long gaps.",
       {"act": "relu", "init": "identity", "rho": 1.0, "task": "adding", "seq_len": 100,
        "lr": 0.001, "optimizer": "adam", "clip": 1.0, "steps": 400}),
    _P("copy-truncated", "Truncation too short for the copy task",
       "The copy task asks for symbols seen T+10 steps earlier, but truncated BPTT only sends "
       "gradients back 20 steps. The temporal gradient profile is cut at each chunk start, so no "
       "update can connect the answer to the symbols: the loss stays at the baseline.",
       {"task": "copy", "seq_len": 30, "tbptt": 20, "optimizer": "adam", "lr": 0.005,
        "steps": 300, "hidden": 64}),
    _P("copy-full", "The copy task with full BPTT",
       "The same copy task with the full gradient. Updates can now link the answer to the symbols "
       "at the start; compare the gradient profile and the loss with 'copy-truncated'.",
       {"task": "copy", "seq_len": 30, "tbptt": 0, "optimizer": "adam", "lr": 0.005,
        "steps": 300, "hidden": 64}),
    _P("l2-off", "Large recurrent weights, no penalty",
       "A tanh network started with spectral radius 1.5: its Jacobian products can grow. Baseline for "
       "the L2 penalty.",
       {"act": "tanh", "rho": 1.5, "seq_len": 60, "lr": 0.01, "steps": 200}),
    _P("l2-on", "L2 penalty on W_hh",
       "The same network with an L2 penalty on the recurrent weights. The penalty pulls the spectral "
       "radius down over training (see its chart), moving the network away from the exploding regime "
       "at the price of shorter memory.",
       {"act": "tanh", "rho": 1.5, "seq_len": 60, "lr": 0.01, "steps": 200, "l2": 0.1}),
    _P("omega-off", "Vanishing gradients, no regulariser",
       "A contracting tanh network on the adding task: the gradient from the loss at the end barely "
       "reaches the marked inputs. Baseline for Pascanu's regulariser.",
       {"act": "tanh", "rho": 0.8, "seq_len": 50, "lr": 0.01, "steps": 200}),
    _P("omega-on", "Pascanu's vanishing-gradient regulariser",
       "The same network with the regulariser of Pascanu, Mikolov and Bengio (2013): it asks each "
       "step back in time to keep the gradient's norm, pushing ||dE/dh_k|| towards the same size at "
       "every k. Watch the temporal gradient profile flatten.",
       {"act": "tanh", "rho": 0.8, "seq_len": 50, "lr": 0.01, "steps": 200, "omega": 1.0}),
    _P("leak-off", "Vanishing gradients without leaky units",
       "A tanh network with spectral radius 0.7: gradients die within a few steps.",
       {"act": "tanh", "rho": 0.7, "seq_len": 100, "steps": 100}),
    _P("leak-on", "Leaky integration units",
       "The same network with leak 0.9: each unit keeps 90% of its previous state, so the one-step "
       "Jacobian is close to 0.9*I and gradients decay far more slowly along the sequence.",
       {"act": "tanh", "rho": 0.7, "seq_len": 100, "steps": 100, "leak": 0.9}),
    _P("gated-off", "A vanilla RNN on the adding task",
       "A vanilla tanh RNN on the adding task with T = 100: the baseline for gated cells.",
       {"cell": "rnn", "task": "adding", "seq_len": 100, "optimizer": "adam", "lr": 0.003,
        "steps": 300}),
    _P("gru", "A GRU on the adding task",
       "The same task with a GRU: the update gate lets the state pass through almost unchanged, "
       "which keeps products of Jacobians near one over long spans.",
       {"cell": "gru", "task": "adding", "seq_len": 100, "optimizer": "adam", "lr": 0.003,
        "steps": 300}),
    _P("lstm", "An LSTM on the adding task",
       "The same task with an LSTM. Its cell state c is updated additively, gated by the forget gate: "
       "the Jacobian of the state [h; c] has a block close to the identity when the forget gate is "
       "open, the constant error carousel.",
       {"cell": "lstm", "task": "adding", "seq_len": 100, "optimizer": "adam", "lr": 0.003,
        "steps": 300}),
    _P("esn-off", "Sine forecasting, all weights trained",
       "A tanh network trained end to end on next-value forecasting of a noisy sum of sines.",
       {"task": "sine", "seq_len": 50, "rho": 0.95, "optimizer": "adam", "lr": 0.003, "steps": 200}),
    _P("esn-on", "Echo state network",
       "The same network with the recurrent and input weights frozen at their scaled random "
       "initialisation: only the readout learns. With rho just below 1 the reservoir keeps a fading "
       "memory of its inputs, and no gradient ever has to travel back in time.",
       {"task": "sine", "seq_len": 50, "rho": 0.95, "optimizer": "adam", "lr": 0.003, "steps": 200,
        "train_recurrent": False}),
    _P("teacher-forcing-off", "Free-running sine forecasting",
       "Without teacher forcing the network reads its own previous prediction as the next input, so "
       "its errors compound along the sequence and gradients also flow through the fed-back outputs.",
       {"task": "sine", "seq_len": 50, "rho": 0.9, "optimizer": "adam", "lr": 0.003, "steps": 200,
        "teacher_forcing": False}),
    _P("teacher-forcing-on", "Teacher forcing",
       "With teacher forcing the network reads the true previous value at every step: each step's "
       "prediction starts from the truth and training is easier and steadier.",
       {"task": "sine", "seq_len": 50, "rho": 0.9, "optimizer": "adam", "lr": 0.003, "steps": 200,
        "teacher_forcing": True}),
    _P("init-gaussian", "Gaussian init, tanh, rho = 1",
       "A Gaussian recurrent matrix scaled to spectral radius 1: its singular values spread out, so "
       "some directions shrink and some grow.",
       {"act": "tanh", "init": "gaussian", "rho": 1.0, "seq_len": 200, "steps": 200}),
]
PRESETS: dict[str, Preset] = {p.name: p for p in _ALL}

# (remedy, preset without it, preset with it)
REMEDIES: list[tuple[str, str, str]] = [
    ("Gradient clipping", "exploding", "exploding-clipped"),
    ("Full BPTT instead of truncation", "copy-truncated", "copy-full"),
    ("L2 penalty on W_hh", "l2-off", "l2-on"),
    ("Vanishing-gradient regulariser", "omega-off", "omega-on"),
    ("Leaky integration", "leak-off", "leak-on"),
    ("GRU", "gated-off", "gru"),
    ("LSTM", "gated-off", "lstm"),
    ("Orthogonal initialisation", "init-gaussian", "orthogonal-edge"),
    ("Echo state network", "esn-off", "esn-on"),
    ("Teacher forcing", "teacher-forcing-off", "teacher-forcing-on"),
]


def preset_config(name: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The preset's config with `overrides` on top (strict: raises ConfigError)."""
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is unknown", "one of " + ", ".join(PRESETS))
    return RunConfig.from_dict({**PRESETS[name].settings, **(overrides or {})})
