"""The built-in lessons say what the app shows: each file follows the team's lesson format, every
step's configuration resolves with no notice, and the key numbers a step's text quotes hold, with a
margin, whatever the torch thread count.

The measurements are bench/lessons.py's (loaded from its path: bench/ is not a package), so the
script that produced a number and the test that guards it read the app the same way. The format
check here is the author's own (the app's lesson loader is built separately); it follows
docs/lessons.md.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch

from rnnlab import RunConfig, claims, run
from rnnlab.config import ConfigError
from rnnlab.fields import FIELD
from rnnlab.presets import PRESETS, resolve
from rnnlab.verdict import LEARNED, NOT_LEARNED, WORSE, judge

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_lessons", ROOT / "bench" / "lessons.py")
assert _spec is not None and _spec.loader is not None
L = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(L)

NO_LEARNING = (NOT_LEARNED, WORSE)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The app's setting (rnnlab.runtime); the margins also hold with two threads (bench/lessons.py
    --threads 2), this only keeps the file fast on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- the format --------------------------------------------------------------------------------

LESSON_KEYS = {"title", "audience", "summary", "step"}
STEP_KEYS = {"title", "preset", "set", "hide", "text", "look", "questions", "do"}


def _problems(name: str, lesson: dict) -> list[str]:
    """Every way `lesson` breaks docs/lessons.md, as "step N, field: what" messages."""
    out = []
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,47}", name):
        out.append(f"name {name!r}")
    out += [f"unknown key {k}" for k in set(lesson) - LESSON_KEYS]
    title = lesson.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 80:
        out.append("title: required, at most 80 characters")
    aud = lesson.get("audience")
    if not isinstance(aud, str) or not aud.strip() or "\n" in aud.strip():
        out.append("audience: required, one line")
    steps = lesson.get("step")
    if not isinstance(steps, list) or not steps:
        return [*out, "step: at least one"]
    for i, st in enumerate(steps, 1):
        at = f"step {i}"
        out += [f"{at}, {k}: unknown key" for k in set(st) - STEP_KEYS]
        for k in ("title", "text", "look"):
            if not isinstance(st.get(k), str) or not st[k].strip():
                out.append(f"{at}, {k}: required text")
        qs = st.get("questions")
        if not isinstance(qs, list) or not 1 <= len(qs) <= 2 or not all(isinstance(q, str) for q in qs):
            out.append(f"{at}, questions: one or two strings")
        if "preset" in st and resolve(st["preset"]) is None:
            out.append(f"{at}, preset: {st['preset']!r} is unknown")
        out += [f"{at}, set.{k}: unknown key" for k in st.get("set", {}) if k not in FIELD]
        out += [f"{at}, hide: {k!r} is not a control" for k in st.get("hide", []) if k not in FIELD]
        do = st.get("do")
        if do is not None and not (
            do in ("train", "compare") or (do.startswith("change ") and do[7:] in FIELD)
        ):
            out.append(f"{at}, do: {do!r}")
        try:
            cfg = L.step_config(st)
        except ConfigError as e:
            out.append(f"{at}, set: {e}")
            continue
        # no notice: the lenient (URL) reading of the same values changes nothing
        base = PRESETS[resolve(st["preset"])].settings if "preset" in st else {}
        lenient, notices = RunConfig.from_lenient({**base, **st.get("set", {})})
        if notices or lenient != cfg:
            out.append(f"{at}, set: notices {notices}")
    return out


@pytest.mark.parametrize("name", L.LESSONS)
def test_lesson_file_follows_the_format(name):
    lesson = L.load(name)
    assert _problems(name, lesson) == []
    for st in lesson["step"]:  # short texts, in plain words: 3-6 sentences
        n = len(re.findall(r"[.!?](?:\s|$)", st["text"].strip()))
        assert 3 <= n <= 7, (name, st["title"], n)


def test_the_format_check_names_step_and_field():
    bad = {
        "title": "x",
        "audience": "y",
        "step": [
            {"title": "a", "text": "t", "look": "l", "questions": ["q"]},
            {"title": "b", "text": "t", "look": "l", "questions": ["q"], "set": {"rho": 0}},
        ],
    }
    (msg,) = _problems("bad", bad)
    assert msg.startswith("step 2, set:")
    assert "rho" in msg


# ---- lesson 1: why gradients vanish and explode ------------------------------------------------

VE = "vanishing-exploding"


def test_ve_1_product_of_jacobians_is_0_9_per_step():
    a = L.at_init(L.config_of(VE, 1))
    assert 0.89 <= a["factor"] <= 0.91
    assert -0.97 <= a["mean"][20] <= -0.87  # 0.9 ** 20 = 0.12, log10 -0.92


def test_ve_2_tanh_vanishes():
    a = L.at_init(L.config_of(VE, 2))
    assert 0.58 <= a["factor"] <= 0.68
    assert 15 <= a["last_above_1e-3"] <= 21  # "by lag 19 less than a thousandth is left"


def test_ve_3_large_radius_grows_per_step():
    assert 1.1 <= L.at_init(L.config_of(VE, 3))["factor"] <= 1.22


def test_ve_5_truncation_only_reaches_the_last_window():
    assert L.finite_positions(L.config_of(VE, 5, steps=2)) == [16, 17, 18, 19, 20]


@pytest.mark.slow
def test_ve_3_diverges_around_step_18():
    ev = claims.gather(L.config_of(VE, 3))
    assert ev.kind == "diverged"
    assert 12 <= ev.diverged_at <= 30
    assert ev.spike >= 10


@pytest.mark.slow
def test_ve_4_clipping_rescues_it():
    r = run(L.config_of(VE, 4), heatmaps=False)
    v = judge(r.summary)
    assert v.kind == LEARNED
    assert v.ratio <= 0.3  # "about a sixth of the baseline"
    assert r.metrics["clipped"].mean() >= 0.85  # "about 95% of the updates"


@pytest.mark.slow
def test_ve_5_truncated_fails_full_learns():
    trunc = judge(run(L.config_of(VE, 5), heatmaps=False).summary)
    full = judge(run(L.config_of(VE, 5, tbptt=0), heatmaps=False).summary)
    assert trunc.kind in NO_LEARNING
    assert full.kind == LEARNED
    assert full.ratio <= 0.05


# ---- lesson 2: remedies ------------------------------------------------------------------------

RE = "remedies"


def test_re_1_orthogonal_keeps_norm_gaussian_offsets_it():
    assert 0.998 <= L.at_init(L.config_of(RE, 1))["factor"] <= 1.002
    g = L.at_init(L.config_of(RE, 1, init="gaussian"))
    assert 0.97 <= g["factor"] <= 1.03
    assert all(0.25 <= g["mean"][d] <= 0.55 for d in (5, 20, 50))  # "settle near 2.5"
    assert 0.45 <= L.at_init(L.config_of(RE, 1, init="gaussian", rho=0.5))["factor"] <= 0.55


def test_re_2_identity_relu_is_one_per_step():
    assert 0.99 <= L.at_init(L.config_of(RE, 2))["factor"] <= 1.01


def test_re_3_leak_slows_the_decay():
    on = L.at_init(L.config_of(RE, 3))
    off = L.at_init(L.config_of(RE, 3, leak=0.0))
    assert on["factor"] >= 0.93
    assert on["last_above_1e-3"] == 99  # every lag of the 100 shown
    assert off["factor"] <= 0.6


def test_re_4_lstm_decays_slower_than_the_plain_cell():
    assert 0.9 <= L.at_init(L.config_of(RE, 4))["factor"] <= 0.97
    assert 0.72 <= L.at_init(L.config_of(RE, 4, cell="rnn"))["factor"] <= 0.82


@pytest.mark.slow
def test_re_4_lstm_learns_the_plain_cell_does_not():
    lstm = judge(run(L.config_of(RE, 4), heatmaps=False).summary)
    rnn = judge(run(L.config_of(RE, 4, cell="rnn"), heatmaps=False).summary)
    assert lstm.kind == LEARNED
    assert lstm.ratio <= 0.1
    assert rnn.kind in NO_LEARNING


@pytest.mark.slow
def test_re_5_omega_lifts_the_factor_not_the_loss():
    factors = L.snapshot_factors(L.config_of(RE, 5))
    assert factors[0][1] <= 0.7
    assert all(f >= 0.9 for _, f in factors[1:])  # close to x1 from the first snapshot after 0


@pytest.mark.slow
def test_re_6_echo_state_network_learns_nearly_as_well():
    esn = judge(run(L.config_of(RE, 6), heatmaps=False).summary)
    full = judge(run(L.config_of(RE, 6, train_recurrent=True), heatmaps=False).summary)
    assert esn.kind == LEARNED
    assert esn.ratio <= 0.2  # "about a seventh of the baseline"
    assert esn.ratio <= 1.5 * full.ratio


# ---- lesson 3: the sum that does not vanish ----------------------------------------------------

SUM = "the-sum"


def test_sum_1_one_term_falls_with_the_heatmap_factor():
    st = L.profile_stats(L.first_profile(L.config_of(SUM, 1)))
    assert st["rise"] <= -17  # "about 20 orders of magnitude" lower at position 1
    assert 0.17 <= st["slope"] <= 0.23  # log10 0.63 = -0.2 per step back


def test_sum_2_a_sum_of_vanishing_terms_is_flat():
    st = L.profile_stats(L.first_profile(L.config_of(SUM, 2)))
    assert st["spread"] <= 0.3
    assert abs(st["rise"]) <= 0.3
    assert 0.63 <= L.at_init(L.config_of(SUM, 2))["factor"] <= 0.73  # "about 0.68"


def test_sum_3_terms_that_do_not_vanish_add_like_a_random_walk():
    st = L.profile_stats(L.first_profile(L.config_of(SUM, 3)))
    assert 0.7 <= st["rise"] <= 1.3  # about tenfold = sqrt(100 terms)
    assert 0.05 <= st["half"] <= 0.25  # sqrt(100 / 50): log10 0.15


def test_sum_4_growing_terms_give_a_steep_profile():
    st = L.profile_stats(L.first_profile(L.config_of(SUM, 4)))
    assert 2.5 <= st["rise"] <= 3.5  # "nearly a thousand times"


@pytest.mark.slow
def test_sum_2_flat_in_every_row():
    rows = L.profile_rows(L.config_of(SUM, 2))
    assert all(r["spread"] <= 0.3 for r in rows)
    assert all(math.isfinite(r["rise"]) for r in rows)
