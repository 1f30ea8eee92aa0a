"""Training with full or truncated BPTT, clipping and the remedies, recording what gradients do.

`run(cfg, on_update)` knows nothing of any UI: it reports a small dict after each optimizer update
through the callback (which may return True to stop early) and returns a `RunResult`.
A run that diverges is a result: training stops at the update where the loss, a gradient or a weight
went non-finite, says which, and keeps every earlier record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import activations, bptt, jacobian, tasks
from .cells import RecurrentNet
from .config import RunConfig
from .results import RunResult, versions
from .tasks import Task, make_task
from .verdict import judge

EVAL_BATCH = 128
OnUpdate = Callable[[dict[str, Any]], Any]
OnSnapshot = Callable[[int, dict[str, Any]], Any]
OnRow = Callable[[dict[str, Any], np.ndarray], Any]


@dataclass
class Setup:
    """Everything a run derives from its config and seed, before any training."""

    cfg: RunConfig
    task: Task
    model: RecurrentNet
    probe_x: torch.Tensor  # (L, 1, I) the fixed probe sequence for the heatmap
    eval_batch: Any  # tasks.Batch, fixed evaluation batch
    data_rng: np.random.Generator  # training minibatches


def setup(cfg: RunConfig) -> Setup:
    """Build task, network (initialised) and the seeded streams. Same config, same numbers."""
    seeds = np.random.SeedSequence(cfg.seed).spawn(3)
    task = make_task(cfg.task, cfg.seq_len)
    model = RecurrentNet(cfg.cell, cfg.act, cfg.hidden, task.n_in, task.n_out,
                         leak=cfg.leak if cfg.cell == "rnn" else 0.0)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.init_weights(cfg.init, cfg.rho, gen)
    probe = task.sample(np.random.default_rng(seeds[0]), 1)
    eval_batch = task.sample(np.random.default_rng(seeds[1]), EVAL_BATCH)
    return Setup(cfg, task, model, probe.x, eval_batch, np.random.default_rng(seeds[2]))


def probe_of(cfg: RunConfig) -> np.ndarray:
    """The probe sequence (L, I) that setup(cfg) draws, without building the network."""
    seeds = np.random.SeedSequence(cfg.seed).spawn(3)
    return make_task(cfg.task, cfg.seq_len).sample(np.random.default_rng(seeds[0]), 1).x[:, 0].numpy()


# ---- diagnostics on the probe sequence ---------------------------------------------------------

def step_jacobians(model: RecurrentNet, probe_x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """J_t for t = 1..L on the probe (L, n, n), and the measured preactivation variance (rnn)."""
    with torch.no_grad():
        tr = model(probe_x)
    if model.cell == "rnn":
        a = tr.preact[:, 0]  # (L, H)
        J = jacobian.rnn_step_jacobians(model.W_hh.detach(), a, model.act, model.leak)
        return J, float(a.var().item())
    prev = torch.cat([torch.zeros_like(tr.states[:1, 0]), tr.states[:-1, 0]])  # (L, n): s_{t-1}
    J = jacobian.state_map_jacobians(model.step_fn(), prev.detach(), probe_x[:, 0])
    return J.detach(), float("nan")


def snapshot(model: RecurrentNet, probe_x: torch.Tensor, norm: str, heatmap: bool = True,
             **heatmap_kw) -> dict[str, Any]:
    """The heatmap, the recurrent weights and their eigenvalues at the current weights.

    heatmap=False skips the Jacobian products (a server's budget refused them): the heatmap is NaN.
    """
    L = probe_x.shape[0]
    W = model.recurrent_matrix().detach().double().numpy()
    if not heatmap:
        J, q = torch.full((1, 1, 1), float("nan")), float("nan")
    else:
        J, q = step_jacobians(model, probe_x)
    how = None  # how the heatmap was computed (None: nothing to measure)
    if heatmap and torch.isfinite(J).all() and np.isfinite(W).all():
        hm = jacobian.heatmap(J, norm=norm, **heatmap_kw)
        values, complete, eig = hm.values, hm.complete, np.linalg.eigvals(W)
        how = {"method": hm.method, "dtype": hm.dtype, "certified": hm.certified, "exact": hm.exact}
    elif heatmap:  # weights went non-finite (a diverged run): nothing to measure, keep the shapes
        values, complete = np.full((L, L), np.nan), False
        eig = np.full(W.shape[0], np.nan, dtype=np.complex128)
    else:
        values, complete = np.full((L, L), np.nan), False
        eig = np.linalg.eigvals(W) if np.isfinite(W).all() else np.full(W.shape[0], np.nan, np.complex128)
    snap = {"jacobian": values, "eigvals": eig, "preact_var": q, "complete": complete, "how": how}
    for name, p in model.named_parameters():
        if not name.startswith(("W_hy", "b_y")):
            snap[name] = p.detach().numpy().copy()
    return snap


def heatmap_provenance(norm: str, snaps: list[dict[str, Any]]) -> dict[str, Any]:
    """How the snapshots' heatmaps were computed, for summary.json: the norm, the engine
    ("gram"/"tracking" for spectral, "frobenius" for rms), the working dtype, and over all
    snapshots how many pairs carried a proven error bound (certified) and how many were solved by a
    full eigen-solve (exact). Snapshots with nothing to measure (a diverged run) are not counted."""
    hows = [s["how"] for s in snaps if s.get("how")]
    return {
        "norm": norm,
        "method": hows[0]["method"] if hows else None,
        "dtype": hows[0]["dtype"] if hows else None,
        "certified": sum(h["certified"] for h in hows),
        "exact": sum(h["exact"] for h in hows),
    }


def analyse(cfg: RunConfig, **heatmap_kw) -> dict[str, Any]:
    """The network at initialisation (no training): the snapshot plus what the theory needs."""
    s = setup(cfg)
    snap = snapshot(s.model, s.probe_x, cfg.norm, **heatmap_kw)
    W = s.model.recurrent_matrix().detach().double().numpy()
    snap["sigma_max"] = float(np.linalg.svd(W, compute_uv=False)[0])
    snap["rho"] = float(np.abs(snap["eigvals"]).max())
    snap["probe_x"] = s.probe_x[:, 0].numpy()
    snap["baseline"] = s.task.baseline
    return snap


# ---- one update --------------------------------------------------------------------------------

def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"optimizer: {name!r} is not one of sgd, momentum, adam, rmsprop")


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


def global_norm(grads: list[torch.Tensor]) -> float:
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def penalty(model: RecurrentNet, cfg: RunConfig) -> torch.Tensor:
    """L1 and L2 penalties on the recurrent weights."""
    W = model.W_hh if model.cell == "rnn" else model.weight_hh
    out = W.new_zeros(())
    if cfg.l1:
        out = out + cfg.l1 * W.abs().sum()
    if cfg.l2:
        out = out + cfg.l2 * (W**2).sum()
    return out


def omega_term(model: RecurrentNet, preact: torch.Tensor, dE_dh: torch.Tensor) -> torch.Tensor:
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


class Diverged(Exception):
    def __init__(self, what: str):
        self.what = what


def chunks(L: int, window: int) -> list[tuple[int, int]]:
    if window <= 0 or window >= L:
        return [(0, L)]
    return [(t0, min(t0 + window, L)) for t0 in range(0, L, window)]


# ---- the run -----------------------------------------------------------------------------------

STOP_SNAPSHOT_S = 1.0
"""After a Stop, the last snapshot's heatmap gets this long; rows it does not reach stay NaN (the
snapshot says it is incomplete), so Stop takes effect within about a second at any size."""


def run(cfg: RunConfig, on_update: OnUpdate | None = None, should_stop: Callable[[], bool] | None = None,
        on_snapshot: OnSnapshot | None = None, *, on_row: OnRow | None = None,
        max_columns: int | None = None, heatmaps: bool = True) -> RunResult:
    """Train `cfg.steps` minibatches and record everything DESIGN.md lists.

    on_update(record) is called after every optimizer update with a small dict; returning True stops
    the run (partial results kept). should_stop() is polled too (for a Stop button), also inside a
    snapshot's heatmap, row by row.
    on_snapshot(step, snap) is called as each snapshot is taken (snap holds "jacobian", "eigvals", the
    weights and what the result keeps of it), so a live view can draw the heatmap before the run ends.
    on_row(row, profile) gets every update's full metrics row and its temporal gradient profile (L,),
    so a caller can rebuild a partial result if it has to end the run from outside (ui.worker).
    max_columns, heatmaps: the snapshots' heatmaps compute at most max_columns columns k
    (jacobian.heatmap's max_size; a server's budget, rnnlab.budget), or none (heatmaps=False).
    """
    t_start = time.perf_counter()
    s = setup(cfg)
    model, task = s.model, s.task
    if not cfg.train_recurrent:  # echo state network: recurrent and input weights frozen
        for p in model.recurrent_params():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(cfg.optimizer, params, cfg.lr)
    snap_steps = snapshot_schedule(cfg.steps, cfg.snapshots)
    L, mask = task.L, task.loss_steps
    parts = [c for c in chunks(L, cfg.tbptt) if mask[c[0]:c[1]].any()]

    rows: list[dict[str, Any]] = []
    grad_time: list[np.ndarray] = []
    snaps: list[tuple[int, dict[str, Any]]] = []
    diverged_at, nonfinite, stopped = None, None, False
    update = 0

    def take(at: int, deadline: float | None = None) -> None:
        stop = should_stop if deadline is None else (lambda: time.perf_counter() > deadline)
        snap = snapshot(model, s.probe_x, cfg.norm, heatmap=heatmaps, max_size=max_columns, should_stop=stop)
        snaps.append((at, snap))
        if on_snapshot is not None:
            on_snapshot(at, snap)

    for step in range(cfg.steps + 1):
        if step in snap_steps:
            take(step)
        if step == cfg.steps:
            break
        batch = task.sample(s.data_rng, cfg.batch)
        try:
            step_rows, profiles = train_step(model, task, batch, cfg, opt, params, parts)
        except Diverged as e:
            diverged_at, nonfinite = step, e.what
            step_rows, profiles = e.rows, e.profiles  # type: ignore[attr-defined]
        for r, prof in zip(step_rows, profiles):
            r.update(step=step, update=update)
            rows.append(r)
            grad_time.append(prof)
            update += 1
            if on_row is not None:
                on_row(r, prof)
            if on_update is not None and on_update(progress_record(r, cfg)) is True:
                stopped = True
        if diverged_at is not None:
            if not snaps or snaps[-1][0] != step:
                take(step)
            break
        if stopped or (should_stop is not None and should_stop()):
            stopped = True
            take(step + 1, deadline=time.perf_counter() + STOP_SNAPSHOT_S)
            break

    steps_done = (rows[-1]["step"] + 1) if rows else 0
    final_loss = float("nan")
    if diverged_at is None:
        final_loss = evaluate(model, task, s.eval_batch, cfg)
        if not math.isfinite(final_loss):
            # The evaluation's forward pass overflowed: the network as it stands (at steps = 0, as
            # initialised) diverges in the forward pass at the step it reached, and the verdict says so.
            diverged_at, nonfinite = steps_done, "loss"
    summary = {
        "final_loss": final_loss,
        "baseline_loss": task.baseline,
        "diverged_at": diverged_at,
        "nonfinite": nonfinite,
        "stopped_early": stopped,
        "steps_done": steps_done,
        "updates": len(rows),
        "wall_time_s": time.perf_counter() - t_start,
        "versions": versions(),
        "heatmap": heatmap_provenance(cfg.norm, [snap for _, snap in snaps]),
    }
    if not heatmaps or max_columns is not None:  # a budget acted: say so (absent otherwise)
        summary["heatmap"].update(computed=heatmaps, max_columns=max_columns)
    summary["verdict"] = judge(summary).as_dict()
    return RunResult.build(cfg, rows, grad_time, snaps, s.probe_x[:, 0].numpy(), summary, model.cell)


def snapshot_schedule(steps: int, n: int) -> list[int]:
    """n evenly spaced steps from 0 to `steps` (both included), without repeats."""
    if steps == 0 or n == 1:
        return [0] if n == 1 or steps == 0 else [0, steps]
    return sorted({int(round(x)) for x in np.linspace(0, steps, n)})


def progress_record(r: dict[str, Any], cfg: RunConfig) -> dict[str, Any]:
    keys = ("step", "update", "loss", "grad_norm", "grad_norm_clipped", "clipped", "rho_whh")
    return {**{k: r[k] for k in keys}, "steps": cfg.steps}


def evaluate(model: RecurrentNet, task: Task, batch, cfg: RunConfig) -> float:
    with torch.no_grad():
        tr = model(batch.x, free_running=free_running(cfg))
        return float(task.loss(tr.out, batch.y))


def free_running(cfg: RunConfig) -> bool:
    return tasks.free_running(cfg.task, cfg.teacher_forcing)


def train_step(model, task, batch, cfg, opt, params, parts):
    """One minibatch: one update per chunk that carries a loss term (one chunk for full BPTT).

    Returns (rows, profiles): a metrics row and a temporal gradient profile (L,) per update, NaN
    outside the chunk the update's graph covers. Raises Diverged (carrying both) at a non-finite
    loss, gradient or weight.
    """
    rows, profiles = [], []
    s = None  # state carried between chunks, detached
    done = 0  # steps already run forward
    fast = bptt.supported(model, cfg.omega, free_running(cfg))
    for t0, t1 in parts:
        if t0 > done:  # run forward (no graph) through chunks without loss terms
            with torch.no_grad():
                s = model(batch.x[done:t0], s0=s, free_running=free_running(cfg)).states[-1]
        opt.zero_grad(set_to_none=True)
        chunk = (fast_chunk if fast else autograd_chunk)(model, task, batch, cfg, s, t0, t1)
        row = {"loss": chunk["loss"], **chunk["extra"]}
        profile = np.full(task.L, np.nan)
        rows.append(row)
        profiles.append(profile)
        try:
            if not math.isfinite(row["loss"]):
                raise Diverged("loss")
            profile[t0:t1] = torch.linalg.vector_norm(chunk["dE_dh"].flatten(1), dim=1).numpy()
            apply_update(model, cfg, opt, params, row)
        except Diverged as e:
            for key in ("grad_norm", "grad_norm_clipped", "rho_whh", "sigma_max_whh"):
                row.setdefault(key, float("nan"))
            row.setdefault("clipped", 0)
            e.rows, e.profiles = rows, profiles  # type: ignore[attr-defined]
            raise
        s = chunk["states"][-1]
        done = t1
    seq_loss = sum(r["loss"] for r in rows)
    for r in rows:
        r["seq_loss"] = seq_loss
    return rows, profiles


def apply_update(model, cfg, opt, params, row) -> None:
    """Record per-parameter norms, clip, step, record W_hh's spectrum; raise Diverged if non-finite."""
    for n, p in model.named_parameters():
        row[f"grad_{n}"] = float(torch.linalg.vector_norm(p.grad)) if p.grad is not None \
            else float("nan")
    before, after = clip_gradients(params, cfg.clip, cfg.clip_mode)
    row.update(grad_norm=before, grad_norm_clipped=after, clipped=int(cfg.clip > 0 and after != before))
    if not math.isfinite(before):
        raise Diverged("gradient")
    opt.step()
    if not bool(torch.isfinite(torch.cat([p.detach().reshape(-1) for p in params])).all()):
        raise Diverged("weights")
    row["rho_whh"], row["sigma_max_whh"] = radius_and_norm(model.recurrent_matrix())


def radius_and_norm(W: torch.Tensor) -> tuple[float, float]:
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


def fast_chunk(model, task, batch, cfg, s0, t0, t1) -> dict[str, Any]:
    """Any cell, teacher-forced: hand-written BPTT (bptt.py); autograd only for readout, loss and
    penalty, on the leaf S of the states."""
    x = batch.x[t0:t1]  # (t, B, I)
    saved, S = bptt.forward_states(model, x, s0)  # S (t, B, n)
    S.requires_grad_(True)
    loss = task.step_losses(model.readout(S), batch.y, t0, t1)
    out = {"loss": float(loss.detach()), "states": S.detach(), "extra": {}}
    if math.isfinite(out["loss"]):
        (loss + penalty(model, cfg)).backward()
        out["dE_dh"] = bptt.backward(model, x, s0, saved, S.detach(), S.grad)  # (t, B, n) dL/ds_t
    return out


def autograd_chunk(model, task, batch, cfg, s0, t0, t1) -> dict[str, Any]:
    """Any cell: explicit loop under autograd; a zero probe leaf added to each state collects dL/ds_t."""
    B = batch.x.shape[1]
    probe = torch.zeros(t1 - t0, B, model.state_size, requires_grad=True)  # (t, B, n)
    tr = model(batch.x[t0:t1], s0=s0, probe=probe, free_running=free_running(cfg))
    loss = task.step_losses(tr.out, batch.y, t0, t1)
    out = {"loss": float(loss.detach()), "states": tr.states.detach(), "extra": {}}
    if not math.isfinite(out["loss"]):
        return out
    (loss + penalty(model, cfg)).backward(retain_graph=cfg.omega > 0)
    out["dE_dh"] = probe.grad
    if cfg.omega > 0 and model.cell == "rnn":
        om = omega_term(model, tr.preact, probe.grad.detach())
        params = [p for p in model.parameters() if p.requires_grad]
        for p, g in zip(params, torch.autograd.grad(cfg.omega * om, params, allow_unused=True)):
            if g is not None:
                p.grad.add_(g)
        out["extra"]["omega_term"] = float(om.detach())
    return out
