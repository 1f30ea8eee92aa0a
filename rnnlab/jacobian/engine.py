"""What a norm engine is: given the stack of renormalised products after a step, the norm of
every stored block.

The driver owns the products and their float64 log scales (products.py); an engine only measures
the blocks, which are kept near norm 1, and so never sees an overflow. Four engines:

- frobenius.FrobeniusOverSqrtN, norm "rms": ||P||_F / sqrt(n), n the state size (H for rnn and
  gru, 2H for lstm's [h; c]). Exact to rounding.
- bracket.BracketEngine, norm "spectral" (gram, the default): sigma_max from a proven bracket
  (power steps on P, Kato-Temple, a Cholesky test on G), within 5e-4 log10 units, or exact.
- gram.GramEngine, norm "spectral" (gram with precise=True, and float64): a certified Rayleigh
  quotient (proven within 2.2e-5 log10 units) or an exact eigen-solve.
- tracking.TrackingEngine, norm "spectral": warm-started block Krylov per column, for large n.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from .products import Stack

NORMS = ("spectral", "rms")
SPECTRAL_METHODS = ("auto", "gram", "tracking")


def warm_vectors(jn: Tensor, ncols: int) -> tuple[Tensor, Tensor]:
    """The power-step engines' state: (C, n) room for each column's warm left vector, and the fixed
    generic unit vector (n,) a new column (or one whose vector J_t killed) starts from."""
    n = jn.shape[-1]
    u = torch.empty(ncols, n, dtype=jn.dtype, device=jn.device)
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(n, generator=gen, dtype=torch.float64)
    return u, (start / torch.linalg.vector_norm(start)).to(dtype=jn.dtype, device=jn.device)


class Engine(ABC):
    """One heatmap's norm engine; the driver calls, for each step t = 1..T:

    ``start_column(m)`` when column m enters the stack (its product is I), then, after the stack
    has advanced by J_t, ``block_norms(stack, t)`` -> (m,) the norm of each stored block (0 only
    for an exactly zero block), then ``rescaled(idx, factor)`` if it divided some blocks to keep
    them in range (engines that cache images of the blocks rescale those too).
    """

    method: str  # how the norms were found: HeatmapResult.method, kept in exports' provenance

    def __init__(self, jn: Tensor, ks: Tensor, stride: int):
        """jn (T, n, n): the normalised steps, transposed (Jn_t^T); ks (C,): the 1-based columns k."""
        self.refined = 0  # column-steps refined (tracking)
        self.exact = 0  # pairs solved by a full eigen-solve (gram: uncertified; tracking: flat tops)
        self.certified = 0  # pairs accepted on a proven error bound (gram)
        self.tiers: dict[str, int] = {}  # pairs per certificate tier (bracket engine)

    def start_column(self, m: int) -> None:  # noqa: B027 (a hook: most engines keep no state)
        """Column m enters with P = I."""

    @abstractmethod
    def block_norms(self, stack: Stack, t: int) -> Tensor:
        """The norm of every stored block after step t: (stack.m,) in the working dtype or float64."""

    def rescaled(self, idx: Tensor, factor: Tensor) -> None:  # noqa: B027
        """The driver divided blocks idx by factor (len(idx),) > 0."""
