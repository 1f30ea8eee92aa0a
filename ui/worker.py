"""The training process's entry point (no Streamlit here).

`train(cfg_json, conn, stop)` runs `rnnlab.run` and sends, over a one-way pipe:
("records", [record, ...]) at most every BATCH_S seconds, ("snapshot", (step, {"jacobian",
"eigvals"})) as each snapshot is taken, then ("result", RunResult) or ("error", a line for a person).
`stop` (a multiprocessing Event) ends the run early, keeping what was trained. Running in its own
process, training never competes with the app for the GIL.
"""

from __future__ import annotations

import json
import time

BATCH_S = 0.05  # records are sent in batches: at most ~20 messages a second


def train(cfg_json: str, conn, stop) -> None:
    from rnnlab import RunConfig, run
    from rnnlab.runtime import use_torch_threads

    use_torch_threads()
    buf: list[dict] = []
    last = time.perf_counter()

    def flush() -> None:
        nonlocal last
        if buf:
            conn.send(("records", list(buf)))
            buf.clear()
        last = time.perf_counter()

    def on_update(record: dict) -> bool:
        buf.append(record)
        if time.perf_counter() - last >= BATCH_S:
            flush()
        return stop.is_set()

    def on_snapshot(step: int, snap: dict) -> None:
        flush()  # records up to this step first
        conn.send(("snapshot", (step, snap)))

    try:
        result = run(RunConfig.from_dict(json.loads(cfg_json)), on_update=on_update,
                     should_stop=stop.is_set, on_snapshot=on_snapshot)
        flush()
        conn.send(("result", result))
    except Exception as e:  # noqa: BLE001 - reported to the app, which explains it
        import traceback

        from .errors import message

        traceback.print_exc()  # the details, to the server's log (this process shares its stderr)
        flush()
        conn.send(("error", message(e)))
    finally:
        conn.close()
