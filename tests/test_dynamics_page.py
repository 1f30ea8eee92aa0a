"""AppTest: the Lab's Lyapunov spectrum panel draws the engine's numbers, at init and over training."""

import numpy as np
import pytest
import torch
from apptest_support import navigation_mode  # noqa: F401  (autouse fixture)
from test_pages import TINY, app, array, charts_by_title, no_exception, train

from rnnlab import RunConfig, analyse, run
from ui.dynamics import CHARTS_OPEN


def test_lab_shows_the_spectrum_beside_the_heatmap_at_init():
    at = app()
    at.run()
    no_exception(at)
    assert "Running estimate of the top exponents" not in charts_by_title(at)  # closed: no charts sent
    lam1 = next(m for m in at.metric if m.label == "λ₁ (QR)")  # the numbers are in view all the same
    want = analyse(RunConfig()).spectrum
    assert float(lam1.value) == pytest.approx(want.lambda_1, abs=1e-4)
    at.session_state[f"{CHARTS_OPEN}.init"] = True  # as a click on the expander does
    at.run()
    charts = charts_by_title(at)
    bars = charts["Exponents λ<sub>i</sub> at initialisation"]
    np.testing.assert_allclose(array(bars["data"][0]["y"]), want.exponents, atol=1e-9)
    assert any(t["name"].startswith("heatmap slope") for t in bars["data"])
    assert any(t["name"].startswith("λ<sub>1</sub>, mean field") for t in bars["data"])
    assert bars["layout"]["shapes"][0]["y0"] == 0  # zero is marked
    assert "Running estimate of the top exponents" in charts
    lam1 = next(m for m in at.metric if m.label == "λ₁ (QR)")
    assert float(lam1.value) == pytest.approx(want.lambda_1, abs=1e-4)
    assert any("within a factor e over the 100 steps" in m.value for m in at.markdown)


def test_a_finished_run_shows_the_exponents_over_training():
    at = app(**TINY)
    at.run()
    train(at)
    torch.set_num_threads(1)
    oracle = run(RunConfig(seq_len=20, hidden=8, steps=5))
    charts = charts_by_title(at)
    over = charts["Top Lyapunov exponents over training"]
    np.testing.assert_allclose(array(over["data"][0]["y"]), oracle.arrays["lyapunov"][:, 0], atol=1e-6)
    last = int(oracle.snapshot_steps[-1])
    at.session_state[f"{CHARTS_OPEN}.snap"] = True
    at.run()
    charts = charts_by_title(at)
    bars = charts[f"Exponents λ<sub>i</sub> at step {last}"]
    np.testing.assert_allclose(array(bars["data"][0]["y"]), oracle.exponents(-1), atol=1e-6)


def test_theory_page_explains_the_qr_method_with_your_spectrum():
    at = app()
    at.run()
    at.switch_page("pages/theory.py").run()
    no_exception(at)
    bars = charts_by_title(at)["Your network at initialisation: λ<sub>i</sub>, ln per step"]
    want = analyse(RunConfig()).spectrum  # the theory page's network is the sidebar's (a vanilla rnn)
    np.testing.assert_allclose(array(bars["data"][0]["y"]), want.exponents, atol=1e-9)
    assert any("The QR method" in m.value for m in at.markdown)


def test_a_finished_run_shows_its_orbit_diagram():
    at = app(**TINY)
    at.run()
    train(at)
    torch.set_num_threads(1)
    oracle = run(RunConfig(seq_len=20, hidden=8, steps=5))
    diagram = charts_by_title(at)["Where the network settles (orbit diagram)"]
    drawn = np.sort(np.concatenate([array(t["y"]) for t in diagram["data"] if t["y"] != [None]]))
    np.testing.assert_allclose(drawn, np.sort(oracle.arrays["orbits"].ravel()), atol=1e-9)
