"""RNN Lab: entry point. Page config, the shared sidebar controls (bound to the URL), navigation.

Adding a page is one line in ui.names.PAGES; every page reads the same controls with `shell.screen()`.
"""

import streamlit as st

from ui import errors, lesson, names, shell, state

st.set_page_config(
    page_title="RNN Lab", page_icon=":material/blur_on:", layout="wide", initial_sidebar_state="expanded"
)

PAGES = [
    st.Page(
        p.script,
        title=p.title,
        icon=p.icon,
        default=p is names.LAB,
        **({} if p is names.LAB else {"url_path": p.url_path}),
    )
    for p in names.PAGES
]

page = st.navigation(PAGES, position="top")
shell.configure_torch()
shell.styles()
with st.sidebar:
    st.markdown("## RNN Lab")
    st.caption("How gradients flow back through time in a recurrent network.")
    with errors.guard("Controls"):
        if page.url_path == names.LESSON.url_path:
            lesson.sync()  # a lesson step's settings, when the URL names a new one
        state.sync_from_url()
        screen = state.controls()
        shell.set_screen(screen)
        state.write_url(screen)
        state.share_box(screen)
    shell.preload_charts()
if shell.has_screen():
    state.show_notices(shell.screen())
    with errors.guard(page.title):
        page.run()
