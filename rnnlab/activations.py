"""The one home of an activation f of the vanilla cell: f, f', gamma = max |f'|, mean-field moments.

Every other module asks `get(name)` (cells, the hand-written BPTT, the Jacobian engines, the theory,
the figures, the FIELDS choices), so an unknown name raises the same error everywhere and adding an
activation means adding one `Activation` to `ACTIVATIONS` below (and its tests).

Each function comes twice, for torch (training, Jacobians) and numpy (the theory's quadrature), because
the theory stays a pure numpy library. relu'(0) is taken as 0, as autograd does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    name: str  # the key in URL, CLI, Python and files
    label: str  # what a chart legend or a select box shows
    gamma: float  # max |f'(x)|: the per-step factor the norm bound allows the activation
    f: Callable[[Tensor], Tensor]
    f_out: Callable[[Tensor, Tensor], object]  # f(a) written into out (the BPTT forward)
    slope: Callable[[Tensor], Tensor]  # f'(a)
    slope_over: Callable[[Tensor, Tensor | None], Tensor]  # f'(a) written over a; fa = f(a) if known
    f_np: Callable[[Array], Array]
    slope_np: Callable[[Array], Array]
    square_gain: float | None = None
    """For a positively homogeneous f, E[f(sqrt(q) z)^2] = square_gain * q at every q (the mean-field
    fixed point then has a closed form); None otherwise."""


def _np_sigmoid(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic without overflow warnings


def _np_sigmoid_slope(x: Array) -> Array:
    s = _np_sigmoid(x)
    return s * (1.0 - s)


def _tanh_slope_over(a: Tensor, fa: Tensor | None) -> Tensor:
    # 1 - f(a)^2, from f(a) when the caller still holds it (saves a tanh per element)
    return (a.tanh_().square_() if fa is None else torch.mul(fa, fa, out=a)).neg_().add_(1)


def _sigmoid_slope_over(a: Tensor, fa: Tensor | None) -> Tensor:
    a.sigmoid_()
    return a.addcmul_(a, a, value=-1)  # f(a)(1 - f(a))


def _sigmoid_slope(a: Tensor) -> Tensor:
    s = torch.sigmoid(a)
    return s * (1.0 - s)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "tanh", "tanh", 1.0,
            f=torch.tanh,
            f_out=lambda a, out: torch.tanh(a, out=out),
            slope=lambda a: 1.0 - torch.tanh(a) ** 2,
            slope_over=_tanh_slope_over,
            f_np=np.tanh,
            slope_np=lambda x: 1.0 - np.tanh(x) ** 2,
        ),
        Activation(
            "sigmoid", "sigmoid", 0.25,
            f=torch.sigmoid,
            f_out=lambda a, out: torch.sigmoid(a, out=out),
            slope=_sigmoid_slope,
            slope_over=_sigmoid_slope_over,
            f_np=_np_sigmoid,
            slope_np=_np_sigmoid_slope,
        ),
        Activation(
            "relu", "relu", 1.0,
            f=torch.relu,
            f_out=lambda a, out: torch.clamp(a, min=0, out=out),
            slope=lambda a: (a > 0).to(a.dtype),
            slope_over=lambda a, fa: a.gt_(0),
            f_np=lambda x: np.maximum(x, 0.0),
            slope_np=lambda x: (x > 0).astype(float),
            square_gain=0.5,
        ),
        Activation(
            "linear", "linear", 1.0,
            f=lambda a: a,
            f_out=lambda a, out: out.copy_(a),
            slope=torch.ones_like,
            slope_over=lambda a, fa: a.fill_(1),
            f_np=lambda x: x,
            slope_np=np.ones_like,
            square_gain=1.0,
        ),
    )
}  # fmt: skip
NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    """The activation called `name`; any other name raises, wherever it is asked for."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"act: {name!r} is not one of {', '.join(NAMES)}") from None


# ---- mean-field moments, z ~ N(0, 1), by Gauss-Hermite quadrature -----------------------------------

_QUAD_NODES = 120  # exact for polynomials up to degree 239, plenty for tanh
_Z, _W = np.polynomial.hermite_e.hermegauss(_QUAD_NODES)
_W = _W / math.sqrt(2.0 * math.pi)  # weights now sum to 1: sum(_W * h(_Z)) = E[h(z)]
_Q_FLOOR = 1e-300  # moments at q = 0 are the limit q -> 0+ (relu: E[f'^2] = 1/2 at every q > 0)


def mean_square(name: str, q: float) -> float:
    """E[f(sqrt(q) z)^2]: the variance map of the pre-activations is q <- g^2 (this) + s2."""
    fx = get(name).f_np(math.sqrt(q) * _Z)
    return float(np.sum(_W * fx * fx))


def slope_moments(name: str, q: float) -> tuple[float, float]:
    """(E[f'(sqrt(q) z)], E[f'(sqrt(q) z)^2]); at q = 0 the limit q -> 0+ (relu: 1/2, not f'(0) = 0)."""
    d = get(name).slope_np(math.sqrt(max(q, _Q_FLOOR)) * _Z)
    return float(np.sum(_W * d)), float(np.sum(_W * d * d))
