"""Whether a run worked: one verdict per run, with the advice that fits its case.

A run is judged on its final evaluation loss against the task's baseline (the loss of the best
predictor that ignores the inputs, `Task.baseline`):

- **learned**: the final loss is below (1 - LEARN_MARGIN) x baseline;
- **not learned**: within LEARN_MARGIN of the baseline either way (the network does no better than
  guessing from the task's statistics);
- **worse**: above (1 + LEARN_MARGIN) x baseline (training made the predictions worse than guessing);
- **diverged**: a value went non-finite; where (the step) and in which pass: the *forward* pass (the
  network's activity overflowed: no gradient was involved, so clipping cannot help), the *backward*
  pass (the gradient overflowed), or the *update* (the new weights overflowed);
- **not trained**: steps = 0, or stopped before the first update;
- **stopped**: ended from outside before the final evaluation (a server ended its process).

`judge(summary)` reads only what summary.json holds, so an exported run is judged the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

LEARN_MARGIN = 0.10
"""A final loss within 10 % of the baseline counts as "not learned": on the evaluation batch of 128
sequences the baseline itself is only an expectation, and a few percent below it is what fitting the
output's mean (or chance) gives without using the inputs."""

LEARNED, NOT_LEARNED, WORSE = "learned", "not learned", "worse"
DIVERGED, NOT_TRAINED, STOPPED = "diverged", "not trained", "stopped"
KINDS = (LEARNED, NOT_LEARNED, WORSE, DIVERGED, NOT_TRAINED, STOPPED)

# summary["nonfinite"] (what went non-finite first) -> the pass in which it happened
STAGE = {"loss": "forward", "gradient": "backward", "weights": "update"}


@dataclass(frozen=True)
class Verdict:
    """kind: one of KINDS. ratio: final loss / baseline (None when there is no final loss).
    step: the step at which a run diverged (or None). stage: "forward", "backward" or "update" for a
    diverged run. headline: one line for a person. advice: what to try next (may be empty)."""

    kind: str
    headline: str
    advice: str = ""
    ratio: float | None = None
    step: int | None = None
    stage: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def text(self) -> str:
        return self.headline + (" " + self.advice if self.advice else "")


def judge(summary: dict[str, Any]) -> Verdict:
    """The verdict on a run from its summary (RunResult.summary or summary.json)."""
    if summary.get("diverged_at") is not None:
        return _diverged(int(summary["diverged_at"]), summary.get("nonfinite"))
    final, base = summary.get("final_loss"), summary.get("baseline_loss")
    stopped = bool(summary.get("stopped_early"))
    evaluated = final is not None and base is not None and math.isfinite(final)
    if stopped and summary.get("updates") and not evaluated:
        return Verdict(
            STOPPED,
            f"Stopped at step {summary.get('steps_done', '?')}, before the final "
            "evaluation: the curves show what was trained, but there is no final loss to judge.",
        )
    if not summary.get("updates") or not evaluated:
        return Verdict(NOT_TRAINED, "Not trained: no update was made, so there is no learning to judge.")
    assert final is not None and base is not None  # `evaluated` checked both just above
    ratio = final / base
    where = f"final loss {final:.3g} against the baseline {base:.3g}"
    prefix = f"Stopped at step {summary.get('steps_done', '?')}. " if stopped else ""
    if ratio < 1 - LEARN_MARGIN:
        pct = f"{100 * ratio:.0f} %" if ratio >= 0.01 else f"{100 * ratio:.2g} %"
        return Verdict(LEARNED, f"{prefix}Learned: {where} ({pct} of it).", "", ratio)
    if ratio <= 1 + LEARN_MARGIN:
        return Verdict(
            NOT_LEARNED,
            f"{prefix}Did not learn: {where}, within {LEARN_MARGIN:.0%} of what "
            "predicting without looking at the inputs achieves.",
            "Try more steps, a better-suited optimizer (adam) or learning rate, a shorter "
            "sequence, or one of the remedies (Presets page).",
            ratio,
        )
    return Verdict(
        WORSE,
        f"{prefix}Worse than guessing: {where} ({ratio:.2g}x it): training left the "
        "predictions worse than ignoring the inputs.",
        "Try a smaller learning rate, gradient clipping, or more steps.",
        ratio,
    )


def _diverged(step: int, nonfinite: str | None) -> Verdict:
    stage = STAGE.get(nonfinite or "", "forward")
    what = {"forward": "the loss", "backward": "the gradient", "update": "the weights"}[stage]
    head = f"Diverged at step {step} in the {stage} pass ({what} became inf or NaN)"
    if stage == "forward" and step == 0:
        return Verdict(
            DIVERGED,
            f"{head}: with the initial weights the network's activity overflows "
            "along the sequence, before any gradient is taken.",
            "Clipping and the learning rate cannot help here. Lower ρ, shorten the sequence, or "
            "use a saturating activation (tanh, sigmoid).",
            None,
            step,
            stage,
        )
    if stage == "forward":
        return Verdict(
            DIVERGED,
            f"{head}: the previous update moved the weights so far that the network's output overflows.",
            "Keep updates short: gradient clipping or a smaller learning rate.",
            None,
            step,
            stage,
        )
    if stage == "backward" and step == 0:
        return Verdict(
            DIVERGED,
            f"{head}: with the initial weights the products of Jacobians along the "
            "sequence outgrow the float range.",
            "Clipping acts on a computed gradient and cannot rescue an overflowed one: lower ρ "
            "or shorten the sequence.",
            None,
            step,
            stage,
        )
    if stage == "backward":
        return Verdict(
            DIVERGED,
            f"{head}: after the previous updates the products of Jacobians outgrow the float range.",
            "Clip the gradient norm so that updates stay short, or lower the learning rate or ρ.",
            None,
            step,
            stage,
        )
    return Verdict(
        DIVERGED,
        f"{head}: the update overflowed.",
        "Clip the gradient norm or lower the learning rate.",
        None,
        step,
        stage,
    )
