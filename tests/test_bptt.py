"""The hand-written BPTT of the gated cells (bptt.py) against autograd through the explicit loop.

Autograd's oracle is `model.forward(..., probe=...)`: probe.grad is dL/ds_t for the state as the next
step and the readout see it ([h; c] for LSTM), which is what the recorded profile means.
"""

import numpy as np
import pytest
import torch

from rnnlab import RunConfig, bptt, run
from rnnlab.cells import RecurrentNet
from rnnlab.train import setup
from rnnlab.update import autograd_chunk, fast_chunk, penalty

torch.set_default_dtype(torch.float32)

T, B, H, N_IN = 17, 4, 9, 2


def _model(cell, dtype=torch.float32, seed=5):
    model = RecurrentNet(cell, "tanh", H, N_IN, 1).to(dtype)
    model.init_weights("gaussian", 1.2, torch.Generator().manual_seed(seed))
    with torch.no_grad():  # biases nonzero, so every bias path is exercised
        for name in ("b_h",) if cell == "rnn" else ("bias_hh", "bias_ih"):
            getattr(model, name).normal_(0, 0.5)
        model.b_y.normal_(0, 0.5)
    return model.to(dtype)


def _loss(out, target):  # a loss term at every step, so every position has a direct gradient
    return ((out[..., 0] - target) ** 2).mean()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("with_s0", [False, True])
@pytest.mark.parametrize(
    ("dtype", "tol"),
    [(torch.float32, dict(rtol=2e-5, atol=2e-6)), (torch.float64, dict(rtol=1e-12, atol=1e-12))],
)
def test_gated_bptt_equals_autograd(cell, with_s0, dtype, tol):
    gen = torch.Generator().manual_seed(1)
    model = _model(cell, dtype)
    n = model.state_size
    x = torch.randn(T, B, N_IN, generator=gen, dtype=dtype)
    s0 = torch.randn(B, n, generator=gen, dtype=dtype) if with_s0 else None
    target = torch.randn(T, B, generator=gen, dtype=dtype)
    cfg = RunConfig(cell=cell, l2=0.03)

    probe = torch.zeros(T, B, n, dtype=dtype, requires_grad=True)
    tr = model(x, s0=s0, probe=probe)
    (_loss(tr.out, target) + penalty(model, cfg)).backward()
    ref = {name: p.grad.clone() for name, p in model.named_parameters()}

    model.zero_grad(set_to_none=True)
    saved, S = bptt.forward_states(model, x, s0)
    torch.testing.assert_close(S, tr.states.detach(), **tol)
    S.requires_grad_(True)
    (_loss(model.readout(S), target) + penalty(model, cfg)).backward()
    G = bptt.backward(model, x, s0, saved, S.detach(), S.grad)
    torch.testing.assert_close(G, probe.grad, **tol)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[name], **tol, msg=lambda m, name=name: f"{name}: {m}")
    assert model.bias_hh.grad.data_ptr() != model.bias_ih.grad.data_ptr()  # clipping scales each


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("steps", [1, 2])
def test_chunks_of_one_and_two_steps_equal_autograd(cell, steps):
    """TBPTT leaves a last chunk of one step when the window does not divide the length (copy,
    seq_len 5, tbptt 2): every shape must survive an empty h[:-1]."""
    gen = torch.Generator().manual_seed(3)
    model = _model(cell)
    x, target = torch.randn(steps, B, N_IN, generator=gen), torch.randn(steps, B, generator=gen)
    s0 = torch.randn(B, model.state_size, generator=gen)
    probe = torch.zeros(steps, B, model.state_size, requires_grad=True)
    _loss(model(x, s0=s0, probe=probe).out, target).backward()
    ref = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    saved, S = bptt.forward_states(model, x, s0)
    S.requires_grad_(True)
    _loss(model.readout(S), target).backward()
    G = bptt.backward(model, x, s0, saved, S.detach(), S.grad)
    torch.testing.assert_close(G, probe.grad, rtol=2e-5, atol=2e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(
            p.grad, ref[name], rtol=2e-5, atol=2e-6, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_lstm_cell_gradient_is_what_reaches_c_from_the_next_step_only():
    """After the last step nothing reads c_T but h_T's own computation, which the probe does not
    see: dL/dc_T is zero while dL/dh_T is not, exactly as autograd's probe says."""
    model = _model("lstm")
    x, target = torch.randn(T, B, N_IN), torch.randn(T, B)
    saved, S = bptt.forward_states(model, x, None)
    S.requires_grad_(True)
    _loss(model.readout(S), target).backward()
    G = bptt.backward(model, x, None, saved, S.detach(), S.grad)
    assert (G[-1, :, H:] == 0).all() and (G[-1, :, :H] != 0).any() and (G[:-1, :, H:] != 0).any()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("task", ["sine", "adding"])
def test_chunk_from_a_nonzero_state_equals_autograd(cell, task):
    """One TBPTT chunk [10, 20) started from a detached nonzero state, through train.py's two paths."""
    cfg = RunConfig(cell=cell, task=task, hidden=H, seq_len=30, batch=B, l2=0.01, tbptt=10)
    s = setup(cfg)
    with torch.no_grad():
        s.model.bias_hh.normal_(0, 0.5)
        s.model.bias_ih.normal_(0, 0.5)
    batch = s.task.sample(s.data_rng, cfg.batch)
    with torch.no_grad():
        s0 = s.model(batch.x[:10]).states[-1]
    assert s0.abs().min() > 0
    t1 = 30 if task == "adding" else 20  # adding: the chunk must hold the loss step
    out, grads = {}, {}
    for name, chunk in (("autograd", autograd_chunk), ("fast", fast_chunk)):
        s.model.zero_grad(set_to_none=True)
        out[name] = chunk(s.model, s.task, batch, cfg, s0, 10, t1)
        grads[name] = {n: p.grad.clone() for n, p in s.model.named_parameters()}
    a, f = out["autograd"], out["fast"]
    assert f.loss == pytest.approx(a.loss, rel=1e-6)
    torch.testing.assert_close(f.states, a.states, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f.dE_dh, a.dE_dh, rtol=2e-5, atol=1e-7)
    for n, g in grads["autograd"].items():
        torch.testing.assert_close(grads["fast"][n], g, rtol=2e-5, atol=1e-7, msg=lambda m, n=n: f"{n}: {m}")


@pytest.mark.parametrize(
    ("cell", "extra"),
    [
        ("gru", {}),
        ("lstm", {}),
        ("gru", {"tbptt": 7, "task": "sine", "l2": 0.01, "clip": 0.05}),
        ("lstm", {"tbptt": 7, "task": "sine", "l2": 0.01, "clip": 0.05}),
        ("lstm", {"train_recurrent": False, "task": "order"}),
    ],
)
def test_whole_run_equals_the_autograd_path(cell, extra, monkeypatch):
    cfg = RunConfig(
        cell=cell, hidden=8, seq_len=20, batch=4, steps=3, snapshots=2, optimizer="adam", lr=0.01, **extra
    )
    fast = run(cfg)
    monkeypatch.setattr(bptt, "supported", lambda *args: False)  # train.py asks bptt.supported
    slow = run(cfg)
    assert list(fast.metrics.columns) == list(slow.metrics.columns)
    assert len(fast.metrics) == len(slow.metrics) == 3 * (3 if "tbptt" in extra else 1)
    for c in fast.metrics.columns:
        np.testing.assert_allclose(
            fast.metrics[c].to_numpy(float), slow.metrics[c].to_numpy(float), rtol=2e-4, atol=1e-7, err_msg=c
        )
    assert set(fast.arrays) == set(slow.arrays)
    for k, a in fast.arrays.items():
        np.testing.assert_allclose(a, slow.arrays[k], rtol=2e-4, atol=1e-6, err_msg=k)


def test_supported_covers_every_teacher_forced_cell():
    for cell in ("rnn", "gru", "lstm"):
        model = RecurrentNet(cell, "tanh", 4, 2, 1)
        assert bptt.supported(model, 0.0, False)
        assert not bptt.supported(model, 0.0, True)  # free-running sine feeds outputs back
    assert not bptt.supported(RecurrentNet("rnn", "tanh", 4, 2, 1), 0.5, False)  # omega: autograd
