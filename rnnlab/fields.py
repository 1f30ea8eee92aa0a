"""The config's vocabulary: one `Field` per public key, in the `FIELDS` table (docs/DESIGN.md, section 4).

Each `Field` says a key's type, default, allowed range or choices and a short help text. The same
table drives strict parsing (CLI, Python, config.json: bad input raises `ConfigError` naming the key
and what is allowed) and lenient parsing (URLs: a bad value falls back to the default and a notice
says why). Caps on the sizes that cost time (`seq_len`, `hidden`, `steps`, `batch`, `snapshots`)
come from environment variables so a class container cannot be overloaded from a link.

This module owns the table and the parsing and formatting of one value; rnnlab.config builds
`RunConfig` on it (and re-exports these names, which most callers import from there). The table
lives apart so that it reads as a table, and so that RunConfig's module is about a whole config.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from . import activations, tasks


class ConfigError(ValueError):
    """A config value that is not allowed. `key` is the offending key, `allowed` what would be."""

    def __init__(self, key: str, message: str, allowed: str = ""):
        self.key = key
        self.allowed = allowed
        super().__init__(f"{key}: {message}" + (f" (allowed: {allowed})" if allowed else ""))


# Caps: environment variable, safe default. A value above the cap is an error in strict mode and is
# clamped (with a notice) in lenient (URL) mode.
CAP_ENV = {
    "seq_len": ("RNNLAB_MAX_SEQ_LEN", 1000),
    "hidden": ("RNNLAB_MAX_HIDDEN", 512),
    "steps": ("RNNLAB_MAX_STEPS", 5000),
    "batch": ("RNNLAB_MAX_BATCH", 256),
    "snapshots": ("RNNLAB_MAX_SNAPSHOTS", 20),
}
HARD_MAX = {"hidden": 512}  # docs/DESIGN.md range, whatever the environment says


def cap(key: str) -> int:
    """The current cap for `key`, read from its environment variable (invalid values are ignored)."""
    env, default = CAP_ENV[key]
    try:
        value = int(os.environ.get(env, default))
    except ValueError:
        value = default
    value = max(value, 1)
    return min(value, HARD_MAX[key]) if key in HARD_MAX else value


@dataclass(frozen=True)
class Field:
    key: str
    kind: type  # int, float, bool or str
    default: Any
    help: str
    group: str  # Network, Task, Training, Remedies, Display
    choices: tuple[str, ...] = ()
    lo: float | None = None  # inclusive lower bound
    hi: float | None = None  # inclusive upper bound (or the cap key's cap)
    lo_open: bool = False  # lower bound exclusive
    hi_open: bool = False  # upper bound exclusive
    capped: bool = False  # upper bound is cap(key)
    label: str = ""

    def upper(self) -> float | None:
        return cap(self.key) if self.capped else self.hi

    def allowed(self) -> str:
        """Human-readable description of what the key accepts."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        kind = "an integer" if self.kind is int else "a number"
        lo, hi = self.lo, self.upper()
        parts = []
        if lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {fmt_number(lo)}")
        if hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {fmt_number(hi)}")
        if self.key == "tbptt":
            parts.append("<= seq_len")
        return kind + (" " + " and ".join(parts) if parts else "")


def fmt_number(x: float) -> str:
    """A bound or a checked number for a message: huge integers by their digits, floats in Python's
    short form (1e+300, not its 301 digits)."""
    if isinstance(x, int) and not isinstance(x, bool):
        return _short_int(x)
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)


ECHO_MAX = 40  # characters of a person's value that a message repeats


def shorten(raw: Any, limit: int = ECHO_MAX) -> str:
    """A value as a message may repeat it: its repr, at most `limit` characters (then "…"); an integer
    of more than 15 digits by its first four, its last and its length ("1000…0 (309 digits)"), since
    Python refuses to write one of over 4300 digits. Never raises."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _short_int(raw)
    if isinstance(raw, str):
        text = repr(raw[: limit + 1])  # repr of the whole of a 100 KB value would be wasted work
        return text if len(raw) <= limit and len(text) <= limit + 2 else text[: limit + 1] + "…" + text[0]
    try:
        text = repr(raw)
    except Exception:
        text = f"<{type(raw).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def _short_int(n: int) -> str:
    if abs(n) < 10**15:
        return str(n)
    digits = _digits(abs(n))
    head, last = abs(n) // 10 ** (digits - 4), abs(n) % 10
    return f"{'-' if n < 0 else ''}{head}…{last} ({digits} digits)"


def _digits(n: int) -> int:
    """Decimal digits of n > 0 from its bit length (str() refuses beyond 4300 digits)."""
    d = max(1, int((n.bit_length() - 1) * math.log10(2)))
    while 10**d <= n:
        d += 1
    return d


F = Field
FIELDS: tuple[Field, ...] = (
    # Network
    F(
        "cell",
        str,
        "rnn",
        "Recurrent cell: vanilla RNN, GRU or LSTM.",
        "Network",
        choices=("rnn", "gru", "lstm"),
        label="Cell",
    ),
    F(
        "act",
        str,
        "tanh",
        "Activation f of the vanilla cell; its largest slope gamma sets the norm bound.",
        "Network",
        choices=activations.NAMES,
        label="Activation",
    ),
    F("hidden", int, 64, "Hidden size H.", "Network", lo=2, capped=True, label="Hidden size"),
    # rho >= 1e-30: the weights are float32, whose normal range ends at 1.2e-38. Below it numbers lose
    # digits (subnormals) and then vanish: rho = 5e-324 makes W_hh exactly 0. At rho = 1e-30 an entry
    # would have to be 1e-8 of the largest to leave that range, so the spectral radius stays exact to
    # float32 rounding (the help text's promise) for every init and hidden size.
    F(
        "rho",
        float,
        1.0,
        "Spectral radius of W_hh at initialisation (exact).",
        "Network",
        lo=1e-30,
        hi=10,
        label="Spectral radius rho",
    ),
    F(
        "init",
        str,
        "gaussian",
        "Recurrent init before scaling to rho.",
        "Network",
        choices=("gaussian", "orthogonal", "identity"),
        label="Recurrent init",
    ),
    F(
        "leak",
        float,
        0.0,
        "Leaky integration: h_t = leak*h_{t-1} + (1-leak)*f(a_t).",
        "Network",
        lo=0,
        hi=1,
        hi_open=True,
        label="Leak",
    ),
    # Task
    F(
        "task",
        str,
        "adding",
        "What the network is trained to do; each task has a baseline, the loss of "
        "the best guess that ignores the inputs: a run has learned when it ends well below it.",
        "Task",
        choices=tuple(tasks.TASKS),
        label="Task",
    ),
    F("seq_len", int, 100, "Sequence length T.", "Task", lo=2, capped=True, label="Sequence length T"),
    # Training
    F("tbptt", int, 0, "Truncation window in steps; 0 = full BPTT.", "Training", lo=0, label="TBPTT window"),
    F("clip", float, 0.0, "Clip threshold; 0 = off.", "Training", lo=0, label="Clip threshold"),
    F(
        "clip_mode",
        str,
        "norm",
        "norm: rescale the global gradient norm; value: clamp each component.",
        "Training",
        choices=("norm", "value"),
        label="Clip mode",
    ),
    F(
        "optimizer",
        str,
        "sgd",
        "Optimizer; hf = Hessian-free (Martens 2010) with structural damping: conjugate gradient on "
        "the Gauss-Newton curvature, step length set by the damping and a line search (lr unused).",
        "Training",
        choices=("sgd", "momentum", "adam", "rmsprop", "hf"),
        label="Optimizer",
    ),
    F("lr", float, 0.01, "Learning rate.", "Training", lo=0, lo_open=True, hi=100, label="Learning rate"),
    # Hessian-free (issue 13): used when optimizer = hf
    F(
        "hf_damping",
        float,
        1.0,
        "hf: initial Tikhonov damping lambda, then adapted by the Levenberg-Marquardt rule.",
        "Training",
        lo=0,
        lo_open=True,
        hi=1e6,
        label="HF initial damping",
    ),
    F(
        "hf_mu",
        float,
        0.03,
        "hf: structural damping weight mu: a step pays lambda*mu for how far it moves the hidden states.",
        "Training",
        lo=0,
        hi=100,
        label="HF structural damping mu",
    ),
    F(
        "hf_cg_max",
        int,
        100,
        "hf: cap on conjugate-gradient iterations per update.",
        "Training",
        lo=1,
        hi=1000,
        label="HF CG iteration cap",
    ),
    F(
        "hf_curv_batch",
        int,
        64,
        "hf: sequences of each minibatch (its first ones) that the curvature products use.",
        "Training",
        lo=1,
        hi=256,
        label="HF curvature batch",
    ),
    F(
        "steps",
        int,
        200,
        "Training minibatches; 0 = analyse at initialisation only.",
        "Training",
        lo=0,
        capped=True,
        label="Training steps",
    ),
    F("batch", int, 32, "Minibatch size.", "Training", lo=1, capped=True, label="Batch size"),
    F(
        "seed",
        int,
        0,
        "Every random draw derives from it: same config, same numbers.",
        "Training",
        lo=0,
        hi=2**31 - 1,
        label="Seed",
    ),
    # Remedies (issue 5)
    F("l1", float, 0.0, "L1 penalty weight on W_hh.", "Remedies", lo=0, hi=10, label="L1 on W_hh"),
    F("l2", float, 0.0, "L2 penalty weight on W_hh.", "Remedies", lo=0, hi=10, label="L2 on W_hh"),
    F(
        "omega",
        float,
        0.0,
        "Weight of the vanishing-gradient regulariser (Pascanu et al. 2013).",
        "Remedies",
        lo=0,
        hi=100,
        label="Omega regulariser",
    ),
    F(
        "floss",
        float,
        0.0,
        "Weight of gradient flossing (Engelken 2023): a penalty on the squares of the top 4 Lyapunov "
        "exponents of the state map along each minibatch's first sequence, pushing them toward 0.",
        "Remedies",
        lo=0,
        hi=100,
        label="Gradient flossing",
    ),
    F(
        "train_recurrent",
        bool,
        True,
        "Train the recurrent and input weights; false = echo state network (readout only).",
        "Remedies",
        label="Train recurrent weights",
    ),
    F(
        "teacher_forcing",
        bool,
        True,
        "sine task: feed the true previous value (true) or the model's own prediction (false).",
        "Remedies",
        label="Teacher forcing",
    ),
    # Display
    F(
        "norm",
        str,
        "spectral",
        "Heatmap norm: spectral, or rms (Frobenius / sqrt(state size)).",
        "Display",
        choices=("spectral", "rms"),
        label="Heatmap norm",
    ),
    F(
        "snapshots",
        int,
        5,
        "Heatmap snapshots over training (first at step 0, last at the end).",
        "Display",
        lo=1,
        capped=True,
        label="Snapshots",
    ),
)
FIELD = {f.key: f for f in FIELDS}
KEYS = tuple(FIELD)
GROUPS = ("Network", "Task", "Training", "Remedies", "Display")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_value(key: str, raw: Any) -> Any:
    """Convert one raw value (string from a URL/CLI, or a Python value) to the key's type and check it.

    Raises ConfigError naming the key and what is allowed. Upper caps are checked here too.
    """
    if key not in FIELD:
        raise unknown_key(key)
    f = FIELD[key]
    value = _convert(f, raw)
    _check_range(f, value)
    return value


def unknown_key(key: Any) -> ConfigError:
    """The error for a key not in FIELDS (a long or odd key is shortened: a link can carry anything)."""
    name = key if isinstance(key, str) and len(key) <= ECHO_MAX else shorten(key)
    return ConfigError(name, "unknown key", "one of " + ", ".join(KEYS))


def _text(raw: Any, bad: ConfigError) -> str:
    """str(raw), stripped and lower-case; `bad` when there is none (str() of an integer of over 4300
    digits raises ValueError)."""
    try:
        return str(raw).strip().lower()
    except Exception:
        raise bad from None


def _convert(f: Field, raw: Any) -> Any:
    bad = ConfigError(f.key, f"{show_raw(raw)} is not valid", f.allowed())
    if f.kind is bool:
        if isinstance(raw, bool):
            return raw
        s = _text(raw, bad)
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise bad
    if f.kind is str:
        s = _text(raw, bad)
        if s not in f.choices:
            raise bad
        return s
    if isinstance(raw, bool):
        raise bad
    if f.kind is int:
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float):
            if math.isfinite(raw) and raw.is_integer():
                return int(raw)
            raise bad
        s = _text(raw, bad)
        try:
            return int(s)
        except ValueError:
            try:  # "100.0" and "1e2" are integers written as floats
                x = float(s)
            except ValueError:
                raise bad from None
            if math.isfinite(x) and x.is_integer():
                return int(x)
            raise bad from None
    # float
    try:
        x = float(raw) if not isinstance(raw, str) else float(raw.strip())
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float's range
        raise bad from None
    if not math.isfinite(x):
        raise bad
    return x


def _check_range(f: Field, value: Any) -> None:
    if f.kind not in (int, float):
        return
    hi = f.upper()
    low_bad = f.lo is not None and (value <= f.lo if f.lo_open else value < f.lo)
    high_bad = hi is not None and (value >= hi if f.hi_open else value > hi)
    if low_bad or high_bad:
        raise ConfigError(f.key, f"{fmt_number(value)} is out of range", f.allowed())


def show_raw(raw: Any) -> str:
    """A person's value as a message repeats it: stripped, then `shorten`ed."""
    return shorten(raw.strip() if isinstance(raw, str) else raw)


def default_values() -> dict[str, Any]:
    """Every key's default, capped keys lowered to their cap when a server sets a smaller one."""
    return {f.key: min(f.default, cap(f.key)) if f.capped else f.default for f in FIELDS}


def format_value(value: Any) -> str:
    """A value as a URL or `--set` writes it; parse_value reads it back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else fmt_number(value)
    return str(value)


def clamp_to_cap(f: Field, raw: Any) -> Any:
    """For a capped key whose value is a valid number above the cap: the cap. Else None."""
    if not f.capped:
        return None
    try:
        value = _convert(f, raw)
    except ConfigError:
        return None
    return cap(f.key) if value > cap(f.key) else None
