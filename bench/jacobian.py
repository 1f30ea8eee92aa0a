"""Benchmark of rnnlab.jacobian.heatmap: ratios measured side by side in one process.

    python bench/jacobian.py           # the figures quoted in the docs (a few minutes on 2 cores)
    python bench/jacobian.py --quick   # small sizes: a smoke test that runs in seconds

Prints, one labelled line each: (0) the spectral heatmap's CPU time on one thread at the default
size (T=100, H=64) and at T=300, H=128, the default gram engine against the precise one it
replaced (gram.py, precise=True), alternating in this process, with the pairs each certificate
tier settled; the machine's wide-matmul rate; (1) the rms heatmap's effective
rate (T^2 H^3 flops / time) as a fraction of that rate; (2) spectral time / rms time; (3) the
speed-up over the straightforward loop (every pair multiplied out, then its norm); (4) the time of
a small spectral heatmap; (5) the peak resident memory of a large heatmap (in a subprocess).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from rnnlab.jacobian import heatmap, rnn_step_jacobians, spectral_engine

DTYPE = torch.float32  # heatmap's working precision: the matmul rate is measured in it too


def tanh_jacobians(T: int, H: int, rho: float = 1.0, seed: int = 0) -> torch.Tensor:
    """J_t of a tanh cell, gaussian W_hh at spectral radius rho, preactivations N(0, 1). (T, H, H)"""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(H, H, generator=gen) / math.sqrt(H)  # (H, H)
    w = w * (rho / torch.linalg.eigvals(w).abs().max())
    a = torch.randn(T, H, generator=gen)  # (T, H)
    return rnn_step_jacobians(w, a, "tanh", 0.0)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def old_vs_new(T: int, H: int, repeats: int) -> None:
    """Spectral heatmap, one thread: precise (the old engine) and default, alternating; median CPU
    seconds of this process (less sensitive than wall time to a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    jacs = tanh_jacobians(T, H)
    heatmap(jacs[:5], "spectral"), heatmap(jacs[:5], "spectral", precise=True)  # warm-up
    times: dict[bool, list[float]] = {False: [], True: []}
    res = {}
    for _ in range(repeats):
        for precise in (True, False):
            t0 = time.process_time()
            res[precise] = heatmap(jacs, "spectral", precise=precise)
            times[precise].append(time.process_time() - t0)
    torch.set_num_threads(threads)
    old, new = statistics.median(times[True]), statistics.median(times[False])
    r_old, r_new = res[True], res[False]
    print(
        f"0. spectral heatmap T={T}, H={H}, 1 thread, CPU s (median of {repeats}): precise (old) "
        f"{old:.3f} s, default {new:.3f} s, {old / new:.2f}x; old: {r_old.certified} Kato-Temple, "
        f"{r_old.exact} eigen-solves; new tiers: {r_new.tiers}"
    )


def matmul_rate(T: int, H: int, repeats: int) -> float:
    """flops/s of the one wide product the engine does per step: (T*H, H) @ (H, H), i.e. the
    transpose of (H, H) @ (H, H*T), into a preallocated output."""
    a = torch.randn(T * H, H, dtype=DTYPE)  # (T*H, H)
    b = torch.randn(H, H, dtype=DTYPE)  # (H, H)
    out = torch.empty_like(a)
    torch.matmul(a, b, out=out)  # warm-up
    t = median_time(lambda: [torch.matmul(a, b, out=out) for _ in range(10)], repeats) / 10
    return 2 * T * H**3 / t


def straightforward(jacs: torch.Tensor, norm: str) -> None:
    """For each t, multiply back to every k and take the norm of each product."""
    T, H, _ = jacs.shape
    j = jacs.to(DTYPE)
    for t in range(1, T + 1):
        prods, r = [], torch.eye(H, dtype=DTYPE)
        for k in range(t - 1, 0, -1):
            r = r @ j[k]  # J_t ... J_{k+1}
            prods.append(r)
        if prods:
            stack = torch.stack(prods)  # (t-1, H, H)
            if norm == "spectral":
                torch.log10(torch.linalg.matrix_norm(stack, ord=2))
            else:
                torch.log10(torch.linalg.matrix_norm(stack) / math.sqrt(H))


def peak_memory_child(T: int, H: int) -> None:
    """Run in a subprocess: peak RSS growth of one heatmap call, as JSON on stdout."""
    jacs = tanh_jacobians(T, H)
    heatmap(tanh_jacobians(8, H), "spectral")  # load every code path before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0 = time.perf_counter()
    heatmap(jacs, "spectral")
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"delta_mib": (peak - base) / 1024, "wall_s": wall}))


def peak_memory(T: int, H: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", str(T), str(H)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test in seconds")
    ap.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        peak_memory_child(*args.memory_child)
        return

    if args.quick:
        big, small, tiny, mem, reps = (60, 32), (40, 16), (30, 16), (100, 32), 1
        sizes = [(30, 16)]
    else:
        big, small, tiny, mem, reps = (500, 128), (200, 64), (100, 64), (1000, 128), 3
        sizes = [(100, 64), (300, 128)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, dtype {str(DTYPE)[6:]}")
    for T, H in sizes:
        old_vs_new(T, H, 5 if T <= 100 else reps)

    T, H = big
    rate = matmul_rate(T, H, reps)
    print(f"matmul rate (H x H) @ (H x H*T), T={T}, H={H}: {rate / 1e9:.1f} GFLOP/s")
    jacs = tanh_jacobians(T, H)
    t_rms = median_time(lambda: heatmap(jacs, "rms"), reps)
    t_spec = median_time(lambda: heatmap(jacs, "spectral"), reps)
    print(
        f"1. rms heatmap T={T}, H={H}: {t_rms:.2f} s, effective rate / matmul rate = "
        f"{T * T * H**3 / t_rms / rate:.2f} (target >= 0.5)"
    )
    print(
        f"2. spectral ({spectral_engine(H)}) / rms time, T={T}, H={H}: {t_spec:.2f} s / {t_rms:.2f} s = "
        f"{t_spec / t_rms:.2f} (target <= 1.5)"
    )

    T, H = small
    jacs = tanh_jacobians(T, H)
    ours = {n: median_time(lambda n=n: heatmap(jacs, n), reps) for n in ("spectral", "rms")}
    naive = {n: median_time(lambda n=n: straightforward(jacs, n), 1) for n in ("spectral", "rms")}
    print(
        f"3. speed-up over the straightforward loop, T={T}, H={H}: spectral "
        f"{naive['spectral'] / ours['spectral']:.1f}x "
        f"({naive['spectral']:.2f} s vs {ours['spectral']:.2f} s), "
        f"rms {naive['rms'] / ours['rms']:.1f}x ({naive['rms']:.2f} s vs {ours['rms']:.2f} s)"
    )

    engines = ("gram", "tracking")
    both = {m: median_time(lambda m=m: heatmap(jacs, "spectral", method=m), reps) for m in engines}
    print(
        f"   the two spectral engines at T={T}, H={H}: gram / rms = {both['gram'] / ours['rms']:.1f}, "
        f"tracking / rms = {both['tracking'] / ours['rms']:.1f} (auto picks "
        f"{spectral_engine(H)} here)"
    )

    T, H = tiny
    jacs = tanh_jacobians(T, H)
    t_small = median_time(lambda: heatmap(jacs, "spectral"), reps)
    t_track = median_time(lambda: heatmap(jacs, "spectral", method="tracking"), reps)
    print(
        f"4. spectral heatmap T={T}, H={H}: {1e3 * t_small:.0f} ms "
        f"({spectral_engine(H)}; tracking {1e3 * t_track:.0f} ms)"
    )

    T, H = mem
    m = peak_memory(T, H)
    print(
        f"5. peak resident memory, spectral heatmap T={T}, H={H}, stride 1: {m['delta_mib']:.0f} MiB "
        f"above baseline (limit 1024 MiB; the call took {m['wall_s']:.1f} s)"
    )


if __name__ == "__main__":
    main()
