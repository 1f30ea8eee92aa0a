"""The network at initialisation, cached: heatmap, lag profile, theory lines and the plain reading.

`at_init(cfg)` depends only on the keys that shape the untrained network and its probe sequence
(INIT_KEYS), so moving the learning rate or the step count never recomputes the heatmap.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from rnnlab import RunConfig, analyse, jacobian, measure, theory

AUTO_MAX_LEN = 300  # beyond these the at-init view waits for a click (the engine's cost per row
AUTO_MAX_STATE = 128  # grows fast with the state size: H = 512 takes minutes on 2 cores)
init_config, heatmap_size = measure.init_config, measure.heatmap_size


def automatic(cfg: RunConfig) -> bool:
    """Whether the at-init view may be computed on every control change (or waits for a click)."""
    return cfg.seq_total <= AUTO_MAX_LEN and measure.state_size(cfg) <= AUTO_MAX_STATE


def key(cfg: RunConfig) -> str:
    return init_config(cfg).to_json()


@dataclass
class InitView:
    """Everything the Lab draws at initialisation."""

    jacobian: np.ndarray  # (L, L) log10 norms, NaN above the diagonal and in skipped columns
    eigvals: np.ndarray  # (H,) complex
    sigma_max: float
    rho: float
    preact_var: float
    lags: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    slope: float  # measured log10 per step (NaN if not enough data)
    lines: dict[str, np.ndarray] = field(default_factory=dict)  # theory, log10 over lags
    predicted: float = math.nan  # mean-field slope, log10 per step
    text: str = ""
    stride_note: str = ""
    how_note: str = ""  # how the norms were computed (engine, certificates), for the caption


def mean_field_applies(cfg: RunConfig) -> bool:
    """Mean field assumes a random W_hh (Gaussian entries; an orthogonal one grows a typical vector at
    the same rate) whose slopes f'(a_t) decorrelate from step to step. The identity init (the IRNN)
    is neither: each unit feeds only itself, so the prediction would read as a failed one."""
    return cfg.cell == "rnn" and cfg.init != "identity"


def theory_lines(cfg: RunConfig, sigma_max: float, rho: float, preact_var: float, lags: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], float]:
    """The norm bound, rho^(t-k) and the mean-field slope over lags (vanilla cell only).

    Both lines take the leak into account (theory.norm_bound, theory.orthogonal_linear).
    """
    if cfg.cell != "rnn":
        return {}, math.nan
    lags = np.asarray(lags, dtype=float)
    leak = cfg.leak
    bound = theory.norm_bound(sigma_max, cfg.act, lags, leak)
    radius = theory.orthogonal_linear(rho, lags, leak) if rho > 0 else np.full(lags.shape, -np.inf)
    lines = {"norm bound (σ<sub>max</sub>·γ)<sup>t−k</sup>": bound,
             "ρ<sup>t−k</sup>": radius}
    predicted = math.nan
    if mean_field_applies(cfg) and math.isfinite(preact_var) and rho > 0:
        try:
            mf = theory.mean_field_from_q(cfg.act, rho, max(preact_var, 0.0), leak)
            predicted = mf.slope_log10
            lines["mean field (measured q)"] = lags * predicted
        except ValueError:
            pass
    return lines, predicted


@st.cache_data(max_entries=64, show_spinner=False)
def _at_init(cfg_json: str, max_size: int | None) -> InitView:
    cfg = RunConfig.from_dict(json.loads(cfg_json))
    a = analyse(cfg, max_size=max_size)
    hm = a["jacobian"]
    lags, mean, lo, hi = theory.lag_profile(hm)
    T = hm.shape[0]
    slope = measure.decay_slope(hm)
    lines, predicted = theory_lines(cfg, a["sigma_max"], a["rho"], a["preact_var"], lags)
    if math.isfinite(slope):
        text = theory.reading_text(slope, predicted if math.isfinite(predicted) else None, length=T)
    else:
        text = "The sequence is too short (or the products are exactly zero) to measure a decay rate."
    cols = np.flatnonzero(~np.all(np.isnan(hm), axis=0))
    note = "" if cols.size == T else (f"Every {T // max(cols.size, 1)}th column k computed "
                                      f"({cols.size} of {T}).")
    return InitView(hm, a["eigvals"], a["sigma_max"], a["rho"], a["preact_var"], lags, mean, lo, hi,
                    slope, lines, predicted, text, note, how_note(a["how"]))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sci(x: float) -> str:
    """2.17e-05 -> '2.2·10⁻⁵' (two significant digits)."""
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant}·10{str(int(exp)).translate(_SUPERSCRIPT)}"


def how_note(how: dict | None) -> str:
    """One sentence on how the heatmap's norms were computed (the snapshot's "how"), or ""."""
    if not how:
        return ""
    c, e = how["certified"], how["exact"]
    if how["method"] == "gram":
        bound = jacobian.certified_bound_log10(how["dtype"])
        return (f"Each of the {c + e:,} spectral norms is exact to rounding or within a proven "
                f"{_sci(bound)} in log₁₀: {c:,} accepted on a Kato–Temple certificate, {e:,} by a full "
                "eigen-solve.")
    if how["method"] == "tracking":
        return (f"Spectral norms by warm-started Rayleigh–Ritz (the tracking engine, {e:,} flat tops "
                "solved exactly), tested to 10⁻³ in log₁₀ against a float64 SVD.")
    return "rms norms: Frobenius norm / √H of each product, exact to rounding."


def at_init(cfg: RunConfig) -> InitView:
    c = init_config(cfg)
    return _at_init(c.to_json(), heatmap_size(c))


_MEASURED: set[str] = set()  # decay keys computed in this process (to show progress only when needed)


@st.cache_data(max_entries=128, show_spinner=False)
def _decay(cfg_json: str) -> tuple[float, list[float]]:
    # the Lab's own view of this config (same columns, same fit), so a card shows the Lab's number
    view = _at_init(cfg_json, heatmap_size(RunConfig.from_dict(json.loads(cfg_json))))
    return view.slope, [float(v) for v in view.mean if math.isfinite(v)]


def decay_per_step(cfg: RunConfig) -> float:
    """Measured log10 change per step back in time at initialisation (cheap, cached)."""
    return decay_profile(cfg)[0]


def decay_profile(cfg: RunConfig) -> tuple[float, list[float]]:
    """(slope in log10 per step, the mean lag profile in log10) at initialisation, cached."""
    key = init_config(cfg).to_json()
    value = _decay(key)
    _MEASURED.add(key)
    return value


def decay_cached(cfg: RunConfig) -> bool:
    return init_config(cfg).to_json() in _MEASURED
