"""Theory: the product of Jacobians, the bounds and the mean field, each next to a live chart."""

import streamlit as st

import ui
from ui import errors, theory

if not ui.has_view():
    # Opened before app.py ever ran in this server process: with a folder named pages/, Streamlit
    # starts in its old multipage mode and runs this script alone (no sidebar, no view). Switch to
    # st.navigation mode and rerun, so app.py builds the sidebar and then runs this page.
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()
view = ui.view()
st.markdown("# Theory")
st.caption("Why gradients vanish or explode, in equations, each next to a chart computed for the "
           "sidebar's settings. Change a control and every chart follows.")
with errors.guard("Theory"):
    theory.page(view)
