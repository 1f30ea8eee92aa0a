"""RunConfig: one declarative table of every public key (URL, CLI, Python and exported files).

Each `Field` says a key's type, default, allowed range or choices and a short help text. The same
table drives strict parsing (CLI, Python, config.json: bad input raises `ConfigError` naming the key
and what is allowed) and lenient parsing (URLs: a bad value falls back to the default and a notice
says why). Caps on the sizes that cost time (`seq_len`, `hidden`, `steps`, `batch`, `snapshots`)
come from environment variables so a class container cannot be overloaded from a link.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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
HARD_MAX = {"hidden": 512}  # DESIGN.md range, whatever the environment says


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
            parts.append(f"{'>' if self.lo_open else '>='} {_fmt(lo)}")
        if hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_fmt(hi)}")
        if self.key == "tbptt":
            parts.append("<= seq_len")
        return kind + (" " + " and ".join(parts) if parts else "")


def _fmt(x: float) -> str:
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
        text = repr(raw[:limit + 1])  # repr of the whole of a 100 KB value would be wasted work
        return text if len(raw) <= limit and len(text) <= limit + 2 else text[:limit + 1] + "…" + text[0]
    try:
        text = repr(raw)
    except Exception:  # noqa: BLE001 - an object whose repr fails is named by its type
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
    F("cell", str, "rnn", "Recurrent cell: vanilla RNN, GRU or LSTM.", "Network",
      choices=("rnn", "gru", "lstm"), label="Cell"),
    F("act", str, "tanh", "Activation f of the vanilla cell; its largest slope gamma sets the norm bound.",
      "Network", choices=activations.NAMES, label="Activation"),
    F("hidden", int, 64, "Hidden size H.", "Network", lo=2, capped=True, label="Hidden size"),
    # rho >= 1e-30: the weights are float32, whose normal range ends at 1.2e-38. Below it numbers lose
    # digits (subnormals) and then vanish: rho = 5e-324 makes W_hh exactly 0. At rho = 1e-30 an entry
    # would have to be 1e-8 of the largest to leave that range, so the spectral radius stays exact to
    # float32 rounding (the help text's promise) for every init and hidden size.
    F("rho", float, 1.0, "Spectral radius of W_hh at initialisation (exact).", "Network",
      lo=1e-30, hi=10, label="Spectral radius rho"),
    F("init", str, "gaussian", "Recurrent init before scaling to rho.", "Network",
      choices=("gaussian", "orthogonal", "identity"), label="Recurrent init"),
    F("leak", float, 0.0, "Leaky integration: h_t = leak*h_{t-1} + (1-leak)*f(a_t).", "Network",
      lo=0, hi=1, hi_open=True, label="Leak"),
    # Task
    F("task", str, "adding", "What the network is trained to do; each task has a baseline, the loss of "
      "the best guess that ignores the inputs: a run has learned when it ends well below it.", "Task",
      choices=tuple(tasks.TASKS), label="Task"),
    F("seq_len", int, 100, "Sequence length T.", "Task", lo=2, capped=True, label="Sequence length T"),
    # Training
    F("tbptt", int, 0, "Truncation window in steps; 0 = full BPTT.", "Training", lo=0,
      label="TBPTT window"),
    F("clip", float, 0.0, "Clip threshold; 0 = off.", "Training", lo=0, label="Clip threshold"),
    F("clip_mode", str, "norm", "norm: rescale the global gradient norm; value: clamp each component.",
      "Training", choices=("norm", "value"), label="Clip mode"),
    F("optimizer", str, "sgd", "Optimizer.", "Training",
      choices=("sgd", "momentum", "adam", "rmsprop"), label="Optimizer"),
    F("lr", float, 0.01, "Learning rate.", "Training", lo=0, lo_open=True, hi=100, label="Learning rate"),
    F("steps", int, 200, "Training minibatches; 0 = analyse at initialisation only.", "Training",
      lo=0, capped=True, label="Training steps"),
    F("batch", int, 32, "Minibatch size.", "Training", lo=1, capped=True, label="Batch size"),
    F("seed", int, 0, "Every random draw derives from it: same config, same numbers.", "Training",
      lo=0, hi=2**31 - 1, label="Seed"),
    # Remedies (issue 5)
    F("l1", float, 0.0, "L1 penalty weight on W_hh.", "Remedies", lo=0, hi=10, label="L1 on W_hh"),
    F("l2", float, 0.0, "L2 penalty weight on W_hh.", "Remedies", lo=0, hi=10, label="L2 on W_hh"),
    F("omega", float, 0.0, "Weight of the vanishing-gradient regulariser (Pascanu et al. 2013).",
      "Remedies", lo=0, hi=100, label="Omega regulariser"),
    F("train_recurrent", bool, True,
      "Train the recurrent and input weights; false = echo state network (readout only).",
      "Remedies", label="Train recurrent weights"),
    F("teacher_forcing", bool, True,
      "sine task: feed the true previous value (true) or the model's own prediction (false).",
      "Remedies", label="Teacher forcing"),
    # Display
    F("norm", str, "spectral", "Heatmap norm: spectral, or rms (Frobenius / sqrt(state size)).", "Display",
      choices=("spectral", "rms"), label="Heatmap norm"),
    F("snapshots", int, 5, "Heatmap snapshots over training (first at step 0, last at the end).",
      "Display", lo=1, capped=True, label="Snapshots"),
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
        raise _unknown(key)
    f = FIELD[key]
    value = _convert(f, raw)
    _check_range(f, value)
    return value


def _unknown(key: Any) -> ConfigError:
    name = key if isinstance(key, str) and len(key) <= ECHO_MAX else shorten(key)
    return ConfigError(name, "unknown key", "one of " + ", ".join(KEYS))


def _text(raw: Any, bad: ConfigError) -> str:
    """str(raw), stripped and lower-case; `bad` when there is none (str() of an integer of over 4300
    digits raises ValueError)."""
    try:
        return str(raw).strip().lower()
    except Exception:  # noqa: BLE001 - any value without a text form is simply not valid
        raise bad from None


def _convert(f: Field, raw: Any) -> Any:
    bad = ConfigError(f.key, f"{_show(raw)} is not valid", f.allowed())
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
        raise ConfigError(f.key, f"{_fmt(value)} is out of range", f.allowed())


def _show(raw: Any) -> str:
    return shorten(raw.strip() if isinstance(raw, str) else raw)


@dataclass(frozen=True)
class RunConfig:
    """Every key of DESIGN.md (and the remedies' keys) with its default. Immutable; validated on creation."""

    cell: str = "rnn"
    act: str = "tanh"
    hidden: int = 64
    rho: float = 1.0
    init: str = "gaussian"
    leak: float = 0.0
    task: str = "adding"
    seq_len: int = 100
    tbptt: int = 0
    clip: float = 0.0
    clip_mode: str = "norm"
    optimizer: str = "sgd"
    lr: float = 0.01
    steps: int = 200
    batch: int = 32
    seed: int = 0
    l1: float = 0.0
    l2: float = 0.0
    omega: float = 0.0
    train_recurrent: bool = True
    teacher_forcing: bool = True
    norm: str = "spectral"
    snapshots: int = 5

    def __post_init__(self):
        for f in FIELDS:
            value = parse_value(f.key, getattr(self, f.key))
            object.__setattr__(self, f.key, value)  # normalised (e.g. int for "100")
        if self.tbptt > self.seq_len:
            raise ConfigError("tbptt", f"{_fmt(self.tbptt)} is longer than seq_len={self.seq_len}",
                              f"0 (full BPTT) or 1..{self.seq_len}")
        if self.omega > 0 and self.cell != "rnn":
            raise ConfigError("omega", f"the regulariser is defined for cell=rnn, not {self.cell}",
                              "0 unless cell=rnn")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Strict: every key must be known and valid (strings are parsed). Missing keys take defaults."""
        unknown = [k for k in values if k not in FIELD]
        if unknown:
            raise _unknown(unknown[0])
        return cls(**{**default_values(), **{k: parse_value(k, v) for k, v in values.items()}})

    @classmethod
    def from_lenient(cls, values: Mapping[str, Any], base: RunConfig | None = None
                     ) -> tuple[RunConfig, list[str]]:
        """Lenient (URL): bad values fall back to `base` (default config) with a notice each.

        Values above a cap are clamped to the cap; unknown keys are ignored by the caller (a URL has
        other parameters too). Never raises for bad values.
        """
        base = base or cls.from_dict({})
        notices: list[str] = []
        good: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in FIELD:
                continue
            f = FIELD[key]
            try:
                good[key] = parse_value(key, raw)
            except ConfigError as e:
                clamped = _clamp_to_cap(f, raw)
                if clamped is not None:
                    good[key] = clamped
                    notices.append(f"{key}: {_show(raw)} is above this server's cap; using {clamped}.")
                else:
                    notices.append(f"{e} — using {_fmt_value(getattr(base, key))}.")
        merged = {**base.as_dict(), **good}
        try:
            return cls(**merged), notices
        except ConfigError as e:  # cross-key rule (tbptt <= seq_len)
            notices.append(f"{e} — using {_fmt_value(getattr(base, e.key))}.")
            merged[e.key] = getattr(base, e.key)
            if merged["tbptt"] > merged["seq_len"]:
                merged["tbptt"] = 0
            if merged["cell"] != "rnn":
                merged["omega"] = 0.0
            return cls(**merged), notices

    @classmethod
    def from_json(cls, path: str | Path) -> RunConfig:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ConfigError("config", "config.json must hold an object of key: value")
        return cls.from_dict(data)

    # ---- views -------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.as_dict(), **changes})

    def with_changes(self, text: str | None):
        """This config with the changes written in `text` ("clip:1,lr:0.1"), leniently: a
        `rnnlab.changes.Changes` (config, changes kept, notices). Never raises; see rnnlab.changes."""
        from .changes import apply_changes  # the grammar's module imports this one

        return apply_changes(self, text)

    def diff(self, other: RunConfig) -> dict[str, tuple[Any, Any]]:
        """Keys whose values differ: key -> (self's, other's)."""
        a, b = self.as_dict(), other.as_dict()
        return {k: (a[k], b[k]) for k in KEYS if a[k] != b[k]}

    def to_strings(self, only_changed: bool = True) -> dict[str, str]:
        """String form for a URL or `--set`: only keys that differ from the defaults by default."""
        default = default_values()
        return {k: format_value(getattr(self, k)) for k in KEYS
                if not only_changed or getattr(self, k) != default[k]}

    @property
    def seq_total(self) -> int:
        """L, the length of the task's sequences (the task says what it adds to seq_len)."""
        return tasks.sequence_length(self.task, self.seq_len)


def default_values() -> dict[str, Any]:
    """Every key's default, capped keys lowered to their cap when a server sets a smaller one."""
    return {f.key: min(f.default, cap(f.key)) if f.capped else f.default for f in FIELDS}


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else _fmt(value)
    return str(value)


_fmt_value = format_value


def _clamp_to_cap(f: Field, raw: Any) -> Any:
    """For a capped key whose value is a valid number above the cap: the cap. Else None."""
    if not f.capped:
        return None
    try:
        value = _convert(f, raw)
    except ConfigError:
        return None
    return cap(f.key) if value > cap(f.key) else None
