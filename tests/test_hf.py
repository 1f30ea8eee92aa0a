"""Hessian-free optimisation (rnnlab.hf) against independent oracles.

- Gauss-Newton products against an explicit J^T H_L J, with J from torch.func.jacrev and H_L
  written out by hand (2/N on the MSE step, (diag p - p p^T)/N per cross-entropy step), in float64,
  for each cell and both loss kinds; the structural term against J_s^T J_s / N.
- CG against numpy's solve on a known SPD system, and its stopping rule re-checked from its record.
- Large damping gives the negative gradient's direction; the LM rule on a constructed quadratic.
- An accepted HF update never raises the minibatch loss; same seed, same numbers; the export reads back.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import jacrev

from rnnlab import RunConfig, run
from rnnlab.cells import RecurrentNet
from rnnlab.config import ConfigError
from rnnlab.hf import CG_MIN_WINDOW, Curvature, Flat, cg, lm_update
from rnnlab.reading import load_zip
from rnnlab.tasks import make_task
from rnnlab.update import chunks, make_stepper, minibatch_objective, train_step


def tiny_curvature(cell: str, task_name: str, act: str = "tanh", leak: float = 0.0, free: bool = False):
    """A float64 network of hidden size 3 on 3 sequences of a short task, and its Curvature (free:
    the network reads its own previous output, so J also runs through the fed-back outputs)."""
    task = make_task(task_name, 6)
    model = RecurrentNet(cell, act, 3, task.n_in, task.n_out, leak=leak).double()
    model.init_weights("gaussian", 1.0, torch.Generator().manual_seed(1))
    with torch.no_grad():  # random biases too, so that every parameter's block is exercised
        for p in model.parameters():
            p.add_(
                0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel()), dtype=p.dtype)
            )
    batch = task.sample(np.random.default_rng(0), 3)
    x = batch.x.double()
    params = list(model.parameters())
    flat = Flat(model, params)
    theta = flat.get()
    return task, batch, x, flat, theta, Curvature(model, flat, theta, task, x, batch.y, free)


def explicit_loss_hessian(task, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """H_L (T*B*O, T*B*O) written out: MSE 2/N on each loss step's output; cross-entropy
    (diag p - p p^T)/N on every loss step."""
    T, B, n_out = out.shape
    N = float(task.loss_steps.sum() * B)
    H = torch.zeros(T, B, n_out, T, B, n_out, dtype=out.dtype)
    for t in np.flatnonzero(task.loss_steps):
        for b in range(B):
            if task.name in ("adding", "sine"):  # MSE
                H[t, b, 0, t, b, 0] = 2.0 / N
            else:
                p = torch.softmax(out[t, b], -1)
                H[t, b, :, t, b, :] = (torch.diag(p) - torch.outer(p, p)) / N
    return H.reshape(T * B * n_out, T * B * n_out)


CASES = [
    ("rnn", "adding", "tanh", 0.0, False),
    ("rnn", "adding", "sigmoid", 0.4, False),
    ("rnn", "adding", "relu", 0.0, False),
    ("rnn", "sine", "linear", 0.0, False),
    ("rnn", "sine", "tanh", 0.0, True),
    ("gru", "adding", "tanh", 0.0, False),
    ("lstm", "adding", "tanh", 0.0, False),
    ("lstm", "sine", "tanh", 0.0, True),
    ("rnn", "order", "tanh", 0.0, False),
    ("gru", "copy", "tanh", 0.0, False),
    ("lstm", "order", "tanh", 0.0, False),
]


@pytest.mark.parametrize(("cell", "task_name", "act", "leak", "free"), CASES)
def test_gauss_newton_and_structural_products_match_explicit_matrices(cell, task_name, act, leak, free):
    task, batch, x, _flat, theta, curv = tiny_curvature(cell, task_name, act, leak, free)
    out, states = curv.forward(theta)
    J = jacrev(lambda th: curv.forward(th)[0])(theta).reshape(out.numel(), -1)  # (TBO, P)
    Js = jacrev(lambda th: curv.forward(th)[1])(theta).reshape(states.numel(), -1)  # (TBn, P)
    G = J.T @ explicit_loss_hessian(task, out.detach(), batch.y) @ J  # (P, P)
    S = Js.T @ Js / float(task.loss_steps.sum() * x.shape[1])
    assert torch.linalg.eigvalsh(G).min() > -1e-10  # PSD, as a Gauss-Newton matrix must be
    assert G.abs().max() > 1e-3  # not trivially zero
    V = torch.randn(theta.numel(), 3, generator=torch.Generator().manual_seed(2), dtype=theta.dtype)
    for v in V.T:
        torch.testing.assert_close(curv.gauss_newton(v), G @ v, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(curv.structural(v), S @ v, rtol=1e-9, atol=1e-12)
        lam, mu = 0.7, 0.3
        torch.testing.assert_close(curv.damped(v, lam, mu), (G + lam * torch.eye(len(v)) + lam * mu * S) @ v)


def test_cg_solves_a_known_spd_system_and_stops_by_the_relative_progress_rule():
    rng = np.random.default_rng(0)
    n = 60
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = torch.tensor(Q @ np.diag(np.logspace(0, 2, n)) @ Q.T)  # SPD, condition number 100
    b = torch.tensor(rng.standard_normal(n))
    exact = torch.tensor(np.linalg.solve(A.numpy(), b.numpy()))

    full = cg(lambda v: A @ v, b, torch.zeros(n, dtype=A.dtype), 500, eps=0.0)  # eps 0: never stops early
    torch.testing.assert_close(full.x, exact, rtol=1e-7, atol=1e-9)
    for i, x in full.saved:  # phi is the quadratic model at each kept iterate
        assert full.phi[i] == pytest.approx(float(0.5 * x @ A @ x - b @ x), rel=1e-9, abs=1e-12)
    assert all(b2 <= a + 1e-12 for a, b2 in zip(full.phi, full.phi[1:]))  # CG never raises phi

    res = cg(lambda v: A @ v, b, torch.zeros(n, dtype=A.dtype), 500, eps=1e-2)
    phi, i = res.phi, res.iters
    assert CG_MIN_WINDOW < i < full.iters

    def stalls(j: int) -> bool:
        k = max(CG_MIN_WINDOW, j // 10)
        return j > k and phi[j] < 0 and (phi[j] - phi[j - k]) / phi[j] < k * 1e-2

    assert stalls(i) and not any(stalls(j) for j in range(1, i))

    warm = cg(lambda v: A @ v, b, 0.95 * exact, 500, eps=0.0)  # a warm start near the answer converges sooner
    assert warm.iters < full.iters


def test_cg_stops_at_its_cap_and_keeps_the_backtracking_iterates():
    A = torch.diag(torch.linspace(1, 1000, 50, dtype=torch.float64))
    res = cg(
        lambda v: A @ v, torch.ones(50, dtype=torch.float64), torch.zeros(50, dtype=torch.float64), 7, eps=0.0
    )
    assert res.iters == 7
    assert [i for i, _ in res.saved] == [1, 2, 3, 4, 5, 7]  # ceil(1.3^j) = 1, 2, 3, 4, 5, then the last


def test_large_damping_steps_along_the_negative_gradient():
    task, batch, _x, _flat, theta, curv = tiny_curvature("rnn", "adding")
    g = torch.func.grad(lambda th: task.loss(curv.forward(th)[0], batch.y))(theta)
    lam = 1e6
    d = cg(lambda v: curv.damped(v, lam, 0.0), -g, torch.zeros_like(g), 50).x
    cos = float(d @ -g / (d.norm() * g.norm()))
    assert cos > 1 - 1e-6
    assert float(d.norm()) == pytest.approx(float(g.norm()) / lam, rel=1e-3)
    # small damping: the curvature turns the step away from the gradient
    d_small = cg(lambda v: curv.damped(v, 1e-3, 0.0), -g, torch.zeros_like(g), 200).x
    assert float(d_small @ -g / (d_small.norm() * g.norm())) < 0.99


def test_levenberg_marquardt_rule_on_a_constructed_quadratic():
    """f(x) = x.A x / 2 + b.x. A model with curvature B = A / s predicts q(p) = b.p + p.B p / 2 for
    the model's step p = -B^-1 b. s = 1: the model is exact, rho = 1, lambda falls; s = 4: the model
    under-estimates the curvature, the step overshoots (rho < 0), lambda rises; s = 1.5: in between."""
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    A = Q @ np.diag(np.linspace(1, 5, 8)) @ Q.T
    b = rng.standard_normal(8)

    def ratio(s: float) -> float:
        B = A / s
        p = -np.linalg.solve(B, b)
        actual = 0.5 * p @ A @ p + b @ p
        predicted = 0.5 * p @ B @ p + b @ p
        return actual / predicted

    assert ratio(1) == pytest.approx(1.0)
    assert ratio(4) < 0.25
    assert 0.25 <= ratio(1.5) <= 0.75
    assert lm_update(1.0, ratio(1)) == pytest.approx(2 / 3)
    assert lm_update(1.0, ratio(4)) == pytest.approx(1.5)
    assert lm_update(1.0, ratio(1.5)) == 1.0
    assert lm_update(1.0, float("nan")) == pytest.approx(1.5)  # no trustworthy model: more damping


HF_TINY = dict(task="adding", seq_len=12, hidden=6, batch=32, optimizer="hf", hf_curv_batch=16, hf_cg_max=30)


@pytest.mark.parametrize(("cell", "extra"), [("rnn", {"l2": 0.01}), ("gru", {}), ("lstm", {"task": "order"})])
def test_an_accepted_update_never_raises_the_minibatch_loss(cell, extra):
    cfg = RunConfig.from_dict({**HF_TINY, "cell": cell, **extra})
    torch.manual_seed(0)
    task = make_task(cfg.task, cfg.seq_len)
    model = RecurrentNet(cfg.cell, cfg.act, cfg.hidden, task.n_in, task.n_out)
    model.init_weights("gaussian", 1.0, torch.Generator().manual_seed(0))
    params = list(model.parameters())
    opt = make_stepper(cfg, model, params)
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(6):
        batch = task.sample(rng, cfg.batch)
        before = minibatch_objective(model, task, batch, cfg)
        (u,) = train_step(model, task, batch, cfg, opt, params, chunks(task.L, 0))
        after = minibatch_objective(model, task, batch, cfg)
        if u.row["accepted"]:
            accepted += 1
            assert after < before
        else:
            assert after == before  # a rejected step leaves the weights as they were
    assert accepted >= 3


def test_hf_run_records_its_columns_is_deterministic_and_exports():
    cfg = RunConfig.from_dict({**HF_TINY, "steps": 4, "snapshots": 2})
    a, b = run(cfg), run(cfg)
    cols = ["loss", "grad_norm", "cg_iters", "damping", "reduction_ratio", "accepted", "step_size", "rho_whh"]
    pd_a, pd_b = a.metrics[cols], b.metrics[cols]
    assert pd_a.equals(pd_b)  # same seed, same numbers, to the last bit
    assert np.array_equal(a.arrays["grad_time"], b.arrays["grad_time"])
    assert (a.metrics["cg_iters"] >= 1).all() and (a.metrics["cg_iters"] <= cfg.hf_cg_max).all()
    assert (a.metrics["damping"] > 0).all() and not a.metrics["clipped"].any()
    assert np.isfinite(a.arrays["grad_time"]).all()  # the temporal profile, as for any optimizer
    back = load_zip(a.to_zip())
    assert back.config == cfg
    np.testing.assert_array_equal(back.metrics["damping"].to_numpy(), a.metrics["damping"].to_numpy())


@pytest.mark.parametrize(
    ("changes", "key"),
    [({"tbptt": 5}, "tbptt"), ({"clip": 1.0}, "clip"), ({"omega": 1.0}, "omega"), ({"floss": 1.0}, "floss")],
)
def test_what_does_not_compose_with_hf_is_refused_by_name(changes, key):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({**HF_TINY, **changes})
    assert e.value.key == key and "optimizer=hf" in str(e.value)
    RunConfig.from_dict({**HF_TINY, **changes, "optimizer": "adam"})  # fine without hf


def test_a_link_with_hf_and_what_it_refuses_keeps_hf_with_a_notice_per_key():
    cfg, notices = RunConfig.from_lenient({"optimizer": "hf", "tbptt": "5", "clip": "1", "seq_len": "20"})
    assert (cfg.optimizer, cfg.tbptt, cfg.clip, cfg.seq_len) == ("hf", 0, 0.0, 20)
    assert [n.split(":")[0] for n in notices] == ["tbptt", "clip"]
    base = RunConfig(tbptt=10, seq_len=50)  # a base that itself breaks the rule: the key's default
    cfg, notices = RunConfig.from_lenient({"optimizer": "hf"}, base)
    assert cfg.tbptt == 0 and notices[0].startswith("tbptt")
