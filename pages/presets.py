"""Presets: a gallery of configurations, each with what to look at and a link into the Lab."""

import streamlit as st

from ui import errors, gallery, shell

shell.screen()  # every page starts here (it also routes a first request through app.py)
st.markdown("# Presets")
st.caption(
    "Each preset sets up one phenomenon. The number is measured at initialisation: how the norm "
    "‖∂h_t/∂h_k‖ changes per step back in time. Open one in the Lab to see it and train it."
)
with errors.guard("Presets"):
    gallery.gallery()
    st.divider()
    st.markdown("### Remedies side by side")
    gallery.remedies_table()
