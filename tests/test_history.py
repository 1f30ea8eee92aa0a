"""The Compare page's history of runs (ui/history.py) in AppTest: refused uploads, the byte budget, and
run directories opened by name only.

Oracles: the messages rnnlab.reading raises for the same files, and RunResult.nbytes for the budget.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from apptest_support import (
    navigation_mode,  # noqa: F401 - autouse fixture, on for this module
    page_charts,
)
from streamlit.testing.v1 import AppTest

from rnnlab import RunConfig, RunResult, run
from ui import history, names

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = dict(seq_len=20, hidden=8, steps=4, batch=4, snapshots=3)
ZIP = "application/zip"


@pytest.fixture(scope="module")
def runs() -> list[RunResult]:
    return [run(RunConfig(**TINY, seed=s)) for s in range(3)]


def bad_zip(good: RunResult) -> bytes:
    """A well-formed export whose jacobian disagrees with its config (as the probe's did)."""
    files = good.files()
    npz = io.BytesIO()
    np.savez_compressed(npz, **{**good.arrays, "jacobian": np.zeros((2, 5, 5))})
    files["arrays.npz"] = npz.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def history_page() -> AppTest:
    """The Compare page in "Finished runs and exported files" mode, at a cheap sidebar config."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["seq_len"] = "12"
    at.query_params["hidden"] = "6"
    at.run()
    at.switch_page("pages/compare.py").run()
    at.button_group(key=names.CMP_MODE).set_value(names.CMP_HISTORY).run()
    working(at)
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key=names.CMP_UPLOADER).set_value([(n, d, ZIP) for n, d in files]).run()
    return at


def working(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not any("Something went wrong" in e.value for e in at.error), [e.value for e in at.error]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def listed(at: AppTest) -> list[str]:
    return (
        [e.name for e in at.session_state[history._KEY].values()] if history._KEY in at.session_state else []
    )


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in page_charts(at)]


# ---- refused uploads ---------------------------------------------------------------------------------


def test_a_refused_upload_says_why_adds_nothing_and_the_history_keeps_working(runs):
    at = history_page()
    bad = ("probe-bad.zip", bad_zip(runs[0]))
    upload(at, bad)
    working(at)
    assert errors(at) == [
        "probe-bad.zip was not opened: "
        "arrays.npz: jacobian has shape (2, 5, 5); expected (S, L, L) = (3, 20, 20)"
    ]
    assert listed(at) == []
    # good uploads next to it open and are compared; the refused file keeps its message while listed
    upload(at, bad, ("a.zip", runs[0].to_zip()), ("b.zip", runs[1].to_zip()))
    working(at)
    assert sorted(listed(at)) == ["a.zip", "b.zip"]
    assert len(errors(at)) == 1 and errors(at)[0].startswith("probe-bad.zip was not opened")
    assert "Loss" in chart_titles(at)
    # removing the refused file clears its message; the comparison stays
    upload(at, ("a.zip", runs[0].to_zip()), ("b.zip", runs[1].to_zip()))
    working(at)
    assert errors(at) == [] and "Loss" in chart_titles(at)


def test_hostile_uploads_are_refused_without_a_traceback(runs):
    at = history_page()
    not_zip = ("notes.zip", b"this is not a zip")
    summary = runs[0].files()
    summary["summary.json"] = b'["a", "list"]'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in summary.items():
            z.writestr(name, data)
    upload(at, not_zip, ("list.zip", buf.getvalue()))
    working(at)
    assert errors(at) == [
        "notes.zip was not opened: zip: not a zip file (File is not a zip file)",
        "list.zip was not opened: summary.json: holds a list; expected an object of key: value",
    ]
    assert listed(at) == []


def test_a_bad_entry_is_named_and_can_be_removed(runs):
    """A run in the list that breaks the schema (never expected: opening refuses such files) is named
    with the reason and a Remove button; the selectors and the other runs keep working."""
    at = history_page()
    broken = RunResult(
        runs[1].config, runs[1].metrics, {**runs[1].arrays, "jacobian": np.zeros((2, 5, 5))}, runs[1].summary
    )
    reason = history.problem(broken)
    assert reason.startswith("arrays.npz: jacobian has shape (2, 5, 5)")
    at.session_state[history._KEY] = {
        "good": history.Entry("good", "file", "good.zip", runs[0], 1.0, runs[0].nbytes),
        "bad": history.Entry("bad", "file", "bad.zip", broken, 2.0, broken.nbytes, reason),
    }
    at.run()
    working(at)
    assert any("bad.zip** cannot be shown: arrays.npz: jacobian" in w.value for w in at.warning)
    at.button(key="cmp.remove.bad").click().run()
    working(at)
    assert listed(at) == ["good.zip"]
    # and a good upload brings the comparison back
    upload(at, ("c.zip", runs[2].to_zip()))
    working(at)
    assert "Loss" in chart_titles(at)


# ---- the byte budget ------------------------------------------------------------------------------------


def test_the_session_budget_closes_the_oldest_runs_with_a_notice(runs, monkeypatch):
    per_run = max(r.nbytes for r in runs)
    monkeypatch.setenv(history.SESSION_RUNS_ENV, str(2.5 * per_run / 2**20))  # room for two runs
    at = history_page()
    upload(at, ("one.zip", runs[0].to_zip()))
    upload(at, ("one.zip", runs[0].to_zip()), ("two.zip", runs[1].to_zip()))
    working(at)
    assert sorted(listed(at)) == ["one.zip", "two.zip"]
    upload(at, ("one.zip", runs[0].to_zip()), ("two.zip", runs[1].to_zip()), ("three.zip", runs[2].to_zip()))
    working(at)
    assert sorted(listed(at)) == ["three.zip", "two.zip"]
    notices = [i.value for i in at.info]
    assert any(n.startswith("Closed file · one.zip, the oldest run in this list") for n in notices), notices
    assert "Loss" in chart_titles(at)
    at.run()  # the notice is shown once; the list stays as it is
    working(at)
    assert not any("Closed" in i.value for i in at.info) and sorted(listed(at)) == ["three.zip", "two.zip"]


def test_a_run_larger_than_the_session_budget_is_refused(runs, monkeypatch):
    monkeypatch.setenv(history.SESSION_RUNS_ENV, str(runs[0].nbytes / 2 / 2**20))
    at = history_page()
    upload(at, ("big.zip", runs[0].to_zip()))
    working(at)
    (message,) = errors(at)
    assert message.startswith("big.zip was not opened: it takes ") and "at most" in message
    assert listed(at) == []


def test_session_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(history.SESSION_RUNS_ENV, "64")
    assert history.session_budget() == 64 * 2**20
    for bad in ("abc", "-1", "0", "inf", "nan"):
        monkeypatch.setenv(history.SESSION_RUNS_ENV, bad)
        assert history.session_budget() == int(history.SESSION_RUNS_MB * 2**20)


# ---- run directories ------------------------------------------------------------------------------------


def _open_dirs() -> None:
    """AppTest script: list the run directories, then try to open names, some of them paths."""
    import streamlit as st

    from ui import history

    st.session_state["names"] = history.dir_runs()
    opened = []
    for name in ["good", "../outside", "good/../good", "/etc", "..", "", "bad", "incomplete"]:
        try:
            opened.append(history.open_dir(name).name)
        except (FileNotFoundError, ValueError) as e:
            st.error(str(e))
    st.session_state["opened"] = opened


def test_run_directories_are_listed_and_opened_by_name_only(runs, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    runs[0].save(root / "good")
    runs[0].save(tmp_path / "outside")  # a real run, but not under RNNLAB_RUNS_DIR
    bad = runs[1].save(root / "bad")
    (bad / "summary.json").write_text('{"final_loss": "zero"}')
    (root / "incomplete").mkdir()
    (root / "incomplete" / "config.json").write_text("{}")
    (root / "stray.txt").write_text("not a run")
    monkeypatch.setenv(history.RUNS_DIR_ENV, str(root))
    at = AppTest.from_function(_open_dirs, default_timeout=60)
    at.run()
    working(at)
    assert at.session_state["names"] == ["bad", "good"]
    assert at.session_state["opened"] == ["good"]
    messages = errors(at)
    for name in ("../outside", "good/../good", "/etc", "..", "incomplete"):
        assert f"{name}: no such run directory on this server (pick one from the list)" in messages
    assert 'bad was not opened: summary.json: final_loss is "zero"; expected a number or null' in messages
    assert len(messages) == 7  # every refusal, and nothing else


# ---- nothing from the URL reaches the file system; a refusal loses nothing -------------------------


def test_a_url_parameter_never_becomes_a_path(runs, tmp_path, monkeypatch):
    """Parameters naming paths (or the server's folder) open nothing: only the runs listed under
    RNNLAB_RUNS_DIR can be picked, by name, and nothing is opened until one is picked."""
    root = tmp_path / "runs"
    runs[0].save(root / "good")
    runs[1].save(tmp_path / "outside")
    monkeypatch.setenv(history.RUNS_DIR_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/compare.py")
    for k, v in {
        "seq_len": "12",
        "hidden": "6",
        "dir": "../outside",
        "cmp.dir": str(tmp_path / "outside"),
        "run": "/etc/passwd",
        "RNNLAB_RUNS_DIR": str(tmp_path),
    }.items():
        at.query_params[k] = v
    at.run()
    at.button_group(key=names.CMP_MODE).set_value(names.CMP_HISTORY).run()
    working(at)
    assert at.selectbox(key="cmp.dir").options == ["— choose —", "good"]
    assert listed(at) == []  # nothing opened from the parameters
    at.selectbox(key="cmp.dir").set_value("good").run()
    working(at)
    assert listed(at) == ["good"]
    assert str(tmp_path) not in " ".join(c.value for c in [*at.caption, *at.markdown])


def test_a_refused_upload_loses_nothing_already_open(runs):
    at = history_page()
    upload(at, ("a.zip", runs[0].to_zip()), ("b.zip", runs[1].to_zip()))
    working(at)
    picked = (at.selectbox(key=names.CMP_HIST_A).value, at.selectbox(key=names.CMP_HIST_B).value)
    upload(at, ("a.zip", runs[0].to_zip()), ("b.zip", runs[1].to_zip()), ("bad.zip", bad_zip(runs[2])))
    working(at)
    assert sorted(listed(at)) == ["a.zip", "b.zip"]
    assert len(errors(at)) == 1 and errors(at)[0].startswith("bad.zip was not opened")
    assert (at.selectbox(key=names.CMP_HIST_A).value, at.selectbox(key=names.CMP_HIST_B).value) == picked
    assert "Loss" in chart_titles(at)
