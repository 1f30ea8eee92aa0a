"""RunResult: what a run recorded, and its export format (DESIGN.md, "Exported run").

A run directory holds config.json, summary.json, metrics.csv and arrays.npz. `load_run(dir)` gives
back a RunResult equal to the saved one.

Reading trusts nothing in the files, since the app opens exports uploaded by anyone: `validate`
checks a run against the schema, and `load_run` / `load_zip` / `from_files` check sizes and .npy
headers before anything large is decompressed (`Limits`, rnnlab.safezip). A refusal is an
`ExportError` naming the file and the field.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from . import safezip
from .cells import GATES
from .config import ConfigError, RunConfig
from .safezip import ExportError, mib
from .tasks import TASKS
from .verdict import KINDS, STAGE, Verdict, judge

if TYPE_CHECKING:
    from .snapshots import Snapshot

METRIC_COLUMNS = [
    "step",
    "update",
    "loss",
    "seq_loss",
    "grad_norm",
    "grad_norm_clipped",
    "clipped",
    "rho_whh",
    "sigma_max_whh",
]
# Arrays stored per snapshot besides the heatmap: the vanilla cell's names, or torch.nn's names for
# gated cells (weight_hh (S, gH, H) with gates stacked as in torch.nn.GRUCell / LSTMCell).
WEIGHT_NAMES = {
    "rnn": ("W_hh", "W_xh", "b_h"),
    "gru": ("weight_hh", "weight_ih", "bias_hh", "bias_ih"),
    "lstm": ("weight_hh", "weight_ih", "bias_hh", "bias_ih"),
}


def versions() -> dict[str, str]:
    import torch

    from . import __version__

    return {
        "rnnlab": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


@dataclass
class RunResult:
    config: RunConfig
    metrics: pd.DataFrame  # one row per optimizer update
    arrays: dict[str, np.ndarray]  # snapshot_steps, jacobian, weights, eigvals, probe_x, grad_time
    summary: dict[str, Any] = field(default_factory=dict)

    # ---- construction from the training loop ---------------------------------------------------
    @classmethod
    def build(
        cls,
        cfg: RunConfig,
        rows: list[dict],
        grad_time: list[np.ndarray],
        snaps: list[tuple[int, Snapshot]],
        probe_x: np.ndarray,
        summary: dict,
        cell: str,
    ) -> RunResult:
        metrics = pd.DataFrame(rows)
        for c in METRIC_COLUMNS:
            if c not in metrics:
                metrics[c] = np.nan
        extra = [c for c in metrics.columns if c not in METRIC_COLUMNS]
        metrics = metrics[METRIC_COLUMNS + sorted(extra)]
        for c in ("step", "update", "clipped"):
            metrics[c] = metrics[c].astype("int64")
        L = probe_x.shape[0]
        arrays = {
            "snapshot_steps": np.array([s for s, _ in snaps], dtype=np.int64),
            "jacobian": np.stack([d.heatmap for _, d in snaps]) if snaps else np.zeros((0, L, L)),
            "eigvals": np.stack([d.eigvals for _, d in snaps]).astype(np.complex128),
            "preact_var": np.array([d.preact_var for _, d in snaps], dtype=np.float64),
            "probe_x": probe_x.astype(np.float32),
            "grad_time": np.stack(grad_time) if grad_time else np.zeros((0, L)),
        }
        for name in WEIGHT_NAMES[cell]:
            arrays[name] = np.stack([d.weights[name] for _, d in snaps])
        return cls(cfg, metrics, arrays, summary)

    # ---- convenience views ---------------------------------------------------------------------
    @property
    def diverged(self) -> bool:
        return self.summary.get("diverged_at") is not None

    @property
    def verdict(self) -> Verdict:
        """Whether the run learned, did not, or diverged (and where), from its summary."""
        return judge(self.summary)

    @property
    def snapshot_steps(self) -> np.ndarray:
        return self.arrays["snapshot_steps"]

    def heatmap(self, i: int = -1) -> np.ndarray:
        return self.arrays["jacobian"][i]

    @property
    def nbytes(self) -> int:
        """Memory its arrays and metrics take (what a session keeps per opened run)."""
        arrays = sum(a.nbytes for a in self.arrays.values())
        return arrays + int(self.metrics.memory_usage(index=True, deep=True).sum())

    # ---- export --------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, data in self.files().items():
            (d / name).write_bytes(data)
        return d

    def to_zip(self) -> bytes:
        """The whole export as one zip (the app's download)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in self.files().items():
                z.writestr(name, data)
        return buf.getvalue()

    def files(self) -> dict[str, bytes]:
        """The export as bytes per file name (for downloads)."""
        npz = io.BytesIO()
        np.savez_compressed(npz, **self.arrays)
        return {
            "config.json": (self.config.to_json() + "\n").encode(),
            "summary.json": (json.dumps(_jsonable(self.summary), indent=2) + "\n").encode(),
            "metrics.csv": self.metrics.to_csv(index=False, float_format="%.17g").encode(),
            "arrays.npz": npz.getvalue(),
        }

    def equals(self, other: RunResult) -> bool:
        """Exact equality of config, metrics, arrays and summary (NaN equal to NaN)."""
        if self.config != other.config or set(self.arrays) != set(other.arrays):
            return False
        if list(self.metrics.columns) != list(other.metrics.columns):
            return False
        if not np.array_equal(self.metrics.to_numpy(float), other.metrics.to_numpy(float), equal_nan=True):
            return False
        for k, a in self.arrays.items():
            b = other.arrays[k]
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                return False
        return _jsonable(self.summary) == _jsonable(other.summary)


RUN_FILES = ("config.json", "summary.json", "metrics.csv", "arrays.npz")
CONFIG, SUMMARY, METRICS, NPZ = RUN_FILES


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

    shape: tuple[int, ...]
    dtype: np.dtype


def check_arrays(cfg: RunConfig, arrays: Mapping[str, Shaped]) -> Dims:
    """Names, kinds and shapes of the arrays (or their headers) against the schema; their Dims."""
    schema = array_schema(cfg.cell)
    for name in schema:
        if name not in arrays:
            raise ExportError(
                NPZ, name, f"{name} is missing; an export of a {cfg.cell} run holds {', '.join(schema)}"
            )
    for name in arrays:
        if name not in schema:
            raise ExportError(
                NPZ,
                name,
                f"{_show(name)} is not part of an export of a {cfg.cell} run (it holds {', '.join(schema)})",
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
    return dims


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
    if U > most:
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
            f"snapshot_steps holds {_show(steps.tolist())}; expected "
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
        raise ExportError(SUMMARY, "", f"holds {_json_kind(summary)}; expected an object of key: value")
    for key in SUMMARY_KEYS:
        if key.name not in summary:
            if key.required:
                raise ExportError(SUMMARY, key.name, f"{key.name} is missing; expected {key.allowed}")
        elif not key.ok(summary[key.name]):
            raise ExportError(
                SUMMARY, key.name, f"{key.name} is {_show(summary[key.name])}; expected {key.allowed}"
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
                f"column {c} holds {_show(metrics[c].head(8).tolist())}; "
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
        f"column {_show(column.name)} holds {_show(value)} "
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


# ---- reading ---------------------------------------------------------------------------------------


def load_run(directory: str | Path, limits: Limits | None = None) -> RunResult:
    """Read a run directory written by RunResult.save (or the CLI's --out); see load_zip."""
    d = Path(directory)
    missing = [f for f in RUN_FILES if not (d / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{d}: not a run directory (missing {', '.join(missing)})")
    return _load(_DirSource(d), limits or Limits.from_env())


def load_zip(data: bytes, limits: Limits | None = None) -> RunResult:
    """A run from the app's zip download (or any zip of a run directory's four files).

    Nothing in the zip is trusted: sizes are checked before anything is decompressed and the whole
    export is checked against its schema (`validate`); a refusal is an ExportError naming the file
    and the field. `limits` default to Limits.from_env() (RNNLAB_MAX_UPLOAD_MB).
    """
    limits = limits or Limits.from_env()
    if len(data) > limits.max_bytes:
        raise ExportError("zip", "size", f"is {mib(len(data))}; at most {mib(limits.max_bytes)} allowed here")
    with safezip.open_zip(data, "zip", limits.max_members) as z:
        return _load(_ZipSource(z, limits), limits)


def from_files(files: Mapping[str, bytes], limits: Limits | None = None) -> RunResult:
    """A RunResult from the four exported files' bytes (inverse of RunResult.files)."""
    missing = [f for f in RUN_FILES if f not in files]
    if missing:
        raise ExportError("export", "", f"not a run export (missing {', '.join(missing)})")
    return _load(_BytesSource(files), limits or Limits.from_env())


class _Source(Protocol):
    def size(self, name: str) -> int: ...  # what the file declares (a zip entry's file_size)

    def read(self, name: str, limit: int) -> bytes | bytearray: ...  # refuses more than `limit`


def _load(src: _Source, limits: Limits) -> RunResult:
    """Small files and headers first, each checked before the next read; the arrays' data last."""
    _check_sizes(src, limits)
    cfg = _parse_config(src.read(CONFIG, limits.json_bytes))
    with safezip.open_zip(src.read(NPZ, limits.max_bytes), NPZ, limits.max_members) as z:
        members = _npz_members(z)
        headers = {n: safezip.npy_header(z, info, NPZ, n) for n, info in members.items()}
        dims = check_arrays(cfg, headers)
        total = sum(h.nbytes for h in headers.values()) + sum(src.size(f) for f in (CONFIG, SUMMARY, METRICS))
        if total > limits.max_bytes:
            raise ExportError(
                NPZ,
                "size",
                f"its arrays take {mib(total)} with the other files; at most "
                f"{mib(limits.max_bytes)} allowed here",
            )
        summary = _parse_json(SUMMARY, src.read(SUMMARY, limits.json_bytes))
        check_summary(summary, cfg, dims)
        metrics = _parse_metrics(src, dims, limits)
        check_metrics(metrics, cfg, dims, limits)
        steps = safezip.read_array(z, members["snapshot_steps"], headers["snapshot_steps"], NPZ)
        check_snapshot_steps(steps, cfg)  # the only values checked: read before the large arrays
        arrays = {
            n: steps if n == "snapshot_steps" else safezip.read_array(z, members[n], h, NPZ)
            for n, h in headers.items()
        }
    result = RunResult(cfg, metrics, arrays, summary)
    validate(result, limits)
    return result


def _check_sizes(src: _Source, limits: Limits) -> None:
    """Every file's declared size, and their sum, before anything is read."""
    for name in RUN_FILES:
        most = limits.json_bytes if name in (CONFIG, SUMMARY) else limits.max_bytes
        if src.size(name) > most:
            raise ExportError(
                name, "size", f"unpacks to {mib(src.size(name))}; at most {mib(most)} allowed here"
            )
    total = sum(src.size(f) for f in RUN_FILES)
    if total > limits.max_bytes:
        raise ExportError(
            "export",
            "size",
            f"its files unpack to {mib(total)}; at most {mib(limits.max_bytes)} allowed here",
        )


def _parse_json(file: str, raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:  # also UnicodeDecodeError and oversized integers
        raise ExportError(file, "", f"is not valid JSON ({_short(e)})") from None


def _parse_config(raw: bytes | bytearray) -> RunConfig:
    values = _parse_json(CONFIG, raw)
    if not isinstance(values, dict):
        raise ExportError(CONFIG, "", f"holds {_json_kind(values)}; expected an object of key: value")
    try:
        return RunConfig.from_dict(values)
    except ConfigError as e:
        raise ExportError(CONFIG, e.key, str(e)) from None


def _parse_metrics(src: _Source, dims: Dims, limits: Limits) -> pd.DataFrame:
    """Bytes bounded by the row count U (known from grad_time's header), rows counted before pandas."""
    most = min(limits.max_bytes, limits.header_bytes + dims.U * limits.line_bytes)
    if src.size(METRICS) > most:
        raise ExportError(
            METRICS,
            "size",
            f"holds {mib(src.size(METRICS))}; a table of U = {dims.U} updates holds at most {mib(most)}",
        )
    raw = src.read(METRICS, most)
    lines = raw.count(b"\n")
    if lines > dims.U + 1:
        raise ExportError(
            METRICS,
            "rows",
            f"holds {lines - 1} rows; expected one per update, U = {dims.U} (grad_time's first dimension)",
        )
    try:
        return pd.read_csv(io.BytesIO(raw), nrows=dims.U + 1)
    except (ValueError, OverflowError, pd.errors.ParserError) as e:  # EmptyData and Unicode errors too
        raise ExportError(METRICS, "", f"is not a readable CSV table ({_short(e)})") from None


def _npz_members(z: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in z.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in members:
            what = "is not an .npy array" if name == info.filename else "appears twice"
            raise ExportError(NPZ, name, f"{_show(info.filename)} {what}; an .npz holds one .npy per array")
        members[name] = info
    return members


class _ZipSource:
    """The four files of a zip, found by name at any depth (a zipped run folder works too)."""

    def __init__(self, z: zipfile.ZipFile, limits: Limits):
        self.z, self.limits = z, limits
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in z.infolist():
            name = PurePosixPath(info.filename).name
            if name not in RUN_FILES or info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue
            if name in self.infos:
                raise ExportError("zip", name, f"holds two files named {name}")
            self.infos[name] = info
        missing = [f for f in RUN_FILES if f not in self.infos]
        if missing:
            raise ExportError("zip", missing[0], f"not a run export (missing {', '.join(missing)})")
        for name, info in self.infos.items():
            safezip.check_packed(info, name, limits.max_bytes, limits.max_ratio, limits.ratio_floor)

    def size(self, name: str) -> int:
        return self.infos[name].file_size

    def read(self, name: str, limit: int) -> bytearray:
        info = self.infos[name]
        safezip.check_packed(info, name, limit, self.limits.max_ratio, self.limits.ratio_floor)
        return safezip.read_member(self.z, info, name)


class _DirSource:
    def __init__(self, directory: Path):
        self.d = directory

    def size(self, name: str) -> int:
        return (self.d / name).stat().st_size

    def read(self, name: str, limit: int) -> bytes:
        with open(self.d / name, "rb") as f:
            data = f.read(limit + 1)  # the file may have grown since size()
        if len(data) > limit:
            raise ExportError(name, "size", f"holds more than {mib(limit)}; at most that is allowed here")
        return data


class _BytesSource:
    def __init__(self, files: Mapping[str, bytes]):
        self.files = files

    def size(self, name: str) -> int:
        return len(self.files[name])

    def read(self, name: str, limit: int) -> bytes:
        if len(self.files[name]) > limit:
            raise ExportError(
                name, "size", f"holds {mib(len(self.files[name]))}; at most {mib(limit)} allowed here"
            )
        return self.files[name]


def _tuple(shape: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in shape)


def _symbols(symbols: tuple[str, ...]) -> str:
    return "(" + ", ".join(symbols) + ("," if len(symbols) == 1 else "") + ")"


def _json_kind(v: Any) -> str:
    kinds = {list: "a list", str: "text", bool: "true or false", type(None): "null", dict: "an object"}
    return kinds.get(type(v), "a number")


def _show(v: Any) -> str:
    """A value for a message, cut short (a hostile file controls it)."""
    try:
        text = json.dumps(v, default=str, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _short(e: BaseException) -> str:
    text = str(e).strip().replace("\n", " ") or "unreadable"
    return text if len(text) <= 120 else text[:117] + "..."


def _jsonable(x: Any) -> Any:
    """JSON-safe copy: NaN/inf floats become null, numpy scalars plain Python."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if np.isfinite(f) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
