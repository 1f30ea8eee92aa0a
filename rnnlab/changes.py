"""A config's changes against another, written as one short string: `clip:1,lr:0.1`.

The Compare page keeps its B side as changes to A (the `b=` URL parameter), so moving a control of A
moves both runs and the difference stays the one the link names. This module is that grammar and
nothing else: parse leniently (a bad item is dropped with a notice, never an exception), apply, and
write back. Pure: no Streamlit, no URL handling (ui.compare owns the parameter).

    b = RunConfig().with_changes("clip:1, lr=0.1")   # Changes(cfg, spec, notices)
    format_changes(b.spec)                           # 'clip:1,lr:0.1'
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .config import FIELD, KEYS, ConfigError, RunConfig, format_value, parse_value, shorten
from .presets import preset_config


class Changes(NamedTuple):
    """What applying a changes string gave: the changed config, the changes kept (key -> parsed
    value, in the string's order) and one notice per item that was dropped or corrected.

    A tuple so that `cfg, spec, notices = ...` reads as the three things it is."""

    cfg: RunConfig
    spec: dict[str, Any]
    notices: list[str]


def split_changes(text: str | None) -> tuple[dict[str, str], list[str]]:
    """'clip:1, lr:0.1' -> ({'clip': '1', 'lr': '0.1'}, notices). `=` works as well as `:`.

    Items that are not key:value, or whose key is unknown, are dropped with a notice.
    """
    raw: dict[str, str] = {}
    notices: list[str] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        seps = [i for i in (item.find(":"), item.find("=")) if i > 0]
        if not seps:
            notices.append(f"b: {shorten(item)} is not key:value (e.g. b=clip:1,lr:0.1) — ignored.")
            continue
        i = min(seps)
        key, value = item[:i].strip().lower(), item[i + 1 :].strip()
        if key not in FIELD:
            notices.append(
                f"b: {shorten(key)} is not a setting (allowed: one of {', '.join(KEYS)}) — ignored."
            )
            continue
        raw[key] = value
    return raw, notices


def apply_changes(base: RunConfig, text: str | None) -> Changes:
    """`base` with the changes in `text`. Never raises.

    A bad value keeps base's value (with a notice); a value above the server's cap is clamped, and the
    clamped value is kept as the change (the link asked for "as long as allowed").
    """
    raw, notices = split_changes(text)
    cfg, more = RunConfig.from_lenient(raw, base=base)
    notices += [f"B: {n}" for n in more]
    spec: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            parse_value(key, value)
            ok = True
        except ConfigError:
            ok = getattr(cfg, key) != getattr(base, key)  # clamped to the cap: keep the clamped value
        if ok:
            spec[key] = getattr(cfg, key)
    return Changes(cfg, spec, notices)


def format_changes(spec: dict[str, Any]) -> str:
    """{'clip': 1.0, 'lr': 0.1} -> 'clip:1,lr:0.1' (the URL form)."""
    return ",".join(f"{k}:{format_value(v)}" for k, v in spec.items())


def changes_between(a: RunConfig, b: RunConfig) -> dict[str, Any]:
    """The changes that turn `a` into `b` (key -> b's value), in the table's key order."""
    return {k: vb for k, (_, vb) in a.diff(b).items()}


def describe_changes(a: RunConfig, b: RunConfig) -> str:
    """'clip = 1, lr = 0.1' for the keys whose values differ, or '' if none."""
    return ", ".join(f"{k} = {format_value(vb)}" for k, vb in changes_between(a, b).items())


def remedy_changes(without: str, with_: str) -> dict[str, Any]:
    """The changes that turn preset `without` into preset `with_` (B's spec for a remedy pair)."""
    return changes_between(preset_config(without), preset_config(with_))
