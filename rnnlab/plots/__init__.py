"""Every chart of RNN Lab: plain data in, Plotly `go.Figure` out. No Streamlit here.

The only part of rnnlab that needs plotly: `import rnnlab` works without it.

Modules
-------
- `style`: fonts, colours, the template, powers-of-ten ticks and the layout helpers every builder uses.
- `lab`: the Jacobian heatmap, its lag profile, the eigenvalues of W_hh.
- `training`: loss, gradient norm, temporal gradient profile, spectral radius, HF's damping and CG
  iterations during training.
- `theory`: the Theory page's formulas drawn next to the measurements.
- `dynamics`: the Lyapunov spectrum, its convergence, the exponents over training, the orbit diagram.
- `cliff`: the Theory page's loss cliff and gradient clipping pictures.
- `compare`: two runs, A and B, on the same axes.
- `sweep`: a sweep's phase diagram with the mean field's critical line and the measured zero.

The builders are also importable from here (`rnnlab.plots.jacobian_heatmap`).
"""

from .cliff import cliff_figure, cliff_steps_figure, clip_figure
from .compare import difference_heatmap, grad_norm_overlay, loss_overlay, shared_range
from .dynamics import lyapunov_figure, lyapunov_running_figure, lyapunov_training_figure, orbit_figure
from .lab import chunk_boundaries, eigen_figure, jacobian_heatmap, lag_profile_figure
from .sweep import phase_figure
from .theory import eig_powers_figure, mean_field_figure, pascanu_figure
from .training import grad_norm_figure, grad_time_figure, hf_figure, loss_figure, radius_figure

__all__ = [
    "chunk_boundaries",
    "cliff_figure",
    "cliff_steps_figure",
    "clip_figure",
    "difference_heatmap",
    "eig_powers_figure",
    "eigen_figure",
    "grad_norm_figure",
    "grad_norm_overlay",
    "grad_time_figure",
    "hf_figure",
    "jacobian_heatmap",
    "lag_profile_figure",
    "loss_figure",
    "loss_overlay",
    "lyapunov_figure",
    "lyapunov_running_figure",
    "lyapunov_training_figure",
    "mean_field_figure",
    "orbit_figure",
    "pascanu_figure",
    "phase_figure",
    "radius_figure",
    "shared_range",
]
