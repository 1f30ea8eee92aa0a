"""One side of a comparison (A or B) and what both modes of the page draw of two sides: the
overlaid curves, the heatmaps on one colour range with their difference, the tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from rnnlab import RunConfig, RunResult, plots
from rnnlab.comparison import final_numbers
from rnnlab.config import format_value
from rnnlab.plots import compare as cf

from .. import analysis
from ..runs.states import RunState
from ..runs.training import RunView
from ..state import Screen
from ..widgets import chart, snapshot_step


@dataclass
class Side:
    """What the charts need of one run: its name (A/B), config, metrics so far, result if finished."""

    name: str
    cfg: RunConfig
    metrics: pd.DataFrame
    result: RunResult | None
    state: RunState = RunState.DONE

    @classmethod
    def of_view(cls, name: str, v: RunView) -> Side:
        return cls(name, v.cfg, v.metrics(), v.result, v.state)

    @classmethod
    def of_result(cls, name: str, r: RunResult) -> Side:
        return cls(name, r.config, r.metrics, r)

    def curve_data(self) -> dict[str, Any]:
        s = self.result.summary if self.result is not None else {}
        ended = s.get("stopped_early") or s.get("diverged_at") is not None
        return {
            "metrics": self.metrics,
            "baseline": s.get("baseline_loss"),
            "final_loss": s.get("final_loss"),
            "steps": s.get("steps_done", self.cfg.steps) if ended else self.cfg.steps,
            "diverged_at": s.get("diverged_at"),
            "clip": self.cfg.clip,
            "clip_mode": self.cfg.clip_mode,
        }


def badge(name: str) -> str:
    """A's blue or B's orange badge, in Markdown."""
    return f":{'blue' if name == 'A' else 'orange'}-badge[**{name}**]"


# ---- charts and tables ---------------------------------------------------------------------------------


def curves(sa: Side, sb: Side) -> None:
    runs = {"A": sa.curve_data(), "B": sb.curve_data()}
    c1, c2 = st.columns(2, gap="medium")
    with c1:
        chart(cf.loss_overlay(runs, title="Loss"), "compare-loss", key="cmp.loss")
    with c2:
        chart(
            cf.grad_norm_overlay(runs, title="Gradient norm per update"),
            "compare-grad-norm",
            key="cmp.gradnorm",
        )


def heatmap_row(
    screen: Screen, hm_a: np.ndarray, hm_b: np.ndarray, ca: RunConfig, cb: RunConfig, when: str, key: str
) -> None:
    """A and B on one colour range, and B - A."""
    lo, hi = cf.shared_range(hm_a, hm_b, screen.ui.get("crange", "fixed"))
    cols = st.columns(3, gap="small")
    for col, name, hm, cfg in ((cols[0], "A", hm_a, ca), (cols[1], "B", hm_b, cb)):
        with col:
            fig = plots.jacobian_heatmap(
                hm,
                norm=cfg.norm,
                tbptt=cfg.tbptt,
                color_range=(lo, hi),
                height=430,
                title=f"{name}: log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ {when}",
            )
            chart(fig, f"compare-heatmap-{name}", key=f"{key}.{name}")
    with cols[2]:
        if np.shape(hm_a) == np.shape(hm_b):
            fig = cf.difference_heatmap(hm_a, hm_b, height=430, title=f"B − A (ratio of norms) {when}")
            chart(fig, "compare-heatmap-difference", key=f"{key}.diff")
        else:
            st.markdown("**B − A**")
            st.caption(
                f"A's sequences have {np.shape(hm_a)[0]} steps and B's {np.shape(hm_b)[0]}: "
                "a cell-by-cell difference needs the same length."
            )
    notes = [
        "Both maps share one colour range, so equal colours mean equal norms. In the difference, "
        "orange is where B carries more gradient than A, purple where it carries less."
    ]
    if ca.norm != cb.norm:
        notes.append(
            f"A uses the {ca.norm} norm and B the {cb.norm} norm: their values are not directly comparable."
        )
    st.caption(" ".join(notes))


def at_init(screen: Screen, a: RunConfig, b: RunConfig) -> None:
    st.markdown("##### Jacobian heatmaps at initialisation")
    with st.spinner("Computing both networks at initialisation…"):
        ia = analysis.init_view(a, "cmp.a", "A's network")
        ib = analysis.init_view(b, "cmp.b", "B's network")
    if ia is None or ib is None:  # a large view waits for a click, computes, or is refused
        return
    heatmap_row(screen, ia.jacobian, ib.jacobian, a, b, "at init", key="cmp.init")
    if math.isfinite(ia.slope) and math.isfinite(ib.slope):
        fa, fb = 10**ia.slope, 10**ib.slope
        st.caption(
            f"Per step back in time the norm changes by ×{fa:.3g} in A and ×{fb:.3g} in B "
            "(slope of the lag profile at initialisation)."
        )


def snapshots(screen: Screen, sa: Side, sb: Side, key: str) -> None:
    ra, rb = sa.result, sb.result
    steps_a = [int(s) for s in ra.snapshot_steps]
    steps_b = [int(s) for s in rb.snapshot_steps]
    if not steps_a or not steps_b:
        return
    st.markdown("##### Jacobian heatmaps over training")
    pick = snapshot_step(sorted(set(steps_a) | set(steps_b)), key=key)

    def index(steps: list[int]) -> int:
        earlier = [i for i, s in enumerate(steps) if s <= pick]
        return earlier[-1] if earlier else 0

    ia, ib = index(steps_a), index(steps_b)
    when = (
        f"at step {pick}"
        if steps_a[ia] == steps_b[ib] == pick
        else f"(A step {steps_a[ia]}, B step {steps_b[ib]})"
    )
    heatmap_row(screen, ra.heatmap(ia), rb.heatmap(ib), sa.cfg, sb.cfg, when, key=f"{key}.hm")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def tables(sa: Side, sb: Side) -> None:
    c1, c2 = st.columns([1, 1.3], gap="medium")
    with c1:
        st.markdown("##### Settings that differ")
        diff = sa.cfg.diff(sb.cfg)
        if diff:
            st.dataframe(
                pd.DataFrame(
                    [{"setting": k, "A": format_value(x), "B": format_value(y)} for k, (x, y) in diff.items()]
                ),
                hide_index=True,
                width="stretch",
                key="cmp.diff",
            )
        else:
            st.caption("None: A and B have the same settings.")
    with c2:
        st.markdown("##### Final numbers")
        na = final_numbers(sa.metrics, sa.result.summary if sa.result else None)
        nb = final_numbers(sb.metrics, sb.result.summary if sb.result else None)
        if not len(sa.metrics) and not len(sb.metrics):
            st.caption(
                "Train A and B to fill this table: final loss, baseline, divergence, largest "
                "gradient norm, final spectral radius and clipped updates."
            )
            return
        st.dataframe(
            pd.DataFrame([{"": k, "A": _fmt(na[k]), "B": _fmt(nb[k])} for k in na]),
            hide_index=True,
            width="stretch",
            key="cmp.numbers",
        )
