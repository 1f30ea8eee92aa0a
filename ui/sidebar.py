"""The sidebar's widgets: one control per field of `rnnlab.config.FIELDS` (and `UI_FIELDS`), grouped.

Owns how each control looks and reacts (its widget, help, disabled state, the cross-key fixes as the
person edits, the preset picker), plus the notices a link's bad values leave. Values live in session
state under the keys `ui.url` owns; `controls()` renders them and returns the resolved `Screen`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from rnnlab import tasks
from rnnlab.config import FIELD, FIELDS, GROUPS, KEYS, Field, RunConfig, cap
from rnnlab.presets import PRESETS

from .text import bullets
from .url import (
    _BASE,
    _HIDDEN,
    _NOTICES,
    CFG,
    PRESET,
    UI,
    UI_FIELDS,
    Screen,
    _current,
    lock,
    resolve,
    set_controls,
)

FIRST_ORDER = tuple(o for o in FIELD["optimizer"].choices if o != "hf")
# Controls that only mean something for some settings: key -> (condition key, allowed values, why).
APPLIES = {
    "act": ("cell", ("rnn",), "only the vanilla cell (cell = rnn) has a choice of activation"),
    "leak": ("cell", ("rnn",), "leaky integration is defined for cell = rnn"),
    "omega": ("cell", ("rnn",), "the regulariser is defined for cell = rnn"),
    "lr": ("optimizer", FIRST_ORDER, "Hessian-free sets its own step length"),
    "tbptt": ("optimizer", FIRST_ORDER, "Hessian-free trains with full BPTT"),
    "clip": ("optimizer", FIRST_ORDER, "Hessian-free's damping and line search set its step length"),
    "clip_mode": ("optimizer", FIRST_ORDER, "Hessian-free does not clip"),
    "floss": ("optimizer", FIRST_ORDER, "Hessian-free does not take the flossing penalty"),
    **{
        k: ("optimizer", ("hf",), "only the Hessian-free optimizer (optimizer = hf) uses it")
        for k in ("hf_damping", "hf_mu", "hf_cg_max", "hf_curv_batch")
    },
    "teacher_forcing": (
        "task",
        tasks.FEEDS_BACK,
        f"only the {', '.join(tasks.FEEDS_BACK)} task feeds back predictions",
    ),
}
EXPANDED = {"Network": True, "Task": True, "Training": True, "Remedies": False, "Display": False}
STEP = {
    "rho": 0.05,
    "leak": 0.05,
    "lr": 0.001,
    "clip": 0.5,
    "l1": 0.001,
    "l2": 0.001,
    "omega": 0.5,
    "hf_damping": 0.1,
    "hf_mu": 0.01,
}
HF_OFF = {
    "tbptt": 0,
    "clip": 0.0,
    "omega": 0.0,
    "floss": 0.0,
}  # what Hessian-free refuses (RunConfig says why)


def _on_change() -> None:
    """Keep cross-key rules satisfied as the person edits (runs before the script, so allowed)."""
    s = st.session_state
    seq_len, tbptt = s.get(CFG + "seq_len"), s.get(CFG + "tbptt")
    if isinstance(seq_len, int) and isinstance(tbptt, int) and tbptt > seq_len:
        s[CFG + "tbptt"] = 0
        st.toast(f"TBPTT window {tbptt} is longer than the sequence ({seq_len}): using full BPTT.")
    if s.get(CFG + "cell") != "rnn" and (s.get(CFG + "omega") or 0) > 0:
        s[CFG + "omega"] = 0.0
        st.toast("The omega regulariser is defined for cell = rnn only: set to 0.")
    if s.get(CFG + "optimizer") == "hf":
        on = [k for k, off in HF_OFF.items() if (s.get(CFG + k) or 0) != off]
        if on:
            for k in on:
                s[CFG + k] = HF_OFF[k]
            st.toast(
                "Hessian-free trains with full BPTT, no clipping, no omega and no flossing: "
                f"set {', '.join(on)} to 0."
            )
    s[_NOTICES] = []  # the person has taken over from the link


def _load_preset() -> None:
    name = st.session_state.get(UI + PRESET) or None
    cfg = PRESETS[name].config() if name else RunConfig.from_dict({})
    held = lock()
    if held is not None:  # the preset fills every control but the locked ones
        cfg, _, _ = held.apply(cfg, {}, name)
    set_controls(cfg)
    st.session_state[_BASE] = name
    st.session_state[_NOTICES] = []


def _widget(f: Field, disabled: bool, why: str) -> Any:
    """One control. Its value lives in session state; the default passed to the widget is that same
    value, so a fresh page never flashes the widget's own default (e.g. its minimum) first. Keyed
    widgets keep their identity when the default changes (Streamlit's key_as_main_identity)."""
    key = CFG + f.key if f.key in FIELD else UI + f.key
    label = f.label or f.key
    help_text = f"{f.help}  \n`{f.key}` in the URL" + (f"  \n*Disabled: {why}.*" if disabled else "")
    if f.key == "task":  # one line per task: what it asks, and its baseline
        help_text += "".join(f"  \n- {tasks.describe(t, _current('seq_len'))}" for t in tasks.TASKS)
    current = st.session_state.get(key, f.default)
    common = dict(key=key, help=help_text, disabled=disabled, on_change=_on_change)
    if f.choices:
        index = f.choices.index(current) if current in f.choices else 0
        return st.selectbox(label, f.choices, index=index, **common)
    if f.kind is bool:
        return st.toggle(label, value=bool(current), **common)
    lo = f.lo if f.lo is not None else None
    hi = f.upper()
    if f.kind is int:
        return st.number_input(
            label,
            min_value=int(lo) if lo is not None else None,
            max_value=int(hi) if hi is not None else None,
            value=int(current),
            step=1,
            **common,
        )
    if f.lo_open and lo is not None:
        lo = lo + 1e-9  # strictly above the bound
    if f.hi_open and hi is not None:
        hi = hi - 1e-9
    return st.number_input(
        label,
        min_value=float(lo) if lo is not None else None,
        max_value=float(hi) if hi is not None else None,
        value=float(current),
        step=STEP.get(f.key, 0.01),
        format="%g",
        **common,
    )


def task_line(task: str, seq_len: Any) -> str:
    """What the chosen task asks and its baseline at this length (one line under the Task control)."""
    try:
        return tasks.describe(task, int(seq_len))
    except (ValueError, TypeError):  # a value the controls will correct on this run
        return tasks.describe(FIELD["task"].default, FIELD["seq_len"].default)


def preset_picker() -> None:
    names = ["", *list(PRESETS)]
    st.session_state.setdefault(UI + PRESET, "")
    st.selectbox(
        "Preset",
        names,
        key=UI + PRESET,
        on_change=_load_preset,
        format_func=lambda n: PRESETS[n].title if n else "— none (defaults) —",
        help="Load a named configuration into every control. The link keeps its name "
        "(`preset=` in the URL) and only the settings you change on top of it.",
    )


def controls() -> Screen:
    """Render the sidebar controls (generated from FIELDS, grouped) and return the resolved view."""
    hidden = st.session_state.get(_HIDDEN, frozenset())
    for f in (*FIELDS, *UI_FIELDS):  # make sure every control has a value before it renders
        key = (CFG if f.key in FIELD else UI) + f.key
        st.session_state.setdefault(key, f.default)
    if PRESET not in hidden:
        preset_picker()
    fields = (*FIELDS, *UI_FIELDS)
    for group in GROUPS:
        shown = [f for f in fields if f.group == group and f.key not in hidden]
        if not shown:
            continue
        with st.expander(group, expanded=EXPANDED.get(group, False)):
            for f in shown:
                cond = APPLIES.get(f.key)
                off = cond is not None and _current(cond[0]) not in cond[1]
                _widget(f, off, cond[2] if cond else "")
                if f.key == "task":
                    st.caption(task_line(_current("task"), _current("seq_len")))
    locked = [k for k in KEYS if k in hidden]
    if locked:
        st.caption("🔒 Set by the link: " + ", ".join(f"`{k}`" for k in locked))
    return resolve()


def show_notices(screen: Screen) -> None:
    if screen.notices:  # the notices repeat the link's values: shown as text, never as Markdown
        st.warning(
            "Some settings in the link could not be used as given:\n\n" + bullets(screen.notices), icon="⚠️"
        )


def cap_note() -> str:
    return ", ".join(f"{k} ≤ {cap(k)}" for k in ("seq_len", "hidden", "steps", "batch"))
