"""A sweep: one base config, one to three axes, seeds per cell, a few metrics per cell.

    sw = Sweep.build(RunConfig(), ["rho=0.5:2.0:16", "act=tanh,relu"], seeds=1, metrics=["decay_rate"])
    res = run_sweep(sw, out="runs/phase")          # a local process pool, one torch thread per worker
    res = run_sweep(sw, address="tcp://host:8786")  # the same through a Dask scheduler
    res.table                                       # tidy: one row per cell and seed

Every cell is validated when the Sweep is built (a bad axis value is a ConfigError naming the key,
before anything runs). Cells go through one `concurrent.futures.Executor` seam: a
`ProcessPoolExecutor` by default, `distributed.Client(address).get_executor()` when an address is
given. Results stream back cell by cell (`on_row`), `should_stop()` cancels what has not started,
and with `out=DIR` every finished cell is appended to DIR/table.csv at once, so re-running the same
sweep into DIR resumes: finished cells are never recomputed. A worker process that dies costs only the
cells it had in flight: they are retried (`MAX_ATTEMPTS`), then reported as failed rows.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .config import FIELD, ConfigError, RunConfig, format_value, parse_value, shorten, unknown_key
from .runtime import without_parent_main

SWEEP_FILE, TABLE_FILE = "sweep.json", "table.csv"
MAX_AXES = 3
MAX_COUNT = 256  # points of one numeric range
MAX_SEEDS = 100
MAX_CELLS = 100_000  # cells x seeds of one sweep (a class server has a smaller cap, in ui.sweep)
MAX_ATTEMPTS = 3
"""A cell whose worker process dies is resubmitted; after this many lost attempts it is reported as
failed (a cell that kills its worker every time, e.g. out of memory, must not loop forever)."""
ADDRESS_ENV = "RNNLAB_DASK_ADDRESS"
"""The app's Dask scheduler (`tcp://host:8786`); unset: the local process pool."""


# ---- metrics ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """What a sweep can measure per cell: its table columns, and whether it needs training."""

    name: str
    columns: tuple[str, ...]
    trains: bool
    label: str  # axis title on a diagram
    help: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "decay_rate",
            ("decay_rate",),
            False,
            "decay rate at init (log10 per step)",
            "slope of the at-init heatmap's lag profile, as the Lab reads it (docs/DESIGN.md 6.5): "
            "< 0 vanishing, > 0 exploding",
        ),
        Metric(
            "lambda_1",
            ("lambda_1",),
            False,
            "top Lyapunov exponent at init (ln per step)",
            "largest Lyapunov exponent of the untrained network on its probe, by repeated QR as the Lab's "
            "spectrum panel (docs/DESIGN.md 6.13): < 0 contracting, > 0 chaotic",
        ),
        Metric(
            "loss_ratio",
            ("loss_ratio",),
            True,
            "final loss / baseline",
            "final loss on the evaluation batch over the task's baseline: < 0.9 learned (empty if diverged)",
        ),
        Metric(
            "diverged",
            ("diverged", "diverged_at"),
            True,
            "diverged (0/1)",
            "1 if the run diverged, and diverged_at, the step where it did (empty otherwise)",
        ),
        Metric(
            "clipped_frac",
            ("clipped_frac",),
            True,
            "fraction of clipped updates",
            "share of optimizer updates whose gradient clipping changed (empty without updates)",
        ),
        Metric("wall_time_s", ("wall_time_s",), False, "wall time (s)", "seconds the cell took (always)"),
    )
}
DEFAULT_METRICS = ("decay_rate",)
EDGE_METRICS = ("decay_rate", "lambda_1")
"""Metrics whose zero is the edge between vanishing and exploding (the mean field puts both at chi = 1:
the decay rate is 0.5 log10 chi per step and lambda_1 0.5 ln chi), so the diagram draws chi = 1 and
the measured zero line on them."""


def check_metrics(names: Iterable[str]) -> tuple[str, ...]:
    """Known metric names, in METRICS' order, wall_time_s always included."""
    names = [str(n).strip().lower() for n in names]
    for n in names:
        if n not in METRICS:
            raise ConfigError("metric", f"{shorten(n)} is unknown", "one of " + ", ".join(METRICS))
    return tuple(m for m in METRICS if m in names or m == "wall_time_s")


# ---- axes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, with the text it was written as (the URL and CLI form)."""

    key: str
    values: tuple[Any, ...]
    spec: str  # "0.5:2:16" (linear), "0.01:1:9:log", or "tanh,relu"

    @property
    def numeric(self) -> bool:
        return FIELD[self.key].kind in (int, float)

    def __str__(self) -> str:
        return f"{self.key}={self.spec}"


def parse_axis(text: str) -> Axis:
    """'rho=0.5:2.0:16' | 'rho=0.01:1:9:log' | 'act=tanh,relu' -> Axis. ConfigError naming the key."""
    key, sep, spec = str(text).partition("=")
    key, spec = key.strip().lower(), spec.strip()
    if not sep or not key or not spec:
        raise ConfigError(
            "axis", f"{shorten(text)} is not KEY=VALUES", "KEY=start:stop:count[:log] or KEY=a,b,c"
        )
    if key not in FIELD:
        raise unknown_key(key)
    values = _range(key, spec) if ":" in spec else [parse_value(key, v) for v in spec.split(",") if v.strip()]
    if not values:
        raise ConfigError(key, "the axis has no values", "start:stop:count[:log] or a,b,c")
    if len(set(values)) != len(values):
        raise ConfigError(key, f"the axis {shorten(spec)} repeats a value", "distinct values")
    return Axis(key, tuple(values), spec)


def _range(key: str, spec: str) -> list[Any]:
    """start:stop:count[:log] -> count evenly spaced values (geometrically for log), both ends included."""
    f, parts = FIELD[key], [p.strip() for p in spec.split(":")]
    allowed = f"start:stop:count or start:stop:count:log (count 1..{MAX_COUNT})"
    log = len(parts) == 4 and parts[3].lower() == "log"
    if f.kind not in (int, float):
        raise ConfigError(key, "is not numeric: list its values instead (e.g. act=tanh,relu)", "a,b,c")
    if len(parts) not in (3, 4) or (len(parts) == 4 and not log):
        raise ConfigError(key, f"{shorten(spec)} is not a range", allowed)
    start, stop = parse_value(key, parts[0]), parse_value(key, parts[1])
    try:
        count = int(parts[2])
    except ValueError:
        raise ConfigError(key, f"count {shorten(parts[2])} is not an integer", allowed) from None
    if not 1 <= count <= MAX_COUNT:
        raise ConfigError(key, f"count {count} is out of range", allowed)
    if log and (start <= 0 or stop <= 0):
        raise ConfigError(key, "a log range needs start and stop > 0", allowed)
    xs = np.geomspace(start, stop, count) if log else np.linspace(start, stop, count)
    if f.kind is int:
        values: list[Any] = [round(float(x)) for x in xs]
    else:  # 12 significant digits: 0.6, not 0.6000000000000001, in tables and URLs
        values = [float(f"{float(x):.12g}") for x in xs]
    return [parse_value(key, v) for v in values]


# ---- the sweep -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One configuration and seed of a sweep: what a worker computes."""

    index: int  # position in the sweep's order (axes outermost-first, seeds innermost)
    values: tuple[tuple[str, Any], ...]  # (axis key, value) ... ("seed", seed)
    cfg: RunConfig
    metrics: tuple[str, ...]

    @property
    def key(self) -> str:
        """'rho=0.5,act=tanh,seed=0': the cell's identity in the table (what resume matches)."""
        return ",".join(f"{k}={format_value(v)}" for k, v in self.values)


@dataclass(frozen=True)
class Sweep:
    """A base config, 1-3 axes, `seeds` seeds per cell (base.seed, base.seed + 1, ...), the metrics."""

    base: RunConfig
    axes: tuple[Axis, ...]
    seeds: int = 1
    metrics: tuple[str, ...] = DEFAULT_METRICS

    def __post_init__(self):
        object.__setattr__(self, "metrics", check_metrics(self.metrics))
        if not 1 <= len(self.axes) <= MAX_AXES:
            raise ConfigError("axis", f"{len(self.axes)} axes given", f"1 to {MAX_AXES} axes")
        keys = [a.key for a in self.axes]
        if len(set(keys)) != len(keys):
            raise ConfigError("axis", "a key is swept twice", "each key on one axis")
        if not isinstance(self.seeds, int) or not 1 <= self.seeds <= MAX_SEEDS:
            raise ConfigError("seeds", f"{shorten(self.seeds)} is out of range", f"an integer 1..{MAX_SEEDS}")
        if "seed" in keys and self.seeds > 1:
            raise ConfigError("seeds", "seed is already an axis", "1 when seed is swept")
        if self.size > MAX_CELLS:
            raise ConfigError("axis", f"{self.size} cells", f"at most {MAX_CELLS} cells x seeds")
        self.cells()  # every cell validated up front

    @classmethod
    def build(
        cls,
        base: RunConfig,
        axes: Sequence[str | Axis],
        seeds: int = 1,
        metrics: Iterable[str] = DEFAULT_METRICS,
    ) -> Sweep:
        return cls(
            base, tuple(a if isinstance(a, Axis) else parse_axis(a) for a in axes), seeds, tuple(metrics)
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(self.shape) * self.seeds

    @property
    def trains(self) -> bool:
        return any(METRICS[m].trains for m in self.metrics)

    @property
    def keys(self) -> tuple[str, ...]:
        """The table's key columns: the axes' keys, then seed (unless seed is an axis)."""
        keys = tuple(a.key for a in self.axes)
        return keys if "seed" in keys else (*keys, "seed")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of the table, in order."""
        return (*self.keys, *(c for m in self.metrics for c in METRICS[m].columns), "status", "error")

    def cells(self) -> list[Cell]:
        """Every cell, validated: a value that breaks a rule across keys (tbptt > seq_len) raises a
        ConfigError naming the key and the cell."""
        out: list[Cell] = []
        for combo in np.ndindex(*self.shape):
            values = [(a.key, a.values[i]) for a, i in zip(self.axes, combo)]
            seeds = [None] if "seed" in dict(values) else range(self.seeds)
            for s in seeds:
                vals = values if s is None else [*values, ("seed", self.base.seed + s)]
                if s is not None and self.base.seed + s > FIELD["seed"].hi:  # type: ignore[operator]
                    raise ConfigError("seeds", "base seed + seeds runs past the largest seed", "fewer seeds")
                try:
                    cfg = self.base.replace(**dict(vals))
                except ConfigError as e:
                    where = ", ".join(f"{k}={format_value(v)}" for k, v in vals)
                    raise ConfigError(e.key, f"in the cell {where}: {str(e)[len(e.key) + 2 :]}") from None
                out.append(Cell(len(out), tuple(vals), cfg, self.metrics))
        return out

    # ---- the definition on disk (sweep.json) and as text ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_strings(only_changed=False),
            "axes": [str(a) for a in self.axes],
            "seeds": self.seeds,
            "metrics": list(self.metrics),
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sweep:
        return cls.build(RunConfig.from_dict(d["base"]), d["axes"], int(d["seeds"]), d["metrics"])

    def describe(self) -> str:
        """'rho=0.5:2:16 x act=tanh,relu, 1 seed: 32 cells'."""
        s = "s" if self.seeds != 1 else ""
        return f"{' x '.join(map(str, self.axes))}, {self.seeds} seed{s}: {self.size} cells"


# ---- one cell (runs in a worker) -------------------------------------------------------------------


@dataclass
class Row:
    """One finished cell: its key values, its metrics, and whether it was computed."""

    values: dict[str, Any]  # axis keys and seed -> value
    metrics: dict[str, float]  # column -> value (NaN: not defined, e.g. diverged_at of a run that did not)
    status: str = "ok"  # "ok" or "failed"
    error: str = ""  # why it failed, one line

    @property
    def key(self) -> str:
        return ",".join(f"{k}={format_value(v)}" for k, v in self.values.items())


def measure_cell(cfg: RunConfig, metrics: Sequence[str]) -> dict[str, float]:
    """The metrics of one configuration. At-init metrics analyse the untrained network only; the
    training metrics run `rnnlab.run` without heatmaps (they are not read)."""
    from . import measure
    from .runtime import use_torch_threads
    from .train import analyse, run

    use_torch_threads()  # one torch thread per worker (RNNLAB_TORCH_THREADS): workers are the parallelism
    t0 = time.perf_counter()
    out: dict[str, float] = {}
    if "decay_rate" in metrics or "lambda_1" in metrics:
        init = measure.init_config(cfg)
        a = analyse(init, max_columns=measure.heatmap_size(init))  # exactly the Lab's at-init view
        if "decay_rate" in metrics:
            out["decay_rate"] = measure.decay_slope(a.heatmap)
        if "lambda_1" in metrics:
            out["lambda_1"] = a.spectrum.lambda_1 if a.spectrum is not None else math.nan
    if any(METRICS[m].trains for m in metrics):
        r = run(cfg, heatmaps=False)
        s = r.summary
        diverged = s["diverged_at"] is not None
        if "loss_ratio" in metrics:
            out["loss_ratio"] = math.nan if diverged else s["final_loss"] / s["baseline_loss"]
        if "diverged" in metrics:
            out["diverged"] = float(diverged)
            out["diverged_at"] = float(s["diverged_at"]) if diverged else math.nan
        if "clipped_frac" in metrics:
            c = r.metrics["clipped"].to_numpy(float)
            out["clipped_frac"] = float(c.mean()) if len(c) else math.nan
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def run_cell(cell: Cell) -> Row:
    """What a worker runs: a module-level function, so a process pool and Dask can pickle it by name."""
    return Row(dict(cell.values), measure_cell(cell.cfg, cell.metrics))


# ---- the table on disk -----------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return "" if math.isnan(x) else format(x, ".17g")  # round-trips exactly


def row_line(sweep: Sweep, row: Row) -> list[str]:
    metrics = [_fmt(row.metrics.get(c, math.nan)) for c in sweep.columns[len(sweep.keys) : -2]]
    return [format_value(row.values[k]) for k in sweep.keys] + metrics + [row.status, row.error]


def read_rows(sweep: Sweep, path: Path) -> list[Row]:
    """The rows of a table.csv written for `sweep`; a torn last line (a killed writer) is skipped."""
    rows: list[Row] = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        if next(reader, None) != list(sweep.columns):
            raise ConfigError("out", f"{path} does not have this sweep's columns", "a folder of this sweep")
        n_keys, n = len(sweep.keys), len(sweep.columns)
        for line in reader:
            if len(line) != n or line[-2] not in ("ok", "failed"):
                continue
            try:
                values = {k: parse_value(k, v) for k, v in zip(sweep.keys, line)}
                metrics = {
                    c: float(v) if v else math.nan for c, v in zip(sweep.columns[n_keys:-2], line[n_keys:])
                }
            except (ConfigError, ValueError):
                continue
            rows.append(Row(values, metrics, line[-2], line[-1]))
    return rows


def frame(sweep: Sweep, rows: Iterable[Row]):
    """The tidy table (pandas): one row per cell and seed in the sweep's order; missing cells absent."""
    import pandas as pd

    order = {c.key: c.index for c in sweep.cells()}
    rows = sorted((r for r in rows if r.key in order), key=lambda r: order[r.key])
    data = [{**r.values, **r.metrics, "status": r.status, "error": r.error} for r in rows]
    return pd.DataFrame(data, columns=list(sweep.columns))


class Table:
    """DIR/sweep.json (the definition) and DIR/table.csv (the rows, appended as cells finish)."""

    def __init__(self, sweep: Sweep, out: str | Path):
        self.sweep, self.dir = sweep, Path(out)
        self.path = self.dir / TABLE_FILE

    def open(self) -> list[Row]:
        """Create the folder, or resume it: returns the finished (ok) rows already there. The table is
        rewritten with only those (failed and torn rows are computed again)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        definition = self.dir / SWEEP_FILE
        rows: list[Row] = []
        if definition.exists():
            try:
                old = json.loads(definition.read_text())
            except ValueError:
                old = None
            mine = self.sweep.to_dict()
            if not isinstance(old, dict) or any(old.get(k) != mine[k] for k in mine):
                raise ConfigError(
                    "out",
                    f"{self.dir} holds a different sweep ({SWEEP_FILE})",
                    "a new folder, or the same sweep",
                )
            if self.path.exists():
                keys = {c.key for c in self.sweep.cells()}
                rows = [r for r in read_rows(self.sweep, self.path) if r.status == "ok" and r.key in keys]
        else:
            definition.write_text(json.dumps(self.sweep.to_dict(), indent=2) + "\n")
        self.write(rows)
        return rows

    def write(self, rows: Iterable[Row]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(self.sweep.columns)
            w.writerows(row_line(self.sweep, r) for r in rows)
        tmp.replace(self.path)

    def append(self, row: Row) -> None:
        with self.path.open("a", newline="") as fh:  # one line per write: a crash tears at most one line
            csv.writer(fh).writerow(row_line(self.sweep, row))


# ---- executors -------------------------------------------------------------------------------------


def default_workers() -> int:
    """The pool's size: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


WORKER_NAME = "rnnlab-sweep-worker"


class NamedContext:
    """A multiprocessing context whose processes are named WORKER_NAME, so that their preparation
    leaves out the parent's __main__ (see runtime.without_parent_main)."""

    def __init__(self, ctx: Any):
        self._ctx = ctx

    def Process(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["name"] = WORKER_NAME
        return self._ctx.Process(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def local_pool(workers: int | None = None, mp_context: Any = None) -> ProcessPoolExecutor:
    """A process pool; each worker runs cells with one torch thread (measure_cell). forkserver where
    available (torch imported once in the server, workers fork from it), else spawn; never fork, whose
    children inherit the parent's threads mid-flight. Workers never re-run the parent's __main__."""
    without_parent_main()
    if mp_context is None:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        mp_context = mp.get_context(method)
        if method == "forkserver":
            mp_context.set_forkserver_preload(["rnnlab.train"])  # torch imported once, in the server
    named: Any = NamedContext(
        mp_context
    )  # quacks like a BaseContext: ProcessPoolExecutor asks only for what it has
    return ProcessPoolExecutor(max_workers=workers or default_workers(), mp_context=named)


class Backend(Protocol):
    """Where cells run: `executor()` makes a (new) Executor; `slots` is how many cells may be in flight."""

    name: str

    @property
    def slots(self) -> int: ...

    def executor(self) -> Executor: ...

    def close(self) -> None: ...


@dataclass
class PoolBackend:
    workers: int = field(default_factory=default_workers)
    mp_context: Any = None
    name: str = "local pool"

    @property
    def slots(self) -> int:
        return 2 * self.workers  # a queued cell per worker, so none idles between cells

    def executor(self) -> Executor:
        return local_pool(self.workers, self.mp_context)

    def close(self) -> None:
        return None


class DaskBackend:
    """A Dask scheduler. Dask reschedules the tasks of a lost worker itself (up to its
    `distributed.scheduler.allowed-failures`, then KilledWorker: a failed row here)."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - dask is a dependency
            raise ConfigError(
                "address", f"Dask is not installed ({e})", "pip install 'dask[distributed]'"
            ) from None
        try:
            self.client = Client(address, timeout=10, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise ConfigError("address", f"cannot reach the scheduler at {shorten(address)}: {e}") from None
        self.name = f"Dask at {address}"

    @property
    def slots(self) -> int:
        return max(1, 2 * sum(self.client.nthreads().values()))

    def executor(self) -> Executor:
        return self.client.get_executor(pure=False)  # pure=False: a retried cell is a new task

    def close(self) -> None:
        self.client.close()


def backend_for(address: str | None = None, workers: int | None = None) -> Backend:
    """Dask when an address is given (or RNNLAB_DASK_ADDRESS is set), else the local pool."""
    address = address or os.environ.get(ADDRESS_ENV) or None
    if address:
        return DaskBackend(address)
    return PoolBackend(workers or default_workers())


# ---- running a sweep -------------------------------------------------------------------------------


class Admission(Protocol):
    """A fair queue each cell waits in before it is submitted (the app's training gate). acquire
    returns False when `cancelled()` turned true while waiting; the sweep then collects finished
    cells (releasing their turns) and queues again."""

    def acquire(self, cancelled: Callable[[], bool]) -> bool: ...

    def release(self) -> None: ...


@dataclass
class Progress:
    done: int  # cells finished, resumed ones included
    failed: int
    total: int
    resumed: int  # finished cells found in the folder
    retried: int  # cells resubmitted after their worker died


@dataclass
class SweepResult:
    sweep: Sweep
    rows: list[Row]
    progress: Progress
    cancelled: bool
    backend: str

    @property
    def table(self):
        return frame(self.sweep, self.rows)

    @property
    def complete(self) -> bool:
        return not self.cancelled and self.progress.done == self.progress.total


OnRow = Callable[[Row, Progress], Any]


def run_sweep(
    sweep: Sweep,
    out: str | Path | None = None,
    *,
    address: str | None = None,
    backend: Backend | None = None,
    workers: int | None = None,
    on_row: OnRow | None = None,
    should_stop: Callable[[], bool] | None = None,
    admission: Admission | None = None,
    poll_s: float = 0.2,
) -> SweepResult:
    """Run every cell not already finished in `out`, streaming rows to `on_row` as they arrive.

    backend: a Backend; else `backend_for(address, workers)`. should_stop() cancels the cells not
    started and returns (cells in flight are abandoned; a re-run resumes them). A cell whose worker
    died is resubmitted to a fresh pool, up to MAX_ATTEMPTS times; an exception inside a cell is a
    failed row (not retried: it would fail again).
    """
    table = Table(sweep, out) if out is not None else None
    rows = table.open() if table is not None else []
    finished = {r.key for r in rows}
    todo = [c for c in sweep.cells() if c.key not in finished]
    prog = Progress(len(rows), 0, sweep.size, len(rows), 0)
    own = backend is None
    be = backend if backend is not None else backend_for(address, workers)
    stop = should_stop or (lambda: False)
    attempts: dict[int, int] = {}
    cancelled = False

    def record(row: Row) -> None:
        rows.append(row)
        prog.done += 1
        prog.failed += row.status == "failed"
        if table is not None:
            table.append(row)
        if on_row is not None:
            on_row(row, prog)

    def failed(cell: Cell, why: str) -> Row:
        return Row(dict(cell.values), {}, "failed", " ".join(why.split())[:200])

    ex = be.executor()
    pending: dict[Future, Cell] = {}
    try:
        while todo or pending:
            if stop():
                cancelled = True
                break
            lost: list[Cell] = []
            while todo and len(pending) < be.slots:
                # Wait for a turn, but not past a finished cell: its result (and its turn) must go back.
                if admission is not None and not admission.acquire(lambda: stop() or _any_done(pending)):
                    break
                cell = todo.pop(0)
                try:
                    pending[ex.submit(run_cell, cell)] = cell
                except BrokenProcessPool:
                    lost.append(cell)
                    if admission is not None:
                        admission.release()
                    break
            done, _ = wait(list(pending), timeout=poll_s, return_when=FIRST_COMPLETED)
            for fut in done:
                cell = pending.pop(fut)
                if admission is not None:
                    admission.release()
                try:
                    record(fut.result())
                except BrokenProcessPool:
                    lost.append(cell)
                except Exception as e:  # the cell itself raised, or Dask gave up (KilledWorker)
                    record(failed(cell, f"{type(e).__name__}: {e}"))
            if lost:  # a worker process died: the pool is broken; its in-flight cells go again
                lost += [pending.pop(f) for f in list(pending)]
                _shutdown(ex, wait=False)
                ex = be.executor()
                for cell in sorted(lost, key=lambda c: c.index, reverse=True):
                    attempts[cell.index] = attempts.get(cell.index, 0) + 1
                    if attempts[cell.index] >= MAX_ATTEMPTS:
                        record(failed(cell, f"its worker died {MAX_ATTEMPTS} times"))
                    else:
                        prog.retried += 1
                        todo.insert(0, cell)
    finally:
        for fut in pending:
            fut.cancel()
            if admission is not None:
                admission.release()
        _shutdown(ex, wait=not cancelled)
        if own:
            be.close()
    if table is not None and not cancelled and prog.done == prog.total:
        table.write(frame_rows(sweep, rows))  # the finished table, in the sweep's order
    return SweepResult(sweep, rows, prog, cancelled, be.name)


def _any_done(pending: dict[Future, Cell]) -> bool:
    return any(f.done() for f in pending)


def _shutdown(ex: Executor, wait: bool) -> None:
    """Shut an executor down; without waiting, what has not started is cancelled (Dask's executor
    cancels its tasks when it does not wait)."""
    if isinstance(ex, ProcessPoolExecutor):
        ex.shutdown(wait=wait, cancel_futures=True)
    else:
        ex.shutdown(wait=wait)


def frame_rows(sweep: Sweep, rows: list[Row]) -> list[Row]:
    order = {c.key: c.index for c in sweep.cells()}
    return sorted(rows, key=lambda r: order.get(r.key, len(order)))


def zero_crossings(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    """Where a measured curve crosses zero, by linear interpolation between neighbouring finite points
    (a phase diagram's measured critical line, one row at a time)."""
    out: list[float] = []
    pts = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(float(y))]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if y0 == 0:
            out.append(x0)
        elif y0 * y1 < 0:
            out.append(x0 + (x1 - x0) * (-y0) / (y1 - y0))
    if pts and pts[-1][1] == 0:
        out.append(pts[-1][0])
    return out


def load_sweep(out: str | Path) -> SweepResult:
    """A sweep folder as written by run_sweep (finished or not)."""
    d = Path(out)
    try:
        sweep = Sweep.from_dict(json.loads((d / SWEEP_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError("out", f"{d} holds no readable {SWEEP_FILE} ({type(e).__name__})") from None
    rows = read_rows(sweep, d / TABLE_FILE) if (d / TABLE_FILE).exists() else []
    ok = sum(r.status == "ok" for r in rows)
    prog = Progress(len(rows), len(rows) - ok, sweep.size, 0, 0)
    return SweepResult(sweep, rows, prog, False, "folder")


# ---- the phase diagram's data ----------------------------------------------------------------------


@dataclass
class PhaseGrid:
    """One metric column of a sweep on its first two axes, averaged over seeds (and over a third axis'
    value `fixed`): z[i, j] at y = y_values[i], x = x_values[j]. One axis: a single row."""

    column: str
    x_key: str
    x_values: tuple[Any, ...]
    y_key: str | None
    y_values: tuple[Any, ...]
    z: np.ndarray  # (ny, nx) mean over the finished seeds; NaN where none finished
    n: np.ndarray  # (ny, nx) finished seeds (ok rows with a finite value)
    seeds: int  # planned seeds per cell


def phase_grid(
    sweep: Sweep, rows: Iterable[Row], column: str, fixed: dict[str, Any] | None = None
) -> PhaseGrid:
    """The grid a diagram draws: x = the first numeric of the first two axes (else the first axis),
    y = the other one. `fixed` picks the third axis' value (default its first)."""
    axes = list(sweep.axes[:2])
    if len(axes) == 2 and not axes[0].numeric and axes[1].numeric:
        axes.reverse()  # rho across, act down: the numeric axis is the x axis
    xa, ya = axes[0], (axes[1] if len(axes) > 1 else None)
    third = {a.key: (fixed or {}).get(a.key, a.values[0]) for a in sweep.axes[2:]}
    yv: tuple[Any, ...] = ya.values if ya is not None else (None,)
    total, n = np.zeros((len(yv), len(xa.values))), np.zeros((len(yv), len(xa.values)), dtype=int)
    xi = {v: j for j, v in enumerate(xa.values)}
    yi = {v: i for i, v in enumerate(yv)}
    for r in rows:
        v = r.metrics.get(column, math.nan)
        if r.status != "ok" or not math.isfinite(v) or any(r.values[k] != w for k, w in third.items()):
            continue
        i, j = yi[r.values[ya.key]] if ya is not None else 0, xi[r.values[xa.key]]
        total[i, j] += v
        n[i, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return PhaseGrid(column, xa.key, xa.values, ya.key if ya else None, yv, z, n, sweep.seeds)


@dataclass(frozen=True)
class TheoryLine:
    """A line on the diagram: points (x value, y index; y index may be fractional), and what it assumes."""

    name: str
    x: tuple[float, ...]
    y: tuple[float, ...]  # row index coordinates (i - 0.5 .. i + 0.5 spans row i)
    note: str


MF_NOTE = (
    "a vanilla cell with W_hh entries N(0, ρ²/H) (ρ read as the gain g), many units, "
    "the measured input drive s² treated as Gaussian and steady; it predicts the mean-square growth per step"
)
ZERO_NOTE = "where the seed-averaged metric changes sign along ρ, linearly interpolated"
XI_NOTE = (
    "the depth scale ξ = 1/|ln χ| (Schoenholz et al. 2017): a random network trains while its depth, here T, "
    "is below about 6ξ; it assumes the same things as the χ = 1 line, and the RNN reuses one W_hh, so it "
    "is a guide, not a bound"
)
XI_DEPTHS = 6.0


def _row_config(sweep: Sweep, grid: PhaseGrid, i: int) -> RunConfig:
    changes = {grid.y_key: grid.y_values[i]} if grid.y_key is not None else {}
    return sweep.base.replace(**changes)


def mean_field_applies(cfg: RunConfig) -> bool:
    return cfg.cell == "rnn" and cfg.init == "gaussian"


def critical_line(sweep: Sweep, grid: PhaseGrid) -> TheoryLine | None:
    """The mean field's chi = 1 in each row, when x is rho and the row's network is a vanilla cell with
    a gaussian W_hh (the theory's assumptions); None otherwise."""
    from . import measure, theory

    if grid.x_key != "rho":
        return None
    xs, ys = [], []
    for i in range(len(grid.y_values)):
        cfg = _row_config(sweep, grid, i)
        if not mean_field_applies(cfg):
            continue
        g = theory.critical_rho(cfg.act, measure.drive_variance_of(cfg), cfg.leak)
        if math.isfinite(g):
            xs += [g, g, math.nan]
            ys += [i - 0.5, i + 0.5, math.nan]
    return TheoryLine("mean field χ = 1", tuple(xs), tuple(ys), MF_NOTE) if xs else None


def measured_zero_line(grid: PhaseGrid) -> TheoryLine | None:
    """Where the seed-averaged metric changes sign along x, row by row (for the decay rate)."""
    if FIELD[grid.x_key].kind not in (int, float):
        return None
    xs, ys = [], []
    for i in range(len(grid.y_values)):
        for x0 in zero_crossings([float(v) for v in grid.x_values], grid.z[i]):
            xs += [x0, x0, math.nan]
            ys += [i - 0.5, i + 0.5, math.nan]
    return TheoryLine("measured zero", tuple(xs), tuple(ys), ZERO_NOTE) if xs else None


def xi_line(sweep: Sweep, grid: PhaseGrid) -> TheoryLine | None:
    """T = 6 xi(rho) across a rho x seq_len diagram (vanilla, gaussian); None when it does not apply."""
    from . import measure, theory

    if grid.x_key != "rho" or grid.y_key != "seq_len" or len(grid.y_values) < 2:
        return None
    cfg = sweep.base
    if not mean_field_applies(cfg):
        return None
    s2 = measure.drive_variance_of(cfg)
    lo, hi = float(grid.x_values[0]), float(grid.x_values[-1])
    rhos = np.linspace(min(lo, hi), max(lo, hi), 200)
    T = [XI_DEPTHS / abs(2 * theory.mean_field(cfg.act, float(r), s2, cfg.leak).slope_ln) for r in rhos]
    seq = [float(v) for v in grid.y_values]
    order = np.argsort(seq)
    idx = np.interp(T, np.asarray(seq)[order], np.arange(len(seq))[order], left=math.nan, right=math.nan)
    return TheoryLine(f"T = {XI_DEPTHS:g} ξ", tuple(map(float, rhos)), tuple(map(float, idx)), XI_NOTE)
