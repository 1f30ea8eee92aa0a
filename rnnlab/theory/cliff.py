"""The one-unit loss cliff of Pascanu et al. (2013), descent on it, and what clipping does to a step."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import _check_positive

CLIFF_DEFAULTS: dict[str, Any] = {
    "w0": 4.5,
    "b0": -2.75,
    "lr": 0.3,
    "clip": 1.0,
    "steps": 100,
    "T": 50,
    "x0": 0.5,
    "target": 0.7,
    "w_range": (-2.0, 10.0),
    "b_range": (-8.0, 4.0),
}
"""A start where plain gradient descent falls off the cliff and clipped descent does not.

From (4.5, -2.75) descent walks down the high-loss plateau towards the wall near w ~ 4.5,
b ~ -2.3; at step 8 the gradient norm reaches about 160 and the unclipped update throws the
parameters about 48 units away (to w ~ 30, b ~ 39), onto a flat plateau with loss 0.09 where it
stays. With the norm clipped at 1 the same step is at most lr * 1 = 0.3 long and descent settles
near loss 0.001. Found by a grid search over starts and learning rates; where exactly a step lands
near the wall is very sensitive to the start, which is part of the lesson.
"""


def _sigmoid(x):
    """Logistic without overflow warnings: 0.5 (1 + tanh(x/2))."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _cliff_forward(w, b, T, x0):
    """x_T with dx_T/dw and dx_T/db by forward-mode recurrences (float64, broadcast over w, b).

    x_t = w s(x_{t-1}) + b, so dx_t/dw = s + w s' dx_{t-1}/dw and dx_t/db = 1 + w s' dx_{t-1}/db.
    """
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be an integer >= 1, got {T!r}")
    w, b = np.broadcast_arrays(np.asarray(w, dtype=float), np.asarray(b, dtype=float))
    x = np.full(w.shape, float(x0))
    dxdw = np.zeros(w.shape)
    dxdb = np.zeros(w.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(T):
            s = _sigmoid(x)
            ds = s * (1.0 - s)
            dxdw = s + w * ds * dxdw
            dxdb = 1.0 + w * ds * dxdb
            x = w * s + b
    return x, dxdw, dxdb


def cliff_loss(w, b, T: int = 50, x0: float = 0.5, target: float = 0.7) -> np.ndarray:
    """L(w, b) = (sigmoid(x_T) - target)^2 for x_t = w sigmoid(x_{t-1}) + b; vectorised over w, b."""
    x, _, _ = _cliff_forward(w, b, T, x0)
    return (_sigmoid(x) - target) ** 2


def cliff_grad(w, b, T: int = 50, x0: float = 0.5, target: float = 0.7):
    """Exact (dL/dw, dL/db), from the forward-mode recurrences, as float64 arrays."""
    x, dxdw, dxdb = _cliff_forward(w, b, T, x0)
    y = _sigmoid(x)
    dLdx = 2.0 * (y - target) * y * (1.0 - y)
    with np.errstate(over="ignore", invalid="ignore"):
        return dLdx * dxdw, dLdx * dxdb


@dataclass(frozen=True)
class CliffPath:
    """A descent on the cliff loss.

    path: (n+1, 2) points (w, b), the start first. losses: (n+1,) loss at each point.
    grad_norms: (n,) gradient norm before clipping at each step. clipped: (n,) whether it was clipped.
    stopped: None, or why the path ended before the requested steps (a non-finite gradient or point).
    """

    path: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    clipped: np.ndarray
    stopped: str | None = None


def cliff_descent(
    w0: float,
    b0: float,
    lr: float,
    steps: int,
    clip: float | None = None,
    T: int = 50,
    x0: float = 0.5,
    target: float = 0.7,
) -> CliffPath:
    """Plain gradient descent on the cliff loss, or with norm clipping when clip is a positive number.

    Clipping keeps the direction and caps the length: g <- clip * g / ||g|| when ||g|| > clip, so
    no step is longer than lr * clip. clip None or 0 means off (as in the app's `clip` key).
    """
    lr = _check_positive("lr", lr)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if clip is not None:
        clip = _check_positive("clip", clip, allow_zero=True) or None
    p = np.array([float(w0), float(b0)])
    if not np.all(np.isfinite(p)):
        raise ValueError("w0 and b0 must be finite")
    path, norms, clipped, stopped = [p], [], [], None
    for k in range(steps):
        g = np.array(cliff_grad(p[0], p[1], T, x0, target), dtype=float)
        norm = float(np.hypot(g[0], g[1]))
        if not math.isfinite(norm):
            stopped = f"gradient is not finite at step {k} (w={p[0]:.4g}, b={p[1]:.4g})"
            break
        cut = clip is not None and norm > clip
        if cut:
            assert clip is not None  # cut implies a clip
            g = g * (clip / norm)
        with np.errstate(over="ignore", invalid="ignore"):
            p_new = p - lr * g
        if not np.all(np.isfinite(p_new)):
            stopped = f"parameters became non-finite at step {k}"
            break
        p = p_new
        path.append(p)
        norms.append(norm)
        clipped.append(cut)
    points = np.array(path)
    losses = np.asarray(cliff_loss(points[:, 0], points[:, 1], T, x0, target), dtype=float)
    return CliffPath(
        path=points,
        losses=losses,
        grad_norms=np.array(norms, dtype=float),
        clipped=np.array(clipped, dtype=bool),
        stopped=stopped,
    )


def cliff_grid(
    w_range: tuple[float, float] | None = None,
    b_range: tuple[float, float] | None = None,
    n: int = 181,
    T: int = 50,
    x0: float = 0.5,
    target: float = 0.7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, b, log10 loss) on an n x n grid (rows b, columns w); the loss is floored at 1e-12."""
    w_lo, w_hi = w_range or CLIFF_DEFAULTS["w_range"]
    b_lo, b_hi = b_range or CLIFF_DEFAULTS["b_range"]
    w = np.linspace(w_lo, w_hi, n)
    b = np.linspace(b_lo, b_hi, n)
    loss = cliff_loss(w[None, :], b[:, None], T, x0, target)  # (n_b, n_w)
    return w, b, np.log10(np.maximum(loss, 1e-12))


# ---- clipping and direction ------------------------------------------------------------------------


def clip_vectors(g, c: float) -> dict[str, np.ndarray]:
    """The gradient g, norm-clipped (c g/||g|| if ||g|| > c) and value-clipped (each part in [-c, c])."""
    g = np.asarray(g, dtype=float)
    n = float(np.linalg.norm(g))
    norm_clipped = g * (c / n) if n > c else g.copy()
    return {"gradient": g, "norm-clipped": norm_clipped, "value-clipped": np.clip(g, -c, c)}


def angle_deg(u, v) -> float:
    """Angle between u and v in degrees: how far clipping turned a gradient (norm clipping: 0)."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    cos = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))
