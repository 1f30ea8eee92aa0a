"""Lessons: a path through the ideas for a class, one configuration to look at per step.

A lesson is a TOML file whose name is the file's stem (the format and its checks: `.format`). The
files live in folders (`lesson_dirs`): the built-in lessons shipped in `builtin/`, then the teachers'
folder named by the environment variable RNNLAB_LESSONS_DIR, if set. A teacher's lesson with the name
of a built-in one takes its place (a class can change a built-in lesson without touching the code).

`load(name)` checks the name against NAME_RE and looks it up among the files listed in those
folders: a name (from a URL, say) is never made into a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..fields import shorten
from .format import NAME_ALLOWED, NAME_RE, Lesson, LessonError, Step, parse, valid_name

__all__ = [
    "LESSONS_ENV",
    "NAME_RE",
    "Lesson",
    "LessonError",
    "Step",
    "builtin_dir",
    "ignored",
    "lesson_dirs",
    "load",
    "names",
    "parse",
]

LESSONS_ENV = "RNNLAB_LESSONS_DIR"  # a teachers' folder of lesson files (read, never written)
MAX_BYTES = 200_000  # a lesson file larger than this is refused unread


def builtin_dir() -> Path:
    """The folder of the lessons shipped with the package."""
    return Path(__file__).resolve().parent / "builtin"


def lesson_dirs() -> list[Path]:
    """The folders searched for lessons, in order: the built-in one, then $RNNLAB_LESSONS_DIR if set."""
    extra = os.environ.get(LESSONS_ENV, "").strip()
    return [builtin_dir()] + ([Path(extra)] if extra else [])


def _listing() -> tuple[dict[str, Path], list[str]]:
    """name -> file over every folder (a later folder's file takes an earlier one's place), and the
    file names skipped because their stem is not a lesson name."""
    found: dict[str, Path] = {}
    skipped: list[str] = []
    for folder in lesson_dirs():
        try:
            files = sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file())
        except OSError:  # a missing or unreadable teachers' folder lists no lessons
            continue
        for path in files:
            if valid_name(path.stem):
                found[path.stem] = path
            else:
                skipped.append(path.name)
    return found, skipped


def names() -> list[str]:
    """Every lesson's name: the built-in ones, then the teachers' (each folder in file-name order)."""
    return list(_listing()[0])


def ignored() -> list[str]:
    """Files in the lesson folders whose names are not lesson names (so they are not lessons)."""
    return _listing()[1]


def load(name: str) -> Lesson:
    """The lesson called `name`, read and checked. Raises LessonError (an unknown or malformed name,
    a file that cannot be read, or what `parse` finds)."""
    if not valid_name(name):
        raise LessonError(shorten(name), None, None, f"not a lesson name (allowed: {NAME_ALLOWED})")
    found = _listing()[0]
    if name not in found:
        known = ", ".join(found) or "none"
        raise LessonError(name, None, None, f"there is no such lesson (lessons: {known})")
    path = found[name]
    try:
        if path.stat().st_size > MAX_BYTES:
            raise LessonError(name, None, None, f"the file is larger than {MAX_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or "unreadable"
        raise LessonError(name, None, None, f"the file cannot be read ({why})") from None
    return parse(text, name)
