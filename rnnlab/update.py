"""One minibatch of training: its truncated-BPTT chunks, their gradients, clipping and the update.

`train_step` runs the forward pass chunk by chunk (`chunks`: the one statement of the truncation
rule, which the charts use too), takes one optimizer update per chunk that carries a loss term and
returns an `Update` per update: its metrics row and its temporal gradient profile. A non-finite
loss, gradient or weight raises `Diverged`, which carries the updates made so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import activations, bptt, hf, jacobian, lyapunov, tasks
from .cells import RecurrentNet
from .config import RunConfig
from .tasks import Batch, Task


def chunks(L: int, window: int) -> list[tuple[int, int]]:
    """[t0, t1) of each truncated-BPTT chunk of a length-L sequence; window 0 (or >= L) is full BPTT."""
    if window <= 0 or window >= L:
        return [(0, L)]
    return [(t0, min(t0 + window, L)) for t0 in range(0, L, window)]


def free_running(cfg: RunConfig) -> bool:
    return tasks.free_running(cfg.task, cfg.teacher_forcing)


class Update(NamedTuple):
    row: dict[str, float]  # one row of metrics.csv (the run adds step and update)
    profile: np.ndarray  # (L,) ||dL/ds_t|| over the chunk the update's graph covers, NaN elsewhere


class Diverged(Exception):
    """A loss, gradient or weight went non-finite: `what` says which; `updates` holds every update of
    the minibatch up to and including the one that diverged (its missing numbers are NaN)."""

    def __init__(self, what: str, updates: list[Update] | None = None):
        super().__init__(what)
        self.what = what
        self.updates = updates or []


@dataclass
class Chunk:
    """What one chunk's forward and backward pass produced."""

    loss: float  # its share of the sequence loss
    states: Tensor  # (t, B, n) s_t over the chunk, detached
    dE_dh: Tensor | None = None  # (t, B, n) dL/ds_t; None when the loss was not finite
    extra: dict[str, float] = field(default_factory=dict)  # further metrics (omega_term)


# ---- optimizers, clipping, penalties --------------------------------------------------------------


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"optimizer: {name!r} is not one of sgd, momentum, adam, rmsprop (hf: make_stepper)")


Stepper = torch.optim.Optimizer | hf.HessianFree


def make_stepper(cfg: RunConfig, model: RecurrentNet, params: list[torch.nn.Parameter]) -> Stepper:
    """The config's optimizer over params: a torch optimizer, or Hessian-free with its settings."""
    if cfg.optimizer == "hf":
        settings = hf.Settings(cfg.hf_damping, cfg.hf_mu, cfg.hf_cg_max, cfg.hf_curv_batch, cfg.l2)
        return hf.HessianFree(model, params, settings)
    return make_optimizer(cfg.optimizer, params, cfg.lr)


def clip_gradients(params: list[torch.nn.Parameter], clip: float, mode: str) -> tuple[float, float]:
    """Clip in place; return the global gradient norm before and after.

    norm: if ||g|| > c then g <- c*g/||g|| over all parameters together (the direction is kept).
    value: each component clamped to [-c, c]. clip = 0: no change.
    """
    grads = [p.grad for p in params if p.grad is not None]
    before = global_norm(grads)
    if clip <= 0 or not math.isfinite(before):
        return before, before
    if mode == "norm":
        if before > clip:
            scale = clip / before
            for g in grads:
                g.mul_(scale)
    else:
        for g in grads:
            g.clamp_(-clip, clip)
    return before, global_norm(grads)


def global_norm(grads: list[Tensor]) -> float:
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def penalty(model: RecurrentNet, cfg: RunConfig) -> Tensor:
    """L1 and L2 penalties on the recurrent weights."""
    W = model.W_hh if model.cell == "rnn" else model.weight_hh
    out = W.new_zeros(())
    if cfg.l1:
        out = out + cfg.l1 * W.abs().sum()
    if cfg.l2:
        out = out + cfg.l2 * (W**2).sum()
    return out


def omega_term(model: RecurrentNet, preact: Tensor, dE_dh: Tensor) -> Tensor:
    """Pascanu, Mikolov and Bengio (2013) vanishing-gradient regulariser for the vanilla cell:
    sum over k of (||v J_{k+1}|| / ||v|| - 1)^2 with v = dE/dh_{k+1} held constant, averaged over the
    batch. preact (T, B, H) a_t with its graph; dE_dh (T, B, H) detached total gradients."""
    v, a = dE_dh[1:], preact[1:]  # (T-1, B, H): pairs k -> k+1
    vJ = (1 - model.leak) * torch.matmul(v * activations.get(model.act).slope(a), model.W_hh)
    if model.leak:
        vJ = vJ + model.leak * v
    vn = torch.linalg.vector_norm(v, dim=-1)  # (T-1, B)
    ok = vn > 1e-30  # positions the gradient reaches
    ratio = torch.linalg.vector_norm(vJ, dim=-1) / torch.where(ok, vn, torch.ones_like(vn))
    return (((ratio - 1) ** 2) * ok).sum() / v.shape[1]


def jacobians_with_graph(model: RecurrentNet, x: Tensor, s0: Tensor | None) -> Tensor:
    """J_t (T, n, n) of one sequence x (T, I) from state s0 (n,) (zero when None), on autograd's
    tape so that a penalty on them reaches the weights (closed form for rnn, torch.func for gated)."""
    tr = model(x[:, None], s0=None if s0 is None else s0[None])
    if model.cell == "rnn":
        assert tr.preact is not None  # the vanilla cell keeps its preactivations
        return jacobian.rnn_step_jacobians(model.W_hh, tr.preact[:, 0], model.act, model.leak)
    start = tr.states.new_zeros(1, model.state_size) if s0 is None else s0[None]
    prev = torch.cat([start, tr.states[:-1, 0]])  # (T, n) s_{t-1}
    return jacobian.state_map_jacobians(model.step_fn(), prev, x)


def add_floss(model: RecurrentNet, cfg: RunConfig, x: Tensor, s0: Tensor | None) -> float:
    """Gradient flossing: add the gradient of floss * sum_i lambda_i^2 (the top exponents along the
    chunk's first sequence x (T, I), teacher-forced, from the carried state) to the parameters'
    .grad; returns the penalty sum_i lambda_i^2 (metrics column floss_term)."""
    pen = lyapunov.floss_penalty(jacobians_with_graph(model, x, None if s0 is None else s0[0].detach()))
    params = [p for p in model.parameters() if p.requires_grad]
    for p, g in zip(params, torch.autograd.grad(cfg.floss * pen, params, allow_unused=True)):
        if g is not None:
            p.grad = g if p.grad is None else p.grad.add_(g)
    return float(pen.detach())


# ---- one minibatch --------------------------------------------------------------------------------


def train_step(
    model: RecurrentNet,
    task: Task,
    batch: Batch,
    cfg: RunConfig,
    opt: Stepper,
    params: list[torch.nn.Parameter],
    parts: list[tuple[int, int]],
) -> list[Update]:
    """One minibatch: one update per chunk in `parts` (the chunks that carry a loss term).

    Raises Diverged (carrying the updates so far) at a non-finite loss, gradient or weight.
    """
    updates: list[Update] = []
    s = None  # state carried between chunks, detached
    done = 0  # steps already run forward
    free = free_running(cfg)
    chunk_fn = fast_chunk if bptt.supported(model, cfg.omega, free) else autograd_chunk
    for t0, t1 in parts:
        if t0 > done:  # run forward (no graph) through chunks without loss terms
            with torch.no_grad():
                s = model(batch.x[done:t0], s0=s, free_running=free).states[-1]
        opt.zero_grad(set_to_none=True)
        chunk = chunk_fn(model, task, batch, cfg, s, t0, t1)
        if cfg.floss > 0 and math.isfinite(chunk.loss):
            chunk.extra["floss_term"] = add_floss(model, cfg, batch.x[t0:t1, 0], s)
        u = Update({"loss": chunk.loss, **chunk.extra}, np.full(task.L, np.nan))
        updates.append(u)
        try:
            if chunk.dE_dh is None or not math.isfinite(chunk.loss):
                raise Diverged("loss")
            u.profile[t0:t1] = torch.linalg.vector_norm(chunk.dE_dh.flatten(1), dim=1).numpy()
            apply_update(model, cfg, opt, params, u.row, task, batch)
        except Diverged as e:
            for key in ("grad_norm", "grad_norm_clipped", "rho_whh", "sigma_max_whh"):
                u.row.setdefault(key, float("nan"))
            u.row.setdefault("clipped", 0)
            if isinstance(opt, hf.HessianFree):  # the update made no HF step
                u.row.update({**hf.Step(0, opt.damping, float("nan"), False, 0.0).row(), **u.row})
            raise Diverged(e.what, updates) from None
        s = chunk.states[-1]
        done = t1
    seq_loss = sum(u.row["loss"] for u in updates)
    for u in updates:
        u.row["seq_loss"] = seq_loss
    return updates


def apply_update(
    model: RecurrentNet,
    cfg: RunConfig,
    opt: Stepper,
    params: list[torch.nn.Parameter],
    row: dict[str, float],
    task: Task,
    batch: Batch,
) -> None:
    """Record per-parameter norms, clip, step, record W_hh's spectrum; raise Diverged if non-finite.

    Hessian-free steps on the whole minibatch (it needs its loss for the line search) and adds its
    own columns (cg_iters, damping, reduction_ratio, accepted, step_size) to the row."""
    for n, p in model.named_parameters():
        row[f"grad_{n}"] = float(torch.linalg.vector_norm(p.grad)) if p.grad is not None else float("nan")
    before, after = clip_gradients(params, cfg.clip, cfg.clip_mode)
    row.update(grad_norm=before, grad_norm_clipped=after, clipped=int(cfg.clip > 0 and after != before))
    if not math.isfinite(before):
        raise Diverged("gradient")
    if isinstance(opt, hf.HessianFree):
        row.update(
            opt.step(
                task, batch, free_running(cfg), lambda: minibatch_objective(model, task, batch, cfg)
            ).row()
        )
    else:
        opt.step()
    if not bool(torch.isfinite(torch.cat([p.detach().reshape(-1) for p in params])).all()):
        raise Diverged("weights")
    row["rho_whh"], row["sigma_max_whh"] = radius_and_norm(model.recurrent_matrix())


def minibatch_objective(model: RecurrentNet, task: Task, batch: Batch, cfg: RunConfig) -> float:
    """The loss plus penalty on the whole batch with the weights as they stand (no graph)."""
    with torch.no_grad():
        out = model(batch.x, free_running=free_running(cfg)).out
        return float(task.loss(out, batch.y) + penalty(model, cfg))


def radius_and_norm(W: Tensor) -> tuple[float, float]:
    """Spectral radius and largest singular value of W, in float64 (the values the charts show).

    Half an update's recording at H=64 went here. torch's LAPACK runs the eigen-solve ~25% faster
    than numpy's, and sigma_max as the square root of the top eigenvalue of W^T W (a symmetric
    solve) takes ~30% of an SVD's time; for the largest singular value that loses nothing (relative
    error ~1e-16, as the SVD's).
    """
    W = W.detach().double()
    rho = torch.linalg.eigvals(W).abs().max()
    sigma = torch.linalg.eigvalsh(W.T @ W)[-1].sqrt()
    return float(rho), float(sigma)


# ---- one chunk, two ways ---------------------------------------------------------------------------


def fast_chunk(
    model: RecurrentNet, task: Task, batch: Batch, cfg: RunConfig, s0: Tensor | None, t0: int, t1: int
) -> Chunk:
    """Any cell, teacher-forced: hand-written BPTT (bptt.py); autograd only for readout, loss and
    penalty, on the leaf S of the states."""
    x = batch.x[t0:t1]  # (t, B, I)
    saved, S = bptt.forward_states(model, x, s0)  # S (t, B, n)
    S.requires_grad_(True)
    loss = task.step_losses(model.readout(S), batch.y, t0, t1)
    out = Chunk(float(loss.detach()), S.detach())
    if math.isfinite(out.loss):
        (loss + penalty(model, cfg)).backward()
        assert S.grad is not None  # S is a leaf the loss depends on: backward filled its .grad
        out.dE_dh = bptt.backward(model, x, s0, saved, S.detach(), S.grad)  # (t, B, n) dL/ds_t
    return out


def autograd_chunk(
    model: RecurrentNet, task: Task, batch: Batch, cfg: RunConfig, s0: Tensor | None, t0: int, t1: int
) -> Chunk:
    """Any cell: explicit loop under autograd; a zero probe leaf added to each state collects dL/ds_t."""
    B = batch.x.shape[1]
    probe = torch.zeros(t1 - t0, B, model.state_size, requires_grad=True)  # (t, B, n)
    tr = model(batch.x[t0:t1], s0=s0, probe=probe, free_running=free_running(cfg))
    loss = task.step_losses(tr.out, batch.y, t0, t1)
    out = Chunk(float(loss.detach()), tr.states.detach())
    if not math.isfinite(out.loss):
        return out
    (loss + penalty(model, cfg)).backward(retain_graph=cfg.omega > 0)
    out.dE_dh = probe.grad
    if cfg.omega > 0 and model.cell == "rnn":
        assert probe.grad is not None  # every state got its probe added, so the loss reaches the probe
        om = omega_term(model, tr.preact, probe.grad.detach())
        params = [p for p in model.parameters() if p.requires_grad]
        for p, g in zip(params, torch.autograd.grad(cfg.omega * om, params, allow_unused=True)):
            if g is not None:
                assert p.grad is not None  # p took part in the loss, whose backward filled its .grad
                p.grad.add_(g)
        out.extra["omega_term"] = float(om.detach())
    return out
