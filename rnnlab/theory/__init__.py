"""Theory that the app draws next to the measurements.

Everything here is a pure function of plain numbers or numpy arrays, so it can be checked against
closed forms and used from a notebook. Quantities that grow or shrink exponentially with the lag
are returned as log10 values: (sigma*gamma)^lag overflows float64 long before a chart runs out of
room, while its logarithm is just a straight line.

Modules (every name is also here, as `rnnlab.theory.X`)
-------------------------------------------------------
- `bounds`: the norm bound and the Pascanu et al. (2013) conditions: ``gamma``, ``norm_bound``,
  ``orthogonal_linear``, ``pascanu_regime``, ``pascanu_map``.
- `meanfield`: the mean-field growth of ``ln ||J_t ... J_1 v||`` for a random recurrent matrix:
  ``MeanField``, ``mean_field``, ``critical_rho``, ``mean_field_from_q``, ``mean_field_slopes``.
- `profile`: reading a measured heatmap: ``lag_profile``, ``fit_slope``, ``reading``,
  ``thousandfold``, ``reading_text``, ``lag_share``, ``REGIME_TOL``.
- `eigen`: the unit circle and the "lambda^t" chart: ``unit_circle_side``, ``eig_powers``, ``UNIT_TOL``.
- `cliff`: the one-unit loss cliff of Pascanu et al. (2013): ``cliff_loss``, ``cliff_grad``,
  ``cliff_descent``, ``cliff_grid``, ``CliffPath``, ``CLIFF_DEFAULTS``; and what clipping does to
  one gradient: ``clip_vectors``, ``angle_deg``.
"""

from .bounds import gamma, norm_bound, orthogonal_linear, pascanu_map, pascanu_regime
from .cliff import (
    CLIFF_DEFAULTS,
    CliffPath,
    angle_deg,
    cliff_descent,
    cliff_grad,
    cliff_grid,
    cliff_loss,
    clip_vectors,
)
from .eigen import UNIT_TOL, eig_powers, unit_circle_side
from .meanfield import MeanField, critical_rho, mean_field, mean_field_from_q, mean_field_slopes
from .profile import REGIME_TOL, fit_slope, lag_profile, lag_share, reading, reading_text, thousandfold

__all__ = [
    "CLIFF_DEFAULTS",
    "REGIME_TOL",
    "UNIT_TOL",
    "CliffPath",
    "MeanField",
    "angle_deg",
    "cliff_descent",
    "cliff_grad",
    "cliff_grid",
    "cliff_loss",
    "clip_vectors",
    "critical_rho",
    "eig_powers",
    "fit_slope",
    "gamma",
    "lag_profile",
    "lag_share",
    "mean_field",
    "mean_field_from_q",
    "mean_field_slopes",
    "norm_bound",
    "orthogonal_linear",
    "pascanu_map",
    "pascanu_regime",
    "reading",
    "reading_text",
    "thousandfold",
    "unit_circle_side",
]
