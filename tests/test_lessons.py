"""Lessons (rnnlab.lessons): the file format's checks name the step and the field, names never become
paths, the teachers' folder, and every built-in lesson (whatever files rnnlab/lessons/builtin holds)
validates with each step's configuration resolving strictly, with no notice."""

from __future__ import annotations

import pytest

from rnnlab import lessons
from rnnlab.cli import main
from rnnlab.config import RunConfig
from rnnlab.lessons import LessonError, parse

GOOD = """
title = "Why gradients vanish and explode"
audience = "Students who know what a gradient is"

[[step]]
title = "BPTT multiplies Jacobians"
preset = "vanishing-tanh"
set = { rho = 0.8, seq_len = 60 }
hide = ["act", "init"]
text = "The heatmap fades."
look = "The heatmap's lower-left corner."
questions = ["Why?", "How fast?"]
do = "train"

[[step]]
title = "No preset"
set = { clip = 1 }
text = "Defaults and a clip."
look = "The gradient-norm chart."
questions = ["What is clipped?"]
do = "change rho"
"""


def test_a_good_lesson_parses_into_steps_with_configs():
    lesson = parse(GOOD, "why-gradients")
    assert (lesson.name, lesson.title, len(lesson.steps)) == (
        "why-gradients",
        "Why gradients vanish and explode",
        2,
    )
    one, two = lesson.steps
    assert one.preset == "vanishing-tanh" and one.hide == ("act", "init") and one.do == "train"
    assert one.questions == ("Why?", "How fast?")
    assert one.config().seq_len == 60 and one.config().rho == 0.8 and one.config().act == "tanh"
    assert two.config() == RunConfig(clip=1.0) and two.preset is None and two.do == "change rho"


def test_an_alias_names_its_preset():
    lesson = parse(
        GOOD.replace('"vanishing-tanh"', '"copy-truncated"').replace("seq_len = 60", "steps = 5"), "x"
    )
    assert lesson.steps[0].preset == "order-truncated"


@pytest.mark.parametrize(
    ("old", "new", "step", "field", "words"),
    [
        ("rho = 0.8", "rho = 0", 1, "set.rho", "0 is out of range (allowed: a number >= 1e-30"),
        ("rho = 0.8", "bogus = 1", 1, "set.bogus", "unknown key"),
        ("clip = 1", "tbptt = 500", 2, "set.tbptt", "longer than seq_len"),
        ("seq_len = 60", "seq_len = 999999", 1, "set.seq_len", "out of range"),
        ('"vanishing-tanh"', '"no-such"', 1, "preset", "'no-such' is unknown"),
        ('hide = ["act", "init"]', 'hide = ["act", "wings"]', 1, "hide", "'wings' is not a key"),
        ('hide = ["act", "init"]', 'hide = "act"', 1, "hide", "must be a list"),
        ('questions = ["What is clipped?"]', "questions = []", 2, "questions", "one or two"),
        ('questions = ["Why?", "How fast?"]', 'questions = ["a", "b", "c"]', 1, "questions", "one or two"),
        ('do = "change rho"', 'do = "change wings"', 2, "do", "'change wings' is not valid"),
        ('do = "train"', 'do = "dance"', 1, "do", "is not valid"),
        ('text = "Defaults and a clip."', "", 2, "text", "missing"),
        ('look = "The gradient-norm chart."', 'look = ""', 2, "look", "non-empty"),
        ('title = "No preset"', 'title = "No preset"\ncolour = "red"', 2, "colour", "unknown key"),
        ('title = "No preset"', "title = 3", 2, "title", "non-empty string"),
        ('audience = "Students who know what a gradient is"', "", None, "audience", "missing"),
        (
            'title = "Why gradients vanish and explode"',
            f'title = "{"x" * 81}"',
            None,
            "title",
            "81 characters",
        ),
        ('title = "Why gradients vanish and explode"', 'title = """two\nlines"""', None, "title", "one line"),
    ],
)
def test_bad_files_name_the_step_and_the_field(old, new, step, field, words):
    assert old in GOOD
    with pytest.raises(LessonError) as e:
        parse(GOOD.replace(old, new, 1), "why-gradients")
    assert (e.value.lesson, e.value.step, e.value.field) == ("why-gradients", step, field)
    where = "lesson why-gradients" + (f", step {step}" if step else "") + f", {field}: "
    assert str(e.value).startswith(where) and words in str(e.value), str(e.value)


def test_the_message_reads_as_the_format_says():
    with pytest.raises(LessonError, match=r"^lesson why-gradients, step 1, set\.rho: 0 is out of range"):
        parse(GOOD.replace("rho = 0.8", "rho = 0"), "why-gradients")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("title = ", "not valid TOML"),
        ('title = "t"\naudience = "a"', "step: missing"),
        ('step = 3\ntitle="t"\naudience="a"', "[[step]]"),
    ],
)
def test_a_file_that_is_not_a_lesson_says_so(text, words):
    with pytest.raises(LessonError, match=None) as e:
        parse(text, "x")
    assert words in str(e.value) and e.value.step is None


@pytest.mark.parametrize(
    "name", ["../x", "..", "/etc/passwd", "a/b", "First-Look", "-x", "x.toml", "", "x" * 49, "a\n"]
)
def test_a_name_is_never_a_path(name, tmp_path, monkeypatch):
    (tmp_path / "x.toml").write_text(GOOD)
    monkeypatch.setenv(lessons.LESSONS_ENV, str(tmp_path / "sub"))
    with pytest.raises(LessonError, match="not a lesson name"):
        lessons.load(name)


def test_an_unknown_name_lists_the_lessons():
    with pytest.raises(LessonError, match=r"no such lesson \(lessons: .*first-look"):
        lessons.load("no-such-lesson")


def test_the_teachers_folder_adds_lessons_and_may_replace_a_built_in_one(tmp_path, monkeypatch):
    (tmp_path / "my-class.toml").write_text(GOOD)
    (tmp_path / "first-look.toml").write_text(GOOD.replace("Why gradients vanish and explode", "Ours"))
    (tmp_path / "Not A Name.toml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not a lesson")
    monkeypatch.setenv(lessons.LESSONS_ENV, str(tmp_path))
    assert lessons.lesson_dirs() == [lessons.builtin_dir(), tmp_path]
    assert "my-class" in lessons.names() and lessons.names().count("first-look") == 1
    assert lessons.load("my-class").title == "Why gradients vanish and explode"
    assert lessons.load("first-look").title == "Ours"  # the teacher's takes the built-in one's place
    assert lessons.ignored() == ["Not A Name.toml"]
    monkeypatch.setenv(lessons.LESSONS_ENV, str(tmp_path / "missing"))
    assert "my-class" not in lessons.names() and "first-look" in lessons.names()


def test_an_unreadable_file_is_a_lesson_error(tmp_path, monkeypatch):
    (tmp_path / "latin.toml").write_bytes(b'title = "caf\xe9"')
    monkeypatch.setenv(lessons.LESSONS_ENV, str(tmp_path))
    with pytest.raises(LessonError, match=r"lesson latin: the file cannot be read \(not UTF-8 text\)"):
        lessons.load("latin")


def test_builtin_lessons_are_found_in_the_package_folder():
    files = sorted(p.stem for p in lessons.builtin_dir().glob("*.toml"))
    assert "first-look" in files
    assert [n for n in lessons.names() if n in files] == files


@pytest.mark.parametrize("name", sorted(p.stem for p in lessons.builtin_dir().glob("*.toml")))
def test_every_builtin_lesson_validates_and_each_step_resolves_with_no_notice(name, monkeypatch):
    monkeypatch.delenv(lessons.LESSONS_ENV, raising=False)
    lesson = lessons.load(name)
    assert lesson.steps
    for step in lesson.steps:
        cfg = step.config()  # strict: raises on any unknown key or value out of range
        again, notices = RunConfig.from_lenient(cfg.to_strings())  # what a link of it opens
        assert notices == [] and again == cfg, (name, step.title, notices)


def test_cli_lists_the_lessons_and_prints_a_lessons_steps(capsys):
    assert main(["lessons"]) == 0
    out = capsys.readouterr().out
    assert "first-look" in out and "(2 steps)" in out
    assert main(["lessons", "first-look"]) == 0
    out = capsys.readouterr().out
    assert "1. A gradient that fades" in out and "run --preset orthogonal-edge --set seq_len=60" in out


@pytest.mark.parametrize("name", ["../x", "no-such"])
def test_cli_refuses_a_bad_lesson_in_one_line(name, capsys):
    assert main(["lessons", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnlab: error: lesson ") and err.count("\n") == 1


def test_cli_lists_the_good_lessons_and_names_a_broken_one(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken.toml").write_text(GOOD.replace("rho = 0.8", "rho = -1"))
    monkeypatch.setenv(lessons.LESSONS_ENV, str(tmp_path))
    assert main(["lessons"]) == 2
    out, err = capsys.readouterr()
    assert "first-look" in out and "lesson broken, step 1, set.rho:" in err
