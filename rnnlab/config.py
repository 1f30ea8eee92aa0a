"""RunConfig: every public key of a run with its value, checked as a whole (docs/DESIGN.md, section 4).

The keys themselves, their types, ranges, caps and the parsing of one value are the `FIELDS` table of
rnnlab.fields; RunConfig adds the rules across keys (tbptt <= seq_len, omega only for cell=rnn), the
strict (`from_dict`, `from_json`) and lenient (`from_lenient`, for URLs) constructors and the views
(`to_strings`, `diff`). The table's names are re-exported here, where most callers import them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import tasks
from .fields import (
    CAP_ENV,
    ECHO_MAX,
    FIELD,
    FIELDS,
    GROUPS,
    HARD_MAX,
    KEYS,
    ConfigError,
    Field,
    cap,
    clamp_to_cap,
    default_values,
    fmt_number,
    format_value,
    parse_value,
    shorten,
    show_raw,
    unknown_key,
)

# Re-exported: callers import the table's names from rnnlab.config, as before the split.
__all__ = [
    "CAP_ENV",
    "ECHO_MAX",
    "FIELD",
    "FIELDS",
    "GROUPS",
    "HARD_MAX",
    "KEYS",
    "ConfigError",
    "Field",
    "RunConfig",
    "cap",
    "default_values",
    "format_value",
    "parse_value",
    "shorten",
]


@dataclass(frozen=True)
class RunConfig:
    """Every key of docs/DESIGN.md (and the remedies' keys) with its default. Immutable; validated on
    creation."""

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
    hf_damping: float = 1.0
    hf_mu: float = 0.03
    hf_cg_max: int = 100
    hf_curv_batch: int = 64
    steps: int = 200
    batch: int = 32
    seed: int = 0
    l1: float = 0.0
    l2: float = 0.0
    omega: float = 0.0
    floss: float = 0.0
    train_recurrent: bool = True
    teacher_forcing: bool = True
    norm: str = "spectral"
    snapshots: int = 5

    def __post_init__(self):
        for f in FIELDS:
            value = parse_value(f.key, getattr(self, f.key))
            object.__setattr__(self, f.key, value)  # normalised (e.g. int for "100")
        if self.tbptt > self.seq_len:
            raise ConfigError(
                "tbptt",
                f"{fmt_number(self.tbptt)} is longer than seq_len={self.seq_len}",
                f"0 (full BPTT) or 1..{self.seq_len}",
            )
        if self.omega > 0 and self.cell != "rnn":
            raise ConfigError(
                "omega", f"the regulariser is defined for cell=rnn, not {self.cell}", "0 unless cell=rnn"
            )
        if self.optimizer == "hf":
            self._check_hf()

    def _check_hf(self) -> None:
        """What does not compose with Hessian-free, and why (docs/DESIGN.md, section 6.12)."""
        if self.tbptt > 0:
            raise ConfigError(
                "tbptt",
                f"{self.tbptt} with optimizer=hf: HF's curvature and line search are defined on the "
                "whole sequence's loss, so it trains with full BPTT",
                "0 when optimizer=hf",
            )
        if self.clip > 0:
            raise ConfigError(
                "clip",
                f"{fmt_number(self.clip)} with optimizer=hf: HF sets its step length by damping and a "
                "line search; a clipped gradient would no longer match the quadratic model it checks "
                "steps against",
                "0 when optimizer=hf",
            )
        if self.omega > 0:
            raise ConfigError(
                "omega",
                f"{fmt_number(self.omega)} with optimizer=hf: the regulariser's curvature is not a "
                "Gauss-Newton product, so HF's quadratic model would not describe what it minimises",
                "0 when optimizer=hf",
            )
        if self.floss > 0:
            raise ConfigError(
                "floss",
                f"{fmt_number(self.floss)} with optimizer=hf: the flossing penalty's curvature is not a "
                "Gauss-Newton product and HF's line search would not see it, so HF would step on a "
                "gradient its quadratic model does not describe",
                "0 when optimizer=hf",
            )

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Strict: every key must be known and valid (strings are parsed). Missing keys take defaults."""
        unknown = [k for k in values if k not in FIELD]
        if unknown:
            raise unknown_key(unknown[0])
        return cls(**{**default_values(), **{k: parse_value(k, v) for k, v in values.items()}})

    @classmethod
    def from_lenient(
        cls, values: Mapping[str, Any], base: RunConfig | None = None
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
                clamped = clamp_to_cap(f, raw)
                if clamped is not None:
                    good[key] = clamped
                    notices.append(f"{key}: {show_raw(raw)} is above this server's cap; using {clamped}.")
                else:
                    notices.append(f"{e} — using {format_value(getattr(base, key))}.")
        merged = {**base.as_dict(), **good}
        for _ in range(len(KEYS)):  # each pass settles one cross-key rule (tbptt <= seq_len, hf's)
            try:
                return cls(**merged), notices
            except ConfigError as e:
                fallback = getattr(base, e.key)
                if merged[e.key] == fallback:  # the base breaks the rule too: the key's default
                    fallback = FIELD[e.key].default
                notices.append(f"{e} — using {format_value(fallback)}.")
                merged[e.key] = fallback
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
        return {
            k: format_value(getattr(self, k))
            for k in KEYS
            if not only_changed or getattr(self, k) != default[k]
        }

    @property
    def seq_total(self) -> int:
        """L, the length of the task's sequences (the task says what it adds to seq_len)."""
        return tasks.sequence_length(self.task, self.seq_len)
