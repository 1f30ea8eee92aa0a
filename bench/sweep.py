"""Cells per second of the default at-init sweep: one worker against the local pool, and the pool
against a Dask LocalCluster of the same size (loopback only, started here).

The default sweep is the Sweep page's: rho = 0.5:2.0:16 x act = tanh,relu, one seed, the at-init
decay rate, on the default network (H = 64, T = 100): 32 cells. Each variant is timed from the call of
run_sweep to its return (pool start-up and shutdown included, the LocalCluster's own start-up not: a
user points at a running scheduler), in one process, after a warm-up sweep that starts the
forkserver. Prints cells/s for each, the pool's speed-up over one worker, and the Dask overhead per
cell against the pool. Run: python bench/sweep.py [--workers N] [--quick]
"""

from __future__ import annotations

import argparse
import time

from rnnlab import RunConfig
from rnnlab.runtime import torch_threads
from rnnlab.sweep import PoolBackend, Sweep, default_workers, run_sweep


def timed(sweep: Sweep, **kw) -> float:
    t0 = time.perf_counter()
    res = run_sweep(sweep, **kw)
    took = time.perf_counter() - t0
    assert res.complete and (res.table.status == "ok").all(), res.progress
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--quick", action="store_true", help="rho=0.5:2.0:4 (8 cells): a smoke run")
    args = ap.parse_args()
    rho = "rho=0.5:2.0:4" if args.quick else "rho=0.5:2.0:16"
    sweep = Sweep.build(RunConfig(), [rho, "act=tanh,relu"])
    n, w = sweep.size, args.workers
    print(f"{sweep.describe()}; torch threads per worker: {torch_threads()}; pool: {w} workers")
    timed(Sweep.build(RunConfig(hidden=8, seq_len=10), ["rho=1,2"]), backend=PoolBackend(w))  # warm-up

    one = timed(sweep, backend=PoolBackend(1))
    pool = timed(sweep, backend=PoolBackend(w))
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=w, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        timed(Sweep.build(RunConfig(hidden=8, seq_len=10), ["rho=1,2"]), address=cluster.scheduler_address)
        dask = timed(sweep, address=cluster.scheduler_address)
    print(f"1 worker:          {n / one:6.2f} cells/s ({one:.1f} s)")
    print(
        f"pool ({w} workers):  {n / pool:6.2f} cells/s ({pool:.1f} s); "
        f"speed-up over 1 worker x{one / pool:.2f}"
    )
    print(
        f"LocalCluster ({w}): {n / dask:6.2f} cells/s ({dask:.1f} s); "
        f"overhead against the pool {1000 * (dask - pool) / n:+.0f} ms per cell (x{dask / pool:.2f})"
    )


if __name__ == "__main__":
    main()
