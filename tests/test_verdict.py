"""The verdict on a run: learned, not learned, worse, diverged (where, in which pass), not trained."""

import math

import pytest

from rnnlab import RunConfig, run
from rnnlab.verdict import DIVERGED, LEARN_MARGIN, LEARNED, NOT_LEARNED, NOT_TRAINED, WORSE, judge

BASE = {
    "baseline_loss": 0.2,
    "updates": 10,
    "diverged_at": None,
    "nonfinite": None,
    "stopped_early": False,
    "steps_done": 10,
}


@pytest.mark.parametrize(
    ("final", "kind"),
    [
        (0.02, LEARNED),
        (0.2 * (1 - LEARN_MARGIN) - 1e-9, LEARNED),
        (0.2 * (1 - LEARN_MARGIN) + 1e-9, NOT_LEARNED),
        (0.2, NOT_LEARNED),
        (0.2 * (1 + LEARN_MARGIN), NOT_LEARNED),
        (0.2 * (1 + LEARN_MARGIN) + 1e-9, WORSE),
        (5.0, WORSE),
    ],
)
def test_final_loss_against_the_baseline(final, kind):
    v = judge({**BASE, "final_loss": final})
    assert v.kind == kind and v.ratio == pytest.approx(final / 0.2)
    assert f"{final:.3g}" in v.headline and "0.2" in v.headline


def test_no_update_is_not_trained_and_a_stop_is_said():
    assert judge({**BASE, "updates": 0, "final_loss": 0.1}).kind == NOT_TRAINED
    v = judge({**BASE, "final_loss": 0.01, "stopped_early": True, "steps_done": 7})
    assert v.kind == LEARNED and v.headline.startswith("Stopped at step 7.")


@pytest.mark.parametrize(
    ("nonfinite", "step", "stage", "advice"),
    [
        ("loss", 0, "forward", "cannot help"),
        ("loss", 5, "forward", "clipping"),
        ("gradient", 0, "backward", "cannot rescue"),
        ("gradient", 5, "backward", "Clip the gradient norm"),
        ("weights", 5, "update", "Clip the gradient norm"),
    ],
)
def test_divergence_names_the_step_the_pass_and_fitting_advice(nonfinite, step, stage, advice):
    v = judge({**BASE, "final_loss": math.nan, "diverged_at": step, "nonfinite": nonfinite})
    assert (v.kind, v.step, v.stage) == (DIVERGED, step, stage)
    assert v.headline.startswith(f"Diverged at step {step} in the {stage} pass") and advice in v.advice


def test_real_runs_diverge_in_the_pass_the_verdict_names():
    # relu with rho 3: 3^100 overflows float32 in the forward pass of the first step (H = 16) ...
    fwd = run(RunConfig(act="relu", rho=3, hidden=16, steps=2, snapshots=1))
    assert fwd.verdict.stage == "forward" and fwd.summary["verdict"] == fwd.verdict.as_dict()
    # ... while at H = 8 the states stay finite and the backward products overflow first
    bwd = run(RunConfig(act="relu", rho=3, hidden=8, steps=2, snapshots=1))
    assert (bwd.verdict.stage, bwd.verdict.step) == ("backward", 0)
    assert math.isfinite(bwd.metrics["loss"].iloc[0]) and not math.isfinite(bwd.metrics["grad_norm"].iloc[0])


def test_evaluation_that_overflows_without_training_is_a_forward_divergence_at_step_0():
    # linear cell, rho 10, 300 steps: 10^300 overflows float32 on the evaluation batch
    r = run(RunConfig(steps=0, act="linear", rho=10, seq_len=300, hidden=4))
    s = r.summary
    assert (s["diverged_at"], s["nonfinite"], s["updates"]) == (0, "loss", 0)
    assert (r.verdict.kind, r.verdict.stage, r.verdict.step) == (DIVERGED, "forward", 0)
    assert "before any gradient is taken" in r.verdict.headline


def test_a_non_finite_final_loss_always_has_a_reason():
    for cfg in (
        RunConfig(steps=0, act="relu", rho=10, seq_len=100, hidden=8),
        RunConfig(steps=0, seq_len=20, hidden=4),
    ):
        s = run(cfg).summary
        assert math.isfinite(s["final_loss"]) or s["diverged_at"] is not None
