"""The lesson file format: the records `Lesson` and `Step`, and `parse`, which checks a file's text.

The format is documented in the README ("Lessons") and docs/DESIGN.md section 14. `parse` raises
`LessonError` naming the lesson, the step (1-based) and the field. Every step's configuration must
resolve strictly, as the CLI's would: no unknown key, no value out of range or over this server's cap.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ..config import FIELD, ConfigError, RunConfig
from ..fields import shorten
from ..presets import PRESETS, preset_config, resolve

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
NAME_ALLOWED = "lowercase letters, digits and '-', at most 48, starting with a letter or digit"
TITLE_MAX = 80  # characters of a lesson's title
DO = ("train", "compare")  # a step's `do`: one of these, or "change <key>"
LESSON_KEYS = ("title", "audience", "summary", "step")
STEP_KEYS = ("title", "preset", "set", "hide", "text", "look", "questions", "do")


class LessonError(ValueError):
    """A lesson that cannot be used: `lesson` (its name), `step` (1-based, or None for the whole
    lesson) and `field` ("title", "set.rho", ..., or None) say where."""

    def __init__(self, lesson: str, step: int | None, field: str | None, message: str):
        self.lesson, self.step, self.field = lesson, step, field
        where = [f"lesson {lesson}"] + ([f"step {step}"] if step else []) + ([field] if field else [])
        super().__init__(", ".join(where) + ": " + message)


@dataclass(frozen=True)
class Step:
    """One step of a lesson: a configuration (a preset and keys over it) and what to make of it."""

    title: str
    text: str  # Markdown: what this step shows, in plain words
    look: str  # what to look at (which chart, which region)
    questions: tuple[str, ...]  # one or two
    preset: str | None = None  # a name of rnnlab.presets.PRESETS (an alias resolved to its name)
    set: dict[str, Any] = field(default_factory=dict, hash=False)  # FIELDS keys over the preset
    hide: tuple[str, ...] = ()  # FIELDS keys whose controls this step hides
    do: str | None = None  # "train", "compare" or "change <key>"

    def config(self) -> RunConfig:
        """The step's configuration: the preset's settings with `set` on top (or the defaults with
        `set`), strictly. Raises ConfigError; a parsed lesson's steps never do (parse checked them)."""
        if self.preset is not None:
            return preset_config(self.preset, self.set)
        return RunConfig.from_dict(self.set)


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem, matching NAME_RE
    title: str
    audience: str
    steps: tuple[Step, ...]
    summary: str = ""


def valid_name(name: str) -> bool:
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def parse(text: str, name: str) -> Lesson:
    """The lesson in a file's `text`, whose name is `name`. Raises LessonError naming what is wrong."""
    if not valid_name(name):
        raise LessonError(shorten(name), None, "name", f"not a lesson name (allowed: {NAME_ALLOWED})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LessonError(name, None, None, f"not valid TOML ({e})") from None
    _known(data, LESSON_KEYS, name, None, "")
    title = _line(data, "title", name, None, required=True)
    if len(title) > TITLE_MAX:
        raise LessonError(name, None, "title", f"{len(title)} characters (allowed: at most {TITLE_MAX})")
    audience = _line(data, "audience", name, None, required=True)
    summary = _text(data, "summary", name, None, required=False)
    steps = data.get("step")
    if steps is None:
        raise LessonError(name, None, "step", "missing (allowed: one or more [[step]] tables)")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise LessonError(name, None, "step", "must be one or more [[step]] tables")
    return Lesson(name, title, audience, tuple(_step(s, name, i) for i, s in enumerate(steps, 1)), summary)


def _step(data: dict[str, Any], name: str, i: int) -> Step:
    _known(data, STEP_KEYS, name, i, "")
    preset = data.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or resolve(preset) is None:
            raise LessonError(
                name, i, "preset", f"{shorten(preset)} is unknown (allowed: one of {', '.join(PRESETS)})"
            )
        preset = resolve(preset)
    values = data.get("set", {})
    if not isinstance(values, dict):
        raise LessonError(name, i, "set", "must be a table of key = value, e.g. set = { rho = 0.8 }")
    _known(values, tuple(FIELD), name, i, "set.")
    hide = data.get("hide", [])
    if not isinstance(hide, list) or not all(isinstance(k, str) for k in hide):
        raise LessonError(name, i, "hide", 'must be a list of keys, e.g. ["act", "init"]')
    for key in hide:
        if key not in FIELD:
            raise LessonError(name, i, "hide", f"{shorten(key)} is not a key (allowed: {', '.join(FIELD)})")
    questions = data.get("questions")
    if (
        not isinstance(questions, list)
        or not 1 <= len(questions) <= 2
        or not all(isinstance(q, str) and q.strip() for q in questions)
    ):
        raise LessonError(name, i, "questions", "must be a list of one or two questions")
    step = Step(
        title=_line(data, "title", name, i, required=True),
        text=_text(data, "text", name, i, required=True),
        look=_text(data, "look", name, i, required=True),
        questions=tuple(q.strip() for q in questions),
        preset=preset,
        set=dict(values),
        hide=tuple(dict.fromkeys(hide)),
        do=_do(data.get("do"), name, i),
    )
    try:
        step.config()
    except ConfigError as e:
        where = "preset" if e.key == "preset" else f"set.{e.key}"
        raise LessonError(name, i, where, str(e).removeprefix(f"{e.key}: ")) from None
    return step


def _known(data: dict[str, Any], allowed: tuple[str, ...], name: str, i: int | None, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise LessonError(
                name, i, prefix + _show_key(key), f"unknown key (allowed: {', '.join(allowed)})"
            )


def _show_key(key: str) -> str:
    """A file's key as a message names it: as written if it is a plain word, else quoted and short."""
    return key if re.fullmatch(r"[\w-]{1,30}", key, re.ASCII) else shorten(key, 30)


def _text(data: dict[str, Any], key: str, name: str, i: int | None, required: bool) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise LessonError(name, i, key, "missing")
    if not isinstance(value, str) or not value.strip():
        raise LessonError(name, i, key, "must be a non-empty string")
    return value.strip()


def _line(data: dict[str, Any], key: str, name: str, i: int | None, required: bool) -> str:
    value = _text(data, key, name, i, required)
    if "\n" in value or "\r" in value:
        raise LessonError(name, i, key, "must be one line")
    return value


def _do(value: Any, name: str, i: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        word, _, key = value.strip().partition(" ")
        if value.strip() in DO or (word == "change" and key.strip() in FIELD):
            return " ".join(value.split())
    allowed = ", ".join(f'"{d}"' for d in DO) + ' or "change <key>" with a key of ' + ", ".join(FIELD)
    raise LessonError(name, i, "do", f"{shorten(value)} is not valid (allowed: {allowed})")
