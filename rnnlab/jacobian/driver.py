"""The heatmap: log10 ||J_t ... J_{k+1}|| for every pair k <= t, one engine measuring the norms.

The driver validates the input, picks the columns (stride, max_columns), advances the stack of
products one step at a time (products.py), asks the engine for the norms of the blocks, adds the
float64 log scales, and keeps the blocks in range. Cancellation (should_stop) and progress are
checked once per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .bracket import BracketEngine
from .engine import NORMS, SPECTRAL_METHODS, Engine
from .frobenius import FrobeniusOverSqrtN
from .gram import GramEngine
from .products import Stack, normalised_steps
from .tracking import TrackingEngine

GRAM_MAX_N = 256  # method="auto" uses the gram engine up to this n (measured: faster there)
PROGRESS_EVERY = 0.01  # fraction of the work between progress() calls


@dataclass
class HeatmapResult:
    """Heatmap of log10 ||dh_t/dh_k||: ``values[t-1, k-1]`` (float64, (T, T)).

    Columns k not in ``cols`` (under a stride) are NaN, as are rows not reached when cancelled
    (``complete`` False) and everything above the diagonal.
    """

    values: np.ndarray  # (T, T) float64
    cols: np.ndarray  # (C,) int64, the 1-based k computed
    norm: str
    stride: int
    complete: bool
    rows_done: int  # rows t = 1..rows_done are filled
    dtype: str  # working precision of the products
    refined: int = 0  # spectral diagnostics: column-steps refined by block Lanczos
    exact: int = 0  # spectral: pairs solved by a full eigen-solve (gram: uncertified; tracking: flat tops)
    certified: int = 0  # spectral, gram: pairs whose Rayleigh quotient carried a proven error bound
    # how the norms were found: "gram", "tracking" (spectral) or "frobenius" (rms, that is the
    # Frobenius norm / sqrt(n)); the name is stored in exports, so it stays
    method: str = "gram"
    # spectral, default gram engine: pairs settled by each tier of bracket.TIERS (diagnostics for
    # bench/jacobian.py; not exported)
    tiers: dict[str, int] = field(default_factory=dict)


def spectral_engine(n: int, method: str = "auto") -> str:
    """The engine ("gram" or "tracking") that heatmap's spectral norm uses for state size n."""
    if method not in SPECTRAL_METHODS:
        raise ValueError(f"method must be one of {SPECTRAL_METHODS}, got {method!r}")
    if method == "auto":
        return "gram" if n <= GRAM_MAX_N else "tracking"
    return method


def engine_class(norm: str, method: str, n: int, precise: bool = False) -> type[Engine]:
    """The engine for (norm, method) at state size n; method is checked even for rms.

    gram is the bracket engine (within BOUND_LOG10) unless ``precise``: then the Kato-Temple and
    eigen-solve engine (within 2.2e-5 log10 in float32, 2.2e-13 in float64).
    """
    gram = GramEngine if precise else BracketEngine
    spectral = {"gram": gram, "tracking": TrackingEngine}[spectral_engine(n, method)]
    return spectral if norm == "spectral" else FrobeniusOverSqrtN


@torch.no_grad()
def heatmap(
    jacs: Tensor,
    norm: str = "spectral",
    stride: int = 1,
    max_columns: int | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device=None,
    *,
    dtype: torch.dtype = torch.float32,
    method: str = "auto",
    precise: bool = False,
) -> HeatmapResult:
    """All-pairs log10 ||J_t ... J_{k+1}|| for jacs (T, n, n) with jacs[t-1] = J_t.

    stride s computes columns k = 1, 1+s, 1+2s, ... (every row t); if ``max_columns`` is given and
    T > max_columns, the stride becomes max(stride, ceil(T / max_columns)), so at most max_columns columns.
    ``progress(fraction)`` is called about every 1 % of the work and with 1.0 at the end;
    ``should_stop()`` is polled every step and returning True ends the run early with
    ``complete=False`` (rows done so far are filled). ``device`` None (jacs' device), "cpu" or
    "cuda"; asking for CUDA where there is none raises ValueError. ``dtype`` is the working
    precision of the products (float32 default; docs/jacobian-engines.md has the accuracy).
    ``method`` picks how the spectral norm of each product is found: "gram" (from every product's
    Gram matrix: each value proven within 5e-4 log10 units by a bracket, bracket.py, or solved
    exactly), "tracking" (warm-started Rayleigh-Ritz) or "auto" (gram up to n = GRAM_MAX_N, where
    it is also the faster of the two). rms has one engine, the Frobenius norm / sqrt(n).
    ``precise`` (gram only; always so in float64) uses the slower Kato-Temple engine of gram.py
    instead: each value proven within 2.2e-5 log10 units (2.2e-13 in float64) or exact.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    T, n = _check_jacs(jacs)
    cls = engine_class(norm, method, n, precise or dtype == torch.float64)
    stride = _resolve_stride(T, stride, max_columns)
    dev = _resolve_device(device, jacs)
    cols = np.arange(1, T + 1, stride, dtype=np.int64)  # (C,) 1-based k
    jn, cum = normalised_steps(jacs, dtype, dev)  # (T, n, n) Jn_t^T, (T+1,) C_t
    ks = torch.as_tensor(cols, device=dev)  # (C,)
    engine = cls(jn, ks, stride)
    stack = Stack(len(cols), n, dtype, dev)
    rows = torch.full((T, len(cols)), float("nan"), dtype=torch.float64, device=dev)  # (T, C)
    work_total, work_done, reported = _work_total(cols, T), 0, 0.0
    rows_done, complete = 0, True
    for t in range(1, T + 1):
        if should_stop is not None and should_stop():
            complete = False
            break
        if stack.m < len(cols) and cols[stack.m] == t - 1:  # column k = t-1 enters as P(t-1, t-1) = I
            engine.start_column(stack.m)
            stack.append_identity()
        if stack.m:
            stack.advance(jn[t - 1])
            rows[t - 1, : stack.m] = _log_norms(stack, engine, t, cum[t] - cum[ks[: stack.m]])
        if stack.m < len(cols) and cols[stack.m] == t:
            rows[t - 1, stack.m] = 0.0  # diagonal: identity
        rows_done = t
        work_done += stack.m + 1
        if progress is not None and work_done / work_total - reported >= PROGRESS_EVERY:
            reported = work_done / work_total
            progress(min(reported, 1.0))
    if progress is not None and complete:
        progress(1.0)
    return _result(rows, cols, norm, stride, complete, rows_done, dtype, engine)


def heatmap_values(jacs: Tensor, norm: str = "spectral") -> np.ndarray:
    """Just the (T, T) float64 values of ``heatmap(jacs, norm)``."""
    return heatmap(jacs, norm=norm).values


def _log_norms(stack: Stack, engine: Engine, t: int, log_c: Tensor) -> Tensor:
    """log10 ||P(t, k)|| (m,) float64 of the advanced blocks; -inf only for a zero product.

    log_c (m,) is C_t - C_k, the log of the step scales divided out since column k entered.
    """
    est = engine.block_norms(stack, t)  # (m,) norms of the stored (scaled) blocks
    row = torch.log10(est.to(torch.float64)) + stack.log_scale[: stack.m] + log_c  # (m,)
    far = stack.out_of_range(est)
    if len(far):  # keep blocks near norm 1: exact to rounding whatever the true scale
        stack.rescale(far, est[far])
        engine.rescaled(far, est[far])
    return row


def _check_jacs(jacs: Tensor) -> tuple[int, int]:
    if not isinstance(jacs, Tensor):
        raise TypeError(f"jacs must be a torch.Tensor, got {type(jacs).__name__}")
    if jacs.dim() != 3 or jacs.shape[1] != jacs.shape[2] or jacs.shape[0] < 1:
        raise ValueError(f"jacs must be (T, n, n) with T >= 1, got {tuple(jacs.shape)}")
    if not torch.isfinite(jacs).all():
        raise ValueError("jacs contains non-finite values (inf or NaN); the heatmap is undefined")
    return jacs.shape[0], jacs.shape[1]


def _resolve_stride(T: int, stride: int, max_columns: int | None) -> int:
    """stride, raised to ceil(T / max_columns) when T > max_columns (so at most max_columns columns)."""
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride}")
    if max_columns is not None:
        if int(max_columns) != max_columns or max_columns < 1:
            raise ValueError(f"max_columns must be an integer >= 1 or None, got {max_columns}")
        if max_columns < T:
            stride = max(int(stride), math.ceil(T / max_columns))
    return int(stride)


def _resolve_device(device, jacs: Tensor) -> torch.device:
    if device is None:
        return jacs.device
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; use device='cpu' or None"
        )
    return dev


def _work_total(cols: np.ndarray, T: int) -> int:
    """Sum over steps of (active columns + 1): the denominator of progress()."""
    return int(np.sum(T - cols + 1)) + T


def _result(rows, cols, norm, stride, complete, rows_done, dtype, engine: Engine) -> HeatmapResult:
    T = rows.shape[0]
    values = np.full((T, T), np.nan)  # (T, T)
    values[:, cols - 1] = rows.cpu().numpy()
    values[np.triu_indices(T, 1)] = np.nan  # k > t is undefined
    values[rows_done:] = np.nan
    return HeatmapResult(
        values=values,
        cols=cols,
        norm=norm,
        stride=stride,
        complete=complete,
        rows_done=rows_done,
        dtype=str(dtype).replace("torch.", ""),
        refined=engine.refined,
        exact=engine.exact,
        certified=engine.certified,
        method=engine.method,
        tiers=dict(engine.tiers),
    )
