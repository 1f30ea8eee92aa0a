"""What a computation may cost on this server, estimated from its config before it starts.

A class server is shared: one link at the caps (T = 1000, H = 512, an LSTM) would otherwise take
gigabytes and minutes in the server. Every heatmap (the at-init view on any page, and each snapshot
of a training run) and every training run is planned here first:

- a heatmap's memory is mostly the step Jacobians, held for every step in three precisions
  (float32 from the cell, float64 to find each step's scale, float32 normalised: 16 bytes per entry
  of L n^2; gated cells' batched autograd needs about L n x 4H floats more), plus the stored products
  of the computed columns; its work is (columns) x L x n^3 flops. Over the memory budget the view is
  refused with a message that says what would fit; over the work budget it keeps fewer columns k
  (`max_columns` of jacobian.heatmap), down to MIN_COLUMNS, with a notice;
- a training run's memory is the states of one minibatch for backpropagation (L x B x n, a few
  copies) and the snapshots' heatmaps; over the memory budget it is refused.

Budgets come from environment variables with defaults safe for a 2-core, 24 GB server shared by 30
sessions (README, "Running it for a class").
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from . import cells, lyapunov, tasks
from .config import RunConfig

VIEW_MB_ENV = "RNNLAB_VIEW_MB"
VIEW_GFLOP_ENV = "RNNLAB_VIEW_GFLOP"
RUN_MB_ENV = "RNNLAB_RUN_MB"
VIEW_MB, VIEW_GFLOP, RUN_MB = 1536, 400, 3072
"""Defaults. 1.5 GB per heatmap: one at a time per server process (ui.analysis's view gate), so a
24 GB box keeps room for 30 sessions' state and the trainings; 400 GFLOP is about a minute of the
spectral engine on one core of the dev machine; 3 GB per training process (RNNLAB_MAX_CONCURRENT of
them at once)."""

MIN_COLUMNS = 4
SPECTRUM_SHARE = 0.25
"""The Lyapunov spectrum (rnnlab.lyapunov) may take this share of a view's work budget; the heatmap's
columns get the rest. Below it every exponent is computed (up to lyapunov.ALL_MAX_N), above it
the top k that fit."""
# Measured peak resident memory of analyse() against these estimates (1 thread, dev machine): rnn
# H=256 T=300 524 MB (est. 533), H=512 T=200 1224 MB (1166); gru H=128 T=300 442 MB (432); lstm H=128
# T=300 837 MB (1005).
_J_BYTES = 20  # per entry of the (L, n, n) step Jacobians: float32 + float64 + normalised float32 + a temp
_STACK_COPIES = 8  # products of the computed columns: two ping-pong buffers, G = P P^T, ladder, work arrays
_AUTOGRAD_COPIES = 3  # vmap(jacrev) of a gated cell: (L n, gH) floats per saved tensor
_OVERHEAD = 64 * 2**20  # the model, the probe's forward pass, the result
_RUN_COPIES = 8  # a training update's (L, B, n)-sized buffers: measured 3.6 GB for rnn H=512 T=1000 B=256


def _env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def view_mb() -> float:
    return _env(VIEW_MB_ENV, VIEW_MB)


def view_gflop() -> float:
    return _env(VIEW_GFLOP_ENV, VIEW_GFLOP)


def run_mb() -> float:
    return _env(RUN_MB_ENV, RUN_MB)


def state_size(cfg: RunConfig | _Sizes) -> int:
    """n, the size of the state whose Jacobians the heatmap multiplies ([h; c] for lstm)."""
    return cells.state_size(cfg.cell, cfg.hidden)


def gates(cfg: RunConfig | _Sizes) -> int:
    return {"rnn": 1, "gru": 3, "lstm": 4}[cfg.cell]


def view_bytes(cfg: RunConfig | _Sizes, columns: int) -> float:
    """Peak memory of one heatmap of cfg's network with `columns` computed columns."""
    L, n = cfg.seq_total, state_size(cfg)
    jac = L * n * n * _J_BYTES
    autograd = 0 if cfg.cell == "rnn" else L * n * gates(cfg) * cfg.hidden * 4 * _AUTOGRAD_COPIES
    return _OVERHEAD + jac + autograd + columns * n * n * 4 * _STACK_COPIES


def spectrum_flops(L: int, n: int, k: int) -> float:
    """Work of the spectrum's k exponents: per step one (n, n) x (n, k) product and a QR of (n, k)."""
    return L * (2.0 * n * n * k + 4.0 * n * k * k)


def spectrum_k(L: int, n: int) -> int:
    """How many Lyapunov exponents a view of L steps and state size n computes within its share of
    the work budget: lyapunov.exponents_k(n), or fewer (at least 1) when that costs more."""
    want, share = lyapunov.exponents_k(n), SPECTRUM_SHARE * view_gflop() * 1e9
    if spectrum_flops(L, n, want) <= share:
        return want
    return max(1, _largest(lambda k: spectrum_flops(L, n, k) <= share, want))


def view_flops(cfg: RunConfig, columns: int) -> float:
    """Work of one heatmap: each computed column advances by one n x n product per later step."""
    L, n = cfg.seq_total, state_size(cfg)
    return columns * L * n**3


@dataclass(frozen=True)
class ViewPlan:
    """How a heatmap of cfg will be computed, or why it will not.

    columns: computed columns k (None: every one of the L). refused: the reason, when even
    MIN_COLUMNS do not fit the memory budget (then nothing is computed). note: a sentence for the
    person when columns were reduced. mb, gflop: the estimate of what is computed.
    """

    columns: int | None
    refused: str
    note: str
    mb: float
    gflop: float

    @property
    def ok(self) -> bool:
        return not self.refused


def plan_view(cfg: RunConfig, flop_budget: float | None = None) -> ViewPlan:
    """Columns for a heatmap of cfg within the server's budgets (flop_budget in flops overrides the
    work budget, e.g. the smaller one of a view that redraws on every control change)."""
    L = cfg.seq_total
    flops = flop_budget if flop_budget is not None else view_gflop() * 1e9
    n = state_size(cfg)
    budget, flops = flops, max(flops - spectrum_flops(L, n, spectrum_k(L, n)), 0.0)  # spectrum first
    mem = view_mb() * 2**20
    base = view_bytes(cfg, 0)
    if view_bytes(cfg, MIN_COLUMNS) > mem:
        return ViewPlan(
            None,
            _refusal(cfg, mem),
            "",
            view_bytes(cfg, MIN_COLUMNS) / 2**20,
            view_flops(cfg, MIN_COLUMNS) / 1e9,
        )
    per_col = max(view_flops(cfg, 1), 1.0)
    by_mem = (mem - base) / (state_size(cfg) ** 2 * 4 * _STACK_COPIES)
    cols = int(min(L, flops / per_col, by_mem))
    cols = max(MIN_COLUMNS, cols)
    if cols >= L:
        return ViewPlan(None, "", "", view_bytes(cfg, L) / 2**20, view_flops(cfg, L) / 1e9)
    note = (
        f"{cols} of the {L} columns k computed, evenly spaced (every {math.ceil(L / cols)}th), to stay "
        f"within this server's budget for one view ({_size(mem)}, {budget / 1e9:.0f} GFLOP)."
    )
    return ViewPlan(cols, "", note, view_bytes(cfg, cols) / 2**20, view_flops(cfg, cols) / 1e9)


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MB"


def _refusal(cfg: RunConfig, mem: float) -> str:
    """Why a heatmap of cfg does not fit, and the largest length and state size that would."""
    need = view_bytes(cfg, MIN_COLUMNS)
    fit_len = _largest(lambda L: view_bytes(_with(cfg, seq_len=L), MIN_COLUMNS) <= mem, cfg.seq_len)
    fit_h = _largest(lambda H: view_bytes(_with(cfg, hidden=H), MIN_COLUMNS) <= mem, cfg.hidden)
    what = [
        f"a sequence length of at most {fit_len}" if fit_len >= 2 else "",
        f"a hidden size of at most {fit_h}" if fit_h >= 2 else "",
    ]
    what = [w for w in what if w]
    return (
        f"This heatmap would need about {_size(need)} of memory, more than this server allows for one "
        f"view ({_size(mem)}, {VIEW_MB_ENV})." + (f" With {' or '.join(what)} it fits." if what else "")
    )


def _with(cfg: RunConfig, **changes: int) -> _Sizes:
    """cfg with sizes changed, without re-validating caps (only its sizes are read)."""
    return _Sizes(cfg, changes)


class _Sizes:
    """The few attributes the estimates read, with some changed (no RunConfig validation)."""

    def __init__(self, cfg: RunConfig, changes: dict[str, int]):
        self.cell, self.task = cfg.cell, cfg.task
        self.hidden = changes.get("hidden", cfg.hidden)
        self.seq_len = changes.get("seq_len", cfg.seq_len)

    @property
    def seq_total(self) -> int:
        return tasks.sequence_length(self.task, self.seq_len)


def _largest(fits, upto: int) -> int:
    """The largest x in 2..upto with fits(x) (fits is monotone decreasing); 1 when none."""
    lo, hi = 1, upto
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= 2 and fits(lo) else 1


def run_bytes(cfg: RunConfig) -> float:
    """Peak memory of a training process for cfg: one minibatch's sequence buffers and a snapshot."""
    L, n = cfg.seq_total, state_size(cfg)
    # hf also holds the graph of a forward pass over its curvature sequences while CG runs: counted
    # as one more update's buffers for those sequences (from the structure, not measured)
    rows = cfg.batch + (min(cfg.hf_curv_batch, cfg.batch) if cfg.optimizer == "hf" else 0)
    states = L * rows * max(n, gates(cfg) * cfg.hidden) * 4 * _RUN_COPIES
    plan = plan_view(cfg)
    snapshot = view_bytes(cfg, plan.columns or L) if plan.ok else 0
    return states + snapshot


def check_run(cfg: RunConfig) -> str:
    """ "" when a training run of cfg fits this server's budget, else the reason (for a message)."""
    need, mem = run_bytes(cfg), run_mb() * 2**20
    if need <= mem:
        return ""
    return (
        f"Training this configuration would need about {_size(need)} of memory, more than this server "
        f"allows for one run ({_size(mem)}, {RUN_MB_ENV}). A shorter sequence, a smaller batch or "
        "hidden size fits."
    )
