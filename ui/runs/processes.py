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

_CTX = None
_WARMED = False


def _without_main(get_preparation_data):
    """get_preparation_data, minus the main module for processes named "rnnlab-*"."""

    def prep(name, *args, **kwargs):
        data = get_preparation_data(name, *args, **kwargs)
        if str(name).startswith("rnnlab-"):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    prep.rnnlab_wrapped = True
    return prep


def mp_context():
    """The multiprocessing context for child processes (created once): forkserver with rnnlab
    preloaded where available, else spawn; RNNLAB_START_METHOD overrides."""
    global _CTX
    if _CTX is None:
        from multiprocessing import spawn

        if not getattr(spawn.get_preparation_data, "rnnlab_wrapped", False):
            spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
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
