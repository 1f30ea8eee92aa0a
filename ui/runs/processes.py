"""The multiprocessing context for training and view processes, and the one patch it needs.

Streamlit runs each page as a synthetic `__main__` module (app.py). multiprocessing's spawn and
forkserver children re-run the parent's `__main__` before their target, which would start the whole
app inside a training process. Our children need only `ui.worker`, so for processes named
"rnnlab-*" the main module is left out of the preparation data: a process-wide patch of
`multiprocessing.spawn.get_preparation_data`, installed once, when the context is first made, and
harmless to every other process (their names do not start with "rnnlab-").
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading

from rnnlab.runtime import without_parent_main

_CTX = None
_WARMED = False


def mp_context():
    """The multiprocessing context for child processes (created once): forkserver with rnnlab
    preloaded where available, else spawn; RNNLAB_START_METHOD overrides."""
    global _CTX
    if _CTX is None:
        without_parent_main()
        method = os.environ.get("RNNLAB_START_METHOD") or (
            "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        )
        _CTX = mp.get_context(method)
        if method == "forkserver":
            _CTX.set_forkserver_preload(["ui.worker", "rnnlab.train"])
    return _CTX


def warm_up() -> None:
    """Start the forkserver (imports torch once) in the background, so the first Train is quick."""
    global _WARMED
    if _WARMED:
        return
    _WARMED = True
    threading.Thread(target=_start_and_join, name="rnnlab-warm-up", daemon=True).start()


def _start_and_join() -> None:
    try:
        p = mp_context().Process(target=_noop, daemon=True, name="rnnlab-warm-up")
        p.start()
        p.join()
    except Exception:
        pass


def _noop() -> None:
    return None
