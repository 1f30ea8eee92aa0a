"""Start the app warm: ``python -m ui.serve [options of streamlit run]``.

`streamlit run app.py` imports torch, the engine and the pages when the first visitor arrives, and
computes the views people open first (the Lab's default, a preset's link) on their clicks. This
starts the same server (the same options, passed through to `streamlit run`) and, in a background
thread once the server is up, does that work before anyone asks: it imports what every session
needs and computes, into the app's shared cache, the at-initialisation view of the Lab's default and
of every preset small enough to redraw by itself (the ones the Presets page measures for its cards).

RNNLAB_WARM=0 skips the warm-up (the server then behaves as `streamlit run app.py`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
WARM_ENV = "RNNLAB_WARM"


def main(argv: list[str]) -> None:
    if os.environ.get(WARM_ENV, "1") != "0":
        threading.Thread(target=warm, name="rnnlab-warm", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *argv]
    cli.main()


def warm(wait_s: float = 120.0) -> None:
    """Once the server's runtime is up (so the cache is the one sessions use), fill it."""
    if not _runtime_up(wait_s):
        return
    t0 = time.perf_counter()
    try:
        done = fill_cache()
    except Exception as e:  # a warm-up that fails costs the first visitor a wait, nothing else
        print(f"RNN Lab: the warm-up failed ({type(e).__name__}: {e})", file=sys.stderr, flush=True)
        return
    print(
        f"RNN Lab: warm, {done} views cached in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True
    )


def _runtime_up(wait_s: float) -> bool:
    from streamlit.runtime import Runtime
    from streamlit.runtime.runtime import RuntimeState

    up = (RuntimeState.NO_SESSIONS_CONNECTED, RuntimeState.ONE_OR_MORE_SESSIONS_CONNECTED)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if Runtime.exists() and Runtime.instance().state in up:
            return True
        time.sleep(0.2)
    return False


def fill_cache() -> int:
    """The Lab's default view and every automatic preset's, computed in the shared cache. Returns how
    many views were computed or found there."""
    # Outside a script run Streamlit warns once per cache call that there is no ScriptRunContext;
    # here that is expected (the cache is process-wide), so keep the log readable.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    from rnnlab import RunConfig
    from rnnlab.presets import PRESETS
    from rnnlab.runtime import use_torch_threads

    from . import analysis, lab  # noqa: F401 - lab: import every module a Lab run needs

    use_torch_threads()
    configs = [RunConfig()] + [p.config() for p in PRESETS.values()]
    done = 0
    for cfg in configs:
        if analysis.automatic(cfg):
            analysis.decay_profile(cfg)  # the same cached view the Lab draws, and the card's number
            done += 1
    return done


if __name__ == "__main__":
    main(sys.argv[1:])
