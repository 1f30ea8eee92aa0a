"""Where the network settles when it runs on its own: attractors at every snapshot of training.

At a snapshot the network runs freely from a few initial states with its input held at the neutral
value x_t = 0 (no task signal: the zero vector is the tasks' "nothing happens" input, and the mean of
the adding and sine tasks' values is near it), SETTLE steps to forget where it started, then KEEP
more steps are recorded. Each orbit is read through one scalar, the mean activity
m_t = (1/H) sum_i h_t,i, and classified on the whole state:

- fixed point: the state moves less than TOL (relative to its size) over the last step;
- cycle of period p (2 <= p <= MAX_PERIOD): s_{t+p} returns within TOL for every recorded t;
- chaos: neither, and a nearby twin trajectory separates from it (lambda_1 > CHAOS_MIN);
- aperiodic: neither, and it does not grow (quasi-periodic, or still settling).

Plotted against the training step, the recorded m_t form an orbit (bifurcation) diagram: a fixed
point is one dot per step, a cycle p dots, chaos a smear; a jump in the diagram where the loss jumps
is a bifurcation seen by gradient descent (Doya 1993).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from .cells import RecurrentNet

STARTS = 4  # initial states: the zero state and STARTS - 1 seeded random ones
SETTLE = 500  # steps run before recording
KEEP = 64  # steps recorded (the diagram's dots per orbit)
MAX_PERIOD = 32
TOL = 1e-5  # relative: ||s_{t+p} - s_t|| <= TOL * (1 + ||s_t||)
CHAOS_MIN = 1e-3  # lambda_1 (ln per step) above which an aperiodic orbit is called chaotic
START_SEED = 1234
EPS = 1e-7  # the twin trajectory's distance (float64)
# period codes in the export: p >= 1 (1 = fixed point), CHAOS, APERIODIC
CHAOS, APERIODIC = 0, -1


@dataclass(frozen=True)
class Orbits:
    """The free-running orbits of one network: `points` (P, KEEP) mean activity, `period` (P,)
    codes (1 fixed point, p a cycle, CHAOS, APERIODIC), `lambda_1` (P,) the tangent growth rate."""

    points: np.ndarray
    period: np.ndarray
    lambda_1: np.ndarray


def kind(period: int) -> str:
    if period == 1:
        return "fixed point"
    if period > 1:
        return f"cycle (period {period})"
    return "chaos" if period == CHAOS else "aperiodic"


def start_states(n: int, starts: int = STARTS) -> torch.Tensor:
    """(P, n) uniform(-1, 1) states from a fixed seed, the same at every snapshot (none exactly at 0,
    which is a fixed point of every zero-bias cell, attracting or not)."""
    gen = torch.Generator().manual_seed(START_SEED)
    return torch.rand(starts, n, generator=gen, dtype=torch.float64) * 2 - 1


@torch.no_grad()
def free_run(model: RecurrentNet, starts: int = STARTS, settle: int = SETTLE, keep: int = KEEP) -> Orbits:
    """Run `model` (in float64) with x = 0 from `starts` initial states; classify and project each orbit.

    lambda_1 by two trajectories (Benettin): a twin started EPS away is pulled back to EPS along its
    offset after every step; the mean log of the offset's growth over the second half is lambda_1.
    """
    net = copy.deepcopy(model).double()
    n, P = net.state_size, starts
    s = start_states(n, starts)  # (P, n)
    twin = s + EPS * torch.nn.functional.normalize(torch.ones(P, n, dtype=torch.float64), dim=1)
    xp = net.in_proj(torch.zeros(1, 2 * P, _inputs(net), dtype=torch.float64))[0]  # (2P, gH) neutral
    growth = torch.zeros(P, dtype=torch.float64)
    states = torch.empty(keep + MAX_PERIOD, P, n, dtype=torch.float64)
    total = settle + keep + MAX_PERIOD
    for t in range(total):
        both = net.step(torch.cat([s, twin]), xp)[0]  # (2P, n)
        s, d = both[:P], both[P:] - both[:P]
        dist = torch.linalg.vector_norm(d, dim=1).clamp_min(1e-300)  # (P,)
        twin = s + EPS * d / dist[:, None]
        if t >= total // 2:  # the offset's second half: its direction has aligned
            growth += torch.log(dist / EPS)
        if t >= settle:
            states[t - settle] = s
    lam = (growth / (total - total // 2)).numpy()
    ok = torch.isfinite(states).all(dim=2).all(dim=0)  # (P,)
    period = np.array(
        [_period(states[:, i], float(lam[i])) if ok[i] else APERIODIC for i in range(P)], dtype=np.int64
    )
    points = net.hidden_of(states[:keep]).mean(-1).T.numpy()  # (P, keep) mean activity
    return Orbits(points, period, lam)


def _inputs(net: RecurrentNet) -> int:
    return (net.W_xh if net.cell == "rnn" else net.weight_ih).shape[1]


def _period(orbit: torch.Tensor, lam: float) -> int:
    """Smallest p <= MAX_PERIOD with s_{t+p} = s_t (within TOL) for every recorded t; else CHAOS or
    APERIODIC by the tangent growth. orbit (keep + MAX_PERIOD, n)."""
    keep = orbit.shape[0] - MAX_PERIOD
    scale = 1.0 + torch.linalg.vector_norm(orbit[:keep], dim=1)  # (keep,)
    for p in range(1, MAX_PERIOD + 1):
        diff = torch.linalg.vector_norm(orbit[p : p + keep] - orbit[:keep], dim=1)  # (keep,)
        if bool((diff <= TOL * scale).all()):
            return p
    return CHAOS if math.isfinite(lam) and lam > CHAOS_MIN else APERIODIC


def cliffs(grad_norm: np.ndarray, loss: np.ndarray, window: int = 20, factor: float = 5.0) -> np.ndarray:
    """Update indices where the gradient norm spiked or the loss jumped: a value above `factor` times
    the median of the `window` updates before it (for the loss: a rise above factor/2 times that
    median). The orbit diagram marks them."""
    g, lo = np.asarray(grad_norm, dtype=float), np.asarray(loss, dtype=float)
    hits = []
    for u in range(window, len(g)):
        gm = np.nanmedian(g[u - window : u])
        lm = np.nanmedian(lo[u - window : u])
        if (np.isfinite(gm) and g[u] > factor * gm) or (np.isfinite(lm) and lo[u] > 0.5 * factor * lm):
            hits.append(u)
    return np.array(hits, dtype=np.int64)
