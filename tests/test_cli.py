"""The CLI: round trip against the Python API, presets, and one-line errors with status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlab import PRESETS, RunConfig, load_run, preset_config, run

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rnnlab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_cli_run_exports_what_the_python_api_computes(tmp_path):
    out = tmp_path / "run"
    p = cli(
        "run",
        "--set",
        "hidden=8",
        "--set",
        "seq_len=20",
        "--set",
        "steps=5",
        "--set",
        "clip=0.5",
        "--set",
        "snapshots=2",
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    assert "final loss" in p.stdout and str(out) in p.stdout
    saved = load_run(out)
    cfg = RunConfig(hidden=8, seq_len=20, steps=5, clip=0.5, snapshots=2)
    assert saved.config == cfg
    assert json.loads((out / "config.json").read_text()) == cfg.as_dict()
    ref = run(cfg)
    np.testing.assert_array_equal(saved.metrics.to_numpy(float), ref.metrics.to_numpy(float))
    for k, a in ref.arrays.items():
        np.testing.assert_array_equal(saved.arrays[k], a)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_loss"] == pytest.approx(ref.summary["final_loss"])
    assert summary["diverged_at"] is None and "torch" in summary["versions"]
    assert summary["heatmap"] == ref.summary["heatmap"] and summary["heatmap"]["method"] == "gram"
    # loading config.json reproduces the run
    again = run(RunConfig.from_json(out / "config.json"))
    np.testing.assert_array_equal(again.metrics.loss.to_numpy(), saved.metrics.loss.to_numpy())


def test_cli_preset_with_override(tmp_path):
    p = cli(
        "run",
        "--preset",
        "exploding",
        "--set",
        "steps=2",
        "--set",
        "seq_len=10",
        "--quiet",
        "--out",
        str(tmp_path / "e"),
    )
    assert p.returncode == 0, p.stderr
    cfg = load_run(tmp_path / "e").config
    assert cfg == preset_config("exploding", {"steps": 2, "seq_len": 10})
    assert p.stderr == ""  # --quiet: no progress bar


def test_cli_progress_bar_on_stderr():
    p = cli("run", "--set", "hidden=4", "--set", "seq_len=5", "--set", "steps=3")
    assert p.returncode == 0 and "step 3/3" in p.stderr


def test_cli_presets_lists_every_preset():
    p = cli("presets")
    assert p.returncode == 0
    for name in PRESETS:
        assert name in p.stdout


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["run", "--set", "hidden=abc"], "hidden"),
        (["run", "--set", "rho=-1"], "rho"),
        (["run", "--set", "act=gelu"], "act"),
        (["run", "--set", "colour=red"], "colour"),
        (["run", "--set", "hidden"], "--set"),
        (["run", "--preset", "nope"], "preset"),
        (["run", "--set", "seq_len=10", "--set", "tbptt=50"], "tbptt"),
        (["run", "--bogus"], "--bogus"),
        (["launch"], "launch"),
    ],
)
def test_cli_bad_input_is_one_line_with_status_2(args, key):
    p = cli(*args)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert key in lines[0] and "Traceback" not in p.stderr


def test_cli_cap_from_environment():
    p = cli("run", "--set", "seq_len=300", env={"RNNLAB_MAX_SEQ_LEN": "200"})
    assert p.returncode == 2 and "seq_len" in p.stderr and "200" in p.stderr


def test_cli_diverging_run_reports_instead_of_crashing(tmp_path):
    p = cli(
        "run",
        "--set",
        "act=linear",
        "--set",
        "rho=3",
        "--set",
        "steps=5",
        "--set",
        "hidden=8",
        "--quiet",
        "--out",
        str(tmp_path / "d"),
    )
    assert p.returncode == 0 and "Diverged at step 0 in the forward pass" in p.stdout
    assert "Clipping and the learning rate cannot help" in p.stdout  # no gradient was taken yet
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["diverged_at"] == 0
    assert summary["verdict"]["kind"] == "diverged" and summary["verdict"]["stage"] == "forward"


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("seed=" + "9" * 309, "seed"),
        ("hidden=" + "9" * 5000, "hidden"),
        ("steps=-" + "9" * 400, "steps"),
        ("rho=1" + "0" * 400, "rho"),
        ("act=\u202etanh\u0007[x](http://e.example/)", "act"),
        ("seed=", "seed"),
        ("x" * 5000 + "=1", "xxxx"),
    ],
    ids=["seed-309", "hidden-5000", "steps-neg", "rho-1e400", "unicode", "empty", "long-key"],
)
def test_cli_hostile_set_values_give_one_short_line(item, key):
    p = cli("run", "--set", item, "--quiet")
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert key in lines[0] and len(lines[0]) < 400


def test_cli_long_set_and_preset_are_echoed_short():
    p = cli("run", "--set", "y" * 5000, "--preset", "p" * 5000)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and len(p.stderr) < 400
