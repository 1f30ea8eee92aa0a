"""The Compare page: two runs, A and B, side by side.

A is the sidebar's configuration. B is A with a few keys changed, written in one URL parameter,
`b=clip:1,lr:0.1` (key:value pairs, comma separated, parsed leniently: a bad value gives a notice
and B keeps A's value). Because B is stored as changes, moving a sidebar control moves both runs,
and the difference stays the one the link names. A remedy pair from `rnnlab.presets.REMEDIES` sets
both at once: A = the preset without the remedy, B = A with the keys that the remedy changes.

Runs can also come from this session's history (finished Lab and Compare runs) or from exported
zips / run directories (`ui.history`); then the sidebar is not used.

Training uses `ui.runner` (slots "compare-a" and "compare-b"), so the server's gate admits them like
any other run; a fragment redraws the progress and the overlaid curves while they train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

import numpy as np
import pandas as pd
import streamlit as st

from rnnlab import RunConfig, RunResult, figures
from rnnlab import compare_figures as cf
from rnnlab.changes import changes_between, describe_changes, format_changes, remedy_changes
from rnnlab.config import FIELD, FIELDS, format_value
from rnnlab.presets import REMEDIES

from . import analysis, errors, history, runner, state
from .lab import chart, describe
from .runs.states import RunState
from .runs.training import RunView
from .state import Screen
from .text import bullets, plain

SLOT_A, SLOT_B = "compare-a", "compare-b"
B_PARAM = "b"
URL_PATH = "compare"
_B = "cmp.b"  # B's changes in use, canonical "key:value,..." string
_B_URL = "cmp.b_url"  # what this page last wrote to the URL ("" = no b parameter)
_B_ADOPTED = "cmp.b_adopted"  # the URL brought a new b this run (its notices are shown)
_B_NOTICES = "cmp.b_notices"
MODE = "cmp.mode"
UPLOADER = "cmp.upload"
_UPLOADS = "cmp.uploads"  # the uploader's file id -> "" (opened) or why it was refused
SETUP, HISTORY = "setup", "history"


# ---- B's changes in links ----------------------------------------------------------------------------

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
    if parts and parts[-1] in (URL_PATH, "theory", "presets", "lab"):
        parts = parts[:-1]
    path = "/" + "/".join([*parts, URL_PATH])
    qs = urlencode(params, safe=",:")
    return f"{base.scheme}://{base.netloc}{path}" + (f"?{qs}" if qs else "")


# ---- B's changes in the session and the URL ---------------------------------------------------------

def sync_b() -> None:
    """URL -> session: adopt a `b` the page did not write itself (a link, the remedy picker).

    A page switch drops the parameter; then the session's value stays (and is written back).
    """
    ss = st.session_state
    url = st.query_params.get(B_PARAM)
    last = ss.get(_B_URL)
    ss[_B_ADOPTED] = False
    if url is not None and url != last:
        ss[_B] = url
        ss[_B_ADOPTED] = True
    elif last is None:
        ss.setdefault(_B, "")


def write_b(spec: dict[str, Any]) -> None:
    text = format_changes(spec)
    if text:
        if st.query_params.get(B_PARAM) != text:
            st.query_params[B_PARAM] = text
    elif B_PARAM in st.query_params:
        del st.query_params[B_PARAM]
    st.session_state[_B] = text
    st.session_state[_B_URL] = text


def _set_spec(spec: dict[str, Any]) -> None:
    st.session_state[_B] = format_changes(spec)
    st.session_state[_B_NOTICES] = []


def _current_spec() -> dict[str, Any]:
    return st.session_state.get("cmp.spec", {})


def _add_change(key: str) -> None:
    value = st.session_state.get(f"cmp.val.{key}")
    spec = dict(_current_spec())
    spec[key] = value
    _set_spec(spec)


def _remove_change(key: str) -> None:
    spec = {k: v for k, v in _current_spec().items() if k != key}
    _set_spec(spec)


def _apply_remedy() -> None:
    label = st.session_state.get("cmp.remedy")
    for name, without, with_ in REMEDIES:
        if name == label:
            st.query_params.from_dict(remedy_params(without, with_))
            st.session_state[_B_NOTICES] = []
            return


# ---- one side of the comparison --------------------------------------------------------------------

@dataclass
class Side:
    """What the charts need of one run: its name (A/B), config, metrics so far, result if finished."""

    name: str
    cfg: RunConfig
    metrics: pd.DataFrame
    result: RunResult | None
    state: RunState = RunState.DONE

    @classmethod
    def of_view(cls, name: str, v: RunView) -> Side:
        return cls(name, v.cfg, v.metrics(), v.result, v.state)

    @classmethod
    def of_result(cls, name: str, r: RunResult) -> Side:
        return cls(name, r.config, r.metrics, r)

    def curve_data(self) -> dict[str, Any]:
        s = self.result.summary if self.result is not None else {}
        ended = s.get("stopped_early") or s.get("diverged_at") is not None
        return {"metrics": self.metrics, "baseline": s.get("baseline_loss"),
                "final_loss": s.get("final_loss"),
                "steps": s.get("steps_done", self.cfg.steps) if ended else self.cfg.steps,
                "diverged_at": s.get("diverged_at"), "clip": self.cfg.clip,
                "clip_mode": self.cfg.clip_mode}


def badge(name: str) -> str:
    return f":{'blue' if name == 'A' else 'orange'}-badge[**{name}**]"


# ---- the page ------------------------------------------------------------------------------------------

def page(screen: Screen) -> None:
    history.harvest()
    mode = st.segmented_control(
        "Runs to compare", [SETUP, HISTORY], key=MODE, default=SETUP, required=True,
        format_func=lambda m: {"setup": "A = sidebar, B = A with changes",
                               "history": "Finished runs and exported files"}[m],
        label_visibility="collapsed")
    if mode == HISTORY:
        from_history(screen)
    else:
        setup(screen)


def setup(screen: Screen) -> None:
    a = screen.cfg
    sync_b()
    b, spec, notices = a.with_changes(st.session_state.get(_B, ""))
    held = state.lock()
    locked = [k for k in spec if held is not None and k in held.keys]
    if locked:  # a locked link's hidden settings hold for B too
        notices.append(f"B: {', '.join(locked)} {'is' if len(locked) == 1 else 'are'} locked by the link "
                       "— B keeps A's value.")
        b, spec, _ = a.with_changes(format_changes({k: v for k, v in spec.items() if k not in locked}))
    st.session_state["cmp.spec"] = spec
    if st.session_state.get(_B_ADOPTED):
        st.session_state[_B_NOTICES] = notices
    write_b(spec)
    shown = st.session_state.get(_B_NOTICES, [])
    if shown:  # they repeat the link's values: shown as text, never as Markdown
        st.warning("Some of B's changes in the link could not be used:\n\n" + bullets(shown), icon="⚠️")
    remedy_picker(screen, spec)
    header(a, b, screen, spec)
    editor(a, b, spec)
    st.divider()
    training(screen, a, b, spec)


def remedy_picker(screen: Screen, spec: dict[str, Any]) -> None:
    current = None
    for name, without, with_ in REMEDIES:
        if screen.preset == without and spec == remedy_changes(without, with_):
            current = name
    st.session_state["cmp.remedy"] = current
    st.pills("Remedy pairs: A without the remedy, B with it (same seed)", [r[0] for r in REMEDIES],
             key="cmp.remedy", on_change=_apply_remedy,
             help="Loads the preset without the remedy into the sidebar (A) and sets B to A plus the "
                  "keys the remedy changes.")


def header(a: RunConfig, b: RunConfig, screen: Screen, spec: dict[str, Any]) -> None:
    changes = describe_changes(a, b)
    c1, c2 = st.columns(2, gap="medium")
    with c1.container(border=True, height="stretch"):
        st.markdown(f"{badge('A')} &nbsp; **the sidebar's settings**"
                    + (f" · preset `{screen.preset}`" if screen.preset else ""))
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
                chips.button(f"{k} = {format_value(v)}" + (" (same as A)" if same else ""),
                             icon=":material/close:", key=f"cmp.rm.{k}", on_click=_remove_change,
                             args=(k,), help=f"Remove this change: B takes A's {k} again.")


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
        return st.number_input(label, min_value=int(f.lo) if f.lo is not None else None,
                               max_value=int(hi) if hi is not None else None, step=1, key=wkey)
    lo = (f.lo + 1e-9 if f.lo_open else f.lo) if f.lo is not None else None
    hi = (hi - 1e-9 if f.hi_open else hi) if hi is not None else None
    return st.number_input(label, min_value=float(lo) if lo is not None else None,
                           max_value=float(hi) if hi is not None else None,
                           step=state.STEP.get(key, 0.01), format="%g", key=wkey)


def editor(a: RunConfig, b: RunConfig, spec: dict[str, Any]) -> None:
    with st.container(border=False):
        c1, c2, c3 = st.columns([1.2, 1.2, 1], vertical_alignment="bottom")
        held = state.lock()
        keys = [f.key for f in FIELDS if f.key != "norm" and (held is None or f.key not in held.keys)]
        key = c1.selectbox("Change a setting in B", keys, index=keys.index("clip") if "clip" in keys else 0,
                           key="cmp.key",
                           format_func=lambda k: f"{FIELD[k].label or k} ({k})")
        with c2:
            _value_widget(key, b)
        c3.button("Set in B", icon=":material/add:", on_click=_add_change, args=(key,), key="cmp.add",
                  width="stretch")


def share(screen: Screen, spec: dict[str, Any]) -> None:
    with st.expander("Share this comparison", icon=":material/link:"):
        st.caption("A's settings are the usual sidebar parameters; B's changes are one parameter, "
                   "`b=key:value,...`. The seed is part of the link, so it reproduces both runs.")
        st.code(page_url(compare_params(screen, spec)), language=None, wrap_lines=True)


# ---- training -------------------------------------------------------------------------------------------

def _train(a: RunConfig, b: RunConfig) -> None:
    runner.start_run(SLOT_A, a, "A")
    runner.start_run(SLOT_B, b, "B")


def _stop() -> None:
    for slot in (SLOT_A, SLOT_B):
        run = runner.get_run(slot)
        if run is not None:
            run.stop()


def training(screen: Screen, a: RunConfig, b: RunConfig, spec: dict[str, Any]) -> None:
    ra, rb = runner.get_run(SLOT_A), runner.get_run(SLOT_B)
    active = any(r is not None and r.active for r in (ra, rb))
    c1, c2, c3, c4 = st.columns([1.3, 1, 3.2, 2.2], vertical_alignment="center")
    c1.button("Train A and B", type="primary", icon=":material/play_arrow:", on_click=_train, args=(a, b),
              disabled=active or a.steps == 0 or b.steps == 0, key="cmp.train", width="stretch",
              help="Train both in the background (the server's queue admits them in turn).")
    c2.button("Stop", icon=":material/stop:", on_click=_stop, disabled=not active, key="cmp.stop",
              width="stretch")
    if a.steps == 0 or b.steps == 0:
        c3.caption("steps = 0: the comparison at initialisation only.")
    else:
        c3.caption(f"A: {a.steps} steps · B: {b.steps} steps, {a.batch if a.batch == b.batch else ''} "
                   f"sequences per batch. Same seed: same data, same initial weights (where the "
                   f"changes allow).".replace(",  sequences per batch", ""))
    with c4:
        share(screen, spec)
    if ra is None and rb is None:
        at_init(screen, a, b)
        tables(Side("A", a, pd.DataFrame(), None), Side("B", b, pd.DataFrame(), None))
        return
    live(screen, a, b, active)


def live(screen: Screen, a: RunConfig, b: RunConfig, was_active: bool) -> None:
    @st.fragment(run_every=0.5 if was_active else None)
    def panel() -> None:
        ra, rb = runner.get_run(SLOT_A), runner.get_run(SLOT_B)
        if ra is None or rb is None:
            return
        va, vb = ra.view(), rb.view()
        c1, c2 = st.columns(2, gap="medium")
        with c1:
            status("A", va)
        with c2:
            status("B", vb)
        active = va.active or vb.active
        if not active and (va.cfg != a or vb.cfg != b):
            st.info("These results are from other settings ("
                    + "; ".join(f"{n}: {describe_changes(cur, v.cfg) or 'same'}" for n, v, cur in
                                (("A", va, a), ("B", vb, b)) if v.cfg != cur)
                    + " — old value shown). Press **Train A and B** for the current settings.",
                    icon=":material/history:")
        sa, sb = Side.of_view("A", va), Side.of_view("B", vb)
        curves(sa, sb)
        if sa.result is not None and sb.result is not None:
            snapshots(screen, sa, sb, key="cmp.snap")
        else:
            at_init(screen, a, b)
        tables(sa, sb)
        if was_active and not active:
            st.rerun()

    panel()


def status(name: str, v: RunView) -> None:
    steps = v.cfg.steps
    done = v.records[-1]["step"] + 1 if v.records else 0
    tag = f"{name} · "
    if v.state == RunState.QUEUED:
        st.progress(0.0, text=f"{tag}waiting: {v.ahead} run{'s' if v.ahead != 1 else ''} ahead in the queue")
    elif v.state == RunState.RUNNING:
        st.progress(v.fraction, text=f"{tag}training: step {done} of {steps} · {v.elapsed:.1f} s")
    elif v.state == RunState.FAILED:
        st.error(f"{name}: training failed — {plain(v.error)}", icon="🚫")
    elif v.state == RunState.REFUSED:
        st.warning(f"{name}: not started — {plain(v.error)}", icon=":material/memory:")
    elif v.result is None:
        st.progress(0.0, text=f"{tag}stopped before training started")
    else:
        frac = 1.0 if v.state == RunState.DONE else v.fraction
        st.progress(frac, text=f"{tag}{v.result.verdict.headline} ({v.elapsed:.1f} s)")


# ---- charts ---------------------------------------------------------------------------------------------

def curves(sa: Side, sb: Side) -> None:
    runs = {"A": sa.curve_data(), "B": sb.curve_data()}
    c1, c2 = st.columns(2, gap="medium")
    with c1:
        chart(cf.loss_overlay(runs, title="Loss"), "compare-loss", key="cmp.loss")
    with c2:
        chart(cf.grad_norm_overlay(runs, title="Gradient norm per update"), "compare-grad-norm",
              key="cmp.gradnorm")


def heatmap_row(screen: Screen, hm_a: np.ndarray, hm_b: np.ndarray, ca: RunConfig, cb: RunConfig,
                when: str, key: str) -> None:
    """A and B on one colour range, and B - A."""
    lo, hi = cf.shared_range(hm_a, hm_b, screen.ui.get("crange", "fixed"))
    cols = st.columns(3, gap="small")
    for col, name, hm, cfg in ((cols[0], "A", hm_a, ca), (cols[1], "B", hm_b, cb)):
        with col:
            fig = figures.jacobian_heatmap(hm, norm=cfg.norm, tbptt=cfg.tbptt, color_range=(lo, hi),
                                           height=430,
                                           title=f"{name}: log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ {when}")
            chart(fig, f"compare-heatmap-{name}", key=f"{key}.{name}")
    with cols[2]:
        if np.shape(hm_a) == np.shape(hm_b):
            fig = cf.difference_heatmap(hm_a, hm_b, height=430, title=f"B − A (ratio of norms) {when}")
            chart(fig, "compare-heatmap-difference", key=f"{key}.diff")
        else:
            st.markdown("**B − A**")
            st.caption(f"A's sequences have {np.shape(hm_a)[0]} steps and B's {np.shape(hm_b)[0]}: "
                       "a cell-by-cell difference needs the same length.")
    notes = ["Both maps share one colour range, so equal colours mean equal norms. In the difference, "
             "orange is where B carries more gradient than A, purple where it carries less."]
    if ca.norm != cb.norm:
        notes.append(f"A uses the {ca.norm} norm and B the {cb.norm} norm: their values are not directly "
                     "comparable.")
    st.caption(" ".join(notes))


def at_init(screen: Screen, a: RunConfig, b: RunConfig) -> None:
    st.markdown("##### Jacobian heatmaps at initialisation")
    with st.spinner("Computing both networks at initialisation…"):
        ia = analysis.init_view(a, "cmp.a", "A's network")
        ib = analysis.init_view(b, "cmp.b", "B's network")
    if ia is None or ib is None:  # a large view waits for a click, computes, or is refused
        return
    heatmap_row(screen, ia.jacobian, ib.jacobian, a, b, "at init", key="cmp.init")
    if math.isfinite(ia.slope) and math.isfinite(ib.slope):
        fa, fb = 10 ** ia.slope, 10 ** ib.slope
        st.caption(f"Per step back in time the norm changes by ×{fa:.3g} in A and ×{fb:.3g} in B "
                   "(slope of the lag profile at initialisation).")


def snapshots(screen: Screen, sa: Side, sb: Side, key: str) -> None:
    ra, rb = sa.result, sb.result
    steps_a = [int(s) for s in ra.snapshot_steps]
    steps_b = [int(s) for s in rb.snapshot_steps]
    if not steps_a or not steps_b:
        return
    options = sorted(set(steps_a) | set(steps_b))
    st.markdown("##### Jacobian heatmaps over training")
    pick = options[-1]
    if len(options) > 1:
        pick = st.select_slider("Snapshot at step", options=options, value=options[-1], key=key)

    def index(steps: list[int]) -> int:
        earlier = [i for i, s in enumerate(steps) if s <= pick]
        return earlier[-1] if earlier else 0

    ia, ib = index(steps_a), index(steps_b)
    when = f"at step {pick}" if steps_a[ia] == steps_b[ib] == pick else \
        f"(A step {steps_a[ia]}, B step {steps_b[ib]})"
    heatmap_row(screen, ra.heatmap(ia), rb.heatmap(ib), sa.cfg, sb.cfg, when, key=f"{key}.hm")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def tables(sa: Side, sb: Side) -> None:
    c1, c2 = st.columns([1, 1.3], gap="medium")
    with c1:
        st.markdown("##### Settings that differ")
        diff = sa.cfg.diff(sb.cfg)
        if diff:
            st.dataframe(pd.DataFrame([{"setting": k, "A": format_value(x), "B": format_value(y)}
                                       for k, (x, y) in diff.items()]),
                         hide_index=True, width="stretch", key="cmp.diff")
        else:
            st.caption("None: A and B have the same settings.")
    with c2:
        st.markdown("##### Final numbers")
        na = cf.final_numbers(sa.metrics, sa.result.summary if sa.result else None)
        nb = cf.final_numbers(sb.metrics, sb.result.summary if sb.result else None)
        if not len(sa.metrics) and not len(sb.metrics):
            st.caption("Train A and B to fill this table: final loss, baseline, divergence, largest "
                       "gradient norm, final spectral radius and clipped updates.")
            return
        st.dataframe(pd.DataFrame([{"": k, "A": _fmt(na[k]), "B": _fmt(nb[k])} for k in na]),
                     hide_index=True, width="stretch", key="cmp.numbers")


# ---- from history and files ----------------------------------------------------------------------------

def _open_uploads() -> None:
    """Open each newly uploaded zip once (by the uploader's file id) and remember what became of it:
    "" when opened, else the message saying why it was refused (shown while the file is listed)."""
    files = st.session_state.get(UPLOADER) or []
    before = st.session_state.get(_UPLOADS, {})
    seen = {f.file_id: before[f.file_id] for f in files if f.file_id in before}  # files still listed
    for f in files:
        if f.file_id in seen:
            continue
        try:
            entry = history.open_zip(f.name, f.getvalue())
        except ValueError as e:  # history words every failure as ValueError, never a traceback
            seen[f.file_id] = str(e)
            continue
        seen[f.file_id] = ""
        st.session_state["cmp.hist.b"] = entry.id  # show what was just opened, as B
    st.session_state[_UPLOADS] = seen


def _upload_messages() -> None:
    """Refusals of the files the uploader lists; notices of runs closed to stay within the limits."""
    seen = st.session_state.get(_UPLOADS, {})
    for f in st.session_state.get(UPLOADER) or []:
        if seen.get(f.file_id):
            st.error(seen[f.file_id], icon="🚫")
    for notice in history.take_notices():
        st.info(notice, icon=":material/info:")


def _as_link(ea: history.Entry, eb: history.Entry) -> None:
    a, b = ea.result.config, eb.result.config
    spec = changes_between(a, b)
    params = a.to_strings()
    if spec:
        params[B_PARAM] = format_changes(spec)
    st.query_params.from_dict(params)
    st.session_state[MODE] = SETUP
    st.session_state[_B_NOTICES] = []


def from_history(screen: Screen) -> None:
    st.caption("Pick any two finished runs of this browser session (from the Lab and from this page), "
               "or open runs exported from the Lab (the **all (zip)** download). "
               "The sidebar is not used here.")
    c1, c2 = st.columns([1.4, 1], gap="medium")
    with c1:
        st.file_uploader("Open exported runs (zip)", type="zip", accept_multiple_files=True,
                         key=UPLOADER, on_change=_open_uploads)
        _upload_messages()
    with c2:
        names = history.dir_runs()
        if names:
            pick = st.selectbox("Or a run directory on this server", [""] + names, key="cmp.dir",
                                format_func=lambda n: n or "— choose —")
            if pick:
                with errors.guard(pick):
                    history.open_dir(pick)
        elif history.runs_dir() is not None:  # its path is the server's business, not a visitor's
            st.caption("No exported runs in this server's run folder yet.")
    entries = history.entries()
    if len(entries) < 2:
        st.info(f"{'One finished run' if entries else 'No finished runs'} so far: comparing needs two. "
                "Train in the Lab or under **A = sidebar, B = A with changes**, or open exported zips.",
                icon=":material/info:")
        return
    ids = [e.id for e in entries]
    for key in ("cmp.hist.a", "cmp.hist.b"):  # a run closed since it was picked: pick again
        if st.session_state.get(key) not in (None, *ids):
            del st.session_state[key]
    label = {e.id: e.label for e in entries}
    c1, c2 = st.columns(2, gap="medium")
    ida = c1.selectbox(":blue-badge[**A**]", ids, index=min(1, len(ids) - 1), format_func=label.get,
                       key="cmp.hist.a")
    idb = c2.selectbox(":orange-badge[**B**]", ids, index=0, format_func=label.get, key="cmp.hist.b")
    ea, eb = history.get(ida), history.get(idb)
    if ea is None or eb is None:
        return
    broken = [e for e in (ea, eb) if e.problem]
    for e in broken:
        st.warning(f"**{e.source} · {e.name}** cannot be shown: {e.problem}", icon=":material/warning:")
        st.button("Remove it from this list", key=f"cmp.remove.{e.id}", on_click=history.remove,
                  args=(e.id,), icon=":material/delete:")
    if broken:
        return
    with errors.guard("Comparison"):  # the selectors above keep working whatever happens below
        compare_entries(screen, ea, eb)


def compare_entries(screen: Screen, ea: history.Entry, eb: history.Entry) -> None:
    changes = describe_changes(ea.result.config, eb.result.config)
    st.markdown(f"**B = A with {changes}**" if changes else "**A and B have the same settings.**")
    st.button("Compare these two settings as a link", icon=":material/link:", on_click=_as_link,
              args=(ea, eb), key="cmp.aslink", help="Puts A's settings in the sidebar and B's changes "
              "into `b=`, so the comparison can be shared and re-trained.")
    sa, sb = Side.of_result("A", ea.result), Side.of_result("B", eb.result)
    curves(sa, sb)
    snapshots(screen, sa, sb, key="cmp.hist.snap")
    tables(sa, sb)
