"""Hessian-free against first-order methods on the long-range adding problem (issue 13).

task=adding, hidden 32, tanh, rho 1 (gaussian init), batch 256, full BPTT, seed 0, at seq_len 50
and 100. Each optimizer trains in this process, one after the other, through the same train_step
the app uses (full recording); after every update the network is evaluated on the run's fixed
evaluation batch (128 sequences, not trained on; that evaluation is not counted in the wall time).
Prints, per optimizer: the updates and wall time until the evaluation loss first falls below a
quarter of the baseline (1/6 / 4 = 0.0417), or "not reached within N updates"; the final evaluation
loss; and the median seconds per HF update divided by the median seconds per Adam update.
Run: python bench/hf.py [--threads 1] [--seq-lens 50 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch

from rnnlab.config import RunConfig
from rnnlab.train import evaluate, setup
from rnnlab.update import chunks, make_stepper, train_step

BUDGET = {"hf": 60, "sgd": 600, "adam": 600}  # updates each optimizer gets
LR = {"hf": 0.01, "sgd": 0.1, "adam": 0.01}  # hf ignores lr


@dataclass
class Trial:
    optimizer: str
    reached_at: int | None  # updates until the evaluation loss < baseline / 4
    reached_s: float | None  # training wall time until then
    final: float  # evaluation loss after the budget
    per_update_s: float  # median seconds per update


def trial(optimizer: str, seq_len: int) -> Trial:
    cfg = RunConfig.from_dict(
        dict(
            task="adding", seq_len=seq_len, hidden=32, act="tanh", rho=1.0, batch=256,
            optimizer=optimizer, lr=LR[optimizer], steps=BUDGET[optimizer], seed=0,
        )
    )  # fmt: skip
    s = setup(cfg)
    params = list(s.model.parameters())
    opt = make_stepper(cfg, s.model, params)
    parts = chunks(s.task.L, 0)
    target = s.task.baseline / 4
    spent, times = 0.0, []
    reached_at, reached_s, loss = None, None, float("nan")
    for u in range(1, cfg.steps + 1):
        batch = s.task.sample(s.data_rng, cfg.batch)
        t0 = time.perf_counter()
        train_step(s.model, s.task, batch, cfg, opt, params, parts)
        times.append(time.perf_counter() - t0)
        spent += times[-1]
        loss = evaluate(s.model, s.task, s.eval_batch, cfg)
        if reached_at is None and loss < target:
            reached_at, reached_s = u, spent
    return Trial(optimizer, reached_at, reached_s, loss, statistics.median(times))


def line(t: Trial) -> str:
    head = f"  {t.optimizer:5s} (lr {LR[t.optimizer]:g})" if t.optimizer != "hf" else "  hf   (default keys)"
    if t.reached_at is None:
        got = f"not reached within {BUDGET[t.optimizer]} updates"
    else:
        got = f"reached baseline/4 after {t.reached_at} updates, {t.reached_s:.1f} s"
    return f"{head}: {got}; final eval loss {t.final:.4f}; {t.per_update_s * 1e3:.0f} ms per update"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seq-lens", type=int, nargs="+", default=[50, 100])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for T in args.seq_lens:
        print(f"adding, seq_len {T}, hidden 32, tanh, rho 1, batch 256; baseline 1/6, target {1 / 24:.4f}")
        trials = {o: trial(o, T) for o in ("hf", "sgd", "adam")}
        for t in trials.values():
            print(line(t))
        ratio = trials["hf"].per_update_s / trials["adam"].per_update_s
        print(f"  time per HF update / time per Adam update: {ratio:.1f}")


if __name__ == "__main__":
    main()
