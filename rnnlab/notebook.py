"""A run as a Jupyter notebook: the configuration, `run(...)` and the Lab's charts, as Python.

`notebook(cfg)` returns the .ipynb text (nbformat v4) of a notebook that reproduces `cfg` with the
Python API: the imports, the RunConfig with every key that differs from the defaults, `run(cfg)` on
the thread setting the app and the CLI train with (so the same seed gives the same final loss, to the
last digit), and one cell per chart of the Lab's training section, drawn by the same builders of
`rnnlab.plots` with the same arguments. Writing it needs no training: the notebook trains when its
cells run. The Lab offers it as a download; the CLI writes it with `run --notebook FILE`.

Pure and Streamlit-free. nbformat is imported inside the functions, so `import rnnlab` works without
it (it comes with the `notebook` extra: `pip install -e '.[notebook]'`).
"""

from __future__ import annotations

import shlex
from importlib import metadata
from pathlib import Path

from . import __version__, tasks
from .config import KEYS, RunConfig, format_value
from .presets import PRESETS

NBFORMAT_MISSING = (
    "writing a notebook needs nbformat: pip install nbformat (or pip install -e '.[notebook]' in a checkout)"
)


def changed_keys(cfg: RunConfig) -> dict[str, object]:
    """The keys whose values differ from RunConfig()'s, in the table's order."""
    default = RunConfig()
    return {k: getattr(cfg, k) for k in KEYS if getattr(cfg, k) != getattr(default, k)}


def config_source(cfg: RunConfig) -> str:
    """`cfg` as a Python expression, `RunConfig(key=value, ...)`, one non-default key a line.

    repr() of each value round-trips exactly (str, bool, int and float alike)."""
    changed = changed_keys(cfg)
    if not changed:
        return "RunConfig()  # every key at its default"
    lines = [f"    {k}={v!r}," for k, v in changed.items()]
    return "RunConfig(\n" + "\n".join(lines) + "\n)"


def preset_name(cfg: RunConfig) -> str | None:
    """The preset whose settings are exactly `cfg`, if one is."""
    for name, p in PRESETS.items():
        try:
            if RunConfig.from_dict(p.settings) == cfg:
                return name
        except ValueError:  # a preset above this server's caps
            continue
    return None


def notebook_name(cfg: RunConfig) -> str:
    """A file name that says which run: the preset's name, or cell, task, length and seed."""
    name = preset_name(cfg)
    if name is not None:
        return f"rnnlab-{name}.ipynb"
    return f"rnnlab-{cfg.cell}-{cfg.task}-L{cfg.seq_len}-seed{cfg.seed}.ipynb"


def cli_command(cfg: RunConfig) -> str:
    """The same run from the command line."""
    sets = [f"--set {shlex.quote(f'{k}={v}')}" for k, v in cfg.to_strings().items()]
    return " ".join(["python -m rnnlab run", *sets])


def _torch_version() -> str:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover - rnnlab needs torch
        return "unknown"


def _intro(cfg: RunConfig) -> str:
    name = preset_name(cfg)
    title = f"# RNN Lab: {cfg.cell} on the {cfg.task} task"
    lines = [title, ""]
    if name is not None:
        lines += [f"Preset **{name}**: {PRESETS[name].title}", ""]
    lines += [
        f"**Task.** {tasks.describe(cfg.task, cfg.seq_len)}",
        "",
        f"**Network.** {cfg.cell} cell, {cfg.act}, {cfg.hidden} hidden units, {cfg.init} init, "
        f"spectral radius {format_value(cfg.rho)}; seed {cfg.seed}.",
        "",
        f"**Training.** {cfg.steps} steps of {cfg.batch} sequences, {cfg.optimizer}, "
        f"lr {format_value(cfg.lr)}"
        + (f", clip {format_value(cfg.clip)} ({cfg.clip_mode})" if cfg.clip else ", no clipping")
        + (f", TBPTT window {cfg.tbptt}" if cfg.tbptt else ", full BPTT")
        + ".",
        "",
    ]
    changed = changed_keys(cfg)
    if changed:
        lines += ["Keys that differ from the defaults:", ""]
        lines += [f"- `{k}` = {format_value(v)}" for k, v in changed.items()]
    else:
        lines += ["Every key is at its default."]
    lines += [
        "",
        "## How to run it",
        "",
        "In a checkout of RNN Lab, install the package with the charts:",
        "",
        "```",
        "pip install -e '.[notebook]'   # rnnlab, plotly and nbformat (pip install -e . for rnnlab alone)",
        "```",
        "",
        "Then open it in Jupyter (or VS Code) and run the cells in order. Same seed, same numbers: "
        "the final loss is the one the Lab and the command line give for this configuration "
        f"(written by RNN Lab {__version__} with torch "
        f"{_torch_version()}; another torch version may differ in the last digits). The same run "
        "from the command line:",
        "",
        "```",
        cli_command(cfg) + " --out runs/this-run",
        "```",
    ]
    return "\n".join(lines)


_IMPORTS = """\
from rnnlab import RunConfig, run, plots
from rnnlab.comparison import per_step
from rnnlab.runtime import use_torch_threads"""

_RUN = """\
use_torch_threads()  # one thread unless RNNLAB_TORCH_THREADS says otherwise: as the app and the CLI train
result = run(cfg)
s, m = result.summary, result.metrics  # the summary numbers; one metrics row per optimizer update
print(result.verdict.text)
print(f"final loss {s['final_loss']!r} (baseline {s['baseline_loss']:.4g})")"""

_ENDS = """\
# Where the run ended: a diverged run ends at the step it diverged, not at the planned last one.
diverged_at = s.get("diverged_at")
end = s.get("steps_done", cfg.steps) if diverged_at is not None else cfg.steps
div_update = (
    int(m["update"].iloc[-1])
    if diverged_at is not None and len(m) and int(m["step"].iloc[-1]) == diverged_at
    else None  # not when only the final evaluation overflowed
)"""

_LOSS = """\
plots.loss_figure(
    per_step(m),
    baseline=s["baseline_loss"],
    final_loss=s["final_loss"],
    steps=end,
    diverged_at=diverged_at,
    title="Loss",
)"""

_GRAD_NORM = """\
plots.grad_norm_figure(
    m,
    clip=cfg.clip,
    clip_mode=cfg.clip_mode,
    diverged_at_update=div_update,
    title="Gradient norm per update",
)"""

_GRAD_TIME = """\
plots.grad_time_figure(
    result.arrays["grad_time"],
    tbptt=cfg.tbptt,
    steps=m["step"].to_numpy(),
    title="Temporal gradient profile ‖∂L/∂h<sub>k</sub>‖",
)"""

_RADIUS = """\
plots.radius_figure(m, title="Spectral radius of W<sub>hh</sub>")"""

_HEATMAP = """\
step = int(result.snapshot_steps[-1])  # the last snapshot (result.heatmap(i) for the others)
heatmap = result.heatmap(-1)
plots.jacobian_heatmap(
    heatmap,
    norm=cfg.norm,
    tbptt=cfg.tbptt,
    title=f"log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ at step {step}",
)"""

_EIGEN = """\
plots.eigen_figure(result.arrays["eigvals"][-1], title=f"Eigenvalues of W<sub>hh</sub> at step {step}")"""


def notebook(cfg: RunConfig) -> str:
    """The .ipynb text (nbformat v4, validated) of a notebook that reproduces `cfg`.

    Raises ImportError with an install hint when nbformat is not installed."""
    try:
        import nbformat
        from nbformat import v4
    except ImportError as e:
        raise ImportError(NBFORMAT_MISSING) from e

    md, code = v4.new_markdown_cell, v4.new_code_cell
    cells = [
        md(_intro(cfg)),
        code(_IMPORTS),
        md("## The configuration\n\nEvery key that differs from the defaults; the others keep theirs."),
        code("cfg = " + config_source(cfg) + "\ncfg"),
        md("## Training\n\nTrains `cfg.steps` minibatches and records what the charts below draw."),
        code(_RUN),
        code(_ENDS),
        md(
            "## The charts\n\nThe Lab's training charts, drawn by the same builders of `rnnlab.plots` "
            "(each returns a Plotly figure: hover for values, the camera icon saves a PNG)."
        ),
        md("### Loss\n\nThe minibatch loss per step, the task's baseline and the final evaluation."),
        code(_LOSS),
        md("### Gradient norm\n\nThe global gradient norm per update, before and after clipping."),
        code(_GRAD_NORM),
        md(
            "### Temporal gradient profile\n\n‖∂L/∂h<sub>k</sub>‖ for every update (rows) and "
            "position k (columns): how much of the loss's gradient reaches each step back."
        ),
        code(_GRAD_TIME),
        md("### Spectral radius\n\nρ(W<sub>hh</sub>) as training changes the recurrent weights."),
        code(_RADIUS),
        md(
            "### Jacobian heatmap of the last snapshot\n\n"
            "log₁₀ ‖∂h<sub>t</sub>/∂h<sub>k</sub>‖ on the probe sequence, and the eigenvalues of "
            "W<sub>hh</sub>, at the last snapshot."
        ),
        code(_HEATMAP),
        code(_EIGEN),
    ]
    if cfg.steps == 0:  # nothing trained: no profile, no snapshot after an update
        cells = cells[:7]
        cells.append(md("`steps` = 0: the run only analyses the network at initialisation."))
        cells.append(code(_HEATMAP))
    nb = v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "rnnlab": {"version": __version__, "config": cfg.as_dict()},
        },
    )
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4) + "\n"


def write_notebook(cfg: RunConfig, path: str | Path) -> Path:
    """Write notebook(cfg) to `path` (UTF-8); returns the path."""
    p = Path(path)
    p.write_text(notebook(cfg), encoding="utf-8")
    return p
