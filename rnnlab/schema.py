"""The schema of an exported run, and the check of a run against it (docs/DESIGN.md, section 8).

Owns what an export may hold: the arrays' names, kinds and shapes (`array_schema`, `Dims`), the keys
of summary.json (`SUMMARY_KEYS`), the columns of metrics.csv, and how large it may be (`Limits`).
`validate` is the one check behind rnnlab.reading and the app's history. It lives apart from the
record (rnnlab.results) so that writing a run needs none of it, and apart from the reader
(rnnlab.reading) so that the reader's order of reads and the rules it applies can be read separately.
A refusal is an `ExportError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from . import cells
from .cells import GATES
from .config import RunConfig
from .results import METRIC_COLUMNS, METRICS, NPZ, SUMMARY, WEIGHT_NAMES, RunResult
from .safezip import ExportError, mib
from .tasks import TASKS
from .verdict import KINDS, STAGE

# ---- limits ----------------------------------------------------------------------------------------

MB = 2**20
MAX_UPLOAD_ENV = "RNNLAB_MAX_UPLOAD_MB"
MAX_UPLOAD_MB = 64.0


def max_upload_bytes() -> int:
    """RNNLAB_MAX_UPLOAD_MB in bytes (the default when unset or not a positive number)."""
    try:
        mb = float(os.environ.get(MAX_UPLOAD_ENV, "") or MAX_UPLOAD_MB)
    except ValueError:
        mb = MAX_UPLOAD_MB
    return int((mb if math.isfinite(mb) and mb > 0 else MAX_UPLOAD_MB) * MB)


@dataclass(frozen=True)
class Limits:
    """What an export may hold; checked on what the files declare, before anything is decompressed.

    Shapes are bounded by the export's config.json, which this server's caps bound (RunConfig
    refuses a value above a cap): L <= cap(seq_len) + 20, H <= cap(hidden), S <= snapshots + 1,
    U <= steps x TBPTT chunks. Bytes are bounded by `max_bytes` (RNNLAB_MAX_UPLOAD_MB): the zip, the
    files unpacked and the arrays decompressed, so that opening a file costs at most that much memory.
    """

    max_bytes: int = int(MAX_UPLOAD_MB * MB)
    json_bytes: int = 64 * 1024  # config.json and summary.json (a few hundred bytes each when written)
    line_bytes: int = 1024  # per metrics.csv row: 32 columns of up to 25 characters ("%.17g,")
    header_bytes: int = 4096  # metrics.csv's header line
    max_columns: int = 32  # metrics.csv: 9 + one gradient norm per parameter (<= 6) + omega_term
    max_members: int = 32  # zip entries: the four files, folders, a packer's stray files
    # the files of an export unpack to at most ~4x their packed size (arrays.npz ~1x: it is deflated inside)
    max_ratio: float = 20.0
    ratio_floor: int = 64 * 1024  # smaller members cannot cost much, whatever their ratio

    @classmethod
    def from_env(cls) -> Limits:
        return cls(max_bytes=max_upload_bytes())


# ---- the schema ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dims:
    """The sizes an export's arrays share: S snapshots, L sequence steps, H hidden units, I inputs,
    gH gate rows (gates x H for gru/lstm), U optimizer updates."""

    S: int
    L: int
    H: int
    n_in: int
    gH: int
    U: int

    def shape(self, symbols: tuple[str, ...]) -> tuple[int, ...]:
        size = {"S": self.S, "L": self.L, "H": self.H, "I": self.n_in, "gH": self.gH, "U": self.U}
        return tuple(size[s] for s in symbols)


# name -> (dimensions, kind of numbers: "i" integers, "f" real, "c" complex); README "Exported run".
ARRAY_SCHEMA: dict[str, tuple[tuple[str, ...], str]] = {
    "snapshot_steps": (("S",), "i"),
    "jacobian": (("S", "L", "L"), "f"),
    "eigvals": (("S", "H"), "c"),
    "preact_var": (("S",), "f"),
    "probe_x": (("L", "I"), "f"),
    "grad_time": (("U", "L"), "f"),
}
WEIGHT_SHAPES: dict[str, tuple[str, ...]] = {
    "W_hh": ("S", "H", "H"),
    "W_xh": ("S", "H", "I"),
    "b_h": ("S", "H"),
    "weight_hh": ("S", "gH", "H"),
    "weight_ih": ("S", "gH", "I"),
    "bias_hh": ("S", "gH"),
    "bias_ih": ("S", "gH"),
}
OPTIONAL_ARRAYS: dict[str, tuple[tuple[str, ...], str]] = {
    "lyapunov": (("S", "K"), "f"),
    "lyapunov_running": (("S", "L", "M"), "f"),
    "orbits": (("S", "P", "R"), "f"),
    "orbit_period": (("S", "P"), "i"),
}
"""Arrays added after the first exports, in groups (OPTIONAL_GROUPS) present together or not at all
(older exports lack them). K <= n exponents (n the state size: H, or 2H for lstm), M = min(3, K);
P <= MAX_ORBITS free-running orbits of R <= MAX_ORBIT_STEPS recorded steps."""
OPTIONAL_GROUPS = (("lyapunov", "lyapunov_running"), ("orbits", "orbit_period"))
MAX_ORBITS, MAX_ORBIT_STEPS = 16, 256
_KINDS = {"i": ("iu", "integers"), "f": ("f", "real numbers"), "c": ("c", "complex numbers")}


def array_schema(cell: str) -> dict[str, tuple[tuple[str, ...], str]]:
    """Every array an export of a `cell` run holds, with its dimensions and kind of numbers."""
    return {**ARRAY_SCHEMA, **{n: (WEIGHT_SHAPES[n], "f") for n in WEIGHT_NAMES[cell]}}


def max_updates(cfg: RunConfig) -> int:
    """The most optimizer updates a run of `cfg` makes: one per TBPTT chunk per step."""
    L, w = cfg.seq_total, cfg.tbptt
    return cfg.steps * (math.ceil(L / w) if 0 < w < L else 1)


class Shaped(Protocol):
    """An array, or an .npy header read before the array (safezip.ArrayHeader)."""

    @property
    def shape(self) -> tuple[int, ...]: ...  # read-only, as ndarray and the frozen header offer it

    @property
    def dtype(self) -> np.dtype: ...


def check_arrays(cfg: RunConfig, arrays: Mapping[str, Shaped]) -> Dims:
    """Names, kinds and shapes of the arrays (or their headers) against the schema; their Dims."""
    schema = array_schema(cfg.cell)
    for name in schema:
        if name not in arrays:
            raise ExportError(
                NPZ, name, f"{name} is missing; an export of a {cfg.cell} run holds {', '.join(schema)}"
            )
    for name in arrays:
        if name not in schema and name not in OPTIONAL_ARRAYS:
            raise ExportError(
                NPZ,
                name,
                f"{show(name)} is not part of an export of a {cfg.cell} run (it holds {', '.join(schema)})",
            )
    for name, (symbols, kind) in schema.items():
        _check_kind(name, arrays[name], kind)
        if len(arrays[name].shape) != len(symbols):
            raise ExportError(
                NPZ, name, f"{name} has shape {_tuple(arrays[name].shape)}; expected {_symbols(symbols)}"
            )
    dims = Dims(
        _snapshots(cfg, arrays),
        cfg.seq_total,
        cfg.hidden,
        TASKS[cfg.task].n_in,
        GATES[cfg.cell] * cfg.hidden,
        _updates(cfg, arrays),
    )
    for name, (symbols, _) in schema.items():
        got, want = _tuple(arrays[name].shape), dims.shape(symbols)
        if got != want:
            raise ExportError(NPZ, name, f"{name} has shape {got}; expected {_symbols(symbols)} = {want}")
    _check_optional(cfg, arrays, dims)
    return dims


def _check_optional(cfg: RunConfig, arrays: Mapping[str, Shaped], dims: Dims) -> None:
    """Each optional group: all or none, with the kinds and shapes OPTIONAL_ARRAYS documents."""
    for group in OPTIONAL_GROUPS:
        have = [name for name in group if name in arrays]
        if not have:
            continue
        if len(have) < len(group):
            missing = next(name for name in group if name not in arrays)
            raise ExportError(NPZ, missing, f"{missing} is missing; it comes with {', '.join(have)}")
        for name in group:
            symbols, kind = OPTIONAL_ARRAYS[name]
            _check_kind(name, arrays[name], kind)
            if len(arrays[name].shape) != len(symbols):
                raise ExportError(
                    NPZ, name, f"{name} has shape {_tuple(arrays[name].shape)}; expected {_symbols(symbols)}"
                )
        for name, want, rule in _optional_shapes(group[0], cfg, arrays, dims):
            got = _tuple(arrays[name].shape)
            if got != want:
                expected = f"{_symbols(OPTIONAL_ARRAYS[name][0])} = {want} ({rule})"
                raise ExportError(NPZ, name, f"{name} has shape {got}; expected {expected}")


def _optional_shapes(first: str, cfg: RunConfig, arrays: Mapping[str, Shaped], dims: Dims):
    """(name, expected shape, the rule in words) for the optional group that starts with `first`."""
    if first == "lyapunov":
        n = cells.state_size(cfg.cell, cfg.hidden)
        K = _tuple(arrays["lyapunov"].shape)[1]
        rule = f"K <= n = {n}, M = min(3, K)"
        return [
            ("lyapunov", (dims.S, min(K, n)), rule),
            ("lyapunov_running", (dims.S, dims.L, min(3, K)), rule),
        ]
    _, P, R = _tuple(arrays["orbits"].shape)
    rule = f"P <= {MAX_ORBITS}, R <= {MAX_ORBIT_STEPS}"
    P, R = min(P, MAX_ORBITS), min(R, MAX_ORBIT_STEPS)
    return [("orbits", (dims.S, P, R), rule), ("orbit_period", (dims.S, P), rule)]


def _check_kind(name: str, a: Shaped, kind: str) -> None:
    codes, text = _KINDS[kind]
    if a.dtype.kind not in codes or a.dtype.itemsize > 16:
        raise ExportError(NPZ, name, f"{name} has dtype {a.dtype}; expected {text}")


def _snapshots(cfg: RunConfig, arrays: Mapping[str, Shaped]) -> int:
    S, most = arrays["snapshot_steps"].shape[0], cfg.snapshots + 1  # a stop or divergence adds one
    if not 1 <= S <= most:
        raise ExportError(
            NPZ,
            "snapshot_steps",
            f"snapshot_steps has shape ({S},); expected (S,) with 1 <= S <= {most} (config's snapshots + 1)",
        )
    return S


def _updates(cfg: RunConfig, arrays: Mapping[str, Shaped]) -> int:
    U, most = arrays["grad_time"].shape[0], max_updates(cfg)
    if most < U:
        raise ExportError(
            NPZ,
            "grad_time",
            f"grad_time has {U} rows; a run of this config makes at most "
            f"U = {most} updates (steps x TBPTT chunks)",
        )
    return U


def check_snapshot_steps(steps: np.ndarray, cfg: RunConfig) -> None:
    """Snapshot steps are whole steps from 0 to the config's steps, in order."""
    s = steps.astype(np.int64)  # unsigned values would wrap in np.diff
    if s.size and (s.min() < 0 or s.max() > cfg.steps or np.any(np.diff(s) < 0)):
        raise ExportError(
            NPZ,
            "snapshot_steps",
            f"snapshot_steps holds {show(steps.tolist())}; expected "
            f"steps from 0 to {cfg.steps} in increasing order",
        )


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _texts(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _heatmap(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("norm"), str)
        and all(v.get(k) is None or isinstance(v[k], str) for k in ("method", "dtype"))
        and all(_whole(v.get(k)) for k in ("certified", "exact"))
    )


def _verdict(v: Any) -> bool:
    return isinstance(v, dict) and v.get("kind") in KINDS and isinstance(v.get("headline"), str)


@dataclass(frozen=True)
class SummaryKey:
    """One key of summary.json: what it may hold, in words and as a test."""

    name: str
    allowed: str
    ok: Callable[[Any], bool]
    required: bool = True  # exports written before `heatmap` and `verdict` existed lack them


SUMMARY_KEYS = (
    SummaryKey("final_loss", "a number or null", lambda v: v is None or _number(v)),
    SummaryKey(
        "baseline_loss",
        "a positive number or null",
        lambda v: v is None or (_number(v) and math.isfinite(v) and v > 0),
    ),
    SummaryKey("diverged_at", "a step (an integer >= 0) or null", lambda v: v is None or _whole(v)),
    SummaryKey("nonfinite", f"one of {', '.join(STAGE)}, or null", lambda v: v is None or v in STAGE),
    SummaryKey("stopped_early", "true or false", lambda v: isinstance(v, bool)),
    SummaryKey("steps_done", "an integer >= 0", _whole),
    SummaryKey("updates", "an integer >= 0", _whole),
    SummaryKey("wall_time_s", "a number >= 0 or null", lambda v: v is None or (_number(v) and v >= 0)),
    SummaryKey("versions", "an object of name: version text", _texts),
    SummaryKey("heatmap", "an object with norm, method, dtype, certified and exact", _heatmap, False),
    SummaryKey("verdict", f"an object with a kind ({', '.join(KINDS)}) and a headline", _verdict, False),
)


def check_summary(summary: Any, cfg: RunConfig, dims: Dims) -> None:
    """summary.json: an object with the documented keys and types, consistent with the run."""
    if not isinstance(summary, dict):
        raise ExportError(SUMMARY, "", f"holds {json_kind(summary)}; expected an object of key: value")
    for key in SUMMARY_KEYS:
        if key.name not in summary:
            if key.required:
                raise ExportError(SUMMARY, key.name, f"{key.name} is missing; expected {key.allowed}")
        elif not key.ok(summary[key.name]):
            raise ExportError(
                SUMMARY, key.name, f"{key.name} is {show(summary[key.name])}; expected {key.allowed}"
            )
    for name in ("steps_done", "diverged_at"):
        if (summary[name] or 0) > cfg.steps:
            raise ExportError(
                SUMMARY, name, f"{name} is {summary[name]}; the config trains {cfg.steps} steps"
            )
    if summary["updates"] != dims.U:
        raise ExportError(
            SUMMARY, "updates", f"updates is {summary['updates']}; grad_time holds U = {dims.U} updates"
        )


def check_metrics(metrics: pd.DataFrame, cfg: RunConfig, dims: Dims, limits: Limits) -> None:
    """metrics.csv: the documented columns, numbers only, one row per update."""
    columns = [str(c) for c in metrics.columns]
    if len(columns) > limits.max_columns:
        raise ExportError(METRICS, "", f"has {len(columns)} columns; at most {limits.max_columns} allowed")
    for c in METRIC_COLUMNS:
        if c not in columns:
            raise ExportError(
                METRICS,
                c,
                f"column {c} is missing; expected the columns "
                f"{', '.join(METRIC_COLUMNS)} and grad_<parameter> norms",
            )
    if len(metrics) != dims.U:
        raise ExportError(
            METRICS,
            "rows",
            f"holds {len(metrics)} rows; expected one per update, U = {dims.U} (grad_time's first dimension)",
        )
    if not len(metrics):
        return
    for c in metrics.columns:
        _check_numbers(metrics[c])
    for c, hi in (("step", cfg.steps - 1), ("update", dims.U - 1), ("clipped", 1)):
        v = metrics[c].to_numpy(float)
        if not (np.isfinite(v).all() and (v == np.round(v)).all() and v.min() >= 0 and v.max() <= hi):
            raise ExportError(
                METRICS,
                c,
                f"column {c} holds {show(metrics[c].head(8).tolist())}; "
                f"expected whole numbers from 0 to {hi}",
            )


def _check_numbers(column: pd.Series) -> None:
    if pd.api.types.is_numeric_dtype(column):
        return
    bad = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
    at, value = (bad.index[0], bad.iloc[0]) if len(bad) else (column.index[0], column.iloc[0])
    raise ExportError(
        METRICS,
        str(column.name),
        f"column {show(column.name)} holds {show(value)} "
        f"(row {at + 1 if isinstance(at, int) else at}); expected numbers",
    )


def validate(result: RunResult, limits: Limits | None = None) -> Dims:
    """Check a run against the export schema (README, "Exported run"); with `limits`, its size too.

    The one check behind load_run, load_zip, from_files and the app's history. Raises ExportError
    naming the file and the field; returns the run's Dims.
    """
    dims = check_arrays(result.config, result.arrays)
    check_snapshot_steps(result.arrays["snapshot_steps"], result.config)
    check_summary(result.summary, result.config, dims)
    check_metrics(result.metrics, result.config, dims, limits or Limits())
    if limits is not None and result.nbytes > limits.max_bytes:
        raise ExportError(
            "export",
            "size",
            f"takes {mib(result.nbytes)} in memory; at most {mib(limits.max_bytes)} allowed here",
        )
    return dims


# ---- message helpers (also rnnlab.reading's) ----------------------------------------------------


def _tuple(shape: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in shape)


def _symbols(symbols: tuple[str, ...]) -> str:
    return "(" + ", ".join(symbols) + ("," if len(symbols) == 1 else "") + ")"


def json_kind(v: Any) -> str:
    kinds = {list: "a list", str: "text", bool: "true or false", type(None): "null", dict: "an object"}
    return kinds.get(type(v), "a number")


def show(v: Any) -> str:
    """A value for a message, cut short (a hostile file controls it)."""
    try:
        text = json.dumps(v, default=str, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
