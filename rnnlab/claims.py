"""What each preset demonstrates, as data that a test checks.

A preset's card says what a student will see; its `claims` say the same thing in a form a machine can
check against what the app then measures (`Evidence`: the Lab's per-step factor at initialisation and
after training, the run's verdict, divergence, clipping, spectral radius, gradient profile). A remedy
pair (`presets.REMEDIES`) also claims that "with" beats "without" on the quantity the remedy is about.
tests/test_claims.py runs every preset through `rnnlab.run` and checks every claim, so a card that
stops being true fails CI.

    ev = gather(PRESETS["exploding"].config())
    [c.check(ev) for c in PRESETS["exploding"].claims]   # -> Check(holds, claim, measured)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import measure, verdict
from .config import RunConfig

METRICS = {
    "init_factor": "the norm's change per step back at initialisation",
    "end_factor": "the norm's change per step back after training",
    "ratio": "final loss / baseline",
    "rho_end": "the spectral radius of W_hh after training",
    "reach": "log10 of ||dL/dh_1|| / ||dL/dh_L|| at the end of training",
    "sigma_init": "the largest singular value of W_hh at initialisation",
}


@dataclass(frozen=True)
class Evidence:
    """What the app shows for one configuration, initialised and trained.

    init_factor, end_factor: the per-step factor the Lab reads off the heatmap (measure.decay_slope)
    at initialisation and at the last snapshot. ratio: final loss / baseline (inf if the run
    diverged). kind, stage, diverged_at: the run's verdict. clipped: fraction of updates clipped.
    spike: log10 of the largest finite gradient norm over the first update's. rho_end: spectral radius
    of the recurrent matrix after the last update. reach: mean over the last fifth of the updates of
    log10 ||dL/dh_1|| - log10 ||dL/dh_L|| (how far the gradient reaches back; NaN where a chunk of
    truncated BPTT does not cover both ends). sigma_init: sigma_max of the recurrent matrix at
    initialisation. wall_s: training time.
    """

    init_factor: float
    end_factor: float
    ratio: float
    kind: str
    stage: str | None
    diverged_at: int | None
    clipped: float
    spike: float
    rho_end: float
    reach: float
    sigma_init: float
    wall_s: float

    def value(self, metric: str) -> float:
        return float(getattr(self, metric))


@dataclass(frozen=True)
class Check:
    holds: bool
    claim: str  # the claim in words
    measured: str  # what was measured, in words


def gather(cfg: RunConfig) -> Evidence:
    """Measure cfg at initialisation (exactly as the Lab does) and train it (as the Lab's Train does)."""
    from .train import analyse, run  # torch only when measuring

    init = measure.init_config(cfg)
    a = analyse(init, max_columns=measure.heatmap_size(init))
    t0 = time.perf_counter()
    r = run(cfg)
    wall = time.perf_counter() - t0
    m, s = r.metrics, r.summary
    v = verdict.judge(s)
    g = m["grad_norm"].to_numpy(float)
    finite = g[np.isfinite(g) & (g > 0)]
    spike = math.log10(finite.max() / finite[0]) if finite.size else math.nan
    rho = m["rho_whh"].to_numpy(float)
    rho_end = float(rho[np.isfinite(rho)][-1]) if np.isfinite(rho).any() else math.nan
    return Evidence(
        init_factor=measure.factor(measure.decay_slope(a.heatmap)),
        end_factor=measure.factor(measure.decay_slope(r.arrays["jacobian"][-1])),
        ratio=v.ratio if v.ratio is not None else math.inf,
        kind=v.kind,
        stage=v.stage,
        diverged_at=v.step,
        clipped=float(m["clipped"].mean()) if len(m) else 0.0,
        spike=spike,
        rho_end=rho_end,
        reach=_reach(r.arrays["grad_time"]),
        sigma_init=a.sigma_max,
        wall_s=wall,
    )


def _reach(grad_time: np.ndarray) -> float:
    """Mean log10 ||dL/dh_1|| / ||dL/dh_L|| over the last fifth of the updates (NaN if none covers both)."""
    if not len(grad_time):
        return math.nan
    tail = grad_time[-max(1, len(grad_time) // 5) :]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log10(tail[:, 0]) - np.log10(tail[:, -1])
    r = r[np.isfinite(r)]
    return float(r.mean()) if r.size else math.nan


def _x(v: float) -> str:
    return f"×{v:.3g}" if math.isfinite(v) else "n/a"


# ---- claims about one configuration ---------------------------------------------------------------


def _in(v: float, lo: float | None, hi: float | None) -> bool:
    return math.isfinite(v) and (lo is None or v >= lo) and (hi is None or v <= hi)


def _range_words(lo: float | None, hi: float | None, unit: str = "") -> str:
    if lo is not None and hi is not None:
        return f"between {unit}{lo:g} and {unit}{hi:g}"
    return f"at least {unit}{lo:g}" if lo is not None else f"at most {unit}{hi:g}"


@dataclass(frozen=True)
class PerStep:
    """The per-step factor the Lab reads, at initialisation (when="init") or after training ("end"),
    lies in [lo, hi] (None: unbounded)."""

    when: str
    lo: float | None = None
    hi: float | None = None

    @property
    def words(self) -> str:
        when = "at initialisation" if self.when == "init" else "after training"
        return f"per step back {when}: {_range_words(self.lo, self.hi, '×')}"

    def check(self, ev: Evidence) -> Check:
        f = ev.init_factor if self.when == "init" else ev.end_factor
        return Check(_in(f, self.lo, self.hi), self.words, _x(f))


@dataclass(frozen=True)
class Within:
    """A measured number (a key of METRICS) lies in [lo, hi] (None: unbounded)."""

    metric: str
    lo: float | None = None
    hi: float | None = None

    @property
    def words(self) -> str:
        return f"{METRICS[self.metric]}: {_range_words(self.lo, self.hi)}"

    def check(self, ev: Evidence) -> Check:
        v = ev.value(self.metric)
        return Check(_in(v, self.lo, self.hi), self.words, f"{v:.3g}")


@dataclass(frozen=True)
class Outcome:
    """The run's verdict is `kind` (or one of several, e.g. "did not learn" = not learned or worse);
    for "learned", the final loss is also below `below` x baseline."""

    kind: str | tuple[str, ...]
    below: float | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return (self.kind,) if isinstance(self.kind, str) else self.kind

    @property
    def words(self) -> str:
        below = f", final loss below {self.below:g} × baseline" if self.below else ""
        return " or ".join(self.kinds) + below

    def check(self, ev: Evidence) -> Check:
        ok = ev.kind in self.kinds and (self.below is None or ev.ratio <= self.below)
        return Check(ok, self.words, f"{ev.kind}, final loss {ev.ratio:.3g} × baseline")


@dataclass(frozen=True)
class Diverges:
    """The run diverges at a step in [first, last], in `stage` ("forward", "backward", "update"; None:
    any). `first` > 0 leaves finite updates to draw before it. Which pass overflows first after the
    weights have blown up is a matter of rounding, so a claim about a spike should not name it."""

    stage: str | None = None
    first: int = 0
    last: int | None = None

    @property
    def words(self) -> str:
        span = f"steps {self.first}–{self.last}" if self.last is not None else f"step {self.first} or later"
        return "diverges" + (f" in the {self.stage} pass" if self.stage else "") + f", at {span}"

    def check(self, ev: Evidence) -> Check:
        at = ev.diverged_at
        ok = (
            at is not None
            and (self.stage is None or ev.stage == self.stage)
            and at >= self.first
            and (self.last is None or at <= self.last)
        )
        got = f"diverged at step {at} ({ev.stage} pass)" if at is not None else "did not diverge"
        return Check(ok, self.words, got)


@dataclass(frozen=True)
class Spike:
    """The gradient norm rises to at least 10**orders times its first value (finite updates only)."""

    orders: float

    @property
    def words(self) -> str:
        return f"the gradient norm rises by {self.orders:g}+ orders of magnitude"

    def check(self, ev: Evidence) -> Check:
        ok = math.isfinite(ev.spike) and ev.spike >= self.orders
        return Check(ok, self.words, f"{ev.spike:.1f} orders")


@dataclass(frozen=True)
class Clipped:
    """At least `least` of the updates are clipped."""

    least: float

    @property
    def words(self) -> str:
        return f"at least {self.least:.0%} of the updates clipped"

    def check(self, ev: Evidence) -> Check:
        return Check(ev.clipped >= self.least, self.words, f"{ev.clipped:.0%} clipped")


# ---- claims of a remedy pair: "with" against "without" --------------------------------------------


@dataclass(frozen=True)
class Gain:
    """With the remedy, `metric` is higher (more=True) or lower than without, by `by`: a difference
    (scale="diff") or a factor (scale="ratio": with <= without * by when lower, >= when higher)."""

    metric: str
    more: bool
    by: float
    scale: str = "diff"

    @property
    def words(self) -> str:
        if self.scale == "ratio":
            need = f"{'at least' if self.more else 'at most'} {self.by:g} × without"
        else:
            need = f"{'higher' if self.more else 'lower'} by {self.by:g} or more"
        return f"{METRICS[self.metric]}: with the remedy {need}"

    def check_pair(self, without: Evidence, with_: Evidence) -> Check:
        a, b = without.value(self.metric), with_.value(self.metric)
        if self.scale == "ratio":
            ok = b >= a * self.by if self.more else b <= a * self.by
        else:
            ok = b >= a + self.by if self.more else b <= a - self.by
        ok = ok and not math.isnan(a) and not math.isnan(b)
        return Check(bool(ok), self.words, f"without {a:.3g}, with {b:.3g}")
