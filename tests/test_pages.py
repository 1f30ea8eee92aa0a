"""Page tests with Streamlit's AppTest: pages load, the URL drives the controls (and bad URLs only give
notices), a short training run's charts carry the numbers rnnlab.run records for the same config,
and the run machinery (gate, stop, divergence) behaves."""

import json
import re
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from apptest_support import navigation_mode, page_charts, rendered  # noqa: F401 - autouse fixture, on for this module
from apptest_support import plotly_array as array
from streamlit.testing.v1 import AppTest

from rnnlab import RunConfig, run
from rnnlab.presets import PRESETS
from ui.runs import gate
from ui.runs.states import RunState
from ui.runs.training import TrainingRun

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
TINY = {"seq_len": "20", "hidden": "8", "steps": "5"}
TIMEOUT = 180


def app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def value(at: AppTest, key: str):
    return at.session_state["cfg." + key]


def spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def charts_by_title(at: AppTest) -> dict[str, dict]:
    out = {}
    for c in page_charts(at):
        s = spec(c)
        title = ((s.get("layout") or {}).get("title") or {}).get("text", "")
        out[title] = s
    return out


def trace(s: dict, name: str | None = None, index: int | None = None) -> dict:
    if index is not None:
        return s["data"][index]
    return next(t for t in s["data"] if t.get("name") == name)


# ---- pages load ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_at_defaults(page):
    at = app()
    at.run()
    no_exception(at)
    if page != "pages/lab.py":
        at.switch_page(page).run()
        no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert not at.warning, [w.value for w in at.warning]


def test_lab_at_defaults_shows_the_init_view():
    at = app()
    at.run()
    no_exception(at)
    titles = charts_by_title(at)
    heat = next(s for t, s in titles.items() if "at initialisation" in t)
    z = array(heat["data"][0]["z"])
    assert z.shape == (100, 100)  # T = 100: every pair drawn
    np.testing.assert_allclose(np.diag(z), 0.0)  # identity on the diagonal
    assert np.isnan(z[0, 1])  # k > t undefined
    assert any("Norm against the lag" in t for t in titles) and any("Eigenvalues" in t for t in titles)
    assert any("per step" in m.label for m in at.metric)
    assert dict(at.query_params) == {}  # the defaults need no parameters
    # the caption says how the 4 950 norms were computed, and the counts add up to every pair
    note = next(c.value for c in at.caption if "spectral norms" in c.value)
    m = re.search(r"Each of the ([\d,]+) spectral norms .*?: ([\d,]+) accepted .*?, ([\d,]+) by a full", note)
    total, cert, exact = (int(g.replace(",", "")) for g in m.groups())
    assert total == 100 * 99 // 2 == cert + exact and cert > 0


def test_png_export_is_named():
    from ui.widgets import plotly_config

    cfg = plotly_config("rnnlab-heatmap")
    assert cfg["toImageButtonOptions"] == {"format": "png", "filename": "rnnlab-heatmap", "scale": 2}


def test_how_note_names_the_engine_and_its_guarantee():
    from rnnlab.snapshots import Provenance
    from ui.analysis import how_note

    g = how_note(Provenance("gram", "float32", 7, 3))
    assert "Each of the 10 spectral norms" in g and "5.0·10⁻⁴" in g  # the bracket engine's bound
    assert "7 accepted" in g and "3 by a full" in g
    assert "2.2·10⁻¹³" in how_note(Provenance("gram", "float64", 1, 0))
    tracking = how_note(Provenance("tracking", "float32", 0, 4))
    assert "tracking engine, 4 flat tops" in tracking
    assert how_note(Provenance("frobenius", "float32", 0, 0)).startswith("rms")
    assert how_note(None) == ""


def test_rms_caption_divides_by_the_size_of_the_whole_state():
    from rnnlab.snapshots import Provenance
    from ui.analysis import how_note, state_size

    rms = Provenance("frobenius", "float32", 0, 0)
    lstm = RunConfig(cell="lstm", hidden=8)
    assert state_size(lstm) == (16, "[h; c]") and state_size(RunConfig(cell="gru", hidden=8)) == (8, "h")
    note = how_note(rms, *state_size(lstm))
    assert "√n" in note and "n = 16" in note and "[h; c]" in note and "√H" not in note


# ---- URL -> controls -----------------------------------------------------------------------------


def test_preset_and_overrides_from_the_url_set_the_controls():
    at = app(preset="exploding-clipped", clip="2.5", seq_len="30", hidden="8", seed="7")
    at.run()
    no_exception(at)
    p = PRESETS["exploding-clipped"].settings
    assert value(at, "act") == p["act"] == "tanh"
    assert value(at, "rho") == p["rho"]
    assert value(at, "lr") == p["lr"]
    got = (value(at, "clip"), value(at, "seq_len"), value(at, "hidden"), value(at, "seed"))
    assert got == (2.5, 30, 8, 7)
    assert at.selectbox(key="ui.preset").value == "exploding-clipped"
    assert at.number_input(key="cfg.clip").value == 2.5
    # the address bar: the preset plus what differs from it, nothing else
    assert dict(at.query_params) == {
        "preset": "exploding-clipped",
        "clip": "2.5",
        "seq_len": "30",
        "hidden": "8",
        "seed": "7",
    }
    assert not at.warning


@pytest.mark.parametrize(
    ("params", "notes", "expect"),
    [
        ({"seq_len": "abc"}, ["seq_len", "'abc'"], {"seq_len": 100}),
        ({"seq_len": "-5"}, ["seq_len", "out of range"], {"seq_len": 100}),
        ({"hidden": "1e9", "seq_len": "20"}, ["hidden", "cap"], {"hidden": 100}),  # cap lowered below
        ({"steps": "999999999", "batch": "100000"}, ["steps", "batch", "cap"], {"steps": 5000, "batch": 256}),
        ({"cell": "transformer", "act": "softmax"}, ["cell", "act"], {"cell": "rnn", "act": "tanh"}),
        (
            {"rho": "0", "lr": "nan", "leak": "1"},
            ["rho", "lr", "leak"],
            {"rho": 1.0, "lr": 0.01, "leak": 0.0},
        ),
        ({"tbptt": "500"}, ["tbptt"], {"tbptt": 0}),
        ({"preset": "no-such-preset"}, ["preset"], {"rho": 1.0}),
        ({"crange": "rainbow"}, ["crange"], {}),
        ({"train_recurrent": "maybe"}, ["train_recurrent"], {"train_recurrent": True}),
    ],
)
def test_malformed_url_values_give_a_notice_and_the_defaults(params, notes, expect, monkeypatch):
    monkeypatch.setenv("RNNLAB_MAX_HIDDEN", "100")  # caps come from the environment, read per call
    at = app(**params)
    at.run()
    no_exception(at)
    assert not at.error
    assert len(at.warning) == 1, "one notice listing what was ignored"
    text = at.warning[0].value
    for n in notes:
        assert n in text
    for k, v in expect.items():
        assert value(at, k) == v
    RunConfig.from_dict({k: value(at, k) for k in RunConfig().as_dict()})  # a valid config


def test_clamped_value_is_written_back_to_the_url():
    at = app(seq_len="20", hidden="8", steps="999999")
    at.run()
    assert at.query_params["steps"] == ["5000"] or at.query_params["steps"] == "5000"


def test_hide_parameter_locks_controls():
    at = app(hide="rho,seq_len", rho="0.5", seq_len="20", hidden="8")
    at.run()
    no_exception(at)
    keys = {w.key for w in at.sidebar.number_input}
    assert "cfg.rho" not in keys and "cfg.seq_len" not in keys and "cfg.hidden" in keys
    assert at.session_state["_view"].cfg.rho == 0.5 and at.session_state["_view"].cfg.seq_len == 20
    assert dict(at.query_params)["hide"] in ("rho,seq_len", ["rho,seq_len"])


def test_preset_picker_loads_every_control_and_the_link_names_it():
    at = app(seq_len="20", hidden="8", clip="3")
    at.run()
    at.selectbox(key="ui.preset").select("exploding").run()
    no_exception(at)
    cfg = PRESETS["exploding"].config()
    for k in RunConfig().as_dict():
        assert value(at, k) == getattr(cfg, k), k
    assert dict(at.query_params) == {"preset": "exploding"}


def test_controls_that_do_not_apply_are_disabled():
    at = app(cell="gru", seq_len="20", hidden="8")
    at.run()
    no_exception(at)
    assert at.selectbox(key="cfg.act").disabled
    assert at.number_input(key="cfg.leak").disabled
    assert at.toggle(key="cfg.teacher_forcing").disabled  # task is not sine
    at2 = app(task="sine", seq_len="20", hidden="8")
    at2.run()
    assert not at2.toggle(key="cfg.teacher_forcing").disabled and not at2.selectbox(key="cfg.act").disabled


def test_share_box_shows_the_full_link():
    at = app(seq_len="20", hidden="8", rho="1.3")
    at.run()
    assert not at.code  # closed: nothing drawn (a code block costs the browser its syntax highlighter)
    at.session_state["share_open"] = True  # as a click on the expander does
    at.run()
    codes = [c.value for c in at.code]
    assert any(
        c.endswith("?seq_len=20&hidden=8&rho=1.3")
        or c.endswith("?hidden=8&rho=1.3&seq_len=20")
        or ("rho=1.3" in c and "seq_len=20" in c and c.startswith("http"))
        for c in codes
    ), codes


def test_changing_a_control_updates_the_url_and_redraws():
    at = app(seq_len="20", hidden="8")
    at.run()
    before = array(
        charts_by_title(at)[next(t for t in charts_by_title(at) if "initialisation" in t)]["data"][0]["z"]
    )
    at.number_input(key="cfg.rho").set_value(0.5).run()
    no_exception(at)
    assert dict(at.query_params)["rho"] in ("0.5", ["0.5"])
    after = array(
        charts_by_title(at)[next(t for t in charts_by_title(at) if "initialisation" in t)]["data"][0]["z"]
    )
    assert before.shape == after.shape == (20, 20)
    assert np.nanmean(after) < np.nanmean(before)  # smaller rho: faster decay


# ---- training --------------------------------------------------------------------------------------


def train(at: AppTest, timeout: float = 120) -> TrainingRun:
    at.button(key="lab.train").click().run()
    run_obj = at.session_state["lab.run"]
    assert run_obj.wait(timeout), "training did not finish"
    at.run()
    no_exception(at)
    return run_obj


def test_training_charts_carry_the_recorded_numbers():
    at = app(**TINY)
    at.run()
    r = train(at)
    assert r.state == RunState.DONE
    torch.set_num_threads(1)
    cfg = RunConfig(seq_len=20, hidden=8, steps=5)
    assert r.cfg == cfg
    oracle = run(cfg)  # same config, same numbers (the app trains in another process)
    m = oracle.metrics
    charts = charts_by_title(at)
    loss = charts["Loss"]
    np.testing.assert_allclose(
        array(trace(loss, index=0)["y"]), m.groupby("step")["seq_loss"].first(), rtol=1e-6
    )
    final = next(t for t in loss["data"] if t["name"].startswith("final eval"))
    assert array(final["y"])[0] == pytest.approx(oracle.summary["final_loss"], rel=1e-6)
    base = next(t for t in loss["data"] if t["name"].startswith("baseline"))
    assert array(base["y"])[0] == pytest.approx(oracle.summary["baseline_loss"])
    g = charts["Gradient norm per update"]
    np.testing.assert_allclose(array(trace(g, index=0)["y"]), m["grad_norm"], rtol=1e-6)
    np.testing.assert_allclose(array(trace(g, index=1)["y"]), m["grad_norm_clipped"], rtol=1e-6)
    rad = next(s for t, s in charts.items() if t.startswith("Spectral radius"))
    np.testing.assert_allclose(array(trace(rad, index=0)["y"]), m["rho_whh"], rtol=1e-6)
    prof = next(s for t, s in charts.items() if t.startswith("Temporal gradient profile"))
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(
            array(prof["data"][0]["z"]), np.log10(oracle.arrays["grad_time"]), rtol=1e-5, atol=1e-5
        )
    last = int(oracle.snapshot_steps[-1])
    snap = next(s for t, s in charts.items() if t.endswith(f"at step {last}") and "log" in t)
    np.testing.assert_allclose(
        array(snap["data"][0]["z"]), oracle.arrays["jacobian"][-1], rtol=1e-5, atol=1e-5
    )
    labels = [b.label for b in at.get("download_button")]
    assert {"metrics.csv", "config.json", "arrays.npz", "all (zip)"} <= set(labels)
    assert "Done: 5 steps" in at.get("progress")[0].proto.text


def test_hessian_free_keys_apply_only_to_optimizer_hf_and_lr_only_to_the_others():
    at = app(seq_len="20", hidden="8")
    at.run()
    hf_keys = ("hf_damping", "hf_mu", "hf_cg_max", "hf_curv_batch")
    assert all(at.number_input(key="cfg." + k).disabled for k in hf_keys)
    assert not at.number_input(key="cfg.lr").disabled
    at.selectbox(key="cfg.optimizer").set_value("hf").run()
    no_exception(at)
    assert not any(at.number_input(key="cfg." + k).disabled for k in hf_keys)
    assert at.number_input(key="cfg.lr").disabled
    assert at.number_input(key="cfg.clip").disabled and at.number_input(key="cfg.tbptt").disabled
    at2 = app(seq_len="20", hidden="8", clip="1", tbptt="5")
    at2.run()
    at2.selectbox(key="cfg.optimizer").set_value("hf").run()  # what hf refuses is set to 0, with a toast
    no_exception(at2)
    assert (value(at2, "clip"), value(at2, "tbptt"), value(at2, "optimizer")) == (0.0, 0, "hf")


def test_lab_draws_damping_and_cg_iterations_next_to_the_loss_for_an_hf_run():
    params = dict(seq_len="12", hidden="6", steps="3", batch="32", optimizer="hf", hf_curv_batch="16")
    at = app(**params)
    at.run()
    r = train(at)
    assert r.state == RunState.DONE
    torch.set_num_threads(1)
    oracle = run(RunConfig.from_dict(params))  # same config, same numbers
    charts = charts_by_title(at)
    titles = list(charts)
    hf = charts["Hessian-free: damping λ and CG iterations"]
    assert titles.index("Hessian-free: damping λ and CG iterations") == titles.index("Loss") + 1
    np.testing.assert_allclose(array(trace(hf, index=0)["y"]), oracle.metrics["damping"], rtol=1e-6)
    np.testing.assert_allclose(array(trace(hf, index=1)["y"]), oracle.metrics["cg_iters"])
    assert "Hessian-free: damping λ and CG iterations" not in charts_by_title(train_plain())


def train_plain() -> AppTest:
    at = app(**TINY)
    at.run()
    train(at)
    return at


def test_lab_offers_the_run_as_a_notebook_after_a_run(monkeypatch):
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    served: dict[str, bytes] = {}  # download file name -> the bytes the button serves
    load = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        if filename:
            served[filename] = data
        return load(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = app(**{**TINY, "cell": "lstm", "task": "copy", "seq_len": "6"})
    at.run()
    assert "Notebook (.ipynb)" not in [b.label for b in at.get("download_button")]  # no run yet
    train(at)
    assert "Notebook (.ipynb)" in [b.label for b in at.get("download_button")]
    cfg = RunConfig(cell="lstm", task="copy", seq_len=6, hidden=8, steps=5)
    name = "rnnlab-lstm-copy-L6-seed0.ipynb"
    assert name in served, sorted(served)
    nb = nbformat.reads(served[name].decode(), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["rnnlab"]["config"] == cfg.as_dict()
    source = next(c.source for c in nb.cells if c.source.startswith("cfg = "))
    ns: dict = {}
    exec("from rnnlab import RunConfig\n" + source, ns)
    assert ns["cfg"] == cfg


def test_rerun_during_training_keeps_the_run():
    at = app(seq_len="20", hidden="8", steps="300")
    at.run()
    at.button(key="lab.train").click().run()
    first = at.session_state["lab.run"]
    at.number_input(key="cfg.rho").set_value(0.7).run()  # other interactions while it trains
    assert at.session_state["lab.run"] is first
    assert at.button(key="lab.train").disabled == first.active
    first.stop()
    assert first.wait(60)
    at.run()
    assert at.session_state["lab.run"] is first


def test_stop_keeps_what_was_trained():
    at = app(seq_len="20", hidden="8", steps="5000")
    at.run()
    at.button(key="lab.train").click().run()
    r = at.session_state["lab.run"]
    deadline = time.time() + 60
    while not r.view().records and time.time() < deadline:
        time.sleep(0.1)
    at.button(key="lab.stop").click().run()
    assert r.wait(60)
    at.run()
    no_exception(at)
    assert r.state == RunState.STOPPED
    assert r.result.summary["stopped_early"] and 0 < r.result.summary["steps_done"] < 5000
    assert "Stopped at step" in at.get("progress")[0].proto.text
    assert "Loss" in charts_by_title(at)


def test_heatmap_of_the_latest_snapshot_is_drawn_while_training():
    at = app(seq_len="20", hidden="8", steps="5000", snapshots="3")
    at.run()
    at.button(key="lab.train").click().run()
    r = at.session_state["lab.run"]
    deadline = time.time() + 60
    while (r.view().snapshot is None or not r.view().records) and time.time() < deadline:
        time.sleep(0.1)
    step, snap = r.view().snapshot
    assert step == 0 and snap.heatmap.shape == (20, 20)
    at.run()  # the page while the run is still training
    no_exception(at)
    assert r.active and r.result is None
    heat = charts_by_title(at)[next(t for t in charts_by_title(at) if t.endswith("at step 0"))]
    np.testing.assert_array_equal(array(heat["data"][0]["z"]), snap.heatmap.astype(np.float32))
    r.stop()
    assert r.wait(60)
    # what the live view showed is the result's first snapshot (the same arrays, sent by the worker)
    np.testing.assert_array_equal(r.result.arrays["jacobian"][0], snap.heatmap)
    assert r.view().snapshot[0] == int(r.result.arrays["snapshot_steps"][-1])


def test_diverged_run_says_where_and_what():
    at = app(seq_len="20", hidden="8", steps="10", act="relu", rho="3", lr="1")
    at.run()
    r = train(at)
    assert r.state == RunState.DIVERGED
    s = r.result.summary
    msg = " ".join(e.value for e in at.error)
    assert f"Diverged at step {s['diverged_at']}" in msg and "loss" in msg
    loss = charts_by_title(at)["Loss"]
    assert any(sh.get("x0") == s["diverged_at"] for sh in loss["layout"]["shapes"])


def test_run_that_overflows_in_its_first_forward_pass_says_so_and_draws_no_empty_axes():
    at = app(seq_len="100", hidden="16", steps="10", act="relu", rho="3")
    at.run()
    r = train(at)
    assert r.state == RunState.DIVERGED and r.result.summary["diverged_at"] == 0
    msg = " ".join(e.value for e in at.error)
    assert "Diverged at step 0 in the forward pass" in msg
    assert "cannot help" in msg and "Try gradient clipping" not in msg  # no gradient was ever taken
    titles = charts_by_title(at)
    assert "Loss" not in titles and "Gradient norm per update" not in titles  # nothing finite to draw
    assert any(t.endswith("at step 0") for t in titles)  # the heatmap shows why
    assert any("No finite loss or gradient" in c.value for c in at.caption)


def test_stopped_run_marks_its_final_loss_where_it_stopped():
    at = app(seq_len="20", hidden="8", steps="5000")
    at.run()
    at.button(key="lab.train").click().run()
    r = at.session_state["lab.run"]
    deadline = time.time() + 60
    while len(r.view().records) < 3 and time.time() < deadline:
        time.sleep(0.1)
    at.button(key="lab.stop").click().run()
    assert r.wait(60)
    at.run()
    no_exception(at)
    done = r.result.summary["steps_done"]
    loss = charts_by_title(at)["Loss"]
    final = next(t for t in loss["data"] if t["name"].startswith("final eval"))
    base = next(t for t in loss["data"] if t["name"].startswith("baseline"))
    assert array(final["x"])[0] == done < 5000 and array(base["x"])[-1] == done


# ---- run machinery --------------------------------------------------------------------------------


def test_gate_admits_in_order_and_counts_who_is_ahead():
    fifo = gate.FifoGate(1)
    assert fifo.acquire(1)
    started = []
    threads = [threading.Thread(target=lambda t=t: (fifo.acquire(t), started.append(t))) for t in (2, 3)]
    threads[0].start()
    time.sleep(0.3)
    threads[1].start()
    time.sleep(0.3)
    assert fifo.ahead(2) == 1 and fifo.ahead(3) == 2 and started == []
    fifo.release(1)
    time.sleep(0.5)
    assert started == [2] and fifo.ahead(3) == 1
    fifo.release(2)
    for th in threads:
        th.join(5)
    assert started == [2, 3]


def test_queued_run_waits_and_shows_its_place(monkeypatch):
    fifo = gate.FifoGate(1)
    monkeypatch.setattr(gate, "GATE", fifo)
    fifo.acquire(-1)  # the server is busy
    try:
        at = app(**TINY)
        at.run()
        at.button(key="lab.train").click().run()
        r = at.session_state["lab.run"]
        assert r.state == RunState.QUEUED
        assert "Waiting: 1 run ahead of you" in at.get("progress")[0].proto.text
    finally:
        fifo.release(-1)
    assert r.wait(120) and r.state == RunState.DONE


def test_page_errors_are_messages_not_tracebacks():
    def page():
        from rnnlab import ConfigError
        from ui import errors

        with errors.guard("Lab"):
            raise ConfigError("seq_len", "5000 is too long", "2..1000")

    at = AppTest.from_function(page)
    at.run()
    assert not at.exception
    assert "seq_len: 5000 is too long" in at.error[0].value


# ---- hostile links (issue 18) ---------------------------------------------------------------------------


def test_a_309_digit_seed_gives_a_notice_not_a_blank_page():
    for page in ("pages/lab.py", "pages/theory.py"):
        at = app(seed="9" * 309, seq_len="20", hidden="8")
        at.run()
        if page != "pages/lab.py":
            at.switch_page(page).run()
        no_exception(at)
        assert not at.error, [e.value for e in at.error]
        assert value(at, "seed") == 0
        if page == "pages/lab.py":  # the notice is shown where the link is opened
            text = rendered(at.warning[0].value)
            assert "seed" in text and "9999…9 (309 digits)" in text and len(text) < 600


def test_a_100_kb_preset_value_gives_a_short_notice():
    at = app(
        preset="x" * 100_000, hide="y" * 100_000 + ",z" * 5000, crange="w" * 100_000, seq_len="20", hidden="8"
    )
    at.run()
    no_exception(at)
    assert len(at.warning) == 1
    text = at.warning[0].value
    assert len(text) < 1500, len(text)
    assert "preset" in text and "hide" in text and "crange" in text and "5000 more" in text


def test_markdown_in_a_link_is_shown_as_text():
    img, link = "![x](http://evil.example/i.png)", "[Sign in again](http://evil.example/p)"
    at = app(preset=img, crange=link, act="<img src=x>", seq_len="20", hidden="8")
    at.run()
    no_exception(at)
    text = at.warning[0].value
    assert "](" not in text.replace("\\](", "") and "\\!\\[x\\]\\(http" in text and "\\<img" in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("![x](http://e.example/a.png)", "\\!\\[x\\]\\(http\\:\u2060//e.example/a.png\\)"),
        (
            "[a](b) <c> *d* _e_ `f` # | ~g~ $h$ &amp;",
            "\\[a\\]\\(b\\) \\<c\\> \\*d\\* \\_e\\_ \\`f\\` \\# \\| \\~g\\~ \\$h\\$ \\&amp;",
        ),
        (
            ":red[x] :material/home: :smile: a: b",
            "\\:\u2060red\\[x\\] \\:\u2060material/home: \\:\u2060smile: a: b",
        ),
        ("seq_len: _x_ a__b", "seq_len: \\_x\\_ a\\_\\_b"),
        ("www.e.example me@e.example", "www\u2060.e.example me\u2060@e.example"),
        ("line\nbreak\r\n# head", "line break \\# head"),
        ("- item", "\\- item"),
        ("1. item", "1\\. item"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_plain_escapes_what_streamlits_markdown_reads(raw, shown):
    from ui.text import plain

    assert plain(raw) == shown


def test_error_boxes_say_what_happened_without_internals():
    def page():
        from ui import errors

        with errors.guard("[upload](http://e.example/x.zip)"):
            raise KeyError("/srv/secret/runs")

    at = AppTest.from_function(page)
    at.run()
    assert not at.exception
    text = at.error[0].value
    assert "KeyError" not in text and "secret" not in text and "server log" in text
    assert "\\[upload\\]" in text


def test_error_messages_keep_our_words_and_drop_the_systems():
    import io
    import zipfile

    from rnnlab.reading import ExportError, load_zip
    from ui.errors import message

    buf = io.BytesIO()
    zipfile.ZipFile(buf, "w").close()
    with pytest.raises(ExportError) as ours:  # a refused export: rnnlab's words for a person
        load_zip(buf.getvalue())
    assert message(ours.value).startswith("zip: not a run export")
    with pytest.raises(FileNotFoundError) as system:
        open("/nonexistent/rnnlab/path")  # noqa: SIM115 - it must fail to open
    with pytest.raises(ZeroDivisionError) as bug:
        _ = 1 / 0
    for e in (system.value, bug.value):
        assert "nonexistent" not in message(e) and "Error" not in message(e) and "server log" in message(e)
