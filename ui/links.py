"""Shareable links: the app's address, a view's full link, a preset's link, and the Share box.

Owns turning URL parameters into strings people copy; which parameters describe a view is
`ui.url.url_params`.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import streamlit as st

from rnnlab.config import KEYS, default_values, format_value
from rnnlab.presets import PRESETS

from . import widgets
from .url import PRESET, UI_FIELD, URL_KEYS, Screen, url_params


def query_string(params: dict[str, str]) -> str:
    return urlencode(params, safe=",")


def base_url() -> str:
    """The app's address as the browser sees it (no query), or a local fallback."""
    try:
        url = st.context.url
    except Exception:
        url = None
    url = (url or "http://localhost:8501/").split("?")[0]
    return url if urlsplit(url).path else url + "/"  # "http://host:8501" -> "http://host:8501/"


def share_url(screen: Screen) -> str:
    qs = query_string(url_params(screen))
    return base_url() + ("?" + qs if qs else "")


def preset_link_params(name: str) -> dict[str, str]:
    """Query parameters that open the Lab on a preset: its name and its settings, spelled out so the
    link still shows (and reproduces) the settings if the preset is edited later."""
    cfg = PRESETS[name].config()
    return {
        PRESET: name,
        **{k: format_value(getattr(cfg, k)) for k in KEYS if getattr(cfg, k) != default_values()[k]},
    }


SHARE_OPEN = "share_open"  # the expander's state; not "ui.": that prefix is for the URL's fields


def share_box(screen: Screen) -> None:
    """The link to this view, drawn only while its expander is open: a code block loads the browser's
    syntax highlighter (1.5 MB of JavaScript, ~0.3 s of a page's first load) even when collapsed."""
    box = widgets.drawn_when_open("Share this view", SHARE_OPEN, ":material/link:")
    if box is None:
        return
    with box:
        st.caption(
            "This link reproduces every setting (the seed included). Copy it with the button "
            "at the right of the box."
        )
        st.code(share_url(screen), language=None, wrap_lines=True)
        hide = st.multiselect(
            "Lock controls (hide them for whoever opens the link)",
            [k for k in (PRESET, *KEYS, *UI_FIELD)],
            default=sorted(screen.hidden, key=URL_KEYS.index),
            key="ui.lock",
            help="Adds `hide=` to the link: those controls are not shown, their values come from the link.",
        )
        if set(hide) != set(screen.hidden):
            locked = Screen(screen.cfg, screen.ui, screen.preset, frozenset(hide))
            st.caption("Locked link:")
            st.code(share_url(locked), language=None, wrap_lines=True)
