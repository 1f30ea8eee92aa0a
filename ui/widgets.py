"""Widgets the pages share: a chart, a text-and-chart pair of columns, a run's progress, the live
panel, the snapshot slider, a config in one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from rnnlab import RunConfig

from .runs.states import RunState
from .runs.training import RunView
from .text import plain

REDRAW_S = 0.5  # how often a live panel redraws while a run is active


def plotly_config(filename: str) -> dict:
    """Modebar config for st.plotly_chart: PNG download named after the chart, no logo."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def chart(fig, name: str, key: str | None = None) -> None:
    """A Plotly chart whose toolbar saves a PNG named after it."""
    st.plotly_chart(fig, config=plotly_config(f"rnnlab-{name}"), key=key, width="stretch")


def drawn_when_open(label: str, key: str, icon: str):
    """An expander whose content is sent only while it is open (None when closed), for content the
    browser pays for even when collapsed: a code block loads a 1.5 MB syntax highlighter, a chart is
    re-plotted on every rerun. Opening or closing it reruns the page; its state lives in the session
    under `key` (not "ui.": that prefix is for the URL's fields)."""
    box = st.expander(label, icon=icon, key=key, on_change="rerun")
    return box if box.open else None


def text_and_chart(ratio=(1, 1.45)):
    """Two columns, text then chart: the layout of most Theory sections."""
    return st.columns(list(ratio), gap="large")


def describe(cfg: RunConfig) -> str:
    """A config in one line: the network, the task and the seed."""
    cell = f"{cfg.cell} ({cfg.act})" if cfg.cell == "rnn" else cfg.cell
    extra = f", leak {cfg.leak:g}" if cfg.cell == "rnn" and cfg.leak else ""
    return (
        f"{cell} · H = {cfg.hidden} · ρ = {cfg.rho:g} ({cfg.init}){extra} · task {cfg.task} · "
        f"T = {cfg.seq_len} · seed {cfg.seed}"
    )


def live(was_active: bool, draw: Callable[[], bool | None]) -> None:
    """Run `draw` in a fragment that redraws twice a second while a run is active, so the rest of the
    page does not rerun. `draw` returns whether a run is still active (None: nothing to draw); when
    the runs it drew have ended, the whole page reruns (re-enables Train, stops the timer)."""

    @st.fragment(run_every=REDRAW_S if was_active else None)
    def panel() -> None:
        if draw() is False and was_active:
            st.rerun()

    panel()


@dataclass(frozen=True)
class StatusWords:
    """How a page words a run that waits, trains or did not train: the Lab speaks to the person,
    Compare names the side. Placeholders: {runs} ("1 run"), {done}, {steps}, {elapsed}, {error}."""

    queued: str
    running: str
    failed: str
    refused: str


LAB_WORDS = StatusWords(
    queued="Waiting: {runs} ahead of you (the server trains a few runs at a time).",
    running="Training: step {done} of {steps} · {elapsed:.1f} s",
    failed="Training failed: {error}",
    refused="Not started: {error}",
)


def side_words(name: str) -> StatusWords:
    """Compare's wording for side `name` (A or B)."""
    return StatusWords(
        queued=f"{name} · waiting: {{runs}} ahead in the queue",
        running=f"{name} · training: step {{done}} of {{steps}} · {{elapsed:.1f}} s",
        failed=f"{name}: training failed — {{error}}",
        refused=f"{name}: not started — {{error}}",
    )


def run_progress(v: RunView, words: StatusWords) -> bool:
    """Draw a run that is waiting, training, failed or was refused, and say so (True). A finished or
    stopped run is left to the page (False): each words its ending its own way."""
    if v.state == RunState.QUEUED:
        runs = f"{v.ahead} run{'s' if v.ahead != 1 else ''}"
        st.progress(0.0, text=words.queued.format(runs=runs))
    elif v.state == RunState.RUNNING:
        st.progress(
            v.fraction, text=words.running.format(done=v.steps_done, steps=v.cfg.steps, elapsed=v.elapsed)
        )
    elif v.state == RunState.FAILED:
        st.error(words.failed.format(error=plain(v.error)), icon="🚫")
    elif v.state == RunState.REFUSED:
        st.warning(words.refused.format(error=plain(v.error)), icon=":material/memory:")
    else:
        return False
    return True


def snapshot_step(steps: list[int], key: str) -> int:
    """The snapshot to show: the last, or the slider's pick when there are several."""
    if len(steps) > 1:
        return st.select_slider("Snapshot at step", options=steps, value=steps[-1], key=key)
    return steps[-1]
