"""Named configurations, each with a title, a few sentences on what to look at, and its claims.

A card's text says what a student will see; `claims` (rnnlab.claims) say the same in a form that
tests/test_claims.py checks against what the app measures, so a card cannot quietly stop being true.
Every number quoted in a text was measured with the app's settings (one torch thread) and holds,
with a margin, with two threads as well (closing note of issue 11).

`REMEDIES` pairs presets as (without, with) for the Compare page: same seed, one idea switched on;
each pair also claims that "with" beats "without" on the quantity the remedy is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .claims import Clipped, Diverges, Gain, Outcome, PerStep, Spike, Within
from .config import ConfigError, RunConfig
from .verdict import LEARNED, NOT_LEARNED, WORSE

NO_LEARNING = (NOT_LEARNED, WORSE)  # the final loss does not get 10 % below the baseline


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    text: str
    settings: dict[str, Any] = field(default_factory=dict)
    claims: tuple = ()  # rnnlab.claims objects: what the text says, checked

    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.settings)


_P = Preset
_ALL = [
    _P(
        "vanishing-tanh",
        "Vanishing gradients with tanh",
        "A tanh network whose recurrent matrix has spectral radius 0.8. In the heatmap every step back in "
        "time multiplies the norm by about 0.63, so the colour fades within a few steps of the diagonal: a "
        "thousand-fold fall takes about 15 steps. Trained on the adding task, whose two marked values lie "
        "up to 100 steps before the answer, it stays at the baseline.",
        {"act": "tanh", "rho": 0.8, "seq_len": 100, "steps": 200},
        (PerStep("init", hi=0.7), Outcome(NO_LEARNING)),
    ),
    _P(
        "exploding",
        "Exploding gradients, no clipping",
        "A tanh network with spectral radius 2 forecasting a sine wave, trained by plain SGD with a large "
        "learning rate (0.25). Its Jacobian products grow about 1.16-fold per step back, so gradients "
        "from far back are huge. Watch the gradient-norm chart: within about 20 updates the norm climbs "
        "by more than ten orders of magnitude, until the weights overflow and training stops.",
        {"act": "tanh", "rho": 2.0, "task": "sine", "seq_len": 50, "lr": 0.25, "steps": 300},
        (PerStep("init", lo=1.1), Diverges(first=10, last=60), Spike(10)),
    ),
    _P(
        "exploding-clipped",
        "The same network rescued by clipping",
        "Identical to 'exploding', but the global gradient norm is clipped to 0.5: each update keeps its "
        "direction and is at most 0.125 long. Nearly every update is clipped (red marks on the "
        "gradient-norm chart; the grey line shows the norm before clipping), training never diverges, "
        "and the network learns the forecast: its final loss ends well below the baseline.",
        {"act": "tanh", "rho": 2.0, "task": "sine", "seq_len": 50, "lr": 0.25, "steps": 300, "clip": 0.5},
        (Outcome(LEARNED, below=0.4), Clipped(0.8)),
    ),
    _P(
        "orthogonal-edge",
        "Orthogonal init at the edge (ρ = 1)",
        "A linear cell, so that nothing but W_hh acts on the gradient, with an orthogonal W_hh at "
        "spectral radius 1: every singular value and every |eigenvalue| is exactly 1, so ||dh_t/dh_k|| "
        "is 1 at every lag and the heatmap is white to the corner. Move ρ to 0.95 or 1.05: the factor per "
        "step becomes exactly ρ, and the map turns blue or red. (With tanh the slopes f' < 1 add their "
        "own decay, and orthogonal and Gaussian inits look alike.)",
        {
            "act": "linear",
            "init": "orthogonal",
            "rho": 1.0,
            "task": "sine",
            "seq_len": 100,
            "optimizer": "adam",
            "lr": 0.003,
            "steps": 200,
        },
        (PerStep("init", lo=0.999, hi=1.001), Outcome(LEARNED, below=0.3)),
    ),
    _P(
        "irnn-adding",
        "Identity-initialised ReLU on the adding task",
        "The IRNN recipe: ReLU units with W_hh = I. At initialisation each step copies the active units "
        "forward unchanged, so ||dh_t/dh_k|| neither vanishes nor explodes along the sequence (×1.00 per "
        "step). The state itself grows as inputs accumulate, so the raw gradient norm is huge and every "
        "update is clipped; with clipping and Adam the network learns the adding task over 100 steps.",
        {
            "act": "relu",
            "init": "identity",
            "rho": 1.0,
            "task": "adding",
            "seq_len": 100,
            "lr": 0.001,
            "optimizer": "adam",
            "clip": 1.0,
            "steps": 400,
        },
        (PerStep("init", lo=0.99, hi=1.01), Outcome(LEARNED, below=0.6), Clipped(0.9)),
    ),
    _P(
        "order-truncated",
        "Truncation too short for the order task",
        "The order task asks, at the last of 20 steps, which two symbols (A or B) were marked early on "
        "(within the first 12 steps). Truncated BPTT cuts the gradient every 5 steps (dashed lines), so "
        "no update can connect the answer to the symbols: the loss never gets below the baseline, a uniform "
        "guess.",
        {"task": "order", "seq_len": 20, "tbptt": 5, "optimizer": "adam", "lr": 0.01, "steps": 300},
        (Outcome(NO_LEARNING),),
    ),
    _P(
        "order-full",
        "The order task with full BPTT",
        "The same order task with the full gradient: updates now link the answer to the marked symbols "
        "and the network learns the task, ending far below the baseline. Compare the temporal gradient "
        "profile with 'order-truncated'.",
        {"task": "order", "seq_len": 20, "tbptt": 0, "optimizer": "adam", "lr": 0.01, "steps": 300},
        (Outcome(LEARNED, below=0.2),),
    ),
    _P(
        "l2-off",
        "Large recurrent weights, no penalty",
        "A tanh network started with spectral radius 1.5. Its σ_max·γ is about 2.7, so Pascanu's "
        "necessary condition for exploding holds, yet the tanh slopes keep the Jacobian products near "
        "balance at initialisation (about ×1.01 per step). Training leaves the spectral radius near 1.5. "
        "Baseline for the L2 penalty.",
        {"act": "tanh", "rho": 1.5, "seq_len": 60, "lr": 0.01, "steps": 200},
        (PerStep("init", lo=0.98, hi=1.05),),
    ),
    _P(
        "l2-on",
        "L2 penalty on W_hh",
        "The same network with an L2 penalty on the recurrent weights. Over training the penalty pulls "
        "the spectral radius from 1.5 down to about 1 (see its chart), and after training the products decay "
        "faster than without it: away from the exploding regime, at the price of a shorter memory.",
        {"act": "tanh", "rho": 1.5, "seq_len": 60, "lr": 0.01, "steps": 200, "l2": 0.1},
        (PerStep("end", hi=0.85), Within("rho_end", hi=1.1)),
    ),
    _P(
        "omega-off",
        "Vanishing gradients, no regulariser",
        "A contracting tanh network (×0.64 per step) on the adding task: the gradient from the loss at the "
        "end barely reaches the marked inputs, and after training the products still decay as fast. "
        "Baseline for Pascanu's regulariser.",
        {"act": "tanh", "rho": 0.8, "seq_len": 50, "lr": 0.01, "steps": 200},
        (PerStep("init", hi=0.7), PerStep("end", hi=0.7)),
    ),
    _P(
        "omega-on",
        "Pascanu's vanishing-gradient regulariser",
        "The same network with the regulariser of Pascanu, Mikolov and Bengio (2013): it asks each step "
        "back in time to keep the gradient's norm. After training the heatmap decays far more slowly "
        "(close to ×1 per step) and the temporal gradient profile reaches back to the start. On this short "
        "run the loss does not improve: a gradient that reaches back is needed to learn, not enough.",
        {"act": "tanh", "rho": 0.8, "seq_len": 50, "lr": 0.01, "steps": 200, "omega": 1.0},
        (PerStep("end", lo=0.9),),
    ),
    _P(
        "floss-on",
        "Gradient flossing",
        "The same contracting network as without the regulariser, trained with gradient flossing "
        "(Engelken 2023): each update also pushes the top four Lyapunov exponents of the state map "
        "toward zero. Measured: the per-step factor goes from ×0.64 at initialisation to about ×1.01 "
        "after training (an exponent near 0), and the gradient reaches back to the start of the "
        "sequence (about 10 orders of magnitude further than without). On this short run the loss does not "
        "improve: flossing opens the path, learning has to use it.",
        {"act": "tanh", "rho": 0.8, "seq_len": 50, "lr": 0.01, "steps": 200, "floss": 1.0},
        (PerStep("end", lo=0.9, hi=1.1),),
    ),
    _P(
        "leak-off",
        "Vanishing gradients without leaky units",
        "A tanh network with spectral radius 0.7: gradients die within a few steps (about ×0.56 per step).",
        {"act": "tanh", "rho": 0.7, "seq_len": 100, "steps": 100},
        (PerStep("init", hi=0.65),),
    ),
    _P(
        "leak-on",
        "Leaky integration units",
        "The same network with leak 0.9: each unit keeps 90% of its previous state, so the one-step "
        "Jacobian is close to 0.9·I and gradients decay far more slowly along the sequence (about ×0.96 "
        "per step).",
        {"act": "tanh", "rho": 0.7, "seq_len": 100, "steps": 100, "leak": 0.9},
        (PerStep("init", lo=0.9),),
    ),
    _P(
        "gated-off",
        "A vanilla RNN on the adding task",
        "A vanilla tanh RNN on the adding task with T = 50 (×0.77 per step at initialisation): in 300 "
        "updates it does not learn the task. The baseline for gated cells.",
        {"cell": "rnn", "task": "adding", "seq_len": 50, "optimizer": "adam", "lr": 0.02, "steps": 300},
        (PerStep("init", hi=0.85), Outcome(NO_LEARNING)),
    ),
    _P(
        "gru",
        "A GRU on the adding task",
        "The same task with a GRU. At initialisation its products decay about as fast as the vanilla "
        "cell's (×0.75 per step); training opens the update gate, which lets the state pass almost "
        "unchanged, and after training the products stay near one per step (move the snapshot slider). "
        "It learns the task.",
        {"cell": "gru", "task": "adding", "seq_len": 50, "optimizer": "adam", "lr": 0.02, "steps": 300},
        (PerStep("init", hi=0.85), PerStep("end", lo=0.95), Outcome(LEARNED, below=0.2)),
    ),
    _P(
        "lstm",
        "An LSTM on the adding task",
        "The same task with an LSTM. Its cell state c is carried additively, gated by the forget gate, "
        "whose bias starts at 1 (common practice) so the gate is mostly open: the Jacobian of [h; c] has "
        "a block close to the identity, the constant error carousel, and products decay only about "
        "×0.94 per step at initialisation. It learns the task.",
        {"cell": "lstm", "task": "adding", "seq_len": 50, "optimizer": "adam", "lr": 0.02, "steps": 300},
        (PerStep("init", lo=0.9), Outcome(LEARNED, below=0.3)),
    ),
    _P(
        "esn-off",
        "Sine forecasting, all weights trained",
        "A tanh network trained end to end on next-value forecasting of a noisy sum of sines. It learns "
        "the forecast.",
        {"task": "sine", "seq_len": 50, "rho": 0.95, "optimizer": "adam", "lr": 0.003, "steps": 200},
        (Outcome(LEARNED, below=0.3),),
    ),
    _P(
        "esn-on",
        "Echo state network",
        "The same network with the recurrent and input weights frozen at their scaled random "
        "initialisation: only the readout learns, and no gradient ever has to travel back in time. With ρ "
        "just below 1 the reservoir keeps a fading memory of its inputs, and the forecast is learnt nearly "
        "as well as with every weight trained.",
        {
            "task": "sine",
            "seq_len": 50,
            "rho": 0.95,
            "optimizer": "adam",
            "lr": 0.003,
            "steps": 200,
            "train_recurrent": False,
        },
        (Outcome(LEARNED, below=0.3),),
    ),
    _P(
        "teacher-forcing-off",
        "Free-running sine forecasting",
        "Without teacher forcing the network reads its own previous prediction as the next input, so its "
        "errors compound along the sequence and gradients also flow through the fed-back outputs. In 200 "
        "updates it does not learn the forecast.",
        {
            "task": "sine",
            "seq_len": 50,
            "rho": 0.9,
            "optimizer": "adam",
            "lr": 0.003,
            "steps": 200,
            "teacher_forcing": False,
        },
        (Outcome(NO_LEARNING),),
    ),
    _P(
        "teacher-forcing-on",
        "Teacher forcing",
        "With teacher forcing the network reads the true previous value at every step: each prediction "
        "starts from the truth, and the same training learns the forecast.",
        {
            "task": "sine",
            "seq_len": 50,
            "rho": 0.9,
            "optimizer": "adam",
            "lr": 0.003,
            "steps": 200,
            "teacher_forcing": True,
        },
        (Outcome(LEARNED, below=0.3),),
    ),
    _P(
        "hf-off",
        "A first-order method on a long-range adding problem",
        "The adding task at T = 50 (hidden 32, tanh, spectral radius 1, batch 256) trained by Adam "
        "(lr 0.01) for 300 updates. The gradient from the answer fades on its way back: after training "
        "the products shrink about ×0.72 per step, and the temporal gradient profile falls by five orders "
        "of magnitude from the last step to the first. The updates hear only the recent steps, and the "
        "loss stays at the baseline. The first-order side of Hessian-free.",
        {
            "task": "adding",
            "seq_len": 50,
            "hidden": 32,
            "batch": 256,
            "optimizer": "adam",
            "lr": 0.01,
            "steps": 300,
        },
        (Outcome(NO_LEARNING), PerStep("end", hi=0.8)),
    ),
    _P(
        "hf-on",
        "Hessian-free on the same problem",
        "The same problem, network and seed trained by Hessian-free (Martens 2010) with structural "
        "damping, for 20 updates (15 times fewer). Each update solves for a step on the curvature by "
        "conjugate gradient, 20 to 50 iterations, and adapts the damping λ to how well its quadratic "
        "model predicted the loss (the chart next to the loss). For ten updates the loss sits at the "
        "baseline while λ falls; then one step over-promises, λ rises, and within ten more updates the "
        "loss ends far below the baseline (about 3 % of it). After training the products stay near ×1 "
        "per step and the gradient profile reaches back to the first step. Each update costs as much as "
        "tens of Adam's (bench/hf.py measures the ratio).",
        {
            "task": "adding",
            "seq_len": 50,
            "hidden": 32,
            "batch": 256,
            "optimizer": "hf",
            "hf_cg_max": 50,
            "steps": 20,
        },
        (Outcome(LEARNED, below=0.1), PerStep("end", lo=0.95)),
    ),
    _P(
        "init-gaussian",
        "Gaussian init, σ_max below 1",
        "A linear cell with a Gaussian W_hh scaled to spectral radius 0.5, which puts its largest "
        "singular value near 0.9: no direction can grow by more than that in one step, so Pascanu's bound "
        "rules out exploding gradients. But the singular values of a Gaussian matrix spread out, its "
        "eigenvalues fill the disc, and the products shrink about ×0.5 per step. Compare "
        "'orthogonal-edge', which keeps σ_max = 1 without the decay.",
        {
            "act": "linear",
            "init": "gaussian",
            "rho": 0.5,
            "task": "sine",
            "seq_len": 100,
            "optimizer": "adam",
            "lr": 0.003,
            "steps": 200,
        },
        (PerStep("init", hi=0.55), Within("sigma_init", lo=0.8, hi=1.0)),
    ),
]
PRESETS: dict[str, Preset] = {p.name: p for p in _ALL}

ALIASES = {"copy-truncated": "order-truncated", "copy-full": "order-full"}
"""Old names that shared links may still carry. The copy task needs thousands of updates to learn, so
the truncation pair moved to the order task; a link spells out its settings, so it still reproduces."""


def resolve(name: str) -> str | None:
    """The preset a name refers to (its own name, or the new name of an old one), or None."""
    name = ALIASES.get(name, name)
    return name if name in PRESETS else None


class Remedy(NamedTuple):
    """A remedy pair: the preset without the remedy and the one with it (same seed)."""

    name: str
    without: str
    with_: str

    @property
    def claims(self) -> tuple:
        """What "with" shows against "without", checked (claims.Gain)."""
        return PAIR_CLAIMS[self.name]


REMEDIES: list[Remedy] = [
    Remedy("Gradient clipping", "exploding", "exploding-clipped"),
    Remedy("Full BPTT instead of truncation", "order-truncated", "order-full"),
    Remedy("L2 penalty on W_hh", "l2-off", "l2-on"),
    Remedy("Vanishing-gradient regulariser", "omega-off", "omega-on"),
    Remedy("Gradient flossing", "omega-off", "floss-on"),
    Remedy("Leaky integration", "leak-off", "leak-on"),
    Remedy("GRU", "gated-off", "gru"),
    Remedy("LSTM", "gated-off", "lstm"),
    Remedy("Orthogonal initialisation", "init-gaussian", "orthogonal-edge"),
    Remedy("Echo state network", "esn-off", "esn-on"),
    Remedy("Teacher forcing", "teacher-forcing-off", "teacher-forcing-on"),
    Remedy("Hessian-free optimisation", "hf-off", "hf-on"),
]

PAIR_CLAIMS: dict[str, tuple] = {
    # a diverged run's loss ratio counts as infinite: "with" must learn where "without" diverges
    "Gradient clipping": (Gain("ratio", more=False, by=0.4, scale="ratio"),),
    "Full BPTT instead of truncation": (Gain("ratio", more=False, by=0.2, scale="ratio"),),
    "L2 penalty on W_hh": (Gain("rho_end", more=False, by=0.3), Gain("end_factor", more=False, by=0.1)),
    "Vanishing-gradient regulariser": (
        Gain("end_factor", more=True, by=0.2),
        Gain("reach", more=True, by=1.0),
    ),
    "Gradient flossing": (Gain("end_factor", more=True, by=0.2), Gain("reach", more=True, by=5.0)),
    "Leaky integration": (Gain("init_factor", more=True, by=0.25),),
    "GRU": (Gain("ratio", more=False, by=0.2, scale="ratio"), Gain("end_factor", more=True, by=0.15)),
    "LSTM": (Gain("ratio", more=False, by=0.3, scale="ratio"), Gain("init_factor", more=True, by=0.1)),
    "Orthogonal initialisation": (Gain("init_factor", more=True, by=0.4),),
    # the reservoir is not trained, yet forecasts nearly as well: at most 1.5x the loss of full training
    "Echo state network": (Gain("ratio", more=False, by=1.5, scale="ratio"),),
    "Teacher forcing": (Gain("ratio", more=False, by=0.3, scale="ratio"),),
    # HF learns where Adam with 15x the updates does not, and its gradient reaches the first step
    "Hessian-free optimisation": (
        Gain("ratio", more=False, by=0.1, scale="ratio"),
        Gain("reach", more=True, by=3.0),
    ),
}


def preset_config(name: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The preset's config with `overrides` on top (strict: raises ConfigError)."""
    found = resolve(name)
    if found is None:
        raise ConfigError("preset", f"{name!r} is unknown", "one of " + ", ".join(PRESETS))
    return RunConfig.from_dict({**PRESETS[found].settings, **(overrides or {})})
