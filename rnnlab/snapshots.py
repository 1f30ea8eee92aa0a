"""What a run records of the network at one moment: a `Snapshot` on the fixed probe sequence.

A snapshot holds the heatmap (log10 ||ds_t/ds_k|| for every pair k <= t, the engines of
rnnlab.jacobian), the eigenvalues of the recurrent matrix, the preactivation variance the mean-field
theory needs, the Lyapunov spectrum on the same Jacobians (rnnlab.lyapunov), the weights, and its
`Provenance`: which engine computed the norms and with what guarantee. `Analysis` is the snapshot
of a network at initialisation plus what the theory reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from . import attractors, budget, jacobian, lyapunov
from .cells import RecurrentNet


@dataclass(frozen=True)
class Provenance:
    """How one heatmap's norms were computed."""

    method: str  # the engine: "gram" or "tracking" (spectral), "frobenius" (rms)
    dtype: str  # the working precision
    certified: int  # pairs accepted on a proven error bound
    exact: int  # pairs solved by a full eigen-solve (or exact by construction)


@dataclass
class Snapshot:
    heatmap: np.ndarray  # (L, L) log10 norms; NaN above the diagonal and where nothing was computed
    eigvals: np.ndarray  # (n,) complex eigenvalues of the recurrent matrix
    preact_var: float  # variance of the vanilla cell's a_t on the probe (NaN for gated cells)
    complete: bool  # every pair computed (False when a Stop or a budget cut the heatmap short)
    provenance: Provenance | None  # None: nothing was measured (weights non-finite, or no heatmap)
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # recurrent and input weights
    spectrum: lyapunov.Spectrum | None = None  # None where the Jacobians were not formed or not finite
    orbits: attractors.Orbits | None = None  # where it settles running freely; None: weights non-finite
    # (or not asked for: snapshot(orbits=False))


@dataclass
class Analysis(Snapshot):
    """A network at initialisation: its snapshot and what the theory compares it with."""

    sigma_max: float = float("nan")  # largest singular value of the recurrent matrix
    rho: float = float("nan")  # its spectral radius
    probe_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (L, I) the probe
    baseline: float = float("nan")  # the task's input-blind loss


def step_jacobians(model: RecurrentNet, probe_x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """J_t for t = 1..L on the probe (L, n, n), and the measured preactivation variance (rnn)."""
    with torch.no_grad():
        tr = model(probe_x)
    if model.cell == "rnn":
        a = tr.preact[:, 0]  # (L, H)
        J = jacobian.rnn_step_jacobians(model.W_hh.detach(), a, model.act, model.leak)
        return J, float(a.var().item())
    prev = torch.cat([torch.zeros_like(tr.states[:1, 0]), tr.states[:-1, 0]])  # (L, n): s_{t-1}
    J = jacobian.state_map_jacobians(model.step_fn(), prev.detach(), probe_x[:, 0])
    return J.detach(), float("nan")


def snapshot(
    model: RecurrentNet,
    probe_x: torch.Tensor,
    norm: str,
    heatmap: bool = True,
    orbits: bool = True,
    **heatmap_kw: Any,
) -> Snapshot:
    """The heatmap, the recurrent weights and their eigenvalues at the current weights.

    heatmap=False skips the Jacobian products (a server's budget refused them): the heatmap is NaN
    and there is no spectrum. The spectrum takes the exponents the budget allows (budget.spectrum_k).
    orbits=False skips the free run (attractors.free_run, ~600 steps) for a caller that draws no
    orbit diagram; `orbits` is then None.
    """
    L = probe_x.shape[0]
    W = model.recurrent_matrix().detach().double().numpy()
    values, complete, provenance, spec = np.full((L, L), np.nan), False, None, None
    nan_eig = np.full(W.shape[0], np.nan, dtype=np.complex128)
    if not heatmap:
        q = float("nan")
        eig = np.linalg.eigvals(W) if np.isfinite(W).all() else nan_eig
    else:
        J, q = step_jacobians(model, probe_x)
        eig = nan_eig  # the weights went non-finite (a diverged run): nothing to measure
        if torch.isfinite(J).all() and np.isfinite(W).all():
            hm = jacobian.heatmap(J, norm=norm, **heatmap_kw)
            values, complete, eig = hm.values, hm.complete, np.linalg.eigvals(W)
            provenance = Provenance(hm.method, hm.dtype, hm.certified, hm.exact)
            spec = lyapunov.spectrum(J, k=budget.spectrum_k(L, J.shape[1]))
    weights = {
        name: p.detach().numpy().copy()
        for name, p in model.named_parameters()
        if not name.startswith(("W_hy", "b_y"))
    }
    settled = attractors.free_run(model) if orbits and np.isfinite(W).all() else None
    return Snapshot(values, eig, q, complete, provenance, weights, spec, settled)


def provenance_summary(norm: str, snaps: list[Snapshot]) -> dict[str, Any]:
    """How the snapshots' heatmaps were computed, for summary.json's "heatmap": the norm, the engine
    ("gram"/"tracking" for spectral, "frobenius" for rms), the working dtype, and over all
    snapshots how many pairs carried a proven error bound (certified) and how many were solved by a
    full eigen-solve (exact). Snapshots with nothing to measure (a diverged run) are not counted."""
    hows = [s.provenance for s in snaps if s.provenance is not None]
    return {
        "norm": norm,
        "method": hows[0].method if hows else None,
        "dtype": hows[0].dtype if hows else None,
        "certified": sum(h.certified for h in hows),
        "exact": sum(h.exact for h in hows),
    }


def analysis(snap: Snapshot, model: RecurrentNet, probe_x: torch.Tensor, baseline: float) -> Analysis:
    """The snapshot of a network at initialisation, with the numbers the theory compares it with."""
    W = model.recurrent_matrix().detach().double().numpy()
    return Analysis(
        **{f.name: getattr(snap, f.name) for f in fields(Snapshot)},
        sigma_max=float(np.linalg.svd(W, compute_uv=False)[0]),
        rho=float(np.abs(snap.eigvals).max()),
        probe_x=probe_x[:, 0].numpy(),
        baseline=baseline,
    )
