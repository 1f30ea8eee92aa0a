"""Shared by the AppTest page tests: the navigation-mode fixture and a Plotly trace-array reader."""

from __future__ import annotations

import base64

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch):
    """Run every AppTest run through app.py's st.navigation, as a server does once it is up.

    With a folder named pages/ beside app.py, Streamlit starts in its old multipage mode and runs a
    page script directly (without app.py, so without the sidebar) until st.navigation has been
    called once in the process. AppTest resets that flag before every run; this puts it back to the
    server's steady state (a real first request that skips app.py is handled by ui.shell.screen()).
    Import it into a test module to switch it on there.
    """
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", patched)


def page_charts(at) -> list:
    """The page's Plotly charts, without the hidden one every run sends first so the browser loads
    Plotly early (ui.shell.preload_charts)."""
    from ui.shell import PRELOAD_KEY

    return [c for c in at.get("plotly_chart") if not c.proto.id.endswith(PRELOAD_KEY)]


def plotly_array(v) -> np.ndarray:
    """A trace array from a Plotly spec: a (nested) list with None for gaps, or Plotly's typed-array
    dict {"dtype", "bdata", "shape"} (base64). Floats, NaN for None."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            a = a.reshape([int(s) for s in str(v["shape"]).split(",")])
        return a.astype(float)
    if isinstance(v, list) and v and isinstance(v[0], list):
        return np.array([[np.nan if x is None else x for x in row] for row in v], dtype=float)
    return np.array([np.nan if x is None else x for x in np.ravel(v)], dtype=float).reshape(np.shape(v))


def rendered(markdown: str) -> str:
    """What a person reads of a Markdown body that ui.text.plain escaped: backslash escapes resolved,
    the invisible word joiners dropped."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")
