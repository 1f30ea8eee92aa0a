"""Shared by every test: the figures the app builds without Plotly's checks are checked here."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from rnnlab.plots import style


def _as_sent(fig: go.Figure) -> dict:
    """The JSON the browser would get (Streamlit sends pio.to_json of the figure)."""
    return json.loads(pio.to_json(fig, validate=False))


def revalidate(fig: go.Figure) -> None:
    """Build the figure again with every property checked (raises on an unknown property or a bad
    value) and require the very JSON the unchecked build sends."""
    checked = go.Figure(fig.to_dict())
    assert _as_sent(checked) == _as_sent(fig)


@pytest.fixture(autouse=True, scope="session")
def _check_every_figure():
    """Each figure style.figure builds in any test (AppTest pages included) is re-validated."""
    style.FIGURE_CHECKS.append(revalidate)
    yield
    style.FIGURE_CHECKS.remove(revalidate)
