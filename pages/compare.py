"""Compare: two runs, A and B, side by side (B = A with a few changes, or any two finished runs)."""

import streamlit as st

import ui
from ui import compare, errors

if not ui.has_view():
    # Opened before app.py ever ran in this server process: with a folder named pages/, Streamlit
    # starts in its old multipage mode and runs this script alone (no sidebar, no view). Switch to
    # st.navigation mode and rerun, so app.py builds the sidebar and then runs this page.
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()
view = ui.view()
st.markdown("# Compare")
st.caption("Two runs side by side: the same network and seed with one idea changed. The difference is "
           "part of the link, so a comparison can be shared like any other view.")
with errors.guard("Compare"):
    compare.page(view)
