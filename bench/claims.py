"""Every preset's claims against what the app measures, with one and with two torch threads.

Prints a Markdown table (preset, claim, measured with 1 thread, measured with 2 threads, whether it
holds under both) and each preset's training time, so the margins behind tests/test_claims.py (which
runs with the app's one thread) can be read, and a claim that only holds for one thread count shows.

    python bench/claims.py                 # every preset, threads 1 and 2
    python bench/claims.py --threads 1 --only gru,lstm
"""

from __future__ import annotations

import argparse
import sys

import torch

from rnnlab import claims
from rnnlab.presets import PRESETS, REMEDIES


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--only", default="", help="comma-separated preset names (default: all)")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    names = [n for n in args.only.split(",") if n] or list(PRESETS)
    ev: dict[int, dict[str, claims.Evidence]] = {}
    for t in threads:
        torch.set_num_threads(t)
        ev[t] = {}
        for n in names:
            ev[t][n] = claims.gather(PRESETS[n].config())
            print(
                f"[{t} thread{'s' if t > 1 else ''}] {n}: trained in {ev[t][n].wall_s:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    cols = " | ".join(f"measured, {t} thread{'s' if t > 1 else ''}" for t in threads)
    print(f"| preset | claim | {cols} | holds |")
    print("|---|---|" + "---|" * len(threads) + "---|")
    for n in names:
        for c in PRESETS[n].claims:
            checks = [c.check(ev[t][n]) for t in threads]
            ok = "yes" if all(k.holds for k in checks) else "**NO**"
            print(f"| {n} | {checks[0].claim} | " + " | ".join(k.measured for k in checks) + f" | {ok} |")
    for r in REMEDIES:
        if r.without in names and r.with_ in names:
            for c in r.claims:
                checks = [c.check_pair(ev[t][r.without], ev[t][r.with_]) for t in threads]
                ok = "yes" if all(k.holds for k in checks) else "**NO**"
                print(
                    f"| {r.name} (pair) | {checks[0].claim} | "
                    + " | ".join(k.measured for k in checks)
                    + f" | {ok} |"
                )
    print()
    print("| preset | " + " | ".join(f"train time, {t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    for n in names:
        print(f"| {n} | " + " | ".join(f"{ev[t][n].wall_s:.1f} s" for t in threads) + " |")


if __name__ == "__main__":
    main()
