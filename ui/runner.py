"""A page's training runs, kept in its session: one run per slot (ui.names: SLOT_LAB, SLOT_A, ...).

A page starts a run with `start_run(slot, cfg)`; the run object lives in `st.session_state[slot]`,
so reruns, other widgets and page switches never restart or drop it. The page reads `run.view()`
from a fragment that redraws every half second while the run is active (ui.widgets.live). The run
itself, its gate and its backends are Streamlit-free: ui.runs.
"""

from __future__ import annotations

import streamlit as st

from rnnlab import RunConfig

from .runs.sessions import session_id
from .runs.training import TrainingRun


def get_run(slot: str) -> TrainingRun | None:
    """The run kept in st.session_state[slot] (None if there is none)."""
    return st.session_state.get(slot)


def start_run(slot: str, cfg: RunConfig, label: str = "") -> TrainingRun:
    """Start a run in `slot`, stopping whatever run was there (one active run per slot). The run
    belongs to this browser session: it ends when the session does (ui.runs.sessions)."""
    old = get_run(slot)
    if old is not None and old.active:
        old.stop()
    run = TrainingRun(cfg, label=label, session=session_id()).start()
    st.session_state[slot] = run
    return run


def stop_runs(*slots: str) -> None:
    """Ask the runs in these slots to stop (what they trained is kept)."""
    for slot in slots:
        run = get_run(slot)
        if run is not None:
            run.stop()
