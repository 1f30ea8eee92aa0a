"""One training update with full recording vs one update of a bare fused torch.nn.RNN.

Both are timed side by side in this process at T=100, H=64, batch 32, tanh, SGD, on the adding
task's data. Prints the ratio (ours / fused); the target is <= 1.5. Run: python bench/train_step.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.config import RunConfig  # noqa: E402
from rnnlab.train import chunks, make_optimizer, setup, train_step  # noqa: E402


def fused_update(rnn, head, opt, x, y):
    opt.zero_grad(set_to_none=True)
    out, _ = rnn(x)  # (T, B, H)
    loss = ((head(out[-1])[:, 0] - y) ** 2).mean()
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--updates", type=int, default=20)
    args = ap.parse_args()

    cfg = RunConfig(seq_len=100, hidden=64, batch=32, act="tanh", optimizer="sgd")
    s = setup(cfg)
    params = list(s.model.parameters())
    opt = make_optimizer("sgd", params, cfg.lr)
    parts = chunks(s.task.L, cfg.tbptt)
    batch = s.task.sample(s.data_rng, cfg.batch)

    rnn = torch.nn.RNN(2, 64, nonlinearity="tanh")
    head = torch.nn.Linear(64, 1)
    fopt = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=cfg.lr)

    def ours():
        train_step(s.model, s.task, batch, cfg, opt, params, parts)

    def fused():
        fused_update(rnn, head, fopt, batch.x, batch.y)

    for f in (ours, fused):  # warm up
        for _ in range(3):
            f()
    times = {"ours": [], "fused": []}
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        for name, f in (("ours", ours), ("fused", fused)):
            t = time.perf_counter()
            for _ in range(args.updates):
                f()
            times[name].append((time.perf_counter() - t) / args.updates)
    o, b = statistics.median(times["ours"]), statistics.median(times["fused"])
    print(f"threads={torch.get_num_threads()} T=100 H=64 batch=32 tanh sgd")
    print(f"one update with full recording: {o * 1e3:.2f} ms; fused torch.nn.RNN: {b * 1e3:.2f} ms")
    print(f"ratio (ours / fused torch.nn.RNN): {o / b:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
