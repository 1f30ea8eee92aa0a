"""Hessian-free optimisation (Martens 2010) with structural damping (Martens & Sutskever 2011).

One HF update on a minibatch, given its gradient g (of the task loss plus the L1/L2 penalty):

  curvature  G = J^T H_L J, the Gauss-Newton matrix of the loss in the network's outputs z, on a
             sub-batch of the minibatch (its first `hf_curv_batch` sequences). J = dz/dtheta; H_L is
             the Hessian of the task's loss in z (2/N on MSE steps, (diag p - p p^T)/N on
             cross-entropy steps), PSD for both. G v = J^T (H_L (J v)): one forward pass with dual
             numbers for J v, one reverse pass for J^T (see Curvature). G is never formed.
  damping    (G + lambda I + lambda mu S) d = -g with S = J_s^T J_s / N, the structural term: it
             charges a step for how much it moves the hidden states s_t (J_s = ds/dtheta), so a step
             the quadratic model trusts cannot swing the recurrent dynamics far where the model is
             not valid. N is the loss's own normaliser (loss steps x sequences).
  CG         conjugate gradient on that system as in Martens 2010: warm start from 0.95 times the
             previous solution, stop when the quadratic model's relative progress over the last
             max(10, i/10) iterations falls below 5e-4 per iteration, or at `hf_cg_max` iterations.
  backtrack  the iterates at i = ceil(1.3^j) and the last are kept; from the last backwards, the one
             with the lowest true loss on the minibatch is taken (Martens 2010, section 4.6).
  ratio      rho = (f(theta + p) - f(theta)) / (q(p) - q(0)) with q the undamped Gauss-Newton model;
             Levenberg-Marquardt: rho < 1/4 -> lambda * 3/2, rho > 3/4 -> lambda * 2/3.
  line search  Armijo backtracking on the true minibatch loss: alpha = 1, 0.8, 0.8^2, ... until
             f(theta + alpha p) <= f(theta) + 0.01 alpha g.p; none within 40 tries: the step is
             rejected (alpha = 0) and the weights stay as they were.

The L2 penalty's curvature (2 l2 on the penalised recurrent weights) joins G exactly; L1's is 0.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor
from torch.func import functional_call

from .cells import RecurrentNet
from .tasks import Batch, Task

CG_DECAY = 0.95  # warm start: this times the previous CG solution
CG_EPS = 5e-4  # relative-progress threshold per iteration
CG_MIN_WINDOW = 10  # progress is measured over max(10, i/10) iterations
BACKTRACK_GAMMA = 1.3  # iterates kept for backtracking: i = ceil(1.3^j)
LM_LOW, LM_HIGH = 0.25, 0.75  # reduction ratios that move lambda
LM_BOOST, LM_DROP = 1.5, 2.0 / 3.0
DAMPING_RANGE = (1e-6, 1e6)  # lambda stays inside: a run of rejections cannot overflow it
ARMIJO_C, ARMIJO_SHRINK, ARMIJO_TRIES = 1e-2, 0.8, 40


# ---- parameters as one vector ----------------------------------------------------------------------


class Flat:
    """The trainable parameters as one vector theta (P,), and the way back to named tensors."""

    def __init__(self, model: RecurrentNet, params: list[torch.nn.Parameter]):
        name_of = {id(p): n for n, p in model.named_parameters()}
        self.params = params
        self.names = [name_of[id(p)] for p in params]
        self.shapes = [p.shape for p in params]
        self.sizes = [p.numel() for p in params]

    def get(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])  # (P,)

    def grad(self) -> Tensor:
        return torch.cat(
            [p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel()) for p in self.params]
        )

    def set(self, theta: Tensor) -> None:
        with torch.no_grad():
            for p, t in zip(self.params, theta.split(self.sizes)):
                p.copy_(t.view_as(p))

    def named(self, theta: Tensor) -> dict[str, Tensor]:
        return {n: t.view(s) for n, s, t in zip(self.names, self.shapes, theta.split(self.sizes))}


# ---- curvature products -----------------------------------------------------------------------------


@functools.cache
def _load_forward_ad_rules() -> None:
    """Forward-mode AD loads torch's decompositions for it on first use, through torch.jit.script,
    which warns that it is deprecated (torch 2.9+). Load them once here with that one warning
    silenced: it is torch's own business, and the tests turn warnings into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.script.*deprecated", category=DeprecationWarning
        )
        from torch._decomp import decompositions_for_jvp  # noqa: F401


class Curvature:
    """Products with G = J^T H_L J and S = J_s^T J_s / N on one batch at parameters theta.

    J v is one forward pass with dual numbers (torch.autograd.forward_ad); J^T w is one reverse pass
    through the graph of a forward pass taken once, on construction. (torch.func.jvp computes the
    same J v at about 10x the cost on this step-by-step loop, its rules going through
    decompositions; the double-backward trick, d(v . J^T u)/du, at 1-3x.)
    """

    def __init__(
        self, model: RecurrentNet, flat: Flat, theta: Tensor, task: Task, x: Tensor, y: Tensor, free: bool
    ):
        def forward(th: Tensor) -> tuple[Tensor, Tensor]:  # (P,) -> z (T, B, O), s (T, B, n)
            tr = functional_call(model, flat.named(th), (x,), {"free_running": free})
            return tr.out, tr.states

        _load_forward_ad_rules()
        self.forward, self.theta = forward, theta.detach()
        th = self.theta.clone().requires_grad_(True)
        with torch.enable_grad():
            self._outs = forward(th)
            z = self._outs[0].detach().requires_grad_(True)
            (self._dloss,) = torch.autograd.grad(task.loss(z, y), z, create_graph=True)  # dL/dz
        self._th, self._z = th, z
        self.out, self.states = (o.detach() for o in self._outs)
        self.N = float(task.loss_steps.sum() * x.shape[1])  # the loss's normaliser

    def loss_hessian(self, u: Tensor) -> Tensor:
        """H_L u for u (T, B, O): the Hessian of the task loss in the outputs, exactly."""
        (hu,) = torch.autograd.grad(self._dloss, self._z, u, retain_graph=True, allow_unused=True)
        return torch.zeros_like(u) if hu is None else hu

    def jvp(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """(J_z v (T, B, O), J_s v (T, B, n))."""
        with torch.no_grad(), fwAD.dual_level():
            out, states = self.forward(fwAD.make_dual(self.theta, v))
            jz, js = fwAD.unpack_dual(out).tangent, fwAD.unpack_dual(states).tangent
        return (
            torch.zeros_like(self.out) if jz is None else jz,
            torch.zeros_like(self.states) if js is None else js,
        )

    def vjp(self, u: Tensor, w: Tensor) -> Tensor:
        """J_z^T u + J_s^T w, (P,)."""
        (g,) = torch.autograd.grad(self._outs, self._th, (u, w), retain_graph=True)
        return g

    def gauss_newton(self, v: Tensor) -> Tensor:
        """G v = J_z^T H_L J_z v."""
        jz, js = self.jvp(v)
        return self.vjp(self.loss_hessian(jz), torch.zeros_like(js))

    def structural(self, v: Tensor) -> Tensor:
        """S v = J_s^T J_s v / N."""
        jz, js = self.jvp(v)
        return self.vjp(torch.zeros_like(jz), js / self.N)

    def damped(self, v: Tensor, lam: float, mu: float) -> Tensor:
        """(G + lambda I + lambda mu S) v with one jvp and one vjp."""
        jz, js = self.jvp(v)
        return self.vjp(self.loss_hessian(jz), (lam * mu / self.N) * js) + lam * v


# ---- conjugate gradient ------------------------------------------------------------------------------


class CGResult(NamedTuple):
    x: Tensor  # the last iterate
    iters: int  # iterations run
    saved: list[tuple[int, Tensor]]  # (i, x_i) at i = ceil(1.3^j) and the last, in order
    phi: list[float]  # the quadratic model phi(x_i) = x_i.A x_i / 2 - b.x_i for i = 0..iters


def backtrack_points(n: int, gamma: float = BACKTRACK_GAMMA) -> set[int]:
    """The iteration numbers ceil(gamma^j) up to n."""
    out, j = set(), 0
    while (i := math.ceil(gamma**j)) <= n:
        out.add(i)
        j += 1
    return out


def cg(A: Callable[[Tensor], Tensor], b: Tensor, x0: Tensor, max_iters: int, eps: float = CG_EPS) -> CGResult:
    """Solve A x = b for symmetric positive definite A from x0 (Martens 2010's stopping rule).

    Stops at iteration i when i > k = max(10, i/10), phi(x_i) < 0 and
    (phi(x_i) - phi(x_{i-k})) / phi(x_i) < k eps: the last k iterations bought less than a fraction
    eps each of the model's decrease so far. Also stops at max_iters, at a zero residual, or when
    a direction shows no positive curvature (A is not positive definite there, in floating point).
    """
    keep = backtrack_points(max_iters)
    x = x0.clone()
    r = b - A(x)  # residual
    d = r.clone()
    rr = float(r @ r)
    phi = [float(-0.5 * (x @ (b + r)))]  # A x = b - r, so x.A x / 2 - b.x = -x.(b + r) / 2
    saved: list[tuple[int, Tensor]] = []
    i = 0
    while i < max_iters and rr > 0:
        Ad = A(d)
        dAd = float(d @ Ad)
        if not dAd > 0:
            break
        alpha = rr / dAd
        x = x + alpha * d
        r = r - alpha * Ad
        rr_new = float(r @ r)
        d = r + (rr_new / rr) * d
        rr = rr_new
        i += 1
        phi.append(float(-0.5 * (x @ (b + r))))
        if i in keep:
            saved.append((i, x))
        k = max(CG_MIN_WINDOW, i // 10)
        if i > k and phi[i] < 0 and (phi[i] - phi[i - k]) / phi[i] < k * eps:
            break
    if not saved or saved[-1][0] != i:
        saved.append((i, x))
    return CGResult(x, i, saved, phi)


# ---- the optimiser ----------------------------------------------------------------------------------


def lm_update(lam: float, ratio: float) -> float:
    """Levenberg-Marquardt: more damping when the model over-promised, less when it was right."""
    if not ratio >= LM_LOW:  # also a NaN ratio: the model could not be trusted
        lam *= LM_BOOST
    elif ratio > LM_HIGH:
        lam *= LM_DROP
    return min(max(lam, DAMPING_RANGE[0]), DAMPING_RANGE[1])


class Step(NamedTuple):
    """What one HF update did; `row` is its share of the metrics row."""

    cg_iters: int
    damping: float  # lambda after the update
    reduction_ratio: float  # rho of the backtracked CG step
    accepted: bool  # the line search found a step that lowers the minibatch loss
    step_size: float  # alpha of the line search; 0 when rejected

    def row(self) -> dict[str, float]:
        return {
            "cg_iters": self.cg_iters,
            "damping": self.damping,
            "reduction_ratio": self.reduction_ratio,
            "accepted": int(self.accepted),
            "step_size": self.step_size,
        }


@dataclass
class Settings:
    damping: float  # initial lambda
    mu: float  # structural damping weight
    cg_max: int  # CG iteration cap
    curv_batch: int  # sequences of the minibatch the curvature products use
    l2: float = 0.0  # the L2 penalty's weight (its curvature joins G)


class HessianFree:
    """HF's state across updates: the damping lambda and the previous CG solution (warm start).

    `step` reads the minibatch gradient from the parameters' .grad (the training loop's backward
    pass, penalty included) and moves the parameters. `objective()` is the minibatch loss plus
    penalty at the parameters as they stand, without a graph.
    """

    def __init__(self, model: RecurrentNet, params: list[torch.nn.Parameter], settings: Settings):
        self.model, self.flat, self.cfg = model, Flat(model, params), settings
        self.damping = settings.damping
        self.prev: Tensor | None = None
        # the L2 penalty's Hessian: 2 l2 on the penalised recurrent matrix, 0 elsewhere
        W = model.W_hh if model.cell == "rnn" else model.weight_hh
        self.pen = torch.cat([torch.full((p.numel(),), 2 * settings.l2 if p is W else 0.0) for p in params])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.flat.params:
            p.grad = None

    def step(self, task: Task, batch: Batch, free: bool, objective: Callable[[], float]) -> Step:
        flat, cfg = self.flat, self.cfg
        theta0, g = flat.get(), flat.grad()  # (P,), (P,)
        nc = min(cfg.curv_batch, batch.x.shape[1])
        curv = Curvature(self.model, flat, theta0, task, batch.x[:, :nc], batch.y[..., :nc], free)
        lam = self.damping

        def f(theta: Tensor) -> float:
            flat.set(theta)
            return objective()

        x0 = CG_DECAY * self.prev if self.prev is not None else torch.zeros_like(theta0)
        res = cg(lambda v: curv.damped(v, lam, cfg.mu) + self.pen * v, -g, x0, cfg.cg_max)
        f0 = f(theta0)
        if not bool(torch.isfinite(res.x).all()):  # the products overflowed: no step, more damping
            self.prev = None
            flat.set(theta0)
            self.damping = lm_update(lam, float("nan"))
            return Step(res.iters, self.damping, float("nan"), False, 0.0)
        self.prev = res.x

        # backtrack: from the last kept iterate towards the first while the true loss keeps falling
        p, f_p = res.saved[-1][1], f(theta0 + res.saved[-1][1])
        for _, x in reversed(res.saved[:-1]):
            fx = f(theta0 + x)
            if not fx < f_p:
                break
            p, f_p = x, fx

        # reduction ratio against the undamped model, and Levenberg-Marquardt
        gp = float(g @ p)
        predicted = gp + 0.5 * float(p @ (curv.gauss_newton(p) + self.pen * p))
        ratio = (f_p - f0) / predicted if predicted < 0 else float("nan")
        self.damping = lm_update(lam, ratio)

        # Armijo line search on the true loss; a step never raises the minibatch loss
        alpha, f_a, tries = 1.0, f_p, 0
        while not f_a <= f0 + ARMIJO_C * alpha * min(gp, 0.0):  # a NaN loss fails the test too
            tries += 1
            if tries > ARMIJO_TRIES:
                alpha = 0.0
                break
            alpha *= ARMIJO_SHRINK
            f_a = f(theta0 + alpha * p)
        flat.set(theta0 + alpha * p if alpha > 0 else theta0)
        return Step(res.iters, self.damping, ratio, alpha > 0, alpha)
