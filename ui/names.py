"""Names more than one module uses: the pages, and the session keys pages share. Streamlit-free.

A page's own widget keys ("lab.train", "cmp.loss", ...) stay where the widget is; the keys here are
read or written in more than one place (another page, the history, a callback, the tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """One page of the app: its script, its title and icon in the navigation, its URL path."""

    script: str
    title: str
    icon: str
    url_path: str  # the last part of its address; Streamlit derives the default page's from its script


LAB = Page("pages/lab.py", "Lab", ":material/science:", "lab")
PRESETS = Page("pages/presets.py", "Presets", ":material/auto_awesome:", "presets")
COMPARE = Page("pages/compare.py", "Compare", ":material/compare:", "compare")
THEORY = Page("pages/theory.py", "Theory", ":material/functions:", "theory")
LESSON = Page("pages/lesson.py", "Lesson", ":material/school:", "lesson")
SWEEP = Page("pages/sweep.py", "Sweep", ":material/grid_on:", "sweep")
PAGES = (LAB, PRESETS, COMPARE, THEORY, LESSON, SWEEP)  # navigation order; the first is the default page

# ---- training runs: st.session_state slots (ui.runner), harvested by ui.history ---------------------
SLOT_LAB = "lab.run"
SLOT_A, SLOT_B = "compare-a", "compare-b"
SLOT_SOURCES = {SLOT_LAB: "Lab", SLOT_A: "Compare A", SLOT_B: "Compare B"}  # how the history names them

# ---- the Lesson page (rnnlab.lessons) ------------------------------------------------------------------
LESSON_PARAM, STEP_PARAM = "lesson", "step"  # its URL: lesson=NAME&step=N (1-based)
LESSON_AT = "lesson.at"  # (name, step) whose settings this session last applied to the controls

# ---- the Compare page -----------------------------------------------------------------------------
B_PARAM = "b"  # B's changes in the URL: b=clip:1,lr:0.1 (rnnlab.changes)
CMP_MODE = "cmp.mode"  # which runs to compare: CMP_SETUP or CMP_HISTORY
CMP_SETUP, CMP_HISTORY = "setup", "history"
CMP_B = "cmp.b"  # B's changes in use, canonical "key:value,..." string
CMP_B_URL = "cmp.b_url"  # what the page last wrote to the URL ("" = no b parameter)
CMP_B_ADOPTED = "cmp.b_adopted"  # the URL brought a new b this run (its notices are shown)
CMP_B_NOTICES = "cmp.b_notices"
CMP_SPEC = "cmp.spec"  # B's changes as resolved this run (key -> value), for the callbacks
CMP_REMEDY = "cmp.remedy"  # the remedy pair picked (a pills widget)
CMP_UPLOADER = "cmp.upload"
CMP_UPLOADS = "cmp.uploads"  # the uploader's file id -> "" (opened) or why it was refused
CMP_HIST_A, CMP_HIST_B = "cmp.hist.a", "cmp.hist.b"  # the history runs picked as A and B
