"""The friendly app layer: rnnlab raises, pages explain. No traceback ever reaches the page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from rnnlab import ConfigError

log = logging.getLogger("rnnlab.ui")


def message(e: BaseException) -> str:
    """One line for a person: what went wrong, in rnnlab's own words where it has them."""
    if isinstance(e, ConfigError):
        return f"That setting is not allowed — {e}"
    if isinstance(e, (ValueError, FileNotFoundError)):
        return str(e)
    if isinstance(e, MemoryError):
        return "This configuration needs more memory than the server has. Try a shorter sequence or a " \
               "smaller hidden size."
    # No exception type or internals: they mean nothing to a student and can reveal the server's code.
    return "Something went wrong here. The details are in the server log."


@contextmanager
def guard(what: str = "") -> Iterator[None]:
    """Catch rnnlab's exceptions (and anything else) in a page body and show st.error instead.

    Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and passes through.
    """
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the app layer catches everything a page can raise
        log.exception("page error%s", f" in {what}" if what else "")
        st.error((f"**{what}:** " if what else "") + message(e), icon="🚫")
