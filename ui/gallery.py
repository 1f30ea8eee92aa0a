"""The preset gallery: a card per preset with its key number and a link that opens it in the Lab."""

from __future__ import annotations

import math

import streamlit as st

from rnnlab import theory
from rnnlab.presets import PRESETS, REMEDIES, Preset

from . import analysis, errors, names
from .state import preset_link_params, query_string


def key_number(p: Preset) -> tuple[str, str, float, list[float]]:
    """(value, explanation, slope, profile): the measured change per step back in time at init."""
    slope, profile = analysis.decay_profile(p.config())
    if not math.isfinite(slope):
        return "n/a", "no measurable decay", slope, profile
    factor = 10**slope
    when = theory.thousandfold(slope, p.config().seq_total)
    verb = "fall" if slope < 0 else "rise"
    note = f"1000-fold {verb} in {when}" if when[0].isdigit() else f"1000-fold {verb}: {when}"
    return f"×{factor:.3g} per step", note, slope, profile


def link(name: str) -> str:
    return "./?" + query_string(preset_link_params(name))  # relative: works under a base URL path


def card(p: Preset) -> None:
    with st.container(border=True):
        st.html(f'<div class="rnnlab-card-title">{p.title}</div>')
        cfg = p.config()
        tags = [
            f"{cfg.cell}" + (f" · {cfg.act}" if cfg.cell == "rnn" else ""),
            f"ρ {cfg.rho:g}",
            f"{cfg.task} · T {cfg.seq_len}",
        ]
        st.html("".join(f'<span class="rnnlab-tag">{t}</span>' for t in tags))
        with errors.guard():
            value, note, slope, profile = key_number(p)
            st.metric(
                "at initialisation",
                value,
                note,
                delta_color="off",
                delta_arrow="down" if slope < 0 else "up" if slope > 0 else "off",
                chart_data=profile,
                chart_type="area",
                help="Measured at initialisation: the slope of log10 ‖∂h_t/∂h_k‖ against the lag "
                "t − k, as a factor per step. The sparkline is the lag profile (log scale).",
            )
        st.caption(p.text)
        st.caption(
            "Checked by the test suite: " + "; ".join(c.words for c in p.claims) + ".",
            help="Each preset's claims are data (rnnlab.presets) that a test measures as the Lab "
            "does, so a card cannot quietly stop being true.",
        )
        st.page_link(
            names.LAB.script,
            label="Open in the Lab",
            icon=":material/arrow_forward:",
            query_params=preset_link_params(p.name),
        )


def gallery(columns: int = 3) -> None:
    names = list(PRESETS)
    missing = [n for n in names if not analysis.decay_cached(PRESETS[n].config())]
    if missing:
        bar = st.progress(0.0, text="Measuring each preset at initialisation…")
        for i, n in enumerate(missing):
            analysis.decay_per_step(PRESETS[n].config())
            bar.progress((i + 1) / len(missing), text=f"Measuring {n}…")
        bar.empty()
    for row in range(0, len(names), columns):
        cols = st.columns(columns, gap="medium")
        for col, name in zip(cols, names[row : row + columns]):
            with col:
                card(PRESETS[name])


def remedies_table() -> None:
    st.markdown("Each remedy is a pair of presets with the same seed, one idea switched on:")
    rows = [
        f"| {r.name} | [{r.without}]({link(r.without)}) | [{r.with_}]({link(r.with_)}) | "
        + "; ".join(c.words for c in r.claims)
        + " |"
        for r in REMEDIES
    ]
    st.markdown(
        "| remedy | without | with | what the pair shows (checked) |\n|---|---|---|---|\n" + "\n".join(rows)
    )
