"""B's changes (`b=clip:1,lr:0.1`) in the URL and the session, and links to a comparison.

The grammar itself is rnnlab.changes (pure). Here: adopting a `b` that a link brought, writing the
resolved changes back, the widgets' callbacks that edit them, and the addresses that share them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlparse

import streamlit as st

from rnnlab import RunConfig
from rnnlab.changes import changes_between, format_changes, remedy_changes
from rnnlab.presets import REMEDIES

from .. import state
from ..names import (
    B_PARAM,
    CMP_B,
    CMP_B_ADOPTED,
    CMP_B_NOTICES,
    CMP_B_URL,
    CMP_MODE,
    CMP_REMEDY,
    CMP_SETUP,
    CMP_SPEC,
    COMPARE,
    PAGES,
)
from ..state import Screen

# ---- links ---------------------------------------------------------------------------------------------


def remedy_params(without: str, with_: str) -> dict[str, str]:
    """URL parameters of a remedy comparison: A's preset and settings, and B's changes."""
    return {**state.preset_link_params(without), B_PARAM: format_changes(remedy_changes(without, with_))}


def compare_params(screen: Screen, spec: dict[str, Any]) -> dict[str, str]:
    params = state.url_params(screen)
    if spec:
        params[B_PARAM] = format_changes(spec)
    return params


def page_url(params: dict[str, str]) -> str:
    """The address of this page with these parameters (for the share box)."""
    base = urlparse(state.base_url())
    parts = [p for p in base.path.split("/") if p]
    if parts and parts[-1] in {p.url_path for p in PAGES}:
        parts = parts[:-1]
    path = "/" + "/".join([*parts, COMPARE.url_path])
    qs = urlencode(params, safe=",:")
    return f"{base.scheme}://{base.netloc}{path}" + (f"?{qs}" if qs else "")


# ---- B's changes in the session and the URL ---------------------------------------------------------


def sync_b() -> None:
    """URL -> session: adopt a `b` the page did not write itself (a link, the remedy picker).

    A page switch drops the parameter; then the session's value stays (and is written back).
    """
    ss = st.session_state
    url = st.query_params.get(B_PARAM)
    last = ss.get(CMP_B_URL)
    ss[CMP_B_ADOPTED] = False
    if url is not None and url != last:
        ss[CMP_B] = url
        ss[CMP_B_ADOPTED] = True
    elif last is None:
        ss.setdefault(CMP_B, "")


def write_b(spec: dict[str, Any]) -> None:
    """session -> URL: B's changes as this run resolved them (no parameter when there are none)."""
    text = format_changes(spec)
    if text:
        if st.query_params.get(B_PARAM) != text:
            st.query_params[B_PARAM] = text
    elif B_PARAM in st.query_params:
        del st.query_params[B_PARAM]
    st.session_state[CMP_B] = text
    st.session_state[CMP_B_URL] = text


# ---- callbacks of the page's widgets ----------------------------------------------------------------


def set_spec(spec: dict[str, Any]) -> None:
    st.session_state[CMP_B] = format_changes(spec)
    st.session_state[CMP_B_NOTICES] = []


def current_spec() -> dict[str, Any]:
    return st.session_state.get(CMP_SPEC, {})


def add_change(key: str) -> None:
    value = st.session_state.get(f"cmp.val.{key}")
    spec = dict(current_spec())
    spec[key] = value
    set_spec(spec)


def remove_change(key: str) -> None:
    spec = {k: v for k, v in current_spec().items() if k != key}
    set_spec(spec)


def apply_remedy() -> None:
    label = st.session_state.get(CMP_REMEDY)
    for name, without, with_ in REMEDIES:
        if name == label:
            st.query_params.from_dict(remedy_params(without, with_))
            st.session_state[CMP_B_NOTICES] = []
            return


def link_to(a: RunConfig, b: RunConfig) -> None:
    """Make A and B (two finished runs' configs) the sidebar's A and B's changes (a callback)."""
    spec = changes_between(a, b)
    params = a.to_strings()
    if spec:
        params[B_PARAM] = format_changes(spec)
    st.query_params.from_dict(params)
    st.session_state[CMP_MODE] = CMP_SETUP
    st.session_state[CMP_B_NOTICES] = []
