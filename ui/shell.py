"""What every page shares before it draws: the Screen the sidebar resolved, the CSS, torch's threads.

app.py resolves the sidebar once per run and stores the Screen here (`set_screen`); a page reads it
with `screen()`.
"""

from __future__ import annotations

import streamlit as st

from .state import Screen

PRELOAD_KEY = "rnnlab-plotly-preload"  # the hidden chart's key; the CSS below hides it by that key
_SCREEN = "_view"  # the session key keeps its old spelling: a renamed key would be a new session's


def set_screen(screen: Screen) -> None:
    st.session_state[_SCREEN] = screen


def screen() -> Screen:
    """The sidebar's resolved screen for this run (set by app.py before the page runs)."""
    if _SCREEN not in st.session_state:
        _legacy_pages_mode()
    return st.session_state[_SCREEN]


def has_screen() -> bool:
    return _SCREEN in st.session_state


def _legacy_pages_mode() -> None:
    """A fresh server whose first request names a page (/presets, a shared link) runs that page
    without app.py: Streamlit treats a `pages/` folder as its legacy multipage mode until the first
    st.navigation call switches it off, process-wide. Switch it off and rerun through app.py."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    raise RuntimeError("the sidebar controls did not load; reload the page")


_CSS = """
<style>
  .block-container {padding-top: 3.2rem; padding-bottom: 3rem; max-width: 1500px;}
  h1, h2, h3, h4, h5 {letter-spacing: -0.01em;}
  [data-testid="stSidebar"] [data-testid="stExpander"] details summary p {font-weight: 600;}
  [data-testid="stMetricValue"] {font-size: 1.55rem;}
  .rnnlab-card-title {font-weight: 650; font-size: 1.02rem; margin-bottom: .2rem;}
  .st-key-rnnlab-plotly-preload {display: none;}
  .rnnlab-tag {display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .78rem;
               margin-right: 4px; background: #eef2ff; color: #3730a3;}
</style>
"""


def styles() -> None:
    """A little CSS for spacing and type (no layout depends on it)."""
    st.html(_CSS)


def preload_charts() -> None:
    """A hidden, empty Plotly chart, sent before the page's own work.

    Streamlit's browser code fetches its Plotly bundle (about 4.7 MB of JavaScript) only when the
    first Plotly chart arrives. Without this, that is after the server has computed the heatmap,
    and the bundle's loading and compiling (1-3 s on a busy 2-core machine) follows the server's
    work instead of overlapping it. About 5 ms of server time per run.
    """
    st.plotly_chart(
        {"data": [{"type": "scatter"}], "layout": {"height": 10, "title": {"text": ""}}},
        key=PRELOAD_KEY,
        config={"staticPlot": True},
    )


def configure_torch() -> None:
    """One torch thread per computation (RNNLAB_TORCH_THREADS, default 1; see rnnlab.runtime)."""
    from rnnlab.runtime import use_torch_threads

    use_torch_threads()
