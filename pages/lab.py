"""Lab: one configuration, at initialisation and in training."""

import streamlit as st

import ui
from ui import errors, lab

view = ui.view()
st.markdown("# Lab")
st.caption(lab.describe(view.cfg))
with errors.guard("At initialisation"):
    lab.at_init(view)
st.divider()
with errors.guard("Training"):
    lab.training(view)
