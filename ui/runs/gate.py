"""Admission: at most N runs train at a time on this server, in arrival order.

`GATE` admits at most RNNLAB_MAX_CONCURRENT trainings (default max(1, cpu_count // 2)); the others
wait and can show "waiting: k runs ahead of you". Replace it with `set_gate(...)` by anything with
the same three methods (`acquire`, `release`, `ahead`), e.g. a per-class or cross-process queue.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable
from typing import Protocol


class Gate(Protocol):
    def acquire(self, ticket: int, cancelled: Callable[[], bool]) -> bool:
        """Block until `ticket` may train (True) or cancelled() turned true while waiting (False)."""

    def release(self, ticket: int) -> None:
        """`ticket` finished training (or gave up waiting)."""

    def ahead(self, ticket: int) -> int:
        """How many runs are ahead of a waiting `ticket` (0 once it trains)."""


class FifoGate:
    """At most `limit` holders at a time, admitted in arrival order (a fair counting semaphore)."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self._cond = threading.Condition()
        self._waiting: list[int] = []
        self._holders: set[int] = set()

    def acquire(self, ticket: int, cancelled: Callable[[], bool] = lambda: False) -> bool:
        with self._cond:
            self._waiting.append(ticket)
            try:
                while not (self._waiting[0] == ticket and len(self._holders) < self.limit):
                    if cancelled():
                        return False
                    self._cond.wait(timeout=0.2)
                self._holders.add(ticket)
                return True
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def release(self, ticket: int) -> None:
        with self._cond:
            self._holders.discard(ticket)
            self._cond.notify_all()

    def ahead(self, ticket: int) -> int:
        with self._cond:
            if ticket in self._holders or ticket not in self._waiting:
                return 0
            free = self.limit - len(self._holders)
            return max(0, self._waiting.index(ticket) - free + 1)

    @property
    def busy(self) -> int:
        with self._cond:
            return len(self._holders)


def env_int(name: str, default: int) -> int:
    """An integer from the environment; the default when unset or invalid."""
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


LOG_RUNS_ENV = "RNNLAB_LOG_RUNS"


def log_work(text: str) -> None:
    """One line on stderr about the server's work (a run ended, an at-init view missed the cache),
    when RNNLAB_LOG_RUNS is set: a developer's setting, and what the browser tests read."""
    if os.environ.get(LOG_RUNS_ENV):
        print(f"[rnnlab] {text}", file=sys.stderr, flush=True)


def default_limit() -> int:
    return max(1, env_int("RNNLAB_MAX_CONCURRENT", max(1, (os.cpu_count() or 2) // 2)))


GATE: Gate = FifoGate(default_limit())
_tickets = itertools.count(1)  # one sequence for trainings and views: a ticket names one job


def next_ticket() -> int:
    return next(_tickets)


def set_gate(gate: Gate) -> None:
    """Install another admission policy (module-level hook for deployments)."""
    global GATE
    GATE = gate
