"""The "rms" norm: ||P||_F / sqrt(n), the Frobenius norm divided by sqrt(n), n the state size.

n is the size of the state the Jacobians act on: H for rnn and gru, 2H for lstm ([h; c]). For
an orthogonal P it is 1, like the spectral norm; in general sigma_max / sqrt(n) <= rms <= sigma_max.
Exact to rounding; measured within 1e-4 log10 units of the float64 reference in float32.
"""

from __future__ import annotations

import math

from torch import Tensor, linalg

from .engine import Engine
from .products import Stack


class FrobeniusOverSqrtN(Engine):
    """||P||_F / sqrt(n) of every block: the rms gain over the n state coordinates."""

    # the name exports have always stored for this engine (summary.json provenance): kept as is
    method = "frobenius"

    def block_norms(self, stack: Stack, t: int) -> Tensor:
        """(m,) ||block||_F / sqrt(n); exactly 0 only for a zero block."""
        est = linalg.matrix_norm(stack.blocks) / math.sqrt(stack.n)  # (m,)
        zero = (est == 0).nonzero().flatten()
        if len(zero):  # the sum of squares may underflow: rescale by max-abs and recompute
            amax = stack.blocks[zero].abs().amax(dim=(1, 2))  # (z,)
            live = zero[amax > 0]
            if len(live):
                stack.rescale(live, amax[amax > 0])
                est[live] = linalg.matrix_norm(stack.blocks[live]) / math.sqrt(stack.n)
        return est
