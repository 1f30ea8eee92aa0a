"""The Lesson page: a lesson's steps one at a time, beside the Lab's live view (rnnlab.lessons).

The URL says where a student is: `lesson=NAME&step=N` (1-based). `sync` runs before the sidebar
(app.py): when the URL names a lesson step this session has not applied yet (a link, Next, Previous),
it puts that step's configuration and hidden controls into the sidebar, and the URL then carries them
like any other view. The student can still move the controls; "Back to this step's settings" puts the
step's own back. A lesson's name from the URL only ever selects among the listed lesson files.
"""

from __future__ import annotations

import streamlit as st

from rnnlab import lessons
from rnnlab.config import FIELD, format_value, shorten
from rnnlab.lessons import Lesson, LessonError

from . import lab, names, state
from .text import plain


def step_number(raw: str, count: int) -> tuple[int, str | None]:
    """The step a URL's `step=` names, clamped to 1..count, and a notice if it had to be."""
    try:
        i = int(raw.strip())
    except ValueError:
        return 1, f"step: {shorten(raw)} is not a step number (allowed: 1..{count}) — showing step 1."
    if 1 <= i <= count:
        return i, None
    j = min(max(i, 1), count)
    return j, f"step: {shorten(i)} is out of range (this lesson has {count} steps) — showing step {j}."


def sync() -> None:
    """URL -> controls for a lesson step (call before the sidebar's own `state.sync_from_url`)."""
    name = st.query_params.get(names.LESSON_PARAM)
    if not name:
        return
    raw = st.query_params.get(names.STEP_PARAM, "1")
    if st.session_state.get(names.LESSON_AT) == (name, raw):
        return
    try:
        lesson = lessons.load(name)
    except LessonError:
        return  # the page says what is wrong; the controls stay as they are
    i, notice = step_number(raw, len(lesson.steps))
    apply(lesson, i, [notice] if notice else [])


def apply(lesson: Lesson, i: int, notices: list[str] | None = None) -> None:
    """Step i's settings into the controls and the URL (before the widgets, or in a callback)."""
    step = lesson.steps[i - 1]
    state.apply_settings(step.config(), step.preset, frozenset(step.hide), notices or [])
    st.query_params[names.LESSON_PARAM] = lesson.name
    st.query_params[names.STEP_PARAM] = str(i)
    st.session_state[names.LESSON_AT] = (lesson.name, str(i))


def _at(name: str) -> int:
    at = st.session_state.get(names.LESSON_AT)
    return int(at[1]) if at and at[0] == name else 1


# ---- the page -------------------------------------------------------------------------------------


def page(screen: state.Screen) -> None:
    name = st.query_params.get(names.LESSON_PARAM)
    if not name:
        catalogue()
        return
    try:
        lesson = lessons.load(name)
    except LessonError as e:
        st.error(plain(str(e)), icon="🚫")
        catalogue()
        return
    i = min(_at(lesson.name), len(lesson.steps))
    step_panel(lesson, i, screen)
    st.divider()
    lab.at_init(screen)  # the Lab's live view, full width as on the Lab page, so its charts read the same
    st.divider()
    lab.training(screen)


def step_panel(lesson: Lesson, i: int, screen: state.Screen) -> None:
    """The step: its text on the left; what to look at, the questions and the buttons on the right."""
    step, count = lesson.steps[i - 1], len(lesson.steps)
    st.markdown(f"# {lesson.title}")
    st.caption(f"For: {lesson.audience}")
    st.progress(i / count, text=f"Step {i} of {count}")
    left, right = st.columns([1.35, 1], gap="large")
    with left:
        st.markdown(f"### {step.title}")
        st.markdown(step.text)
    with right, st.container(border=True):
        st.markdown(f"**Look at:** {step.look}")
        st.markdown("**Questions**\n\n" + "\n".join(f"{n}. {q}" for n, q in enumerate(step.questions, 1)))
        if step.do:
            st.markdown("**Then:** " + suggestion(step.do))
            if step.do == "compare":
                st.page_link(names.COMPARE.script, label="Open Compare", icon=":material/compare:")
        buttons(lesson, i, step.config().diff(screen.cfg))


def buttons(lesson: Lesson, i: int, changed: dict) -> None:
    """Previous, Next, and back to the step's settings when the student has moved a control."""
    if changed:
        st.caption(
            "You changed "
            + ", ".join(f"`{k}` {format_value(a)} → {format_value(b)}" for k, (a, b) in changed.items())
            + "."
        )
    st.button(
        "Back to this step's settings",
        icon=":material/restart_alt:",
        on_click=apply,
        args=(lesson, i),
        disabled=not changed,
        key="lesson.reset",
    )
    prev, nxt = st.columns(2)
    prev.button(
        "Previous",
        icon=":material/arrow_back:",
        on_click=apply,
        args=(lesson, i - 1),
        disabled=i == 1,
        key="lesson.prev",
        width="stretch",
    )
    nxt.button(
        "Next",
        icon=":material/arrow_forward:",
        on_click=apply,
        args=(lesson, i + 1),
        disabled=i == len(lesson.steps),
        key="lesson.next",
        width="stretch",
        type="primary",
    )
    st.page_link(names.LESSON.script, label="All lessons", icon=":material/list:")


def suggestion(do: str) -> str:
    """What a step's `do` asks of the student, in words."""
    if do == "train":
        return "press **Train** (below the charts) and watch the loss and the gradient norm."
    if do == "compare":
        return "open the **Compare** page to see this run beside another with one idea changed."
    key = do.removeprefix("change ").strip()
    label = FIELD[key].label or key
    return f"change **{label}** (`{key}`) in the sidebar and watch the charts follow."


def catalogue() -> None:
    """Every lesson, with a link to its first step."""
    st.markdown("# Lessons")
    st.caption(
        "Each lesson is a path through one idea, a step at a time: each step sets up the sidebar, "
        "says what to look at and asks a question or two. A step's link opens that step."
    )
    at = st.session_state.get(names.LESSON_AT)
    for name in lessons.names():
        try:
            lesson = lessons.load(name)
        except LessonError as e:
            st.warning(plain(str(e)), icon="⚠️")
            continue
        with st.container(border=True):
            st.markdown(f"**{lesson.title}**  \n{lesson.audience} · {len(lesson.steps)} steps")
            if lesson.summary:
                st.caption(lesson.summary)
            step = int(at[1]) if at and at[0] == name else 1
            st.page_link(
                names.LESSON.script,
                label=f"Continue at step {step}" if step > 1 else "Start",
                icon=":material/arrow_forward:",
                query_params={names.LESSON_PARAM: name, names.STEP_PARAM: str(step)},
            )
