"""Exact all-pairs Jacobian norms: the heatmap of log10 ||dh_t/dh_k||.

Definitions (docs/DESIGN.md, section 6.3-6.4): J_t = dh_t/dh_{t-1}; for 1 <= k <= t <= T the heatmap holds
``hm[t-1, k-1] = log10 ||J_t J_{t-1} ... J_{k+1}||`` (identity on the diagonal, so 0.0 there),
NaN above the diagonal and -inf only where the product is exactly zero. Norms: ``spectral``
(largest singular value) and ``rms`` (Frobenius norm / sqrt(n), n the state size: H, or 2H for
lstm's [h; c]).

    steps.py      one-step Jacobians J_t (closed form, autograd) and the gradient profile
    products.py   all products advanced by one GEMM per step, scales kept in float64 logs
    engine.py     the Engine interface: the norm of every stored product after a step
    frobenius.py  rms engine; bracket.py (gram, default), gram.py (gram, precise), tracking.py:
                  the spectral engines
    driver.py     heatmap(): columns, the step loop, cancellation, the engine chosen by (norm, method)
    reference.py  the slow float64 oracle of the tests

How the engines compare, and what was measured: docs/jacobian-engines.md.
"""

from .driver import GRAM_MAX_N, HeatmapResult, heatmap, heatmap_values, spectral_engine
from .engine import NORMS, SPECTRAL_METHODS, Engine
from .gram import certified_bound_log10
from .reference import reference_heatmap
from .steps import grad_profile, rnn_step_jacobians, state_map_jacobians

__all__ = [
    "GRAM_MAX_N",
    "NORMS",
    "SPECTRAL_METHODS",
    "Engine",
    "HeatmapResult",
    "certified_bound_log10",
    "grad_profile",
    "heatmap",
    "heatmap_values",
    "reference_heatmap",
    "rnn_step_jacobians",
    "spectral_engine",
    "state_map_jacobians",
]
