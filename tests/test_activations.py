"""rnnlab.activations, the one home of an activation, against autograd, Monte Carlo and closed forms;
and every entry point (cell, BPTT, Jacobian, theory, config) refuses a name that is not in it."""

import math

import numpy as np
import pytest
import torch

from rnnlab import RunConfig, activations, bptt, jacobian, theory
from rnnlab.activations import ACTIVATIONS, NAMES
from rnnlab.cells import RecurrentNet

A = torch.linspace(-6, 6, 2001, dtype=torch.float64)  # includes 0 exactly (index 1000)


@pytest.mark.parametrize("name", NAMES)
def test_slope_is_autograds_derivative_of_f(name):
    act = ACTIVATIONS[name]
    a = A.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(act.f(a).sum(), a)
    torch.testing.assert_close(act.slope(A), grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_f", [False, True])
def test_in_place_forms_equal_the_plain_ones(name, with_f):
    act = ACTIVATIONS[name]
    out = torch.empty_like(A)
    act.f_out(A, out)
    torch.testing.assert_close(out, act.f(A), rtol=0, atol=0)
    over = act.slope_over(A.clone(), act.f(A) if with_f else None)
    torch.testing.assert_close(over, act.slope(A), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_forms_equal_the_torch_ones(name):
    act, x = ACTIVATIONS[name], A.numpy()
    np.testing.assert_allclose(act.f_np(x), act.f(A).numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(act.slope_np(x), act.slope(A).numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_gamma_is_the_largest_slope(name):
    act = ACTIVATIONS[name]
    assert act.slope(A).abs().max().item() == pytest.approx(act.gamma, rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_mean_field_moments_against_monte_carlo(name, q):
    z = np.random.default_rng(0).standard_normal(2_000_000)
    act = ACTIVATIONS[name]
    x = math.sqrt(q) * z
    d = act.slope_np(x)
    m1, m2 = activations.slope_moments(name, q)
    assert activations.mean_square(name, q) == pytest.approx(np.mean(act.f_np(x) ** 2), rel=5e-3)
    assert m1 == pytest.approx(np.mean(d), rel=5e-3)
    assert m2 == pytest.approx(np.mean(d * d), rel=5e-3)
    if act.square_gain is not None:  # homogeneous: the closed form the fixed point relies on
        assert activations.mean_square(name, q) == pytest.approx(act.square_gain * q, rel=1e-12)


def test_relu_moments_at_zero_are_the_limit_from_above():
    assert activations.slope_moments("relu", 0.0) == pytest.approx((0.5, 0.5))


UNKNOWN = "softsign"


def test_every_entry_point_refuses_an_unknown_name():
    match = "act: 'softsign' is not one of tanh, sigmoid, relu, linear"
    with pytest.raises(ValueError, match=match):  # the cell
        RecurrentNet("rnn", UNKNOWN, 4, 1, 1)
    model = RecurrentNet("rnn", "tanh", 4, 1, 1)
    model.act = UNKNOWN  # a model whose name was changed after it was built
    with pytest.raises(ValueError, match=match):  # the hand-written BPTT
        bptt.forward_states(model, torch.zeros(3, 2, 1), None)
    with pytest.raises(ValueError, match=match):  # the Jacobian engines
        jacobian.rnn_step_jacobians(torch.eye(4), torch.zeros(3, 4), UNKNOWN, 0.0)
    for call in (
        lambda: theory.gamma(UNKNOWN),
        lambda: theory.mean_field(UNKNOWN, 1.0),
        lambda: theory.mean_field_from_q(UNKNOWN, 1.0, 1.0),
        lambda: theory.pascanu_regime(1.0, UNKNOWN),
    ):
        with pytest.raises(ValueError, match=match):  # the theory
            call()
    with pytest.raises(ValueError, match="act"):  # the config names the field and the choices
        RunConfig(act=UNKNOWN)


def test_the_config_offers_exactly_the_activations():
    from rnnlab.config import FIELDS

    (field,) = [f for f in FIELDS if f.key == "act"]
    assert tuple(field.choices) == NAMES
