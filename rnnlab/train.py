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

from .cells import RecurrentNet
from .config import RunConfig
from .results import RunResult, versions
from .snapshots import Analysis, Snapshot, analysis, provenance_summary, snapshot
from .tasks import Batch, Task, make_task
from .update import Diverged, Update, chunks, free_running, make_stepper, train_step
from .verdict import judge

EVAL_BATCH = 128
LIVE_COLUMNS = ("step", "update", "loss", "grad_norm", "grad_norm_clipped", "clipped", "rho_whh")
"""The metrics a live chart draws while a run trains: each update's progress record holds these."""
LIVE_HF_COLUMNS = ("cg_iters", "damping", "accepted")
"""...and these too when optimizer = hf (the Lab's damping and CG-iteration chart)."""
OnUpdate = Callable[[dict[str, Any]], Any]
OnSnapshot = Callable[[int, Snapshot], Any]
OnRow = Callable[[dict[str, Any], np.ndarray], Any]


@dataclass
class Setup:
    """Everything a run derives from its config and seed, before any training."""

    cfg: RunConfig
    task: Task
    model: RecurrentNet
    probe_x: torch.Tensor  # (L, 1, I) the fixed probe sequence for the heatmap
    eval_batch: Batch  # fixed evaluation batch
    data_rng: np.random.Generator  # training minibatches


def setup(cfg: RunConfig) -> Setup:
    """Build task, network (initialised) and the seeded streams. Same config, same numbers."""
    seeds = np.random.SeedSequence(cfg.seed).spawn(3)
    task = make_task(cfg.task, cfg.seq_len)
    model = RecurrentNet(
        cfg.cell, cfg.act, cfg.hidden, task.n_in, task.n_out, leak=cfg.leak if cfg.cell == "rnn" else 0.0
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    model.init_weights(cfg.init, cfg.rho, gen)
    probe = task.sample(np.random.default_rng(seeds[0]), 1)
    eval_batch = task.sample(np.random.default_rng(seeds[1]), EVAL_BATCH)
    return Setup(cfg, task, model, probe.x, eval_batch, np.random.default_rng(seeds[2]))


def probe_of(cfg: RunConfig) -> np.ndarray:
    """The probe sequence (L, I) that setup(cfg) draws, without building the network."""
    seeds = np.random.SeedSequence(cfg.seed).spawn(3)
    return make_task(cfg.task, cfg.seq_len).sample(np.random.default_rng(seeds[0]), 1).x[:, 0].numpy()


def analyse(cfg: RunConfig, orbits: bool = True, **heatmap_kw: Any) -> Analysis:
    """The network at initialisation (no training): the snapshot plus what the theory needs.
    orbits=False leaves out where it settles running freely (the Lab's at-init view draws no orbits)."""
    s = setup(cfg)
    snap = snapshot(s.model, s.probe_x, cfg.norm, orbits=orbits, **heatmap_kw)
    return analysis(snap, s.model, s.probe_x, s.task.baseline)


# ---- the run -----------------------------------------------------------------------------------

STOP_SNAPSHOT_S = 1.0
"""After a Stop, the last snapshot's heatmap gets this long; rows it does not reach stay NaN (the
snapshot says it is incomplete), so Stop takes effect within about a second at any size."""


def run(
    cfg: RunConfig,
    on_update: OnUpdate | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_snapshot: OnSnapshot | None = None,
    *,
    on_row: OnRow | None = None,
    max_columns: int | None = None,
    heatmaps: bool = True,
) -> RunResult:
    """Train `cfg.steps` minibatches and record everything docs/DESIGN.md lists (section 8).

    on_update(record) is called after every optimizer update with a small dict; returning True stops
    the run (partial results kept). should_stop() is polled too (for a Stop button), also inside a
    snapshot's heatmap, row by row.
    on_snapshot(step, snap) is called with each Snapshot as it is taken, so a live view can draw the
    heatmap before the run ends.
    on_row(row, profile) gets every update's full metrics row and its temporal gradient profile (L,),
    so a caller can rebuild a partial result if it has to end the run from outside (ui.worker).
    max_columns, heatmaps: the snapshots' heatmaps compute at most max_columns columns k
    (a server's budget, rnnlab.budget), or none (heatmaps=False).
    """
    t_start = time.perf_counter()
    s = setup(cfg)
    model, task = s.model, s.task
    if not cfg.train_recurrent:  # echo state network: recurrent and input weights frozen
        for p in model.recurrent_params():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_stepper(cfg, model, params)
    snap_steps = snapshot_schedule(cfg.steps, cfg.snapshots)
    L, mask = task.L, task.loss_steps
    parts = [c for c in chunks(L, cfg.tbptt) if mask[c[0] : c[1]].any()]

    rows: list[dict[str, Any]] = []
    grad_time: list[np.ndarray] = []
    snaps: list[tuple[int, Snapshot]] = []
    diverged_at, nonfinite, stopped = None, None, False
    update = 0

    def take(at: int, deadline: float | None = None) -> None:
        stop = should_stop if deadline is None else (lambda: time.perf_counter() > deadline)
        snap = snapshot(
            model, s.probe_x, cfg.norm, heatmap=heatmaps, max_columns=max_columns, should_stop=stop
        )
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
            updates: list[Update] = train_step(model, task, batch, cfg, opt, params, parts)
        except Diverged as e:
            diverged_at, nonfinite, updates = step, e.what, e.updates
        for r, prof in updates:
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
    summary: dict[str, Any] = {  # summary.json: mixed values, as judge() reads them
        "final_loss": final_loss,
        "baseline_loss": task.baseline,
        "diverged_at": diverged_at,
        "nonfinite": nonfinite,
        "stopped_early": stopped,
        "steps_done": steps_done,
        "updates": len(rows),
        "wall_time_s": time.perf_counter() - t_start,
        "versions": versions(),
        "heatmap": provenance_summary(cfg.norm, [snap for _, snap in snaps]),
    }
    if not heatmaps or max_columns is not None:  # a budget acted: say so (absent otherwise)
        summary["heatmap"].update(computed=heatmaps, max_columns=max_columns)
    summary["verdict"] = judge(summary).as_dict()
    return RunResult.build(cfg, rows, grad_time, snaps, s.probe_x[:, 0].numpy(), summary, model.cell)


def snapshot_schedule(steps: int, n: int) -> list[int]:
    """n evenly spaced steps from 0 to `steps` (both included), without repeats."""
    if steps == 0 or n == 1:
        return [0] if n == 1 or steps == 0 else [0, steps]
    return sorted({round(float(x)) for x in np.linspace(0, steps, n)})


def progress_record(r: dict[str, Any], cfg: RunConfig) -> dict[str, Any]:
    """What on_update receives after each update: the live columns and the planned step count."""
    return {**{k: r[k] for k in live_columns(cfg)}, "steps": cfg.steps}


def live_columns(cfg: RunConfig) -> tuple[str, ...]:
    return LIVE_COLUMNS + (LIVE_HF_COLUMNS if cfg.optimizer == "hf" else ())


def evaluate(model: RecurrentNet, task: Task, batch: Batch, cfg: RunConfig) -> float:
    with torch.no_grad():
        tr = model(batch.x, free_running=free_running(cfg))
        return float(task.loss(tr.out, batch.y))
