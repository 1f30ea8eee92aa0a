"""The Sweep page in a real browser: a small grid fills in cell by cell, and a cell's link opens the Lab
with that configuration."""

from __future__ import annotations

import math

from pw import chart, exceptions, main_button, number_input, wait_for, wait_idle

AXES = "axis=rho%3D0.5%2C1.5%2C2.5&axis=act%3Dtanh%2Crelu"


def test_a_small_grid_fills_in_and_a_cell_opens_in_the_lab(server, page):
    page.goto(f"{server}/sweep?hidden=8&seq_len=12&{AXES}")
    wait_idle(page)
    assert exceptions(page) == 0
    main_button(page, "Run sweep").click()

    def filled():
        c = chart(page, "decay rate")
        if c is None:
            return None
        z = [v for row in c["traces"][0]["z"] for v in row]
        return z if len(z) == 6 and all(v is not None and math.isfinite(v) for v in z) else None

    z = wait_for(filled, timeout=120, what="the diagram's 6 cells")
    assert min(z) < 0 < max(z)  # rho 0.5 vanishes, rho 2.5 explodes
    wait_for(lambda: "Done: 6 of 6 cells" in page.locator("[data-testid='stMain']").inner_text(), 30)
    traces = [t["name"] for t in chart(page, "decay rate")["traces"][1:]]
    assert "mean field χ = 1" in traces
    link = page.get_by_role("link", name="Open rho = 0.5, act = tanh in the Lab")
    href = link.get_attribute("href")
    assert "rho=0.5" in href and "hidden=8" in href and "seq_len=12" in href
    page.goto(href)
    wait_idle(page)
    assert exceptions(page) == 0
    assert number_input(page, "Spectral radius rho").input_value() == "0.5"
    assert number_input(page, "Hidden size").input_value() == "8"
