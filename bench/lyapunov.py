"""Benchmark of rnnlab.lyapunov.spectrum: its time as a ratio to the rms heatmap's at the same size.

    python bench/lyapunov.py           # T=100, H=64 and T=500, H=128 (a minute or two on 2 cores)
    python bench/lyapunov.py --quick   # T=50, H=32: a smoke test

Both work on the same one-step Jacobians (a tanh cell at rho = 1), measured side by side in one
process, median of a few repeats. The spectrum is every exponent (k = H), in float64; the heatmap
is all L columns of the rms norm, in float32. One line per size. --threads sets torch's threads
(default 1, as the app runs): the spectrum's small QRs do not gain from a second thread, and on a
busy 2-core machine they lose a lot to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jacobian import median_time, tanh_jacobians  # bench/jacobian.py, beside this file

from rnnlab.jacobian import heatmap
from rnnlab.lyapunov import spectrum


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the app's default is 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [(50, 32)] if args.quick else [(100, 64), (500, 128)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for T, H in sizes:
        J = tanh_jacobians(T, H)
        spectrum(J)  # warm-up
        t_spec = median_time(lambda J=J: spectrum(J), args.repeats)
        t_rms = median_time(lambda J=J: heatmap(J, norm="rms"), args.repeats)
        print(
            f"spectrum T={T} H={H} (all {H} exponents, float64): {t_spec * 1e3:.1f} ms; rms heatmap "
            f"{t_rms * 1e3:.1f} ms; spectrum / heatmap = {t_spec / t_rms:.3f}"
        )


if __name__ == "__main__":
    main()
