"""RunResult: what a run recorded, and writing its export (docs/DESIGN.md, section 8).

A run directory holds config.json, summary.json, metrics.csv and arrays.npz (`RUN_FILES`);
`RunResult.save`, `to_zip` and `files` write them. This module owns the record and the writing
only, so that training depends on nothing that reads untrusted files: the schema and its check live
in rnnlab.schema, reading an export back (`load_run`, `load_zip`, `from_files`) in rnnlab.reading,
which gives back a RunResult equal to the saved one.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .config import RunConfig
from .verdict import Verdict, judge

if TYPE_CHECKING:
    from .snapshots import Snapshot

# The export's four files; rnnlab.schema and rnnlab.reading name a refused file by these.
RUN_FILES = ("config.json", "summary.json", "metrics.csv", "arrays.npz")
CONFIG, SUMMARY, METRICS, NPZ = RUN_FILES

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


def spectrum_arrays(snaps: list[Snapshot], L: int) -> dict[str, np.ndarray]:
    """`lyapunov` (S, K): each snapshot's exponents, descending, ln per step; `lyapunov_running`
    (S, L, M): the running estimate of the top M = min(3, K) after each step, NaN in the warm-up.
    A snapshot without a spectrum (diverged, or refused by a budget) is a row of NaN."""
    specs = [d.spectrum for d in snaps]
    K = max((s.k for s in specs if s is not None), default=0)
    M = min(3, K)
    lam, run = np.full((len(snaps), K), np.nan), np.full((len(snaps), L, M), np.nan)
    for i, s in enumerate(specs):
        if s is not None and s.k == K:
            lam[i] = s.exponents
            run[i, s.warmup :] = s.running[:, :M]
    return {"lyapunov": lam, "lyapunov_running": run}


def orbit_arrays(snaps: list[Snapshot]) -> dict[str, np.ndarray]:
    """`orbits` (S, P, R): each snapshot's free-running orbits through the mean activity
    (rnnlab.attractors); `orbit_period` (S, P): 1 fixed point, p a cycle, 0 chaos, -1 aperiodic.
    A snapshot without orbits (non-finite weights) is NaN and -1."""
    got = [d.orbits for d in snaps]
    shape = next((o.points.shape for o in got if o is not None), (0, 0))
    points = np.full((len(snaps), *shape), np.nan)
    period = np.full((len(snaps), shape[0]), -1, dtype=np.int64)
    for i, o in enumerate(got):
        if o is not None:
            points[i], period[i] = o.points, o.period
    return {"orbits": points, "orbit_period": period}


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
        arrays.update(spectrum_arrays([d for _, d in snaps], L))
        arrays.update(orbit_arrays([d for _, d in snaps]))
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

    def exponents(self, i: int = -1) -> np.ndarray:
        """Snapshot i's Lyapunov exponents (K,), descending; empty for an export that predates them."""
        lam = self.arrays.get("lyapunov")
        return np.zeros(0) if lam is None else lam[i]

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
        np.savez_compressed(npz, allow_pickle=False, **self.arrays)  # numbers only: never pickles
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
