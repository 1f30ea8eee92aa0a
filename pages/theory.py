"""Theory: the product of Jacobians, the bounds and the mean field, each next to a live chart."""

import streamlit as st

from ui import errors, shell, theory

screen = shell.screen()
st.markdown("# Theory")
st.caption(
    "Why gradients vanish or explode, in equations, each next to a chart computed for the "
    "sidebar's settings. Change a control and every chart follows."
)
with errors.guard("Theory"):
    theory.page(screen)
