"""Where a run trains: in a child process (default) or in a thread of the server process.

RNNLAB_TRAIN_BACKEND picks one, read as each run starts: "process" (default; any other value too)
trains in a child process (ui/worker.py) while a light thread here receives its records over a
pipe. "thread" trains in the server process itself, which shares the GIL with the app: on the
2-core dev machine the live redraws then made training 2-3x slower, against under 25 % with a
process.

A backend drives a `Recorder` (ui.runs.training.TrainingRun) and returns the run's RunResult.
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from rnnlab import RunConfig, RunResult, budget
from rnnlab import run as train_run
from rnnlab.snapshots import Snapshot

from . import processes

BACKEND_ENV = "RNNLAB_TRAIN_BACKEND"
THREAD, PROCESS = "thread", "process"
STOP_GRACE_S = 1.5
"""A Stop (or the end of the session) is honoured by the training process itself within this long
(rnnlab.train polls it every update and every heatmap row); past it the process is ended and the
run keeps what the process had sent (ui.worker sends every row and snapshot as it is made)."""


class TrainingError(RuntimeError):
    """The training process reported an error (its message says which) or died."""


class Recorder(Protocol):
    """What a backend needs of a run: its config and ticket, its stop flag, and where to put what
    the training reports."""

    cfg: RunConfig
    ticket: int

    def stop_requested(self) -> bool: ...
    def on_update(self, record: dict[str, Any]) -> bool: ...
    def on_snapshot(self, step: int, snap: Snapshot) -> None: ...
    def on_rows(self, rows: list[tuple[dict[str, Any], Any]]) -> None: ...
    def partial_result(self) -> RunResult: ...


def chosen() -> str:
    return os.environ.get(BACKEND_ENV, PROCESS)


def train(run: Recorder) -> RunResult:
    """Train with the chosen backend."""
    return in_thread(run) if chosen() == THREAD else in_process(run)


def warm_up() -> None:
    """Prepare the chosen backend, so the first Train is quick (the forkserver imports torch)."""
    if chosen() == PROCESS:
        processes.warm_up()


def in_thread(run: Recorder) -> RunResult:
    plan = budget.plan_view(run.cfg)
    return train_run(
        run.cfg,
        on_update=run.on_update,
        should_stop=run.stop_requested,
        on_snapshot=run.on_snapshot,
        max_columns=plan.columns,
        heatmaps=plan.ok,
    )


def in_process(run: Recorder) -> RunResult:
    """Train in a child process (ui.worker.train), passing its messages to `run` as they come."""
    from .. import worker

    ctx = processes.mp_context()
    recv, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(
        target=worker.train,
        args=(run.cfg.to_json(), send, stop),
        daemon=True,
        name=f"rnnlab-train-{run.ticket}",
    )
    proc.start()
    send.close()  # the child holds the only write end: EOF when it exits
    asked: float | None = None  # when the stop was passed on to the process
    try:
        while True:
            if run.stop_requested() and asked is None:
                stop.set()
                asked = time.perf_counter()
            if asked is not None and time.perf_counter() - asked > STOP_GRACE_S:
                proc.kill()  # it did not honour the stop in time: keep what it sent
                return run.partial_result()
            if not recv.poll(0.1):
                continue
            try:
                kind, payload = recv.recv()
            except EOFError:
                proc.join(5)
                if asked is not None:
                    return run.partial_result()
                raise TrainingError(
                    f"the training process ended unexpectedly (exit code {proc.exitcode})"
                ) from None
            if kind == "rows":
                run.on_rows(payload)
            elif kind == "snapshot":
                run.on_snapshot(*payload)
            elif kind == "result":
                return payload
            else:
                raise TrainingError(payload)
    finally:
        recv.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
