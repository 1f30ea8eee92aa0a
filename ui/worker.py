"""The child processes' entry points (no Streamlit here): training, and a large at-init view.

`train(cfg_json, conn, stop)` runs `rnnlab.run` within the server's budget (rnnlab.budget: the
snapshots' heatmaps get at most the columns a view may have, or none) and sends, over a one-way pipe:
("rows", [(row, profile), ...]) at most every BATCH_S seconds (every update's full metrics row and
temporal gradient profile), ("snapshot", (step, snap)) as each snapshot is taken (weights included),
then ("result", RunResult) or ("error", a line for a person). Everything needed to rebuild a partial result is
sent as it is made, so the server may end this process when a Stop is not honoured within a second
or its session ends, and still keep what was recorded (ui.runner).

`view(cfg_json, max_columns, conn, stop)` computes `rnnlab.analyse` for a view too large to redraw on
every control change, sending ("progress", fraction) and then ("result", analysis dict).

`stop` (a multiprocessing Event) ends either early. Running in their own processes, they never
compete with the app for the GIL, and their memory returns to the system when they end.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnlab.snapshots import Snapshot

BATCH_S = 0.05  # rows are sent in batches: at most ~20 messages a second


def train(cfg_json: str, conn, stop) -> None:
    from rnnlab import RunConfig, budget, run
    from rnnlab.runtime import use_torch_threads

    use_torch_threads()
    buf: list[tuple[dict, object]] = []
    last = time.perf_counter()

    def flush() -> None:
        nonlocal last
        if buf:
            conn.send(("rows", list(buf)))
            buf.clear()
        last = time.perf_counter()

    def on_row(row: dict, profile) -> None:
        buf.append((row, profile))
        if time.perf_counter() - last >= BATCH_S:
            flush()

    def on_snapshot(step: int, snap: Snapshot) -> None:
        flush()  # rows up to this step first
        conn.send(("snapshot", (step, snap)))

    try:
        cfg = RunConfig.from_dict(json.loads(cfg_json))
        plan = budget.plan_view(cfg)
        result = run(
            cfg,
            on_update=lambda rec: stop.is_set(),
            should_stop=stop.is_set,
            on_snapshot=on_snapshot,
            on_row=on_row,
            max_columns=plan.columns,
            heatmaps=plan.ok,
        )
        flush()
        conn.send(("result", result))
    except Exception as e:
        flush()
        _report(conn, e)
    finally:
        conn.close()


def _report(conn, e: Exception) -> None:
    """Send a line for a person; the details go to the server's log (this process shares its stderr)."""
    import traceback

    from .errors import message

    traceback.print_exc()
    conn.send(("error", message(e)))


def view(cfg_json: str, max_columns: int | None, conn, stop) -> None:
    from rnnlab import RunConfig, analyse
    from rnnlab.runtime import use_torch_threads

    use_torch_threads()
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.perf_counter()
        if now - last[0] >= 0.2 or fraction >= 1.0:
            last[0] = now
            conn.send(("progress", fraction))

    try:
        a = analyse(
            RunConfig.from_dict(json.loads(cfg_json)),
            orbits=False,  # the at-init view draws no orbit diagram
            max_columns=max_columns,
            progress=progress,
            should_stop=stop.is_set,
        )
        conn.send(("result", a))
    except Exception as e:
        _report(conn, e)
    finally:
        conn.close()
