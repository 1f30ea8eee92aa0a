"""Lab: one configuration, at initialisation and in training."""

import streamlit as st

from ui import errors, lab, shell, widgets

screen = shell.screen()
st.markdown("# Lab")
st.caption(widgets.describe(screen.cfg))
with errors.guard("At initialisation"):
    lab.at_init(screen)
st.divider()
with errors.guard("Training"):
    lab.training(screen)
