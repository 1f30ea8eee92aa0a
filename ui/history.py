"""This browser session's finished runs (Lab and Compare), plus runs opened from files.

Runs live in their pages' slots (`ui.runner`), and a slot keeps only its latest run. `harvest()`
copies every finished run it finds there into a short list in `st.session_state`, so the Compare
page can set any two side by side. Opened exports (zip uploads, run directories under the folder
named by RNNLAB_RUNS_DIR) join the same list.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from rnnlab import RunResult, load_run
from rnnlab.results import RUN_FILES, load_zip

_KEY = "_history"
MAX_ENTRIES = 24  # oldest dropped first: a session cannot grow without bound
SLOTS = {"lab.run": "Lab", "compare-a": "Compare A", "compare-b": "Compare B"}
RUNS_DIR_ENV = "RNNLAB_RUNS_DIR"
MAX_DIR_RUNS = 200


@dataclass(frozen=True)
class Entry:
    id: str
    source: str  # "Lab", "Compare A", "file", "folder"
    name: str
    result: RunResult
    when: float

    @property
    def label(self) -> str:
        c = self.result.config
        net = f"{c.cell}" + (f"/{c.act}" if c.cell == "rnn" else "")
        done = self.result.summary.get("steps_done", c.steps)
        return (f"{self.source} · {self.name} · {net} ρ {c.rho:g} · {c.task} T {c.seq_len} · "
                f"{done} steps · {time.strftime('%H:%M:%S', time.localtime(self.when))}")


def _entries() -> dict[str, Entry]:
    return st.session_state.setdefault(_KEY, {})


def record(entry_id: str, source: str, name: str, result: RunResult) -> Entry:
    """Add a finished run (idempotent for the same id)."""
    entries = _entries()
    if entry_id not in entries:
        entries[entry_id] = Entry(entry_id, source, name, result, time.time())
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))
    return entries[entry_id]


def harvest() -> None:
    """Record every finished run found in the known slots (Lab, Compare A and B)."""
    for slot, source in SLOTS.items():
        run = st.session_state.get(slot)
        result = getattr(run, "result", None)
        if run is None or run.active or result is None:
            continue
        record(f"run-{run.ticket}", source, f"#{run.ticket}", result)


def entries() -> list[Entry]:
    """Newest first."""
    return sorted(_entries().values(), key=lambda e: e.when, reverse=True)


def get(entry_id: str) -> Entry | None:
    return _entries().get(entry_id)


# ---- opening exported runs ---------------------------------------------------------------------------

def open_zip(name: str, data: bytes) -> Entry:
    """Load an uploaded zip (raises FileNotFoundError / ValueError with a readable message)."""
    digest = hashlib.sha1(data).hexdigest()[:12]
    known = get(f"zip-{digest}")
    if known is not None:
        return known
    try:
        result = load_zip(data)
    except Exception as e:  # noqa: BLE001 - BadZipFile, missing files, a config that does not parse
        raise ValueError(f"{name} could not be opened as a run export: {e}") from None
    return record(f"zip-{digest}", "file", name, result)


def runs_dir() -> Path | None:
    """The server's folder of run directories (RNNLAB_RUNS_DIR), if set and present."""
    raw = os.environ.get(RUNS_DIR_ENV, "").strip()
    if not raw:
        return None
    p = Path(raw).expanduser()
    return p if p.is_dir() else None


def dir_runs() -> list[str]:
    """Names of the run directories directly under runs_dir() (never a path from the URL)."""
    root = runs_dir()
    if root is None:
        return []
    names = [p.name for p in sorted(root.iterdir())
             if p.is_dir() and all((p / f).is_file() for f in RUN_FILES)]
    return names[:MAX_DIR_RUNS]


@st.cache_resource(max_entries=32, show_spinner=False)
def _load_dir(path: str, mtime: float) -> RunResult:
    return load_run(path)


def open_dir(name: str) -> Entry:
    root = runs_dir()
    if root is None or name not in dir_runs():
        raise FileNotFoundError(f"{name}: no such run directory on this server")
    p = root / name
    result = _load_dir(str(p), (p / "arrays.npz").stat().st_mtime)
    return record(f"dir-{name}", "folder", name, result)
