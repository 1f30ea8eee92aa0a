"""A run as a notebook (rnnlab.notebook): the notebook validates, its code cells run in a fresh
interpreter and give the final loss and the heatmap of rnnlab.run and of the CLI's export, the
RunConfig round-trips exactly, and `run --notebook FILE` writes one without training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from rnnlab import RunConfig, run
from rnnlab.notebook import cli_command, config_source, notebook, notebook_name
from rnnlab.runtime import use_torch_threads

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# Executes a notebook's code cells in order in one namespace, as Jupyter does, with nothing shown:
# the value of a cell's last expression (a figure) is kept, not displayed. Writes what it got.
EXECUTE = r"""
import ast, json, sys
import nbformat
import numpy as np

nb = nbformat.read(sys.argv[1], as_version=4)
ns, shown = {"__name__": "__main__"}, []
for cell in nb.cells:
    if cell.cell_type != "code":
        continue
    tree = ast.parse(cell.source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), ns)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
        shown.append(type(value).__name__)
        if type(value).__name__ == "Figure":
            shown[-1] += ": " + (value.layout.title.text or "")
res = ns["result"]
np.save(sys.argv[2] + ".npy", ns["heatmap"])
out = {"final_loss": res.summary["final_loss"], "config": ns["cfg"].as_dict(), "shown": shown}
with open(sys.argv[2] + ".json", "w") as f:
    json.dump(out, f)
"""

CONFIGS = {
    "rnn-adding-tbptt": RunConfig(
        cell="rnn", task="adding", seq_len=12, hidden=6, steps=4, batch=8, tbptt=4, clip=1.0, snapshots=2
    ),
    "lstm-copy": RunConfig(
        cell="lstm", task="copy", seq_len=5, hidden=6, steps=3, batch=8, lr=0.1, snapshots=2
    ),
}


def execute(cfg: RunConfig, tmp_path: Path) -> tuple[dict, np.ndarray]:
    path = tmp_path / notebook_name(cfg)
    path.write_text(notebook(cfg))
    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(path), str(out)],
        cwd=tmp_path,  # not the checkout: rnnlab comes from PYTHONPATH
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(out.with_suffix(".json").read_text()), np.load(out.with_suffix(".npy"))


def cli_final_loss(cfg: RunConfig, tmp_path: Path) -> float:
    out = tmp_path / "cli"
    sets = [a for k, v in cfg.to_strings().items() for a in ("--set", f"{k}={v}")]
    p = subprocess.run(
        [sys.executable, "-m", "rnnlab", "run", *sets, "--quiet", "--out", str(out)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    return json.loads((out / "summary.json").read_text())["final_loss"]


def test_notebook_validates_and_describes_the_run():
    cfg = CONFIGS["rnn-adding-tbptt"]
    nb = nbformat.reads(notebook(cfg), as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    intro = nb.cells[0]
    assert intro.cell_type == "markdown"
    assert "adding:" in intro.source and "pip install -e" in intro.source
    assert cli_command(cfg) in intro.source
    assert nb.metadata["rnnlab"]["config"] == cfg.as_dict()
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for builder in (
        "loss_figure",
        "grad_norm_figure",
        "grad_time_figure",
        "radius_figure",
        "jacobian_heatmap",
    ):
        assert f"plots.{builder}(" in code


@pytest.mark.parametrize("name", list(CONFIGS))
def test_notebook_cells_reproduce_the_run_and_the_cli(name, tmp_path):
    cfg = CONFIGS[name]
    got, heatmap = execute(cfg, tmp_path)
    use_torch_threads()  # as the app, the CLI and the notebook train
    oracle = run(cfg)
    assert got["config"] == cfg.as_dict()
    assert got["final_loss"] == oracle.summary["final_loss"]
    assert got["final_loss"] == cli_final_loss(cfg, tmp_path)
    np.testing.assert_array_equal(heatmap, oracle.heatmap(-1))
    titles = [s for s in got["shown"] if s.startswith("Figure: ")]
    assert titles[:4] == [
        "Figure: Loss",
        "Figure: Gradient norm per update",
        "Figure: Temporal gradient profile ‖∂L/∂h<sub>k</sub>‖",
        "Figure: Spectral radius of W<sub>hh</sub>",
    ]
    last = int(oracle.snapshot_steps[-1])
    assert titles[4].endswith(f"at step {last}") and "log₁₀" in titles[4]


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(
            cell="gru",
            act="relu",
            init="orthogonal",
            optimizer="adam",
            lr=0.1 + 0.2,  # 0.30000000000000004: repr keeps every digit
            rho=1.25,
            train_recurrent=False,
            norm="rms",
        ),
        RunConfig(task="copy", teacher_forcing=False, seed=7),
        RunConfig(),
    ],
)
def test_config_round_trips_exactly(cfg):
    nb = nbformat.reads(notebook(cfg), as_version=4)
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("cfg = "))
    ns: dict = {}
    exec("from rnnlab import RunConfig\n" + cell, ns)
    assert ns["cfg"] == cfg
    assert type(ns["cfg"].train_recurrent) is bool
    assert config_source(cfg) in cell


def test_cli_notebook_flag_writes_a_valid_notebook_without_training(tmp_path):
    path = tmp_path / "run.ipynb"
    args = ["run", "--set", "task=copy", "--set", "steps=5000", "--notebook", str(path)]
    p = subprocess.run(
        [sys.executable, "-m", "rnnlab", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "Wrote" in p.stdout and p.stderr == ""  # no progress bar: it did not train
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["rnnlab"]["config"] == RunConfig(task="copy", steps=5000).as_dict()


def test_cli_notebook_to_an_unwritable_path_is_one_line_with_status_2(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "rnnlab", "run", "--notebook", str(tmp_path / "no" / "such" / "x.ipynb")],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.startswith("rnnlab: error: --notebook: cannot write") and p.stderr.count("\n") == 1


def test_rnnlab_imports_without_nbformat_and_says_what_to_install():
    code = (
        "import sys; sys.modules['nbformat'] = None\n"
        "import rnnlab, rnnlab.cli, rnnlab.notebook\n"
        "try:\n"
        "    rnnlab.notebook.notebook(rnnlab.RunConfig())\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert "pip install nbformat" in p.stdout


def test_file_name_follows_the_config():
    from rnnlab import preset_config
    from rnnlab.presets import PRESETS

    name = next(iter(PRESETS))
    assert notebook_name(preset_config(name)) == f"rnnlab-{name}.ipynb"
    assert notebook_name(RunConfig(cell="lstm", task="copy", seq_len=30, seed=3)) == (
        "rnnlab-lstm-copy-L30-seed3.ipynb"
    )
