"""RNN Lab's science: configs, cells, tasks, training, Jacobians, theory, results; charts in `plots`.

Usable from a notebook or the command line with no Streamlit installed (and no plotly: only
`rnnlab.plots` needs it):

    from rnnlab import RunConfig, run, load_run
    result = run(RunConfig(seq_len=200, rho=1.2), on_update=print)
    result.save("runs/example")
"""

__version__ = "0.1.0"

from .config import ConfigError, RunConfig
from .presets import PRESETS, preset_config
from .reading import load_run
from .results import RunResult
from .train import analyse, run

__all__ = [
    "PRESETS",
    "ConfigError",
    "RunConfig",
    "RunResult",
    "analyse",
    "load_run",
    "preset_config",
    "run",
]
