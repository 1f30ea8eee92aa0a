"""Sweep: a phase diagram of many configurations, filled in live, with the theory's lines on top."""

import streamlit as st

from ui import errors, shell, sweep

screen = shell.screen()
st.markdown("# Sweep")
st.caption(
    "Many configurations at once: the sidebar's settings with one or two keys swept across a grid, "
    "each cell coloured by what it measured. The definition is in the link: share it."
)
with errors.guard("Sweep"):
    sweep.page(screen)
