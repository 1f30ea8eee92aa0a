"""The URL <-> controls binding: which parameters the view owns, and how they reach the controls.

Owns the session-state keys of the controls, `Screen` (what the sidebar resolved), the lenient
parse of a link, the lock a `hide=` link sets, and writing the address bar. The widgets that
show these values are `ui.sidebar`; shareable links are `ui.links`; `ui.state` re-exports all three.

One declarative table drives both directions (as in TensorFlow Playground):

- URL -> controls (`sync_from_url`, first thing every run): when the address's own parameters differ
  from the ones this session last wrote (a fresh page load, a pasted link, a link from the Presets
  page), they are parsed leniently (`RunConfig.from_lenient`) over the base config (the preset named
  by `preset=`, else the defaults) and written into every control's session state. Bad values fall
  back to the base and over-cap values are clamped; each gives a notice (`ui.sidebar.show_notices`).
- controls -> URL (`write_url`, after the controls): the resolved config is written to
  `st.query_params` as `preset=` (if any) plus every key whose value differs from that base, plus
  `hide=` and the UI-only display keys. The address bar therefore always describes the view.

Widget keys are "cfg.<key>" (FIELDS) and "ui.<key>" (UI_FIELDS); URL names are the bare keys.
`hide=rho,seq_len` removes those controls from the sidebar (a teacher's locked link); their values
still come from the URL.

Why not the widgets' own `bind="query-params"`: a bound widget drops its parameter whenever it is
not rendered (locked or hidden controls), only collapses values equal to its own static default
(so `?preset=...` plus overrides cannot round-trip), silently discards invalid values (no notice),
and does not write programmatic first-run values (clamped caps, a preset's settings) to the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from rnnlab.config import FIELD, KEYS, Field, RunConfig, format_value, shorten
from rnnlab.presets import PRESETS
from rnnlab.presets import resolve as resolve_preset

PRESET, HIDE = "preset", "hide"  # URL parameters besides the config keys
CFG, UI = "cfg.", "ui."  # widget key prefixes
_WRITTEN = "_url_written"  # the URL parameters this session last wrote
_NOTICES = "_url_notices"
_BASE = "_preset_base"
_HIDDEN = "_hidden_keys"
_SEEDED_CFG = "_seeded_cfg"
_LOCK = "_lock"  # what a locked link (hide=) set: it holds whatever the person does afterwards


# UI-only settings (not part of a run, but part of the view, hence of the URL): same Field table.
UI_FIELDS: tuple[Field, ...] = (
    Field(
        "crange",
        str,
        "fixed",
        "Colour range of the heatmaps: fixed (1e-8 .. 1e8, the same for every run, to compare "
        "honestly) or auto (this map's own range, to see detail).",
        "Display",
        choices=("fixed", "auto"),
        label="Colour range",
    ),
)
UI_FIELD = {f.key: f for f in UI_FIELDS}
URL_KEYS = (PRESET, *KEYS, *UI_FIELD, HIDE)  # the parameters this module owns, in URL order


@dataclass(frozen=True)
class Screen:
    """What the sidebar resolved this run: the run config, the UI settings, the base preset."""

    cfg: RunConfig
    ui: dict[str, Any]
    preset: str | None
    hidden: frozenset[str]
    notices: tuple[str, ...] = ()


# ---- URL -> state -------------------------------------------------------------------------------


def _own_params() -> dict[str, str]:
    """This module's parameters in the current URL (last value of repeated ones)."""
    return {k: st.query_params[k] for k in URL_KEYS if k in st.query_params}


def parse_url(
    params: dict[str, str],
) -> tuple[RunConfig, dict[str, Any], str | None, frozenset[str], list[str]]:
    """Lenient parse of URL parameters: (cfg, ui settings, preset name, hidden keys, notices).

    Never raises for bad values: each one falls back (to the preset's value, else the default) and
    adds a notice saying what was ignored and why.
    """
    notices: list[str] = []
    name = params.get(PRESET, "").strip() or None
    base = RunConfig.from_dict({})
    if name is not None:
        if resolve_preset(name) is not None:
            name = resolve_preset(name)
            base = PRESETS[name].config()
        else:
            notices.append(
                f"preset: {shorten(name)} is not a preset (allowed: one of {', '.join(PRESETS)}) "
                f"— using the defaults."
            )
            name = None
    cfg, more = RunConfig.from_lenient({k: v for k, v in params.items() if k in FIELD}, base=base)
    notices += more
    ui = {}
    for f in UI_FIELDS:
        raw = params.get(f.key)
        value = f.default
        if raw is not None:
            if raw.strip().lower() in f.choices:
                value = raw.strip().lower()
            else:
                notices.append(
                    f"{f.key}: {shorten(raw)} is not valid (allowed: {f.allowed()}) — using {f.default}."
                )
        ui[f.key] = value
    hidden, unknown = set(), []
    for key in (k.strip() for k in params.get(HIDE, "").split(",")):
        if key in FIELD or key in UI_FIELD or key == PRESET:
            hidden.add(key)
        elif key:
            unknown.append(key)
    if unknown:  # one notice, however many names a link carries
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        notices.append(f"hide: {shorten(unknown[0])}{more} is not a control — ignored.")
    return cfg, ui, name, frozenset(hidden), notices


@dataclass(frozen=True)
class Lock:
    """The values a locked link set for its hidden controls (and the preset, if `preset` is hidden).

    Made when the first link of a session carries `hide=`; from then on every way of changing the
    settings (a later link from the app itself, the sidebar's preset picker, the Compare page's remedy
    pairs) applies these values on top, so hidden controls stay as the link set them.
    """

    keys: frozenset[str]
    values: dict[str, Any]  # config and UI keys among `keys` -> the link's value
    preset: str | None  # the link's preset, used when "preset" is among `keys`

    def apply(
        self, cfg: RunConfig, ui: dict[str, Any], name: str | None
    ) -> tuple[RunConfig, dict[str, Any], str | None]:
        locked_cfg = {k: v for k, v in self.values.items() if k in FIELD}
        if locked_cfg:
            cfg, _ = RunConfig.from_lenient(locked_cfg, base=cfg)
        ui = {**ui, **{k: v for k, v in self.values.items() if k in UI_FIELD}}
        return cfg, ui, (self.preset if PRESET in self.keys else name)


def lock() -> Lock | None:
    """This session's lock, if its link hid some controls."""
    return st.session_state.get(_LOCK)


def _seed(params: dict[str, str]) -> None:
    cfg, ui, name, hidden, notices = parse_url(params)
    held = lock()
    if held is not None:  # a lock outlives every later URL of the session
        cfg, ui, name = held.apply(cfg, ui, name)
        hidden = hidden | held.keys
    elif hidden:
        values = {k: getattr(cfg, k) for k in hidden if k in FIELD}
        values.update({k: ui[k] for k in hidden if k in UI_FIELD})
        st.session_state[_LOCK] = Lock(hidden, values, name)
    set_controls(cfg, ui)
    st.session_state[_BASE] = name
    st.session_state[UI + PRESET] = name or ""
    st.session_state[_HIDDEN] = hidden
    st.session_state[_NOTICES] = notices
    st.session_state[_SEEDED_CFG] = cfg


def apply_settings(
    cfg: RunConfig, name: str | None, hidden: frozenset[str], notices: list[str] | tuple[str, ...] = ()
) -> None:
    """Settings the app chose itself (a lesson's step): into every control, as a link's would be, and
    into the URL, so that `sync_from_url` keeps them. Unlike a link's `hide=`, the hidden keys make no
    lock: the next step hides its own. A lock the session already holds still applies on top."""
    ui = {f.key: st.session_state.get(UI + f.key, f.default) for f in UI_FIELDS}
    held = lock()
    if held is not None:
        cfg, ui, name = held.apply(cfg, ui, name)
        hidden = hidden | held.keys
    set_controls(cfg, ui)
    st.session_state[_BASE] = name
    st.session_state[UI + PRESET] = name or ""
    st.session_state[_HIDDEN] = hidden
    st.session_state[_NOTICES] = list(notices)
    st.session_state[_SEEDED_CFG] = cfg
    write_url(Screen(cfg, ui, name, hidden))


def set_controls(cfg: RunConfig, ui: dict[str, Any] | None = None) -> None:
    """Put a config (and UI settings) into every control. Call before the widgets or in a callback."""
    for key in KEYS:
        st.session_state[CFG + key] = getattr(cfg, key)
    for key, value in (ui or {}).items():
        st.session_state[UI + key] = value


def sync_from_url() -> None:
    """URL -> controls when the URL's parameters are new to this session (see the module docstring).

    A run whose URL carries none of our parameters (a page switch that dropped them) keeps the
    session's state; a first run with none starts from the defaults.
    """
    params = _own_params()
    written = st.session_state.get(_WRITTEN)
    if written is None or (params and params != written):
        _seed(params)


# ---- controls' state -> Screen --------------------------------------------------------------------


def _current(key: str) -> Any:
    return st.session_state.get(CFG + key, FIELD[key].default)


def resolve() -> Screen:
    """The run config from the controls' state (lenient: never raises), plus UI settings."""
    values = {k: _current(k) for k in KEYS}
    cfg, problems = RunConfig.from_lenient(values)
    ui = {f.key: st.session_state.get(UI + f.key, f.default) for f in UI_FIELDS}
    name = st.session_state.get(_BASE)
    notices = list(st.session_state.get(_NOTICES, [])) + problems
    return Screen(cfg, ui, name, frozenset(st.session_state.get(_HIDDEN, frozenset())), tuple(notices))


# ---- state -> URL ---------------------------------------------------------------------------------


def url_params(screen: Screen) -> dict[str, str]:
    """The URL parameters that describe this view: preset, the changes on top of it, display, hide."""
    base = PRESETS[screen.preset].config() if screen.preset else RunConfig.from_dict({})
    out: dict[str, str] = {}
    if screen.preset:
        out[PRESET] = screen.preset
    for key in KEYS:
        value = getattr(screen.cfg, key)
        if value != getattr(base, key):
            out[key] = format_value(value)
    for f in UI_FIELDS:
        if screen.ui.get(f.key, f.default) != f.default:
            out[f.key] = str(screen.ui[f.key])
    if screen.hidden:
        out[HIDE] = ",".join(k for k in (PRESET, *KEYS, *UI_FIELD) if k in screen.hidden)
    return out


def write_url(screen: Screen) -> None:
    """controls -> URL: replace this module's parameters, keep any other page's parameters."""
    mine = url_params(screen)
    current = _own_params()
    if current != mine:
        others = {k: st.query_params.get_all(k) for k in st.query_params if k not in URL_KEYS}
        st.query_params.from_dict({**mine, **others})
    st.session_state[_WRITTEN] = mine
