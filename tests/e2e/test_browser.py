"""Real-browser tests: the app served by `streamlit run`, driven in the system Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest
from conftest import ARTIFACTS, ROOT
from pw import chart, charts, exceptions, heatmap_signature, notices, wait_for, wait_idle

TINY = "seq_len=20&hidden=8&steps=15&snapshots=2"


def open_app(page, url: str, path: str = "/") -> None:
    page.goto(url + path)
    wait_idle(page)


def query(page) -> dict[str, str]:
    # location.search from the page itself: page.url is only refreshed when Playwright's event loop
    # runs, which a polling loop of plain reads never lets it do.
    search = page.evaluate("() => location.search")
    return {k: v[-1] for k, v in parse_qs(search.lstrip("?")).items()}


def number_input(page, label: str):
    return page.get_by_role("spinbutton", name=label, exact=True)


def main_button(page, name: str):
    """A button in the page body (not the sidebar, whose "Training" group would also match)."""
    return page.locator('[data-testid="stMain"]').get_by_role(
        "button", name=re.compile(rf"(^|\W|_){name}$")).first


def train_and_wait(page, timeout: float = 180.0) -> str:
    main_button(page, "Train").click()
    return wait_for(lambda: _final_status(page), timeout, poll=0.25, what="training to finish")


def _final_status(page) -> str | None:
    body = page.locator("[data-testid='stMain']").first.inner_text()
    for marker in ("Done:", "Stopped at step", "Diverged at step"):
        if marker in body:
            return marker
    return None


def cli_metrics(tmp_path, settings: dict[str, str]) -> pd.DataFrame:
    out = tmp_path / "cli"
    args = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    subprocess.run([sys.executable, "-m", "rnnlab", "run", *args, "--quiet", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    return pd.read_csv(out / "metrics.csv")


def loss_curve(page) -> np.ndarray:
    c = chart(page, "loss")
    assert c is not None, [x["title"] for x in charts(page)]
    tr = max(c["traces"], key=lambda t: len(t["y"] or []))
    return np.asarray(tr["y"], dtype=float)


# ---- the Lab -------------------------------------------------------------------------------------

def test_lab_at_defaults_shows_the_heatmap(server, page):
    open_app(page, server)
    assert wait_for(lambda: heatmap_signature(page), what="heatmap")
    assert exceptions(page) == 0
    titles = " ".join(c["title"] for c in charts(page)).lower()
    assert "eigenvalues" in titles or len(charts(page)) >= 3
    page.screenshot(path=str(ARTIFACTS / "lab.png"), full_page=True)


def test_preset_link_sets_the_controls(server, page):
    open_app(page, server, "/?preset=exploding-clipped&seq_len=30")
    assert number_input(page, "Spectral radius rho").input_value() == "2"
    assert float(number_input(page, "Clip threshold").input_value()) == 1.0
    assert number_input(page, "Sequence length T").input_value() == "30"
    assert exceptions(page) == 0


def test_locked_link_holds_when_the_student_picks_a_preset(server, page):
    open_app(page, server, "/?act=sigmoid&rho=0.9&hide=rho,act&seq_len=20&hidden=8")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert number_input(page, "Spectral radius rho").count() == 0  # hidden by the link
    sidebar.get_by_role("combobox", name="Preset").click()
    page.get_by_role("option", name="Exploding gradients, no clipping").click()
    wait_for(lambda: query(page).get("preset") == "exploding", what="the preset in the URL")
    wait_idle(page)
    q = query(page)
    assert (q.get("act"), q.get("rho")) == ("sigmoid", "0.9") and set(q["hide"].split(",")) == {"rho", "act"}
    assert "seq_len" not in q and "hidden" not in q  # the preset's other settings did apply
    caption = page.locator('[data-testid="stMain"]').get_by_text("rnn (sigmoid)").first.inner_text()
    assert "ρ = 0.9" in caption and "task sine" in caption
    assert "Set by the link" in sidebar.inner_text() and exceptions(page) == 0


def test_changing_rho_changes_the_url_and_the_heatmap(server, page):
    open_app(page, server)
    before = wait_for(lambda: heatmap_signature(page), what="heatmap")
    box = number_input(page, "Spectral radius rho")
    box.fill("0.5")
    box.press("Enter")
    wait_for(lambda: query(page).get("rho") == "0.5", what="rho=0.5 in the URL")
    wait_for(lambda: (s := heatmap_signature(page)) and s != before, what="a new heatmap")
    assert exceptions(page) == 0


def test_train_a_short_run_and_match_the_cli(server, page, tmp_path):
    open_app(page, server, "/?" + TINY + "&seed=3")
    assert train_and_wait(page) == "Done:"
    wait_idle(page)
    ours = loss_curve(page)
    ref = cli_metrics(tmp_path, {"seq_len": "20", "hidden": "8", "steps": "15", "snapshots": "2",
                                 "seed": "3"})
    np.testing.assert_allclose(ours, ref.groupby("step").seq_loss.first().to_numpy(), rtol=1e-5)
    assert exceptions(page) == 0
    page.screenshot(path=str(ARTIFACTS / "lab-trained.png"), full_page=True)


def test_stop_keeps_what_was_trained(server, page):
    open_app(page, server, "/?steps=5000&seq_len=100&hidden=64")
    main_button(page, "Train").click()
    wait_for(lambda: "Training: step" in page.content(), 120, what="training to start")
    page.wait_for_timeout(1500)
    main_button(page, "Stop").click()
    assert wait_for(lambda: _final_status(page), 60, what="the run to stop") == "Stopped at step"
    wait_idle(page)
    assert len(loss_curve(page)) >= 1
    assert exceptions(page) == 0


def test_share_link_reopens_the_same_view(server, browser, page):
    open_app(page, server, "/?act=relu&rho=1.3&init=orthogonal&seq_len=40&norm=rms")
    sig = wait_for(lambda: heatmap_signature(page), what="heatmap")
    link = query(page)
    ctx = browser.new_context()
    other = ctx.new_page()
    other.goto(page.evaluate("() => location.href"))
    wait_idle(other)
    assert query(other) == link
    assert wait_for(lambda: heatmap_signature(other), what="heatmap") == sig
    assert number_input(other, "Spectral radius rho").input_value() == "1.3"
    ctx.close()


@pytest.mark.parametrize("path,name", [("/compare?preset=exploding&b=clip:1&steps=3&seq_len=12&hidden=6",
                                        "compare"), ("/theory", "theory"), ("/presets", "presets")])
def test_other_pages_render_their_charts(server, page, path, name):
    open_app(page, server, path)
    if name != "presets":
        wait_for(lambda: len(charts(page)) >= 2, what="charts")
    assert exceptions(page) == 0
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)



def test_compare_refuses_a_hostile_upload_and_keeps_working(server, page, tmp_path):
    """Issue 18: a hostile zip on /compare ("Finished runs and exported files") is refused with one
    message naming the file and the field; good exports uploaded next open and are compared."""
    import io
    import zipfile

    from rnnlab import RunConfig, run

    good = [run(RunConfig(seq_len=12, hidden=6, steps=3, batch=4, snapshots=2, seed=s)) for s in (0, 1)]
    files = good[0].files()  # metrics.csv: 25 MB of one row repeated, about 60 KB deflated
    row = b",".join([b"0"] * len(good[0].metrics.columns)) + b"\n"
    files["metrics.csv"] = files["metrics.csv"].split(b"\n", 1)[0] + b"\n" + row * 900_000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    hostile = tmp_path / "hostile.zip"
    hostile.write_bytes(buf.getvalue())
    exports = [tmp_path / "run-a.zip", tmp_path / "run-b.zip"]
    for path, r in zip(exports, good):
        path.write_bytes(r.to_zip())
    open_app(page, server, "/compare?seq_len=12&hidden=6")
    page.get_by_text("Finished runs and exported files", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploader.set_input_files(str(hostile))
    refusal = wait_for(lambda: [n for n in notices(page) if "hostile.zip was not opened" in n],
                       what="the refusal")
    assert "metrics.csv: unpacks to" in refusal[0] and "times its packed size" in refusal[0]
    assert exceptions(page) == 0
    uploader.set_input_files([str(p) for p in exports])
    wait_for(lambda: chart(page, "Loss") is not None, what="the comparison of the two good runs")
    wait_idle(page)
    assert exceptions(page) == 0
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "Something went wrong" not in body and "Traceback" not in body and "Error:" not in body
    page.screenshot(path=str(ARTIFACTS / "compare-uploads.png"), full_page=True)


# ---- concurrency ---------------------------------------------------------------------------------

def test_eight_sessions_train_at_once_and_each_sees_its_own_numbers(server, browser, tmp_path):
    sessions = []
    for i in range(8):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = ctx.new_page()
        pg.set_default_timeout(120_000)
        settings = {"seq_len": str(12 + i), "hidden": "6", "steps": "12", "snapshots": "2",
                    "seed": str(100 + i), "lr": "0.05"}
        pg.goto(server + "/?" + "&".join(f"{k}={v}" for k, v in settings.items()))
        sessions.append((ctx, pg, settings))
    for _, pg, _ in sessions:
        wait_idle(pg)
    for _, pg, _ in sessions:  # start all, then wait: they overlap on the server
        main_button(pg, "Train").click()
    for i, (ctx, pg, settings) in enumerate(sessions):
        assert wait_for(lambda pg=pg: _final_status(pg), 300, poll=0.5, what=f"session {i}") == "Done:"
        wait_idle(pg)
        ours = loss_curve(pg)
        ref = cli_metrics(tmp_path / str(i), settings)
        np.testing.assert_allclose(ours, ref.groupby("step").seq_loss.first().to_numpy(), rtol=1e-5)
        assert exceptions(pg) == 0
        ctx.close()


# ---- hostile and malformed links -----------------------------------------------------------------

HOSTILE = [
    "hidden=abc", "hidden=-5", "hidden=1e9", "hidden=NaN", "hidden=0x10", "hidden=64.5",
    "rho=inf", "rho=-inf", "rho=nan", "rho=1e308", "rho=0", "rho=1,5", "rho=" + "1" * 5000,
    "rho=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "act=gelu", "act=", "act=t%C3%A4nh",
    "cell=transformer", "init=%27%3B%20DROP%20TABLE%20runs%3B--", "seq_len=-1",
    "seq_len=99999999999999999999", "seq_len=1.5", "seq_len=1e400", "seq_len=10&tbptt=500",
    "clip=-3", "clip_mode=both", "lr=0", "lr=abc", "lr=1e-400", "steps=-1", "steps=1e12",
    "batch=0", "seed=-1", "seed=1e100", "leak=1", "leak=2", "norm=l1", "snapshots=0",
    "snapshots=100000", "train_recurrent=maybe", "teacher_forcing=%F0%9F%92%A5",
    "preset=nope", "preset=%00", "hide=rho,%3Cb%3Ebold%3C%2Fb%3E", "optimizer=lbfgs",
    "task=%E2%80%AE%E2%80%ADadding", "omega=1&cell=gru", "crange=weird",
    "hidden=64&hidden=abc", "rho=1&rho=2&rho=x", "x=%27%22%3E%3Csvg%2Fonload%3Dalert(1)%3E&rho=-2",
]


def test_hostile_links_render_with_a_notice_and_no_exception(server, page):
    assert len(HOSTILE) >= 40
    failures = []
    for q in HOSTILE:
        page.goto(server + "/?" + q)
        wait_idle(page)
        if exceptions(page) or not notices(page):
            failures.append((q[:60], exceptions(page), notices(page)[:1]))
        if page.evaluate("() => window.__xss === true"):
            failures.append((q[:60], "script ran"))
    assert not failures, failures
