"""rnnlab.attractors against closed forms: a contracting linear cell's unique fixed point, a 2-unit
tanh net's period-2 orbit, a chaotic net, and the determinism of a run's orbit diagram."""

import math

import numpy as np
import pytest
import torch

from rnnlab import RunConfig, analyse, attractors, run
from rnnlab.cells import RecurrentNet


def net(act: str, W: torch.Tensor, b: torch.Tensor | None = None) -> RecurrentNet:
    m = RecurrentNet("rnn", act, W.shape[0], 2, 1)
    with torch.no_grad():
        m.W_hh.copy_(W)
        if b is not None:
            m.b_h.copy_(b)
    return m


def test_contracting_linear_cell_settles_to_its_unique_fixed_point():
    """h = 0.5 Q h + b with Q orthogonal contracts by 0.5 per step to h* = (I - 0.5 Q)^-1 b."""
    g = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(6, 6, generator=g))[0]
    b = torch.randn(6, generator=g)
    o = attractors.free_run(net("linear", 0.5 * Q, b))
    h_star = torch.linalg.solve(torch.eye(6, dtype=torch.float64) - 0.5 * Q.double(), b.double())
    assert (o.period == 1).all() and attractors.kind(1) == "fixed point"
    np.testing.assert_allclose(o.points, h_star.mean().item(), atol=1e-6)
    np.testing.assert_allclose(o.lambda_1, math.log(0.5), atol=1e-6)


def test_two_unit_tanh_net_with_a_period_two_orbit():
    """h -> tanh(-3 h) per unit: 0 is unstable (slope 3), the orbit +-h*, h* = tanh(3 h*), attracts."""
    o = attractors.free_run(net("tanh", -3.0 * torch.eye(2)))
    h = 1.0
    for _ in range(200):
        h = math.tanh(3 * h)  # h* by iteration (the map is contracting near h*)
    assert (o.period == 2).all() and attractors.kind(2) == "cycle (period 2)"
    np.testing.assert_allclose(np.abs(o.points), h, atol=1e-6)
    np.testing.assert_allclose(o.points[:, 0], -o.points[:, 1], atol=1e-9)  # it alternates


def test_strongly_coupled_random_net_is_chaotic():
    m = RecurrentNet("rnn", "tanh", 64, 2, 1)
    m.init_weights("gaussian", 3.0, torch.Generator().manual_seed(0))
    o = attractors.free_run(m)
    assert (o.period == attractors.CHAOS).all() and (o.lambda_1 > 0.1).all()


def test_cliffs_mark_spikes_only():
    g = np.ones(40)
    g[30] = 10.0
    loss = np.ones(40)
    loss[35] = 4.0
    assert attractors.cliffs(g, loss).tolist() == [30, 35]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_orbit_diagram_of_a_run_is_deterministic(cell):
    cfg = RunConfig(cell=cell, hidden=8, seq_len=20, steps=4, snapshots=2, seed=3)
    a, b = run(cfg), run(cfg)
    assert a.arrays["orbits"].shape == (2, attractors.STARTS, attractors.KEEP)
    assert np.array_equal(a.arrays["orbits"], b.arrays["orbits"], equal_nan=True)
    assert np.array_equal(a.arrays["orbit_period"], b.arrays["orbit_period"])


def test_analyse_without_orbits_skips_only_the_free_run():
    cfg = RunConfig(hidden=8, seq_len=12, steps=0)
    full, lean = analyse(cfg), analyse(cfg, orbits=False)
    assert full.orbits is not None and lean.orbits is None
    np.testing.assert_array_equal(lean.heatmap, full.heatmap)
    np.testing.assert_array_equal(lean.eigvals, full.eigvals)
    np.testing.assert_array_equal(lean.spectrum.exponents, full.spectrum.exponents)
