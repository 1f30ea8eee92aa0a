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
