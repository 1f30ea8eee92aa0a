"""Compare's first mode: A is the sidebar's configuration, B is A with the changes the URL names
(`b=`, ui.compare.link). Editing B, the remedy pairs, training both, and their live charts."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from rnnlab import RunConfig
from rnnlab.changes import Changes, describe_changes, format_changes, remedy_changes
from rnnlab.config import FIELD, FIELDS, format_value
from rnnlab.presets import REMEDIES

from .. import runner, state, widgets
from ..names import CMP_B, CMP_B_ADOPTED, CMP_B_NOTICES, CMP_REMEDY, CMP_SPEC, SLOT_A, SLOT_B
from ..runs.states import RunState
from ..runs.training import RunView
from ..state import Screen
from ..text import bullets
from ..widgets import describe
from . import link
from .sides import Side, at_init, badge, curves, snapshots, tables


def setup(screen: Screen) -> None:
    a = screen.cfg
    link.sync_b()
    b, spec, notices = resolve_b(a)
    st.session_state[CMP_SPEC] = spec
    if st.session_state.get(CMP_B_ADOPTED):
        st.session_state[CMP_B_NOTICES] = notices
    link.write_b(spec)
    shown = st.session_state.get(CMP_B_NOTICES, [])
    if shown:  # they repeat the link's values: shown as text, never as Markdown
        st.warning("Some of B's changes in the link could not be used:\n\n" + bullets(shown), icon="⚠️")
    remedy_picker(screen, spec)
    header(a, b, screen, spec)
    editor(a, b, spec)
    st.divider()
    training(screen, a, b, spec)


def resolve_b(a: RunConfig) -> Changes:
    """B = A with the session's changes, less those a locked link holds (its hidden settings hold
    for B too)."""
    b, spec, notices = a.with_changes(st.session_state.get(CMP_B, ""))
    held = state.lock()
    locked = [k for k in spec if held is not None and k in held.keys]
    if locked:
        notices.append(
            f"B: {', '.join(locked)} {'is' if len(locked) == 1 else 'are'} locked by the link "
            "— B keeps A's value."
        )
        b, spec, _ = a.with_changes(format_changes({k: v for k, v in spec.items() if k not in locked}))
    return Changes(b, spec, notices)


def remedy_picker(screen: Screen, spec: dict[str, Any]) -> None:
    current = None
    for name, without, with_ in REMEDIES:
        if screen.preset == without and spec == remedy_changes(without, with_):
            current = name
    st.session_state[CMP_REMEDY] = current
    st.pills(
        "Remedy pairs: A without the remedy, B with it (same seed)",
        [r[0] for r in REMEDIES],
        key=CMP_REMEDY,
        on_change=link.apply_remedy,
        help="Loads the preset without the remedy into the sidebar (A) and sets B to A plus the "
        "keys the remedy changes.",
    )


def header(a: RunConfig, b: RunConfig, screen: Screen, spec: dict[str, Any]) -> None:
    changes = describe_changes(a, b)
    c1, c2 = st.columns(2, gap="medium")
    with c1.container(border=True, height="stretch"):
        st.markdown(
            f"{badge('A')} &nbsp; **the sidebar's settings**"
            + (f" · preset `{screen.preset}`" if screen.preset else "")
        )
        st.caption(describe(a))
    with c2.container(border=True, height="stretch"):
        if changes:
            st.markdown(f"{badge('B')} &nbsp; **B = A with " + changes.replace("=", "\\=") + "**")
        else:
            st.markdown(f"{badge('B')} &nbsp; **B = A** (no change yet: add one below or pick a remedy)")
        st.caption(describe(b))
        if spec:
            chips = st.container(horizontal=True, gap="small", vertical_alignment="center")
            for k, v in spec.items():
                same = getattr(a, k) == v
                chips.button(
                    f"{k} = {format_value(v)}" + (" (same as A)" if same else ""),
                    icon=":material/close:",
                    key=f"cmp.rm.{k}",
                    on_click=link.remove_change,
                    args=(k,),
                    help=f"Remove this change: B takes A's {k} again.",
                )


def _value_widget(key: str, b: RunConfig):
    f = FIELD[key]
    wkey = f"cmp.val.{key}"
    if wkey not in st.session_state:
        st.session_state[wkey] = getattr(b, key)
    label = f"Value of {key} in B"
    if f.choices:
        return st.selectbox(label, f.choices, key=wkey)
    if f.kind is bool:
        return st.selectbox(label, [True, False], key=wkey, format_func=format_value)
    hi = f.upper()
    if f.kind is int:
        return st.number_input(
            label,
            min_value=int(f.lo) if f.lo is not None else None,
            max_value=int(hi) if hi is not None else None,
            step=1,
            key=wkey,
        )
    lo = (f.lo + 1e-9 if f.lo_open else f.lo) if f.lo is not None else None
    hi = (hi - 1e-9 if f.hi_open else hi) if hi is not None else None
    return st.number_input(
        label,
        min_value=float(lo) if lo is not None else None,
        max_value=float(hi) if hi is not None else None,
        step=state.STEP.get(key, 0.01),
        format="%g",
        key=wkey,
    )


def editor(a: RunConfig, b: RunConfig, spec: dict[str, Any]) -> None:
    with st.container(border=False):
        c1, c2, c3 = st.columns([1.2, 1.2, 1], vertical_alignment="bottom")
        held = state.lock()
        keys = [f.key for f in FIELDS if f.key != "norm" and (held is None or f.key not in held.keys)]
        key = c1.selectbox(
            "Change a setting in B",
            keys,
            index=keys.index("clip") if "clip" in keys else 0,
            key="cmp.key",
            format_func=lambda k: f"{FIELD[k].label or k} ({k})",
        )
        with c2:
            _value_widget(key, b)
        c3.button(
            "Set in B",
            icon=":material/add:",
            on_click=link.add_change,
            args=(key,),
            key="cmp.add",
            width="stretch",
        )


SHARE_OPEN = "cmp.share_open"  # the share expander's state: its link is drawn only while it is open


def share(screen: Screen, spec: dict[str, Any]) -> None:
    box = widgets.drawn_when_open("Share this comparison", SHARE_OPEN, ":material/link:")
    if box is None:
        return
    with box:
        st.caption(
            "A's settings are the usual sidebar parameters; B's changes are one parameter, "
            "`b=key:value,...`. The seed is part of the link, so it reproduces both runs."
        )
        st.code(link.page_url(link.compare_params(screen, spec)), language=None, wrap_lines=True)


# ---- training -------------------------------------------------------------------------------------------


def _train(a: RunConfig, b: RunConfig) -> None:
    runner.start_run(SLOT_A, a, "A")
    runner.start_run(SLOT_B, b, "B")


def _stop() -> None:
    runner.stop_runs(SLOT_A, SLOT_B)


def training(screen: Screen, a: RunConfig, b: RunConfig, spec: dict[str, Any]) -> None:
    ra, rb = runner.get_run(SLOT_A), runner.get_run(SLOT_B)
    active = any(r is not None and r.active for r in (ra, rb))
    c1, c2, c3, c4 = st.columns([1.3, 1, 3.2, 2.2], vertical_alignment="center")
    c1.button(
        "Train A and B",
        type="primary",
        icon=":material/play_arrow:",
        on_click=_train,
        args=(a, b),
        disabled=active or a.steps == 0 or b.steps == 0,
        key="cmp.train",
        width="stretch",
        help="Train both in the background (the server's queue admits them in turn).",
    )
    c2.button(
        "Stop", icon=":material/stop:", on_click=_stop, disabled=not active, key="cmp.stop", width="stretch"
    )
    if a.steps == 0 or b.steps == 0:
        c3.caption("steps = 0: the comparison at initialisation only.")
    else:
        c3.caption(
            f"A: {a.steps} steps · B: {b.steps} steps, {a.batch if a.batch == b.batch else ''} "
            f"sequences per batch. Same seed: same data, same initial weights (where the "
            f"changes allow).".replace(",  sequences per batch", "")
        )
    with c4:
        share(screen, spec)
    if ra is None and rb is None:
        at_init(screen, a, b)
        tables(Side("A", a, pd.DataFrame(), None), Side("B", b, pd.DataFrame(), None))
        return
    live(screen, a, b, active)


def live(screen: Screen, a: RunConfig, b: RunConfig, was_active: bool) -> None:
    """Both runs' progress and charts, redrawn twice a second while either trains."""

    def panel() -> bool | None:
        ra, rb = runner.get_run(SLOT_A), runner.get_run(SLOT_B)
        if ra is None or rb is None:
            return None
        va, vb = ra.view(), rb.view()
        c1, c2 = st.columns(2, gap="medium")
        with c1:
            status("A", va)
        with c2:
            status("B", vb)
        active = va.active or vb.active
        if not active and (va.cfg != a or vb.cfg != b):
            st.info(
                "These results are from other settings ("
                + "; ".join(
                    f"{n}: {describe_changes(cur, v.cfg) or 'same'}"
                    for n, v, cur in (("A", va, a), ("B", vb, b))
                    if v.cfg != cur
                )
                + " — old value shown). Press **Train A and B** for the current settings.",
                icon=":material/history:",
            )
        sa, sb = Side.of_view("A", va), Side.of_view("B", vb)
        curves(sa, sb)
        if sa.result is not None and sb.result is not None:
            snapshots(screen, sa, sb, key="cmp.snap")
        else:
            at_init(screen, a, b)
        tables(sa, sb)
        return active

    widgets.live(was_active, panel)


def status(name: str, v: RunView) -> None:
    if widgets.run_progress(v, widgets.side_words(name)):
        return
    tag = f"{name} · "
    if v.result is None:
        st.progress(0.0, text=f"{tag}stopped before training started")
    else:
        frac = 1.0 if v.state == RunState.DONE else v.fraction
        st.progress(frac, text=f"{tag}{v.result.verdict.headline} ({v.elapsed:.1f} s)")
