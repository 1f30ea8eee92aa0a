"""Compare and Theory pages: B's URL parameter, the builders' numbers, and the pages in AppTest.

Oracles: `rnnlab.run` / `rnnlab.analyse` for what the Compare charts must carry, `rnnlab.theory` and
independent float64 loops / torch's clipping utilities for the Theory builders.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from apptest_support import (
    navigation_mode,  # noqa: F401 - autouse fixture, on for this module
    page_charts,
)
from apptest_support import plotly_array as arr

from rnnlab import RunConfig, analyse, comparison, preset_config, run, theory
from rnnlab.comparison import per_step
from rnnlab.plots import compare as cf
from rnnlab.plots import theory as tf
from rnnlab.presets import REMEDIES
from ui import names
from ui.compare import link

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(seq_len=12, hidden=6, steps=3, batch=4, snapshots=2)


# ---- helpers ---------------------------------------------------------------------------------------


def fig_json(fig) -> dict:
    return json.loads(fig.to_json())


def page_app(page: str, **params):
    """AppTest of app.py on `page` with these URL parameters (as a link opened in a browser)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page)
    for k, v in params.items():
        at.query_params[k] = str(v)
    at.run()
    return at


def charts(at) -> dict[str, dict]:
    """Plotly specs on the page, by title text."""
    out = {}
    for el in page_charts(at):
        spec = json.loads(el.proto.spec)
        title = ((spec.get("layout") or {}).get("title") or {}).get("text") or ""
        out[title] = spec
    return out


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# ---- B's changes in links -------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "without", "with_"), REMEDIES)
def test_remedy_link_makes_b_the_preset_with_the_remedy(label, without, with_):
    params = link.remedy_params(without, with_)
    a = preset_config(without)
    b, _, notices = a.with_changes(params["b"])
    assert notices == []
    assert b == preset_config(with_), label


def test_page_url_points_at_the_compare_page():
    url = link.page_url({"act": "relu", "b": "clip:1,lr:0.1"})
    assert url.endswith("/compare?act=relu&b=clip:1,lr:0.1")


# ---- compare builders --------------------------------------------------------------------------------


def test_difference_is_b_minus_a_and_undefined_at_exact_zeros():
    a = np.array([[0.0, np.nan], [-2.0, 0.0]])
    b = np.array([[0.0, np.nan], [-np.inf, 0.5]])
    d = comparison.difference(a, b)
    assert np.isnan(d[0, 1]) and np.isnan(d[1, 0]) and d[1, 1] == 0.5 and d[0, 0] == 0
    z = arr(fig_json(cf.difference_heatmap(a, b))["data"][0]["z"])
    np.testing.assert_array_equal(z, d.astype(np.float32))
    with pytest.raises(ValueError, match="same sequence length"):
        comparison.difference(a, np.zeros((3, 3)))


def test_shared_range_covers_both_maps_in_auto_mode():
    lo, hi = cf.shared_range(np.array([[0.0, -3.5]]), np.array([[2.5, np.nan]]), "auto")
    assert (lo, hi) == (-3.5, 2.5)
    assert cf.shared_range(np.zeros((2, 2)), np.zeros((2, 2)), "fixed") == (-8.0, 8.0)


def test_final_numbers_match_the_run():
    r = run(RunConfig(**TINY, clip=0.01))
    n = comparison.final_numbers(r.metrics, r.summary)
    assert n["final loss"] == r.summary["final_loss"]
    assert n["max gradient norm"] == pytest.approx(r.metrics.grad_norm.max())
    assert n["final ρ(W_hh)"] == pytest.approx(r.metrics.rho_whh.iloc[-1])
    assert n["clipped updates"] == int(r.metrics.clipped.sum()) > 0
    assert n["updates"] == len(r.metrics)


# ---- theory builders ---------------------------------------------------------------------------------


def test_mean_field_curves_are_theory_and_points_are_the_measurements():
    rhos = np.linspace(0.1, 3, 25)
    measured = {"relu": ([0.5, 1.0], [-0.4, -0.15]), "tanh": ([1.0], [-0.12])}
    spec = fig_json(tf.mean_field_figure(rhos, 0.2, measured, act="tanh", rho=1.0))
    for i, act in enumerate(tf.ACTS):
        y = arr(spec["data"][i]["y"])
        np.testing.assert_allclose(y, theory.mean_field_slopes(act, rhos, 0.2), rtol=1e-12)
        assert act in spec["data"][i]["name"]
    pts = {d["name"]: (arr(d["x"]), arr(d["y"])) for d in spec["data"][4:]}
    assert set(pts) == {"tanh (measured)", "relu (measured)"}
    np.testing.assert_array_equal(pts["relu (measured)"][1], [-0.4, -0.15])
    # and the closed forms hold on the drawn curves: linear ln g, relu 0.5 ln(g^2/2)
    np.testing.assert_allclose(arr(spec["data"][3]["y"]), np.log10(rhos), atol=1e-9)
    np.testing.assert_allclose(arr(spec["data"][2]["y"]), 0.5 * np.log10(rhos**2 / 2), atol=1e-9)


def _cliff_oracle(w: float, b: float, T: int = 50) -> float:
    """The loss by a plain scalar loop (independent of theory.cliff_loss's vectorised recurrences)."""
    x = 0.5
    for _ in range(T):
        x = w / (1 + math.exp(-x)) + b
    return (1 / (1 + math.exp(-x)) - 0.7) ** 2


def test_cliff_figure_draws_both_descents_and_the_true_loss():
    d = theory.CLIFF_DEFAULTS
    plain = theory.cliff_descent(d["w0"], d["b0"], d["lr"], d["steps"])
    clipped = theory.cliff_descent(d["w0"], d["b0"], d["lr"], d["steps"], clip=d["clip"])
    spec = fig_json(tf.cliff_figure(plain, clipped, n=41))
    for trace, path in ((spec["data"][1], plain), (spec["data"][2], clipped)):
        np.testing.assert_array_equal(arr(trace["x"]), path.path[:, 0])
        np.testing.assert_array_equal(arr(trace["y"]), path.path[:, 1])
    assert spec["data"][1]["name"] == "gradient descent"
    # the jump: plain descent leaves the chart, clipped descent never steps further than lr * clip
    assert np.hypot(*np.diff(plain.path, axis=0).T).max() > 10
    assert np.hypot(*np.diff(clipped.path, axis=0).T).max() <= d["lr"] * d["clip"] + 1e-12
    heat = spec["data"][0]
    w, b, z = arr(heat["x"]), arr(heat["y"]), arr(heat["z"])
    for i, j in ((0, 0), (20, 13), (40, 33), (7, 29)):
        want = math.log10(max(_cliff_oracle(w[j], b[i]), 1e-12))
        assert z[i, j] == pytest.approx(want, abs=1e-5)


def test_cliff_steps_figure_carries_losses_and_norms():
    plain = theory.cliff_descent(4.5, -2.75, 0.3, 20)
    clipped = theory.cliff_descent(4.5, -2.75, 0.3, 20, clip=1.0)
    spec = fig_json(tf.cliff_steps_figure(plain, clipped))
    np.testing.assert_array_equal(arr(spec["data"][0]["y"]), plain.losses)
    np.testing.assert_array_equal(arr(spec["data"][3]["y"]), clipped.grad_norms)


def test_eig_powers_figure_draws_each_modulus_to_the_power_t():
    lam = np.array([1.2, 0.5 + 0.5j, 0.5 - 0.5j, 0.9, 0.0])
    spec = fig_json(tf.eig_powers_figure(lam, 10))
    t = np.arange(11)
    np.testing.assert_allclose(arr(spec["data"][0]["y"]), t * math.log10(1.2))
    inside = arr(spec["data"][2]["y"])
    lines = np.split(inside, np.flatnonzero(np.isnan(inside)))  # NaN-separated lines
    firsts = sorted(round(float(seg[~np.isnan(seg)][1]), 9) for seg in lines if np.isfinite(seg).sum() > 1)
    assert firsts == sorted(round(math.log10(m), 9) for m in (abs(0.5 + 0.5j), abs(0.5 - 0.5j), 0.9))
    # 0 counts: it shrinks; the counts include the largest (1.2, outside), as the page's caption does
    assert "(4)" in spec["data"][2]["name"] and "(1)" in spec["data"][1]["name"]
    assert "(0)" in spec["data"][3]["name"]  # none on the circle


def test_eigenvalues_on_the_unit_circle_to_rounding_are_not_outside():
    lam = analyse(RunConfig(init="orthogonal", rho=1.0, hidden=16, seq_len=5, steps=0)).eigvals
    assert (theory.unit_circle_side(lam) == 0).all()  # float32 weights: |λ| = 1 only to rounding
    g = analyse(RunConfig(rho=1.0, hidden=64, seq_len=5, steps=0)).eigvals
    side = theory.unit_circle_side(g)
    assert (side <= 0).all() and (side == 0).sum() >= 1  # rho = 1: the top is on the circle, none out
    spec = fig_json(tf.eig_powers_figure(g, 10))
    assert "(0)" in spec["data"][1]["name"]


def test_pascanu_figure_regions_follow_one_over_gamma():
    spec = fig_json(tf.pascanu_figure(0.8, 1.7, "tanh", rho_max=5.0, n=101))
    heat = spec["data"][0]
    x, z = arr(heat["x"]), arr(heat["z"])
    rows = dict(zip(heat["y"], z))
    for act in tf.ACTS:
        thr = 1 / theory.gamma(act)
        assert np.all(rows[act][x < thr - 1e-9] == 0) and np.all(rows[act][x > thr + 1e-9] == 1)
    assert arr(spec["data"][2]["x"])[0] == 0.8 and arr(spec["data"][3]["x"])[0] == 1.7
    assert spec["data"][3]["y"] == ["tanh"]


def test_norm_clipping_keeps_direction_and_value_clipping_turns_it():
    g = np.array([4.0, 0.9])
    v = theory.clip_vectors(g, 1.0)
    t = torch.tensor(g, requires_grad=True)
    t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_([t], 1.0)
    np.testing.assert_allclose(v["norm-clipped"], t.grad.numpy(), rtol=1e-6)  # torch adds 1e-6 to the norm
    t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_([t], 1.0)
    np.testing.assert_allclose(v["value-clipped"], t.grad.numpy())
    assert theory.angle_deg(g, v["norm-clipped"]) < 1e-6
    turned = math.degrees(math.atan(0.9) - math.atan(0.9 / 4))  # the clamp moves (4, .9) to (1, .9)
    assert theory.angle_deg(g, v["value-clipped"]) == pytest.approx(turned)
    spec = fig_json(tf.clip_figure(g, 1.0))
    np.testing.assert_allclose(arr(spec["data"][1]["x"]), [0, v["norm-clipped"][0]])


def test_lag_share_is_each_lags_share_of_the_last_row():
    hm = np.full((3, 3), np.nan)
    hm[2] = [math.log10(1), math.log10(3), 0.0]  # ||dh3/dh1|| = 1, ||dh3/dh2|| = 3, lag 0: 1
    lags, share = theory.lag_share(hm)
    np.testing.assert_allclose(share, [1 / 5, 3 / 5, 1 / 5])
    np.testing.assert_array_equal(lags, [0, 1, 2])


# ---- pages (AppTest) ---------------------------------------------------------------------------------


def test_compare_page_loads_at_defaults_with_both_init_heatmaps():
    at = page_app("pages/compare.py", seq_len=12, hidden=6)
    no_errors(at)
    specs = charts(at)
    a = RunConfig(seq_len=12, hidden=6)
    ref = analyse(a).heatmap
    heat_a = next(s for t, s in specs.items() if t.startswith("A:"))
    np.testing.assert_allclose(arr(heat_a["data"][0]["z"]), ref.astype(np.float32), equal_nan=True)
    assert any(t.startswith("B − A") for t in specs)


def test_compare_share_box_draws_the_link_only_when_open():
    from ui.compare.setup import SHARE_OPEN

    at = page_app("pages/compare.py", seq_len=12, hidden=6, b="clip:0.5")
    no_errors(at)
    assert not at.code  # closed: no code block (it costs the browser its syntax highlighter)
    at.session_state[SHARE_OPEN] = True  # as a click on the expander does
    at.run()
    (code,) = [c.value for c in at.code]
    assert code.startswith("http") and "/compare?" in code
    params = dict(p.split("=", 1) for p in code.split("?", 1)[1].split("&"))
    assert params["b"] in ("clip:0.5", "clip%3A0.5") and params["seq_len"] == "12" and params["hidden"] == "6"


def test_compare_page_malformed_b_gives_a_notice_not_an_exception():
    at = page_app("pages/compare.py", seq_len=12, hidden=6, b="clip:abc,zzz:1,rho:1.5,nonsense")
    no_errors(at)
    text = " ".join(w.value for w in at.warning)
    assert "clip" in text and "zzz" in text and "nonsense" in text
    assert at.query_params["b"] == ["rho:1.5"] or at.query_params["b"] == "rho:1.5"
    assert any("B = A with rho \\= 1.5" in m.value for m in at.markdown)


def test_compare_page_remedy_pair_link_and_picker():
    label, without, with_ = REMEDIES[0]
    at = page_app("pages/compare.py", **link.remedy_params(without, with_))
    no_errors(at)
    assert at.session_state["cmp.remedy"] == label
    assert any("B = A with clip \\= 0.5" in m.value for m in at.markdown)
    # picking another pair rewrites the URL: A = the preset without, b = the remedy's changes
    at.button_group(key="cmp.remedy").set_value("Leaky integration").run()
    no_errors(at)
    qp = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert qp["preset"] == "leak-off" and qp["b"] == "leak:0.9"
    assert at.session_state["cmp.remedy"] == "Leaky integration"


def test_compare_charts_carry_the_numbers_of_both_runs():
    a = RunConfig(**TINY)
    at = page_app("pages/compare.py", **a.to_strings(), b="clip:0.05,lr:0.1")
    no_errors(at)
    at.button(key="cmp.train").click().run()
    for slot in (names.SLOT_A, names.SLOT_B):
        assert at.session_state[slot].wait(120)
    at.run()
    no_errors(at)
    b = a.replace(clip=0.05, lr=0.1)
    ra, rb = run(a), run(b)  # same configs, same seed: the same numbers
    specs = charts(at)
    loss = specs["Loss"]["data"]
    np.testing.assert_allclose(arr(loss[0]["y"]), per_step(ra.metrics)["seq_loss"], rtol=1e-6)
    np.testing.assert_allclose(arr(loss[1]["y"]), per_step(rb.metrics)["seq_loss"], rtol=1e-6)
    gn = specs["Gradient norm per update"]["data"]
    assert [t["name"] for t in gn] == ["A", "B before clipping", "B after clipping"]
    np.testing.assert_allclose(arr(gn[0]["y"]), ra.metrics.grad_norm, rtol=1e-6)
    np.testing.assert_allclose(arr(gn[2]["y"]), rb.metrics.grad_norm_clipped, rtol=1e-6)
    step = int(ra.snapshot_steps[-1])
    heat_a = specs[f"A: log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ at step {step}"]["data"][0]
    heat_b = specs[f"B: log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ at step {step}"]["data"][0]
    np.testing.assert_allclose(arr(heat_a["z"]), ra.heatmap(-1).astype(np.float32), equal_nan=True)
    np.testing.assert_allclose(arr(heat_b["z"]), rb.heatmap(-1).astype(np.float32), equal_nan=True)
    assert heat_a["zmin"] == heat_b["zmin"] and heat_a["zmax"] == heat_b["zmax"]
    diff = specs[f"B − A (ratio of norms) at step {step}"]["data"][0]
    np.testing.assert_allclose(
        arr(diff["z"]), (rb.heatmap(-1) - ra.heatmap(-1)).astype(np.float32), equal_nan=True, atol=1e-6
    )
    table = next(d.value for d in at.dataframe if "" in d.value.columns)  # the final numbers
    assert table.loc[table[""] == "clipped updates", "B"].item() == str(int(rb.metrics.clipped.sum()))


def test_theory_page_loads_and_follows_the_sidebar():
    from ui.theory import MF_GRID, MF_HIDDEN, MF_SEQ, drive_variance

    at = page_app("pages/theory.py", act="sigmoid", rho=2, hidden=16, seq_len=30)
    no_errors(at)
    specs = charts(at)
    assert len(specs) == 8  # 7 sections with charts, and section 9: the Lyapunov spectrum
    # the mean-field curves use the input variance of the page's small networks
    small = analyse(RunConfig(rho=0.5, hidden=MF_HIDDEN, seq_len=MF_SEQ, norm="rms"))
    mf = next(s for t, s in specs.items() if t.startswith("Growth per step"))
    np.testing.assert_allclose(
        arr(mf["data"][1]["y"]),
        theory.mean_field_slopes("sigmoid", MF_GRID, drive_variance(small)),
        rtol=1e-9,
    )
    assert mf["data"][1]["line"]["width"] == 3  # the sidebar's activation is drawn bold
    # Pascanu's map marks the sidebar's rho and the measured sigma_max of its W_hh
    a = analyse(RunConfig(act="sigmoid", rho=2, hidden=16, seq_len=30))
    pas = next(s for t, s in specs.items() if t.startswith("Where each activation"))
    assert pas["data"][2]["y"] == ["sigmoid"] and arr(pas["data"][2]["x"])[0] == pytest.approx(2.0, rel=1e-6)
    assert arr(pas["data"][3]["x"])[0] == pytest.approx(a.sigma_max, rel=1e-9)
    # the eigenvalue chart's bold line is rho^t over the sequence
    eig = next(s for t, s in specs.items() if t.startswith("|λᵢ|ᵗ"))
    np.testing.assert_allclose(arr(eig["data"][0]["y"]), np.arange(31) * math.log10(a.rho), rtol=1e-9)
    # every formula reaches KaTeX as written: no control character (a "\f" of "\frac" typed into a
    # non-raw string arrives as a form feed and KaTeX shows the formula as red error text)
    formulas = [el.value for el in at.latex]
    assert len(formulas) >= 5
    for tex in formulas:
        assert not any(ord(c) < 32 and c != "\n" for c in tex), repr(tex)
    assert any("\\frac{1}{T-w}" in tex for tex in formulas)  # the QR method's formula (section 9)


def test_theory_page_default_and_gated_cell():
    at = page_app("pages/theory.py", cell="gru", hidden=8, seq_len=20)
    no_errors(at)
    assert any("vanilla cell" in i.value for i in at.info)
    # section 10 counts the sidebar's own (gated) network: P and the bytes G would take written out
    from rnnlab.cells import RecurrentNet

    P = sum(p.numel() for p in RecurrentNet("gru", "tanh", 8, 2, 1).parameters())  # adding: 2 in, 1 out
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["parameters P"] == f"{P:,}"
    assert metrics["G written out"] == f"{4 * P * P / 1000:.3g} KB"
    assert any("Structural damping" in m.value for m in at.markdown)


def test_compare_curves_line_up_on_training_steps_and_ends():
    # A: truncated BPTT, 3 updates per step; B: full BPTT, 1 update per step. Both on one step axis.
    ma = pd.DataFrame(
        {
            "step": np.repeat(np.arange(4), 3),
            "update": np.arange(12),
            "seq_loss": np.repeat([1.0, 0.9, 0.8, 0.7], 3),
            "grad_norm": np.ones(12),
            "grad_norm_clipped": np.ones(12),
            "clipped": np.zeros(12, int),
        }
    )
    mb = pd.DataFrame(
        {
            "step": np.arange(4),
            "update": np.arange(4),
            "seq_loss": [100.0, 0.9, 0.3, 0.2],
            "grad_norm": np.ones(4),
            "grad_norm_clipped": np.ones(4),
            "clipped": np.zeros(4, int),
        }
    )
    runs = {"A": {"metrics": ma, "clip": 0.0}, "B": {"metrics": mb, "clip": 0.0}}
    gn = fig_json(cf.grad_norm_overlay(runs))
    np.testing.assert_allclose(arr(gn["data"][0]["x"]), np.arange(12) / 3)  # step + j/3
    np.testing.assert_allclose(arr(gn["data"][1]["x"]), np.arange(4))
    assert gn["layout"]["xaxis"]["title"]["text"] == "training step"
    loss = fig_json(
        cf.loss_overlay(
            {
                "A": {"metrics": ma, "steps": 4, "final_loss": 0.7},
                "B": {"metrics": mb, "steps": 2, "final_loss": 0.25},
            }
        )
    )
    assert loss["layout"]["yaxis"]["type"] == "log"  # a first spike of 100 must not flatten the rest
    finals = {t["name"]: arr(t["x"])[0] for t in loss["data"] if t["name"].endswith("final eval")}
    assert finals == {"A final eval": 4, "B final eval": 2}  # each marker where its run ended


def test_empty_runs_dir_is_not_named_to_visitors(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_RUNS_DIR", str(tmp_path))
    at = page_app("pages/compare.py", seq_len=12, hidden=6)
    at.segmented_control(key=names.CMP_MODE).set_value(names.CMP_HISTORY).run()
    no_errors(at)
    captions = " ".join(c.value for c in at.caption)
    assert "run folder" in captions and str(tmp_path) not in captions
