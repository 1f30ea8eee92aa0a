"""How many threads torch may use: one setting for the app, its training processes and the CLI.

RNNLAB_TORCH_THREADS (default 1). The app runs several computations at once (trainings in child
processes, analyses in the server, other sessions); torch's own thread pool on top of that
oversubscribes the cores. On the 2-core dev machine under load, one thread trained 3-10x faster than
two and analysed 4-10x faster; the CLI's default of two threads was 8-12x slower than one on a busy
machine. The small networks of RNN Lab gain little from a second thread even on a quiet one.
"""

from __future__ import annotations

import os

THREADS_ENV = "RNNLAB_TORCH_THREADS"


def torch_threads() -> int:
    """The thread count from RNNLAB_TORCH_THREADS (default 1; an invalid value counts as 1)."""
    try:
        return max(1, int(os.environ.get(THREADS_ENV, "1")))
    except ValueError:
        return 1


def use_torch_threads() -> int:
    """Apply torch_threads() to torch in this process; returns the count."""
    import torch

    n = torch_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def without_parent_main() -> None:
    """Spawn and forkserver children re-run the parent's __main__ before their target: a Streamlit
    app, a notebook or a test runner would start again in every pool worker (and Streamlit's app.py
    fails there). Workers need only rnnlab (and ui.worker), so for processes named "rnnlab-*" the
    main module is left out of the preparation data: a process-wide wrap of multiprocessing.spawn's
    get_preparation_data, installed once (a marker says so), harmless to every other process. The
    sweep pool (rnnlab.sweep) and the app's children (ui.runs.processes) both install it."""
    from multiprocessing import spawn

    get = spawn.get_preparation_data
    if getattr(get, "rnnlab_wrapped", False):
        return

    def prep(name, *args, **kwargs):
        data = get(name, *args, **kwargs)
        if str(name).startswith("rnnlab-"):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    prep.rnnlab_wrapped = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = prep
