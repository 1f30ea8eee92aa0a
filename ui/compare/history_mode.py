"""Compare's second mode: any two finished runs of this session, or runs opened from exported
zips and the server's run folder (ui.history). The sidebar is not used here."""

from __future__ import annotations

import streamlit as st

from rnnlab.changes import describe_changes

from .. import errors, history
from ..names import CMP_HIST_A, CMP_HIST_B, CMP_UPLOADER, CMP_UPLOADS
from ..state import Screen
from . import link
from .sides import Side, curves, snapshots, tables


def _open_uploads() -> None:
    """Open each newly uploaded zip once (by the uploader's file id) and remember what became of it:
    "" when opened, else the message saying why it was refused (shown while the file is listed)."""
    files = st.session_state.get(CMP_UPLOADER) or []
    before = st.session_state.get(CMP_UPLOADS, {})
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
        st.session_state[CMP_HIST_B] = entry.id  # show what was just opened, as B
    st.session_state[CMP_UPLOADS] = seen


def _upload_messages() -> None:
    """Refusals of the files the uploader lists; notices of runs closed to stay within the limits."""
    seen = st.session_state.get(CMP_UPLOADS, {})
    for f in st.session_state.get(CMP_UPLOADER) or []:
        if seen.get(f.file_id):
            st.error(seen[f.file_id], icon="🚫")
    for notice in history.take_notices():
        st.info(notice, icon=":material/info:")


def from_history(screen: Screen) -> None:
    st.caption(
        "Pick any two finished runs of this browser session (from the Lab and from this page), "
        "or open runs exported from the Lab (the **all (zip)** download). "
        "The sidebar is not used here."
    )
    c1, c2 = st.columns([1.4, 1], gap="medium")
    with c1:
        st.file_uploader(
            "Open exported runs (zip)",
            type="zip",
            accept_multiple_files=True,
            key=CMP_UPLOADER,
            on_change=_open_uploads,
        )
        _upload_messages()
    with c2:
        names = history.dir_runs()
        if names:
            pick = st.selectbox(
                "Or a run directory on this server",
                ["", *names],
                key="cmp.dir",
                format_func=lambda n: n or "— choose —",
            )
            if pick:
                with errors.guard(pick):
                    history.open_dir(pick)
        elif history.runs_dir() is not None:  # its path is the server's business, not a visitor's
            st.caption("No exported runs in this server's run folder yet.")
    entries = history.entries()
    if len(entries) < 2:
        st.info(
            f"{'One finished run' if entries else 'No finished runs'} so far: comparing needs two. "
            "Train in the Lab or under **A = sidebar, B = A with changes**, or open exported zips.",
            icon=":material/info:",
        )
        return
    ids = [e.id for e in entries]
    for key in (CMP_HIST_A, CMP_HIST_B):  # a run closed since it was picked: pick again
        if st.session_state.get(key) not in (None, *ids):
            del st.session_state[key]
    label = {e.id: e.label for e in entries}
    c1, c2 = st.columns(2, gap="medium")
    ida = c1.selectbox(
        ":blue-badge[**A**]", ids, index=min(1, len(ids) - 1), format_func=label.get, key=CMP_HIST_A
    )
    idb = c2.selectbox(":orange-badge[**B**]", ids, index=0, format_func=label.get, key=CMP_HIST_B)
    ea, eb = history.get(ida), history.get(idb)
    if ea is None or eb is None:
        return
    broken = [e for e in (ea, eb) if e.problem]
    for e in broken:
        st.warning(f"**{e.source} · {e.name}** cannot be shown: {e.problem}", icon=":material/warning:")
        st.button(
            "Remove it from this list",
            key=f"cmp.remove.{e.id}",
            on_click=history.remove,
            args=(e.id,),
            icon=":material/delete:",
        )
    if broken:
        return
    with errors.guard("Comparison"):  # the selectors above keep working whatever happens below
        compare_entries(screen, ea, eb)


def compare_entries(screen: Screen, ea: history.Entry, eb: history.Entry) -> None:
    changes = describe_changes(ea.result.config, eb.result.config)
    st.markdown(f"**B = A with {changes}**" if changes else "**A and B have the same settings.**")
    st.button(
        "Compare these two settings as a link",
        icon=":material/link:",
        on_click=link.link_to,
        args=(ea.result.config, eb.result.config),
        key="cmp.aslink",
        help="Puts A's settings in the sidebar and B's changes into `b=`, so the comparison can be "
        "shared and re-trained.",
    )
    sa, sb = Side.of_result("A", ea.result), Side.of_result("B", eb.result)
    curves(sa, sb)
    snapshots(screen, sa, sb, key="cmp.hist.snap")
    tables(sa, sb)
