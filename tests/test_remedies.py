"""Each remedy does what it claims on a small case."""

import numpy as np
import pytest
import torch

from rnnlab import PRESETS, RunConfig, analyse, preset_config, run
from rnnlab.jacobian import rnn_step_jacobians
from rnnlab.presets import REMEDIES
from rnnlab.theory import fit_slope, lag_profile
from rnnlab.train import setup
from rnnlab.update import omega_term

SMALL = dict(hidden=8, seq_len=15, batch=4, snapshots=2)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("l2", lambda W, c: 2 * c * W),
        ("l1", lambda W, c: c * np.sign(W)),
    ],
)
def test_weight_penalty_adds_its_exact_gradient(key, expected):
    lr, c = 0.1, 0.05
    plain = run(RunConfig(**SMALL, steps=1, lr=lr))
    pen = run(RunConfig(**SMALL, steps=1, lr=lr, **{key: c}))
    W0 = plain.arrays["W_hh"][0].astype(np.float64)
    np.testing.assert_array_equal(W0, pen.arrays["W_hh"][0])
    diff = pen.arrays["W_hh"][1].astype(np.float64) - plain.arrays["W_hh"][1]
    np.testing.assert_allclose(diff, -lr * expected(W0, c), atol=2e-6)


def test_l2_pulls_the_spectral_radius_down():
    a = run(preset_config("l2-off", {"steps": 40}))
    b = run(preset_config("l2-on", {"steps": 40}))
    assert b.metrics.rho_whh.iloc[-1] < a.metrics.rho_whh.iloc[-1] - 0.05


def test_omega_term_matches_an_explicit_oracle():
    cfg = RunConfig(**SMALL, omega=1.0, steps=1)
    s = setup(cfg)
    b = s.task.sample(s.data_rng, cfg.batch)
    m = s.model
    probe = torch.zeros(15, 4, 8, requires_grad=True)
    tr = m(b.x, probe=probe)
    s.task.loss(tr.out, b.y).backward()
    v = probe.grad.double().numpy()  # (T, B, H) dE/dh_k
    total = 0.0
    for j in range(4):
        J = rnn_step_jacobians(m.W_hh.detach(), tr.preact[:, j].detach(), "tanh", 0.0).double().numpy()
        for k in range(14):  # pairs k -> k+1
            vk = v[k + 1, j]
            total += (np.linalg.norm(vk @ J[k + 1]) / np.linalg.norm(vk) - 1) ** 2
    ours = float(omega_term(m, tr.preact, probe.grad.detach()).detach())
    assert ours == pytest.approx(total / 4, rel=1e-4)
    recorded = run(cfg).metrics.omega_term.iloc[0]
    assert recorded == pytest.approx(total / 4, rel=1e-4)


def test_omega_regulariser_lowers_its_own_term():
    cfg = preset_config("omega-on", {"steps": 60, "lr": 0.05, "omega": 5.0, "seq_len": 30})
    om = run(cfg).metrics.omega_term.to_numpy()
    assert om[-5:].mean() < 0.5 * om[:5].mean()


def test_echo_state_network_freezes_recurrent_and_input_weights():
    res = run(RunConfig(**SMALL, steps=5, lr=0.1, train_recurrent=False))
    for name in ("W_hh", "W_xh", "b_h"):
        np.testing.assert_array_equal(res.arrays[name][0], res.arrays[name][-1])
    assert res.metrics.grad_W_hh.isna().all() and (res.metrics.grad_W_hy > 0).all()
    trained = run(RunConfig(**SMALL, steps=5, lr=0.1))
    assert not np.array_equal(trained.arrays["W_hh"][0], trained.arrays["W_hh"][-1])


def test_teacher_forcing_feeds_truth_and_free_running_feeds_predictions():
    cfg = RunConfig(task="sine", hidden=8, seq_len=12, teacher_forcing=False)
    s = setup(cfg)
    b = s.task.sample(s.data_rng, 3)
    with torch.no_grad():
        free = s.model(b.x, free_running=True)
        forced = s.model(b.x)
    torch.testing.assert_close(free.inputs[0], b.x[0])
    torch.testing.assert_close(free.inputs[1:], free.out[:-1])
    torch.testing.assert_close(forced.inputs, b.x)
    a = run(cfg.replace(steps=3))
    c = run(cfg.replace(steps=3, teacher_forcing=True))
    assert a.metrics.loss.iloc[0] != c.metrics.loss.iloc[0]


def test_clipping_rescues_the_exploding_preset():
    bad = run(preset_config("exploding", {"steps": 30}))
    good = run(preset_config("exploding-clipped", {"steps": 30}))
    assert bad.summary["diverged_at"] is not None
    assert good.summary["diverged_at"] is None and good.metrics.clipped.sum() > 0
    assert (good.metrics.grad_norm_clipped <= good.config.clip + 1e-6).all()


def test_leaky_units_slow_the_decay():
    def slope(name):
        hm = analyse(preset_config(name, {"seq_len": 60})).heatmap
        lags, mean, _, _ = lag_profile(hm)
        return fit_slope(lags, mean)

    off, on = slope("leak-off"), slope("leak-on")
    assert off < 0 and on < 0 and on > 3 * off  # decays at least 3x more slowly (slopes negative)


def test_every_remedy_pair_names_two_presets_differing_in_its_keys():
    for label, without, with_ in REMEDIES:
        a, b = PRESETS[without].config(), PRESETS[with_].config()
        assert a.diff(b), label  # the pair differs in at least one key
        assert a.seed == b.seed
