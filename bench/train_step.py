"""One training update with full recording vs one update of a bare fused torch.nn.RNN / GRU / LSTM.

For each cell (rnn with tanh, gru, lstm) both are timed side by side in this process at T=100, H=64,
batch 32, SGD, on the adding task's data, with interleaved repeats (medians). Prints the ratio
(ours / fused); the target is <= 1.5 with one thread. With --run it also times one whole run() of the
300-step gru and lstm presets (adam). Run: python bench/train_step.py [--threads 1] [--run]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnlab import preset_config, run
from rnnlab.config import RunConfig
from rnnlab.train import setup
from rnnlab.update import chunks, make_optimizer, train_step

FUSED = {
    "rnn": lambda: torch.nn.RNN(2, 64, nonlinearity="tanh"),
    "gru": lambda: torch.nn.GRU(2, 64),
    "lstm": lambda: torch.nn.LSTM(2, 64),
}


def fused_update(rnn, head, opt, x, y):
    opt.zero_grad(set_to_none=True)
    out, _ = rnn(x)  # (T, B, H)
    loss = ((head(out[-1])[:, 0] - y) ** 2).mean()
    loss.backward()
    opt.step()


def compare(cell: str, repeats: int, updates: int) -> tuple[float, float]:
    """Median seconds per update: (ours with full recording, bare fused torch module)."""
    cfg = RunConfig(cell=cell, seq_len=100, hidden=64, batch=32, act="tanh", optimizer="sgd")
    s = setup(cfg)
    params = list(s.model.parameters())
    opt = make_optimizer("sgd", params, cfg.lr)
    parts = chunks(s.task.L, cfg.tbptt)
    batch = s.task.sample(s.data_rng, cfg.batch)

    rnn = FUSED[cell]()
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
    for _ in range(repeats):  # interleaved, so drift hits both alike
        for name, f in (("ours", ours), ("fused", fused)):
            t = time.perf_counter()
            for _ in range(updates):
                f()
            times[name].append((time.perf_counter() - t) / updates)
    return statistics.median(times["ours"]), statistics.median(times["fused"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cells", default="rnn,gru,lstm")
    ap.add_argument("--run", action="store_true", help="also time whole 300-step gru and lstm presets")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    print(
        f"threads={torch.get_num_threads()} T=100 H=64 batch=32 adding sgd (rnn: tanh); "
        f"oneDNN {'on (fused LSTM runs its RNN kernel)' if mkldnn else 'off'}"
    )
    for cell in args.cells.split(","):
        o, b = compare(cell, args.repeats, args.updates)
        name = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}[cell]
        print(
            f"{cell:4s}: one update with full recording {o * 1e3:6.2f} ms; fused torch.nn.{name} "
            f"{b * 1e3:6.2f} ms; ratio {o / b:.2f}  (target <= 1.5)"
        )
    if args.run:
        for cell in ("gru", "lstm"):
            cfg = preset_config(cell)
            t = time.perf_counter()
            run(cfg)
            print(
                f"whole run() of the {cell} preset (steps={cfg.steps}, T={cfg.seq_len}, H={cfg.hidden}, "
                f"batch={cfg.batch}, {cfg.optimizer}, snapshots={cfg.snapshots}): "
                f"{time.perf_counter() - t:.1f} s"
            )


if __name__ == "__main__":
    main()
