"""The life of a run (a training or a large at-init view): one state at a time, only ever replaced."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """Where a run is. The values are the strings the states always had: a state compares equal to
    its string (`RunState.DONE == "done"`), so logs and older code read the same."""

    QUEUED = "queued"  # waiting for the gate
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # asked to stop (or its session ended): keeps what was trained
    DIVERGED = "diverged"
    FAILED = "failed"  # an error; the run's `error` says which
    REFUSED = "refused"  # over the server's memory budget: never started

    def __str__(self) -> str:
        return self.value

    @property
    def active(self) -> bool:
        """Still to finish: waiting for the gate or training."""
        return self in ACTIVE


ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING})
