"""Oracle tests for the training engine: init, cells, hand-written BPTT, clipping, TBPTT, tasks,
determinism, divergence, export."""

import math

import numpy as np
import pytest
import torch

from rnnlab import RunConfig, bptt, load_run, run
from rnnlab.cells import RecurrentNet, recurrent_init
from rnnlab.tasks import COPY_LEN, COPY_SYMBOLS, make_task
from rnnlab.train import analyse, setup
from rnnlab.update import clip_gradients

torch.set_default_dtype(torch.float32)


# ---- initialisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "identity"])
@pytest.mark.parametrize("rho", [0.3, 1.0, 2.7])
def test_spectral_radius_after_init_is_rho(init, rho):
    W = recurrent_init(init, 48, rho, torch.Generator().manual_seed(3))
    radius = np.abs(np.linalg.eigvals(W.double().numpy())).max()
    assert abs(radius - rho) / rho <= 1e-6


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_each_gate_block_of_gated_cells_has_radius_rho(cell):
    s = setup(RunConfig(cell=cell, hidden=12, rho=1.7))
    W = s.model.weight_hh.detach().double().numpy()
    for b in range(W.shape[0] // 12):
        block = W[b * 12 : (b + 1) * 12]
        assert abs(np.abs(np.linalg.eigvals(block)).max() - 1.7) / 1.7 <= 1e-6


def test_orthogonal_init_is_orthogonal():
    W = recurrent_init("orthogonal", 32, 1.0, torch.Generator().manual_seed(0)).double()
    assert torch.allclose(W @ W.T, torch.eye(32, dtype=torch.float64), atol=1e-6)


# ---- cells against torch.nn reference cells ------------------------------------------------------


def _run_cells(model, x, step_ref):
    with torch.no_grad():
        ours = model(x).states
        s = torch.zeros(x.shape[1], model.state_size)
        ref = []
        for t in range(x.shape[0]):
            s = step_ref(x[t], s)
            ref.append(s)
    return ours, torch.stack(ref)


@pytest.mark.parametrize(("act", "nonlin"), [("tanh", "tanh"), ("relu", "relu")])
def test_vanilla_cell_matches_torch_rnncell(act, nonlin):
    model = RecurrentNet("rnn", act, 16, 3, 2)
    model.init_weights("gaussian", 0.9, torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.b_h.normal_()
    ref = torch.nn.RNNCell(3, 16, nonlinearity=nonlin)
    with torch.no_grad():
        ref.weight_hh.copy_(model.W_hh)
        ref.weight_ih.copy_(model.W_xh)
        ref.bias_ih.copy_(model.b_h)
        ref.bias_hh.zero_()
    x = torch.randn(25, 4, 3)
    ours, theirs = _run_cells(model, x, lambda xt, s: ref(xt, s))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ["sigmoid", "linear", "tanh"])
def test_vanilla_cell_with_leak_matches_float64_formula(act):
    f = {"sigmoid": torch.sigmoid, "linear": lambda a: a, "tanh": torch.tanh}[act]
    model = RecurrentNet("rnn", act, 10, 2, 1, leak=0.3)
    model.init_weights("gaussian", 0.8, torch.Generator().manual_seed(2))
    W, U, b = (p.detach().double() for p in (model.W_hh, model.W_xh, model.b_h))
    x = torch.randn(30, 3, 2)
    with torch.no_grad():
        ours = model(x).states
    h = torch.zeros(3, 10, dtype=torch.float64)
    for t in range(30):
        h = 0.3 * h + 0.7 * f(h @ W.T + x[t].double() @ U.T + b)
    torch.testing.assert_close(ours[-1].double(), h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_cells_match_torch_cells(cell):
    model = RecurrentNet(cell, "tanh", 12, 3, 2)
    model.init_weights("orthogonal", 1.1, torch.Generator().manual_seed(4))
    with torch.no_grad():
        model.bias_hh.normal_()
        model.bias_ih.normal_()
    ref = (torch.nn.GRUCell if cell == "gru" else torch.nn.LSTMCell)(3, 12)
    with torch.no_grad():
        for n in ("weight_hh", "weight_ih", "bias_hh", "bias_ih"):
            getattr(ref, n).copy_(getattr(model, n))
    x = torch.randn(20, 5, 3)
    if cell == "gru":
        step = lambda xt, s: ref(xt, s)
    else:

        def step(xt, s):
            h, c = ref(xt, (s[:, :12], s[:, 12:]))
            return torch.cat([h, c], 1)

    ours, theirs = _run_cells(model, x, step)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


# ---- hand-written BPTT against autograd -----------------------------------------------------------


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "linear"])
@pytest.mark.parametrize("leak", [0.0, 0.4])
@pytest.mark.parametrize("with_s0", [False, True])
def test_handwritten_bptt_equals_autograd(act, leak, with_s0):
    torch.manual_seed(0)
    model = RecurrentNet("rnn", act, 9, 2, 1, leak=leak)
    model.init_weights("gaussian", 0.95, torch.Generator().manual_seed(5))
    with torch.no_grad():
        model.b_h.normal_(0, 0.3)
    x = torch.randn(17, 4, 2)
    s0 = torch.randn(4, 9) if with_s0 else None
    target = torch.randn(17, 4)

    def loss_of(out):  # a loss term at every step, so every position has a direct gradient
        return ((out[..., 0] - target) ** 2).mean()

    # oracle: autograd through the explicit loop, retain_grad on every state
    model.zero_grad()
    states, s = [], s0 if s0 is not None else torch.zeros(4, 9)
    xp = model.in_proj(x)
    for t in range(17):
        s, _ = model.step(s, xp[t])
        s.retain_grad()
        states.append(s)
    loss_of(model.readout(torch.stack(states))).backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    ref_profile = torch.stack([h.grad for h in states])

    model.zero_grad()
    A, S = bptt.forward_states(model, x, s0)
    torch.testing.assert_close(S, torch.stack(states).detach())
    S.requires_grad_(True)
    loss_of(model.readout(S)).backward()
    G = bptt.backward(model, x, s0, A, S.detach(), S.grad)
    torch.testing.assert_close(G, ref_profile, rtol=1e-4, atol=1e-7)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[n], rtol=1e-4, atol=1e-7)


def test_recorded_profile_equals_autograd_for_gated_cells():
    cfg = RunConfig(cell="gru", hidden=8, seq_len=15, steps=1, batch=4, task="sine")
    res = run(cfg)
    s = setup(cfg)  # same seed: same weights and the same first minibatch
    b = s.task.sample(s.data_rng, cfg.batch)
    states, st = [], torch.zeros(4, 8)
    xp = s.model.in_proj(b.x)
    for t in range(15):
        st, _ = s.model.step(st, xp[t])
        st.retain_grad()
        states.append(st)
    s.task.loss(s.model.readout(torch.stack(states)), b.y).backward()
    ref = np.array([float(torch.linalg.vector_norm(h.grad)) for h in states])
    np.testing.assert_allclose(res.arrays["grad_time"][0], ref, rtol=1e-4)


# ---- clipping ------------------------------------------------------------------------------------


def _params_with_grads(scale):
    torch.manual_seed(1)
    ps = [torch.nn.Parameter(torch.randn(5, 4)), torch.nn.Parameter(torch.randn(7))]
    for p in ps:
        p.grad = torch.randn_like(p) * scale
    return ps


@pytest.mark.parametrize(("scale", "c"), [(10.0, 1.0), (0.01, 1.0), (3.0, 2.5)])
def test_norm_clipping_keeps_direction_and_caps_norm(scale, c):
    ps = _params_with_grads(scale)
    g0 = torch.cat([p.grad.flatten() for p in ps]).clone()
    before, after = clip_gradients(ps, c, "norm")
    g1 = torch.cat([p.grad.flatten() for p in ps])
    assert before == pytest.approx(float(g0.norm()), rel=1e-6)
    assert after == pytest.approx(min(before, c), rel=1e-6)
    assert float(g1.norm()) == pytest.approx(min(before, c), rel=1e-6)
    assert float(torch.nn.functional.cosine_similarity(g0, g1, dim=0)) == pytest.approx(1.0, abs=1e-6)
    ref = _params_with_grads(scale)  # torch's own clip (it divides by norm + 1e-6)
    torch.nn.utils.clip_grad_norm_(ref, c)
    torch.testing.assert_close(torch.cat([p.grad.flatten() for p in ref]), g1, rtol=1e-5, atol=1e-6)


def test_value_clipping_clamps_each_component():
    ps = _params_with_grads(5.0)
    g0 = torch.cat([p.grad.flatten() for p in ps]).clone()
    before, after = clip_gradients(ps, 0.5, "value")
    g1 = torch.cat([p.grad.flatten() for p in ps])
    torch.testing.assert_close(g1, g0.clamp(-0.5, 0.5))
    assert after == pytest.approx(float(g1.norm()), rel=1e-6) and before > after


def test_clipped_flag_and_norms_in_a_run():
    res = run(RunConfig(hidden=8, seq_len=20, steps=6, clip=0.05, lr=0.01))
    m = res.metrics
    assert (m.grad_norm_clipped <= 0.05 * (1 + 1e-6)).all()
    assert ((m.grad_norm > 0.05) == (m.clipped == 1)).all()


# ---- truncated BPTT ------------------------------------------------------------------------------


def test_tbptt_profile_is_nan_before_the_chunk_and_equals_full_bptt_inside():
    base = dict(hidden=10, seq_len=30, steps=1, batch=8, task="adding")
    full = run(RunConfig(**base)).arrays["grad_time"][0]
    trunc = run(RunConfig(**base, tbptt=10)).arrays["grad_time"]
    assert trunc.shape == (1, 30)  # adding: only the last chunk carries a loss term: one update
    assert np.isnan(trunc[0, :20]).all()
    assert np.isfinite(trunc[0, 20:]).all() and (trunc[0, 20:] > 0).all()
    np.testing.assert_allclose(trunc[0, 20:], full[20:], rtol=1e-5)
    assert np.isfinite(full).all()


def test_tbptt_one_update_per_chunk_with_loss_terms():
    res = run(RunConfig(hidden=6, seq_len=25, steps=2, task="sine", tbptt=10))
    assert len(res.metrics) == 2 * 3  # chunks [0,10) [10,20) [20,25) each with loss terms
    g = res.arrays["grad_time"]
    for u, (t0, t1) in enumerate([(0, 10), (10, 20), (20, 25)]):
        inside = np.zeros(25, bool)
        inside[t0:t1] = True
        assert np.isfinite(g[u, inside]).all() and np.isnan(g[u, ~inside]).all()


# ---- heatmap through the pipeline ----------------------------------------------------------------


@pytest.mark.parametrize("norm", ["spectral", "rms"])
def test_heatmap_of_linear_orthogonal_cell_is_lag_times_log_rho(norm):
    cfg = RunConfig(act="linear", init="orthogonal", rho=1.3, seq_len=60, hidden=16, norm=norm)
    hm = analyse(cfg).heatmap
    t, k = np.tril_indices(60)
    np.testing.assert_allclose(hm[t, k], (t - k) * np.log10(1.3), atol=1e-4)
    assert np.isnan(hm[np.triu_indices(60, 1)]).all()


# ---- tasks and baselines -------------------------------------------------------------------------


def test_copy_baseline_equals_an_input_blind_predictor():
    task = make_task("copy", 40)
    b = task.sample(np.random.default_rng(0), 16)
    L = task.L
    assert L == 60 and b.x.shape == (60, 16, COPY_SYMBOLS + 2)
    logits = torch.full((L, 16, task.n_out), -1e4)
    logits[: L - COPY_LEN, :, task.BLANK] = 1e4  # certain of blank while nothing is asked
    logits[L - COPY_LEN :, :, :COPY_SYMBOLS] = 0.0  # uniform over the 8 symbols when asked
    assert float(task.loss(logits, b.y)) == pytest.approx(10 * math.log(8) / 60, rel=1e-6)
    assert task.baseline == pytest.approx(10 * math.log(8) / 60)
    # the answer is the first 10 inputs, the delimiter sits at T + 9
    np.testing.assert_array_equal(b.y[-COPY_LEN:].numpy(), b.x[:COPY_LEN].argmax(-1).numpy())
    assert (b.x[COPY_LEN + 40 - 1, :, task.DELIM] == 1).all()


def test_adding_and_sine_baselines_are_the_target_variance():
    rng = np.random.default_rng(1)
    add = make_task("adding", 50).sample(rng, 20000)
    assert float(add.y.var()) == pytest.approx(1 / 6, rel=0.03)
    assert float(((add.x[..., 0] * add.x[..., 1]).sum(0) - add.y).abs().max()) < 1e-5
    assert (add.x[..., 1].sum(0) == 2).all()
    sine = make_task("sine", 200).sample(rng, 2000)
    assert float(sine.y.var()) == pytest.approx(make_task("sine", 200).baseline, rel=0.05)


def test_order_task_baseline_and_label():
    task = make_task("order", 100)
    b = task.sample(np.random.default_rng(2), 64)
    uniform = torch.zeros(100, 64, 4)
    assert float(task.loss(uniform, b.y)) == pytest.approx(math.log(4), rel=1e-6)
    ids = b.x.argmax(-1)  # (T, B)
    for j in range(64):
        marks = [int(v) for v in ids[:, j] if v < 2]
        assert len(marks) == 2 and 2 * marks[0] + marks[1] == int(b.y[j])


# ---- determinism, divergence, callbacks, export -------------------------------------------------


def test_same_seed_same_numbers_different_seed_different():
    cfg = RunConfig(hidden=8, seq_len=20, steps=4, snapshots=2)
    a, b = run(cfg), run(cfg)
    np.testing.assert_array_equal(a.metrics.to_numpy(float), b.metrics.to_numpy(float))
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    c = run(cfg.replace(seed=1))
    assert not np.array_equal(a.metrics.loss.to_numpy(), c.metrics.loss.to_numpy())


def test_summary_records_how_the_heatmaps_were_computed():
    cfg = RunConfig(hidden=8, seq_len=12, steps=4, snapshots=2, norm="spectral")
    res = run(cfg)
    h, S = res.summary["heatmap"], len(res.arrays["snapshot_steps"])
    assert {k: h[k] for k in ("norm", "method", "dtype")} == {
        "norm": "spectral",
        "method": "gram",
        "dtype": "float32",
    }
    assert h["certified"] + h["exact"] == S * 12 * 11 // 2  # every pair of every snapshot, once
    rms = run(cfg.replace(norm="rms")).summary["heatmap"]
    assert rms == {"norm": "rms", "method": "frobenius", "dtype": "float32", "certified": 0, "exact": 0}


def test_diverging_run_is_a_result():
    res = run(RunConfig(act="linear", rho=3.0, clip=0, seq_len=100, hidden=16, steps=20))
    assert res.summary["diverged_at"] == 0 and res.summary["nonfinite"] in ("loss", "gradient")
    assert math.isnan(res.summary["final_loss"])
    assert len(res.arrays["snapshot_steps"]) >= 1
    assert res.summary["heatmap"]["method"] == "gram"  # the step-0 snapshot was still measurable


def test_divergence_mid_training_keeps_earlier_records():
    res = run(RunConfig(act="relu", rho=1.05, seq_len=40, hidden=16, lr=2.0, steps=50))
    d = res.summary["diverged_at"]
    assert d is not None and d > 0
    m = res.metrics
    assert len(m) == d + 1 and np.isfinite(m.loss.iloc[:d]).all()
    assert not np.isfinite(m[["loss", "grad_norm"]].iloc[-1]).all()


def test_callback_can_stop_the_run_and_partial_results_are_kept():
    seen = []

    def cb(rec):
        seen.append(rec)
        return len(seen) >= 3

    res = run(RunConfig(hidden=8, seq_len=20, steps=50), on_update=cb)
    assert len(seen) == 3 and len(res.metrics) == 3 and res.summary["stopped_early"]
    assert res.arrays["snapshot_steps"][-1] == 3
    assert set(seen[0]) >= {"step", "loss", "grad_norm", "grad_norm_clipped", "clipped", "rho_whh"}


def test_on_snapshot_reports_each_snapshot_as_it_is_taken():
    seen, updates = [], []
    res = run(
        RunConfig(hidden=8, seq_len=15, steps=6, snapshots=4),
        on_update=lambda rec: updates.append(rec["step"]),
        on_snapshot=lambda step, snap: seen.append((step, len(updates), snap)),
    )
    assert [s for s, _, _ in seen] == list(res.arrays["snapshot_steps"]) == [0, 2, 4, 6]
    assert [n for _, n, _ in seen] == [0, 2, 4, 6]  # taken before the updates of that step
    for i, (_, _, snap) in enumerate(seen):
        np.testing.assert_array_equal(snap.heatmap, res.arrays["jacobian"][i])
        np.testing.assert_array_equal(snap.eigvals, res.arrays["eigvals"][i])


def test_recorded_spectra_match_the_weights():
    res = run(RunConfig(hidden=8, seq_len=15, steps=4, snapshots=5, lr=0.5))
    W = res.arrays["W_hh"]  # (S, H, H)
    for i in range(len(W)):
        np.testing.assert_allclose(
            np.sort(np.abs(res.arrays["eigvals"][i])),
            np.sort(np.abs(np.linalg.eigvals(W[i].astype(np.float64)))),
            rtol=1e-5,
        )
    # rho_whh of the update before each snapshot equals the snapshot's radius
    for i, step in enumerate(res.arrays["snapshot_steps"][1:], 1):
        assert res.metrics.rho_whh.iloc[step - 1] == pytest.approx(
            np.abs(res.arrays["eigvals"][i]).max(), rel=1e-5
        )


def test_save_and_load_give_an_equal_result(tmp_path):
    res = run(RunConfig(cell="lstm", hidden=6, seq_len=12, steps=3, task="order", snapshots=2))
    back = load_run(res.save(tmp_path / "r"))
    assert back.equals(res)
    assert set(back.arrays) >= {
        "snapshot_steps",
        "jacobian",
        "eigvals",
        "probe_x",
        "grad_time",
        "weight_hh",
        "weight_ih",
    }
    L = 12
    assert back.arrays["jacobian"].shape == (2, L, L) and back.arrays["grad_time"].shape == (3, L)
    assert list(back.metrics.columns[:9]) == [
        "step",
        "update",
        "loss",
        "seq_loss",
        "grad_norm",
        "grad_norm_clipped",
        "clipped",
        "rho_whh",
        "sigma_max_whh",
    ]


def test_export_shapes_for_the_copy_task():
    res = run(RunConfig(task="copy", seq_len=10, hidden=8, steps=2, snapshots=2))
    a = res.arrays
    assert a["jacobian"].shape == (2, 30, 30) and a["probe_x"].shape == (30, 10)
    assert a["W_hh"].shape == (2, 8, 8) and a["W_xh"].shape == (2, 8, 10) and a["b_h"].shape == (2, 8)
    assert a["eigvals"].dtype == np.complex128 and a["grad_time"].shape == (2, 30)
