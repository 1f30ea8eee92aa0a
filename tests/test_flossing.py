"""Gradient flossing (Engelken 2023): the penalty's gradient against autograd through a QR written
here, and training with it moves lambda_1 toward zero."""

import math

import numpy as np
import pytest
import torch

from rnnlab import RunConfig, jacobian, lyapunov, run
from rnnlab.config import ConfigError
from rnnlab.lyapunov import FLOSS_K, start_frame, warmup_steps


def gram_schmidt_penalty(jacs: torch.Tensor, k: int) -> torch.Tensor:
    """sum of the top k exponents squared, by classical Gram-Schmidt in plain torch ops (autograd's
    own backward through every projection, no torch.linalg.qr)."""
    T, n = jacs.shape[0], jacs.shape[1]
    w = warmup_steps(T, None)
    Q = start_frame(n, k).to(jacs.dtype)
    total = [jacs.new_zeros(()) for _ in range(k)]
    for t in range(T):
        Z = jacs[t] @ Q
        cols = []
        for j in range(k):
            v = Z[:, j]
            for q in cols:
                v = v - (q @ Z[:, j]) * q
            r = torch.linalg.vector_norm(v)
            cols.append(v / r)
            if t >= w:
                total[j] = total[j] + torch.log(r)
        Q = torch.stack(cols, 1)
    return sum((s / (T - w)) ** 2 for s in total)


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_penalty_gradient_matches_autograd_through_an_explicit_qr(act):
    gen = torch.Generator().manual_seed(0)
    H, T = 10, 30
    a = torch.randn(T, H, generator=gen, dtype=torch.float64) + (0.5 if act == "relu" else 0.0)

    def grad(penalty):
        W = (
            1.3
            * torch.randn(H, H, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
            / math.sqrt(H)
        )
        W.requires_grad_(True)
        p = penalty(jacobian.rnn_step_jacobians(W, a, act, 0.2))
        return p.detach(), torch.autograd.grad(p, W)[0]

    p1, g1 = grad(lambda J: lyapunov.floss_penalty(J))
    p2, g2 = grad(lambda J: gram_schmidt_penalty(J, FLOSS_K))
    assert p1.item() == pytest.approx(p2.item(), rel=1e-10)
    torch.testing.assert_close(g1, g2, rtol=1e-8, atol=1e-10)


@pytest.mark.slow
def test_flossing_moves_lambda_1_toward_zero():
    base = RunConfig(rho=0.5, hidden=8, seq_len=20, steps=30, snapshots=2, lr=0.05)
    plain, flossed = run(base), run(base.replace(floss=1.0))
    lam0 = plain.arrays["lyapunov"][0, 0]
    assert lam0 == flossed.arrays["lyapunov"][0, 0] < -0.3  # same start, clearly contracting
    end_plain, end_floss = plain.arrays["lyapunov"][-1, 0], flossed.arrays["lyapunov"][-1, 0]
    assert abs(end_floss) < 0.5 * abs(end_plain) and abs(end_floss) < 0.5 * abs(lam0)
    assert "floss_term" in flossed.metrics and np.isfinite(flossed.metrics["floss_term"]).all()
    assert "floss_term" not in plain.metrics


def test_flossing_trains_gated_cells_too():
    r = run(RunConfig(cell="gru", hidden=6, seq_len=15, steps=2, snapshots=1, floss=0.5))
    assert np.isfinite(r.metrics["floss_term"]).all() and not r.diverged


def test_negative_weight_is_refused():
    with pytest.raises(ConfigError, match="floss"):
        RunConfig(floss=-1)
