"""Compare: two runs, A and B, side by side (B = A with a few changes, or any two finished runs)."""

import streamlit as st

from ui import compare, errors, shell

screen = shell.screen()
st.markdown("# Compare")
st.caption(
    "Two runs side by side: the same network and seed with one idea changed. The difference is "
    "part of the link, so a comparison can be shared like any other view."
)
with errors.guard("Compare"):
    compare.page(screen)
