"""What each built-in lesson's step shows, measured the way the app measures it.

Every number or qualitative statement in rnnlab/lessons/builtin/*.toml comes from this script
("measure, then write"); tests/test_lesson_claims.py loads the helpers below and checks the key
claims with margins. For every step it prints the step's configuration, what the Lab shows at
initialisation (the per-step factor of the heatmap, the mean log10 ||dh_t/dh_k|| at a few lags, the
longest lag still above 1e-3), the first update's temporal gradient profile (log10 ||dL/dh_k|| per
position k, the `grad_time` array) and, unless --init-only, what training does (claims.gather: the
verdict, the loss ratio, divergence, clipping, the factor after training).

    python bench/lessons.py                       # every lesson, one torch thread
    python bench/lessons.py --only the-sum --threads 2
    python bench/lessons.py --init-only
"""

from __future__ import annotations

import argparse
import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab import RunConfig, analyse, claims, measure, run, theory
from rnnlab.presets import preset_config

BUILTIN = Path(__file__).resolve().parent.parent / "rnnlab" / "lessons" / "builtin"
LESSONS = ("vanishing-exploding", "remedies", "the-sum")


def load(name: str) -> dict[str, Any]:
    """The lesson file rnnlab/lessons/builtin/<name>.toml, parsed."""
    with (BUILTIN / f"{name}.toml").open("rb") as f:
        return tomllib.load(f)


def step_config(step: dict[str, Any]) -> RunConfig:
    """A step's configuration as the format defines it: preset_config(preset, set), or defaults + set."""
    over = dict(step.get("set", {}))
    return preset_config(step["preset"], over) if "preset" in step else RunConfig.from_dict(over)


def config_of(lesson: str, step: int, **changes: Any) -> RunConfig:
    """Step `step` (1-based) of `lesson`, with `changes` on top (what a "do = change <key>" asks)."""
    cfg = step_config(load(lesson)["step"][step - 1])
    return replace(cfg, **changes) if changes else cfg


def at_init(cfg: RunConfig) -> dict[str, Any]:
    """The Lab's view at initialisation: the per-step factor, the mean log10 norm per lag, and the
    longest lag whose mean norm is still above 1e-3 (None if none is)."""
    init = measure.init_config(cfg)
    hm = analyse(init, max_columns=measure.heatmap_size(init)).heatmap
    lags, mean, _, _ = theory.lag_profile(hm)
    above = lags[1:][np.isfinite(mean[1:]) & (mean[1:] > -3)]
    return {
        "factor": measure.factor(measure.decay_slope(hm)),
        "mean": mean,  # mean log10 ||dh_t/dh_k|| at lag t - k
        "last_above_1e-3": int(above.max()) if above.size else None,
    }


def first_profile(cfg: RunConfig) -> np.ndarray:
    """log10 ||dL/dh_k|| per position k at the first update (row 0 of the grad_time chart)."""
    r = run(replace(cfg, steps=1, snapshots=1), heatmaps=False)
    g = np.asarray(r.arrays["grad_time"][0], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(g > 0, np.log10(np.where(g > 0, g, 1.0)), np.where(g == 0, -np.inf, np.nan))


def profile_stats(logs: np.ndarray, edge: int = 10) -> dict[str, float]:
    """What a student reads off one profile row: `rise`, log10 of the start over the end
    (||dL/dh_1|| / ||dL/dh_L||); `spread`, max - min over positions 1 .. L - edge (away from the
    end, where fewer loss terms are summed); `slope`, the least-squares slope per position (log10);
    `half`, log10 ||dL/dh_1|| / ||dL/dh_{L/2}||."""
    L = len(logs)
    body = logs[: L - edge]
    body = body[np.isfinite(body)]
    k = np.arange(L)
    ok = np.isfinite(logs)
    slope = float(np.polyfit(k[ok], logs[ok], 1)[0]) if ok.sum() > 1 else math.nan
    return {
        "rise": float(logs[0] - logs[-1]),
        "spread": float(body.max() - body.min()) if body.size else math.nan,
        "slope": slope,
        "half": float(logs[0] - logs[L // 2]),
    }


def profile_rows(cfg: RunConfig) -> list[dict[str, float]]:
    """profile_stats of the first, middle and last rows of a full run's grad_time chart."""
    g = np.asarray(run(cfg, heatmaps=False).arrays["grad_time"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(g)
    return [profile_stats(logs[i]) for i in (0, len(logs) // 2, len(logs) - 1)]


def snapshot_factors(cfg: RunConfig) -> list[tuple[int, float]]:
    """The per-step factor the Lab reads at every heatmap snapshot of a run: (step, factor)."""
    r = run(cfg)
    return [
        (int(s), measure.factor(measure.decay_slope(hm)))
        for s, hm in zip(r.arrays["snapshot_steps"], r.arrays["jacobian"])
    ]


def finite_positions(cfg: RunConfig) -> list[int]:
    """1-based positions k that the last update's profile covers (a TBPTT chunk covers only its own)."""
    r = run(cfg, heatmaps=False)
    g = np.asarray(r.arrays["grad_time"][-1], dtype=float)
    return [int(i) + 1 for i in np.flatnonzero(np.isfinite(g))]


# ---- the variations a step asks the student to try ------------------------------------------------

VARIATIONS: dict[tuple[str, int], list[dict[str, Any]]] = {
    ("vanishing-exploding", 1): [{"rho": 1.1}],
    ("vanishing-exploding", 5): [{"tbptt": 0}],
    ("remedies", 1): [{"init": "gaussian"}, {"init": "gaussian", "rho": 0.5}],
    ("remedies", 3): [{"leak": 0.0}],
    ("remedies", 4): [{"cell": "rnn"}],
    ("remedies", 6): [{"train_recurrent": True}],
    ("the-sum", 3): [{"rho": 1.05}, {"rho": 0.95}],
}


def _fmt(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def report(lesson: str, cfg: RunConfig, train: bool, label: str = "") -> None:
    a = at_init(cfg)
    m = a["mean"]
    lags = [d for d in (1, 5, 10, 20, 50) if d < len(m)]
    print(f"  {label or 'step'}: {cfg}")
    print(
        f"    init: factor ×{a['factor']:.3f}; mean log10 at lags {lags}: "
        f"{[round(float(m[d]), 2) for d in lags]}; last lag above 1e-3: {a['last_above_1e-3']}"
    )
    st = profile_stats(first_profile(cfg))
    print("    first profile: " + ", ".join(f"{k} {_fmt(v)}" for k, v in st.items()))
    if train and cfg.steps > 0:
        ev = claims.gather(cfg)
        print(
            f"    trained: {ev.kind}, loss {ev.ratio:.3g} × baseline, diverged at {ev.diverged_at} "
            f"({ev.stage}), clipped {ev.clipped:.0%}, spike {ev.spike:.1f} orders, "
            f"factor after ×{ev.end_factor:.3f}, reach {ev.reach:.2f}, {ev.wall_s:.1f} s"
        )
        if cfg.tbptt:
            print(f"    positions the last update covers: {finite_positions(cfg)}")
        if lesson == "the-sum":
            rows = profile_rows(cfg)
            print(
                "    profile rows first/middle/last: "
                + "; ".join(", ".join(f"{k} {_fmt(v)}" for k, v in st.items()) for st in rows)
            )
        if cfg.omega or not cfg.train_recurrent:
            print("    factor per snapshot: " + ", ".join(f"{s}: ×{f:.3f}" for s, f in snapshot_factors(cfg)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated lesson names (default: all)")
    ap.add_argument("--init-only", action="store_true", help="skip training")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name in [n for n in args.only.split(",") if n] or LESSONS:
        lesson = load(name)
        print(f"## {name}: {lesson['title']}")
        for i, step in enumerate(lesson["step"], 1):
            print(f"- step {i}: {step['title']}")
            cfg = step_config(step)
            report(name, cfg, not args.init_only)
            for change in VARIATIONS.get((name, i), []):
                report(name, replace(cfg, **change), not args.init_only, label=f"with {change}")


if __name__ == "__main__":
    main()
