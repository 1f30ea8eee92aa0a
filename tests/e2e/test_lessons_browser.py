"""The Lesson page in a real browser: a lesson link opens its step, Next moves the URL and the sidebar."""

from __future__ import annotations

import subprocess
from urllib.parse import parse_qs

import pytest
from conftest import ARTIFACTS, start_server
from pw import exceptions, heatmap_signature, wait_for, wait_idle

TINY = """
title = "Tiny"
audience = "Browser tests"
[[step]]
title = "One"
set = { seq_len = 20, hidden = 8, rho = 0.5 }
text = "First."
look = "The heatmap."
questions = ["Q1?"]
[[step]]
title = "Two"
set = { seq_len = 20, hidden = 8, rho = 0.7 }
text = "Second."
look = "The corner."
questions = ["Q2?"]
[[step]]
title = "Three"
set = { seq_len = 20, hidden = 8, rho = 1.3 }
hide = ["act"]
text = "Third."
look = "The eigenvalues."
questions = ["Q3?"]
"""


@pytest.fixture(scope="module")
def lesson_server(tmp_path_factory):
    """A server with a teachers' folder (RNNLAB_LESSONS_DIR) holding a small three-step lesson."""
    folder = tmp_path_factory.mktemp("lessons")
    (folder / "tiny.toml").write_text(TINY)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc, url = start_server({"RNNLAB_LESSONS_DIR": str(folder)})
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(page.evaluate("() => location.search").lstrip("?")).items()}


def rho_box(page):
    return page.get_by_role("spinbutton", name="Spectral radius rho", exact=True)


def test_a_lesson_link_opens_step_2_and_next_moves_the_url_and_the_sidebar(lesson_server, page):
    page.goto(lesson_server + "/lesson?lesson=tiny&step=2")
    wait_idle(page)
    assert wait_for(lambda: heatmap_signature(page), what="heatmap")
    assert query(page)["step"] == "2" and rho_box(page).input_value() == "0.7"
    activation = page.locator('[data-testid="stSidebar"]').get_by_text("Activation", exact=True)
    assert activation.count() == 1
    page.locator('[data-testid="stMain"]').get_by_role("button", name="Next").click()
    wait_for(lambda: query(page).get("step") == "3", what="step=3 in the URL")
    wait_for(lambda: rho_box(page).input_value() == "1.3", what="the sidebar's rho to follow")
    wait_idle(page)
    assert query(page)["rho"] == "1.3" and query(page)["hide"] == "act"
    # step 3 hides the activation control: gone once the run ends and Streamlit drops stale elements,
    # which a loaded machine can put after wait_idle (the status widget shows only after a delay)
    wait_for(lambda: activation.count() == 0, 60, what="the activation control to go")
    assert "Step 3 of 3" in page.locator('[data-testid="stMain"]').inner_text()
    assert exceptions(page) == 0


def test_the_built_in_lesson_reads_well(lesson_server, page):
    page.goto(lesson_server + "/lesson?lesson=first-look&step=2")
    wait_idle(page)
    assert wait_for(lambda: heatmap_signature(page), what="heatmap")
    wait_idle(page)
    assert exceptions(page) == 0
    page.screenshot(path=str(ARTIFACTS / "lesson.png"), full_page=True)
