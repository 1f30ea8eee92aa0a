"""Runs end with their browser session: a queued run leaves the queue, a running one stops, and its
slot goes to the next student. Streamlit is imported only to ask about a session, so without a
Streamlit server (scripts, tests) a job has no session and is never watched."""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

WATCH_S = 2.0
_WATCHED: list[Any] = []  # active jobs (runs, views) that belong to a session
_WATCH_LOCK = threading.Lock()
_WATCHER: threading.Thread | None = None


def session_id() -> str | None:
    """The current Streamlit session's id (None outside a session, e.g. in scripts)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # no Streamlit: no session
        return None
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def session_alive(session: str) -> bool:
    """Whether a session still exists: connected, or disconnected but kept for a reconnect (within
    server.disconnectedSessionTTL). Outside a running Streamlit server every session counts as alive."""
    from streamlit import runtime

    if not runtime.exists():
        return True
    rt = runtime.get_instance()
    mgr = getattr(rt, "_session_mgr", None)
    if mgr is not None and hasattr(mgr, "get_session_info"):
        return mgr.get_session_info(session) is not None  # looks in the reconnect storage too
    return rt.is_active_session(session)


def watch(job: Any) -> None:
    """End `job` (anything with .session, .active and .stop()) when its session ends."""
    global _WATCHER
    if job.session is None:
        return
    with _WATCH_LOCK:
        _WATCHED.append(job)
        if _WATCHER is None or not _WATCHER.is_alive():
            _WATCHER = threading.Thread(target=_watch_loop, name="rnnlab-session-watch", daemon=True)
            _WATCHER.start()


def _watch_loop() -> None:
    while True:
        time.sleep(WATCH_S)
        with _WATCH_LOCK:
            jobs = [j for j in _WATCHED if j.active]
            _WATCHED[:] = jobs
        for job in jobs:
            try:
                if not session_alive(job.session):
                    job.stop()
            except Exception:
                traceback.print_exc()
