"""This browser session's finished runs (Lab and Compare), plus runs opened from files.

Runs live in their pages' slots (`ui.runner`), and a slot keeps only its latest run. `harvest()`
copies every finished run it finds there into a short list in `st.session_state`, so the Compare
page can set any two side by side. Opened exports (zip uploads, run directories under the folder
named by RNNLAB_RUNS_DIR) join the same list.

A class server holds thirty such sessions, so the list is bounded twice: MAX_ENTRIES runs, and
RNNLAB_SESSION_RUNS_MB of memory; past either, the oldest runs are closed with a notice. An export
that is refused (rnnlab.reading checks it before it costs memory) adds nothing and says why.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from rnnlab import RunResult
from rnnlab.reading import ExportError, load_run, load_zip
from rnnlab.results import RUN_FILES
from rnnlab.safezip import mib
from rnnlab.schema import validate

from .names import SLOT_SOURCES

log = logging.getLogger("rnnlab.ui")

_KEY = "_history"
_GONE = "_history.gone"  # ids closed to stay within the limits, or removed: not harvested again
_NOTICES = "_history.notices"
MAX_ENTRIES = 24  # oldest dropped first: a session cannot grow without bound
RUNS_DIR_ENV = "RNNLAB_RUNS_DIR"
MAX_DIR_RUNS = 200
SESSION_RUNS_ENV = "RNNLAB_SESSION_RUNS_MB"
# 30 sessions x 256 MB = 7.5 GB: a third of a 24 GB class server, the rest for training and Streamlit.
SESSION_RUNS_MB = 256.0
MAX_NAME = 80  # characters of a file name shown in a message


@dataclass(frozen=True)
class Entry:
    id: str
    source: str  # "Lab", "Compare A", "file", "folder"
    name: str
    result: RunResult
    when: float
    nbytes: int = 0  # memory the run takes (RunResult.nbytes), counted against the session's budget
    problem: str = ""  # why the run cannot be shown ("" when it can): rnnlab.schema.validate's message

    @property
    def label(self) -> str:
        c = self.result.config
        net = f"{c.cell}" + (f"/{c.act}" if c.cell == "rnn" else "")
        done = self.result.summary.get("steps_done", c.steps)
        return (
            f"{self.source} · {self.name} · {net} ρ {c.rho:g} · {c.task} T {c.seq_len} · "
            f"{done} steps · {time.strftime('%H:%M:%S', time.localtime(self.when))}"
        )


def session_budget() -> int:
    """RNNLAB_SESSION_RUNS_MB in bytes: the memory one session's opened runs may take together."""
    try:
        mb = float(os.environ.get(SESSION_RUNS_ENV, "") or SESSION_RUNS_MB)
    except ValueError:
        mb = SESSION_RUNS_MB
    return int((mb if math.isfinite(mb) and mb > 0 else SESSION_RUNS_MB) * 2**20)


def _entries() -> dict[str, Entry]:
    return st.session_state.setdefault(_KEY, {})


def _gone() -> set[str]:
    return st.session_state.setdefault(_GONE, set())


def record(entry_id: str, source: str, name: str, result: RunResult) -> Entry:
    """Add a finished run (idempotent for the same id), closing the oldest runs past the limits."""
    entries = _entries()
    if entry_id not in entries:
        entries[entry_id] = Entry(entry_id, source, name, result, time.time(), result.nbytes, problem(result))
        _gone().discard(entry_id)
        _trim(entries, keep=entry_id)
    return entries[entry_id]


def problem(result: RunResult) -> str:
    """A run that breaks the export schema cannot be drawn: say why instead (never expected for
    runs trained here or opened through rnnlab.reading, which refuse such runs)."""
    try:
        validate(result)
    except ExportError as e:
        return str(e)
    return ""


def _trim(entries: dict[str, Entry], keep: str) -> None:
    """Close the oldest runs (not `keep`) until the session is within MAX_ENTRIES and its budget."""
    budget = session_budget()
    while len(entries) > 1:
        too_many = len(entries) > MAX_ENTRIES
        if not too_many and used() <= budget:
            return
        oldest = next(k for k in entries if k != keep)
        gone = entries.pop(oldest)
        _gone().add(oldest)
        why = f"at most {MAX_ENTRIES} runs" if too_many else f"its runs within {mib(budget)} of memory"
        _notify(
            f"Closed {gone.source} · {gone.name}, the oldest run in this list, to keep this session "
            f"to {why}. Open it again to bring it back."
        )


def _notify(text: str) -> None:
    st.session_state.setdefault(_NOTICES, []).append(text)


def take_notices() -> list[str]:
    """Notices about closed runs since the last call (each is shown once)."""
    return st.session_state.pop(_NOTICES, [])


def used() -> int:
    """Memory this session's listed runs take."""
    return sum(e.nbytes for e in _entries().values())


def remove(entry_id: str) -> None:
    """Take a run off the list (a finished run of a page is not harvested again)."""
    _entries().pop(entry_id, None)
    _gone().add(entry_id)


def harvest() -> None:
    """Record every finished run found in the known slots (Lab, Compare A and B)."""
    for slot, source in SLOT_SOURCES.items():
        run = st.session_state.get(slot)
        result = getattr(run, "result", None)
        if run is None or run.active or result is None or f"run-{run.ticket}" in _gone():
            continue
        record(f"run-{run.ticket}", source, f"#{run.ticket}", result)


def entries() -> list[Entry]:
    """Newest first."""
    return sorted(_entries().values(), key=lambda e: e.when, reverse=True)


def get(entry_id: str) -> Entry | None:
    return _entries().get(entry_id)


# ---- opening exported runs ---------------------------------------------------------------------------


def shown(name: str) -> str:
    """A file name as a message shows it: cut short (the uploader's browser chose it)."""
    name = " ".join(name.split())
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def open_zip(name: str, data: bytes) -> Entry:
    """Load an uploaded zip. A refused one raises ValueError with one line for a person (the file,
    the field and what is allowed) and adds nothing."""
    digest = hashlib.sha1(data).hexdigest()[:12]
    known = get(f"zip-{digest}")
    if known is not None:
        return known
    result = _checked(name, lambda: load_zip(data))
    return record(f"zip-{digest}", "file", shown(name), result)


def _checked(name: str, load) -> RunResult:
    """Run `load`, turning any failure into a ValueError a person can read, and the run into a
    refusal if it alone would not fit in the session's budget."""
    try:
        result = load()
    except (ExportError, FileNotFoundError) as e:
        raise ValueError(f"{shown(name)} was not opened: {e}") from None
    except Exception:
        log.exception("opening %s", name)
        raise ValueError(
            f"{shown(name)} was not opened: it could not be read as a run export. The "
            "details are in the server log."
        ) from None
    if result.nbytes > session_budget():
        raise ValueError(
            f"{shown(name)} was not opened: it takes {mib(result.nbytes)} once opened, and "
            f"this server keeps at most {mib(session_budget())} of runs per session."
        )
    return result


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
    names = [
        p.name for p in sorted(root.iterdir()) if p.is_dir() and all((p / f).is_file() for f in RUN_FILES)
    ]
    return names[:MAX_DIR_RUNS]


@st.cache_resource(max_entries=32, show_spinner=False)
def _load_dir(path: str, mtime: float) -> RunResult:
    return load_run(path)


def open_dir(name: str) -> Entry:
    """Open a run directory by its name in dir_runs(); a name is never a path (no / or ..)."""
    root = runs_dir()
    plain = bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name
    if root is None or not plain or name not in dir_runs():
        raise FileNotFoundError(
            f"{shown(name)}: no such run directory on this server (pick one from the list)"
        )
    p = root / name
    result = _checked(name, lambda: _load_dir(str(p), (p / "arrays.npz").stat().st_mtime))
    return record(f"dir-{name}", "folder", name, result)
