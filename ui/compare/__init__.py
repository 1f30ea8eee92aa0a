"""The Compare page: two runs, A and B, side by side.

Two modes (CMP_MODE): `setup` (A = the sidebar's configuration, B = A with a few changes written in
one URL parameter, `b=clip:1,lr:0.1`; ui.compare.setup, ui.compare.link) and `history` (any two
finished runs of this session, or exported runs opened from files; ui.compare.history_mode).
ui.compare.sides draws what both modes share.

B is stored as changes (rnnlab.changes), parsed leniently: a bad value gives a notice and B keeps
A's value. Because B is changes, moving a sidebar control moves both runs, and the difference stays
the one the link names. A remedy pair from `rnnlab.presets.REMEDIES` sets both at once: A = the
preset without the remedy, B = A with the keys that the remedy changes.

Training uses `ui.runner` (slots SLOT_A and SLOT_B), so the server's gate admits them like any other
run; a fragment redraws the progress and the overlaid curves while they train.
"""

from __future__ import annotations

import streamlit as st

from .. import history
from ..names import CMP_HISTORY, CMP_MODE, CMP_SETUP
from ..state import Screen
from .history_mode import from_history
from .setup import setup


def page(screen: Screen) -> None:
    history.harvest()
    mode = st.segmented_control(
        "Runs to compare",
        [CMP_SETUP, CMP_HISTORY],
        key=CMP_MODE,
        default=CMP_SETUP,
        required=True,
        format_func=lambda m: {
            CMP_SETUP: "A = sidebar, B = A with changes",
            CMP_HISTORY: "Finished runs and exported files",
        }[m],
        label_visibility="collapsed",
    )
    if mode == CMP_HISTORY:
        from_history(screen)
    else:
        setup(screen)
