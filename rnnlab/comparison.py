"""Plain numbers for comparing two runs, A and B (and the per-step loss both pages draw). No plotting.

- `per_step(metrics)`: one training loss per step (the updates of a TBPTT step summed).
- `difference(hm_a, hm_b)`: B - A of two heatmaps in log10 units (the log of the ratio B/A).
- `final_numbers(metrics, summary)`: the numbers of the Compare page's table for one run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .verdict import judge


def finite(a) -> np.ndarray:
    """Floats with NaN for anything missing or non-finite (a column may hold None or strings)."""
    a = pd.to_numeric(pd.Series(a), errors="coerce").to_numpy(float)
    return np.where(np.isfinite(a), a, np.nan)


def per_step(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per training step: step, seq_loss (the minibatch loss, summed over TBPTT chunks)."""
    if metrics.empty:
        return pd.DataFrame({"step": pd.Series(dtype=int), "seq_loss": pd.Series(dtype=float)})
    if "seq_loss" in metrics:
        return metrics.groupby("step", as_index=False)["seq_loss"].first()
    return (
        metrics.groupby("step", as_index=False)["loss"].sum(min_count=1).rename(columns={"loss": "seq_loss"})
    )


def difference(hm_a: np.ndarray, hm_b: np.ndarray) -> np.ndarray:
    """B - A in log10 units (log10 of the ratio of the norms); NaN where either is not a finite value
    (above the diagonal, not computed, or an exactly zero product, where the ratio is undefined)."""
    a, b = np.asarray(hm_a, float), np.asarray(hm_b, float)  # (L, L) each
    if a.shape != b.shape:
        raise ValueError(
            f"the heatmaps have different sizes ({a.shape[0]} and {b.shape[0]} steps); "
            "a difference needs the same sequence length"
        )
    with np.errstate(invalid="ignore"):
        d = b - a
    return np.where(np.isfinite(a) & np.isfinite(b), d, np.nan)


def final_numbers(metrics: pd.DataFrame, summary: dict[str, Any] | None) -> dict[str, Any]:
    """The comparison table's numbers for one run (None where the run has no value yet)."""
    s = summary or {}
    m = metrics
    gn = finite(m["grad_norm"]) if len(m) and "grad_norm" in m else np.array([])
    rho = finite(m["rho_whh"]) if len(m) and "rho_whh" in m else np.array([])
    rho = rho[np.isfinite(rho)]
    v = judge(s) if s else None
    return {
        "verdict": v.kind if v is not None else None,
        "final loss": s.get("final_loss"),
        "baseline loss": s.get("baseline_loss"),
        "diverged at step": s.get("diverged_at"),
        "max gradient norm": float(np.nanmax(gn)) if np.isfinite(gn).any() else None,
        "final ρ(W_hh)": float(rho[-1]) if rho.size else None,
        "clipped updates": int(pd.to_numeric(m["clipped"]).sum()) if len(m) and "clipped" in m else None,
        "updates": len(m),
    }
