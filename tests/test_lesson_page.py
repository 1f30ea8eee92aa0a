"""The Lesson page with AppTest: a lesson link opens its step with the step's settings in the sidebar
(hidden controls hidden), Next and Previous move the URL and the controls, the student's changes can be
undone, and bad names, files and steps give messages, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest_support import navigation_mode, page_charts, rendered  # noqa: F401 - autouse fixture, on for this module
from streamlit.testing.v1 import AppTest

from rnnlab import lessons

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/lesson.py"

TINY = """
title = "Tiny"
audience = "Tests"

[[step]]
title = "One"
set = { seq_len = 20, hidden = 8, rho = 0.5, steps = 5 }
text = "First."
look = "The heatmap."
questions = ["Q1?"]

[[step]]
title = "Two"
set = { seq_len = 20, hidden = 8, rho = 1.5, steps = 5 }
hide = ["rho"]
text = "Second."
look = "The corner."
questions = ["Q2?"]
do = "train"

[[step]]
title = "Three"
set = { seq_len = 20, hidden = 8, act = "relu", steps = 5 }
text = "Third."
look = "The eigenvalues."
questions = ["Q3?"]
"""


def lesson_app(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def url(at: AppTest) -> dict[str, str]:
    return {k: v[-1] if isinstance(v, list) else v for k, v in dict(at.query_params).items()}


def shown(at: AppTest) -> set[str]:
    return {w.key for w in (*at.sidebar.selectbox, *at.sidebar.number_input)}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    (tmp_path / "tiny.toml").write_text(TINY)
    monkeypatch.setenv(lessons.LESSONS_ENV, str(tmp_path))
    return tmp_path


def test_a_lesson_link_opens_its_step_with_the_steps_settings():
    at = lesson_app(lesson="first-look", step="2")
    at.run()
    ok(at)
    assert not at.warning, [w.value for w in at.warning]
    cfg = lessons.load("first-look").steps[1].config()
    for key in ("act", "init", "rho", "seq_len", "task", "optimizer", "lr"):
        assert at.session_state["cfg." + key] == getattr(cfg, key), key
    assert at.selectbox(key="ui.preset").value == "orthogonal-edge"
    assert "cfg.act" not in shown(at) and "cfg.init" not in shown(at) and "cfg.rho" in shown(at)
    assert url(at) == {
        "lesson": "first-look",
        "step": "2",
        "preset": "orthogonal-edge",
        "seq_len": "60",
        "hide": "act,init",
    }
    text = " ".join(m.value for m in at.markdown)
    assert "A gradient that keeps its size" in text and "**Look at:**" in text
    assert "Step 2 of 2" in str(at.get("progress")[0].proto)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in page_charts(at)]
    assert any("at initialisation" in t for t in titles), titles  # the live Lab view beside the text
    assert at.button(key="lesson.next").disabled and not at.button(key="lesson.prev").disabled


def test_next_and_previous_move_the_url_and_the_controls(tiny):
    at = lesson_app(lesson="tiny", step="2")
    at.run()
    ok(at)
    assert at.session_state["cfg.rho"] == 1.5 and "cfg.rho" not in shown(at)
    at.button(key="lesson.next").click().run()
    ok(at)
    assert url(at)["step"] == "3" and url(at)["lesson"] == "tiny"
    assert at.session_state["cfg.act"] == "relu" and at.session_state["cfg.rho"] == 1.0
    assert "cfg.rho" in shown(at) and "hide" not in url(at)  # a step's hide list is its own, not a lock
    at.button(key="lesson.prev").click().run()
    at.button(key="lesson.prev").click().run()
    ok(at)
    assert url(at)["step"] == "1" and at.session_state["cfg.rho"] == 0.5
    assert at.session_state["cfg.act"] == "tanh" and at.button(key="lesson.prev").disabled


def test_the_student_may_move_a_control_and_go_back_to_the_steps_settings(tiny):
    at = lesson_app(lesson="tiny", step="1")
    at.run()
    assert at.button(key="lesson.reset").disabled  # nothing to undo yet
    at.number_input(key="cfg.rho").set_value(0.9).run()
    ok(at)
    assert at.session_state["cfg.rho"] == 0.9 and url(at)["rho"] == "0.9" and url(at)["step"] == "1"
    assert any("`rho` 0.5 → 0.9" in c.value for c in at.caption)
    at.button(key="lesson.reset").click().run()
    ok(at)
    assert at.session_state["cfg.rho"] == 0.5 and url(at)["rho"] == "0.5"


def test_an_out_of_range_step_is_clamped_with_a_notice(tiny):
    at = lesson_app(lesson="tiny", step="9")
    at.run()
    ok(at)
    assert url(at)["step"] == "3" and at.session_state["cfg.act"] == "relu"
    assert "step: 9 is out of range (this lesson has 3 steps) — showing step 3." in rendered(
        at.warning[0].value
    )
    at = lesson_app(lesson="tiny", step="two")
    at.run()
    assert url(at)["step"] == "1" and "is not a step number" in rendered(at.warning[0].value)


@pytest.mark.parametrize(
    ("name", "words"),
    [("../x", "lesson '../x': not a lesson name"), ("no-such", "lesson no-such: there is no such lesson")],
)
def test_a_bad_lesson_name_shows_a_message_and_the_list(name, words):
    at = lesson_app(lesson=name)
    at.run()
    assert not at.exception
    assert words in rendered(at.error[0].value)
    assert any("first-look" in str(link.proto) for link in at.get("page_link"))


def test_a_broken_lesson_file_names_the_step_and_the_field(tiny):
    (tiny / "broken.toml").write_text(TINY.replace("rho = 1.5", "rho = -2"))
    at = lesson_app(lesson="broken", step="2")
    at.run()
    assert not at.exception
    assert "lesson broken, step 2, set.rho: -2 is out of range" in rendered(at.error[0].value)
    at = lesson_app()  # the list names it too, and still offers the good ones
    at.run()
    assert "lesson broken, step 2, set.rho" in rendered(at.warning[0].value)
    assert any("tiny" in str(link.proto) for link in at.get("page_link"))
