"""The friendly app layer: rnnlab raises, pages explain. No traceback ever reaches the page.

A page shows one line for a person; the exception itself (type, message, traceback) goes to the
server log only, since it can name server paths and internals that are none of a visitor's business.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rnnlab import ConfigError

from .text import clip, plain

log = logging.getLogger("rnnlab.ui")

OURS = ("rnnlab.", "ui.")  # modules whose ValueError messages are written for people
MESSAGE_MAX = 300  # characters of such a message shown on the page


def message(e: BaseException) -> str:
    """One line for a person: what went wrong, in rnnlab's own words where it has them."""
    if isinstance(e, ConfigError):
        return f"That setting is not allowed — {_cut(str(e))}"
    if isinstance(e, ValueError) and _raised_in(e, OURS):
        return _cut(str(e))
    if isinstance(e, MemoryError):
        return (
            "This configuration needs more memory than the server has. Try a shorter sequence or a "
            "smaller hidden size."
        )
    if isinstance(e, OSError) and e.errno is None and _raised_in(e, OURS):
        return _cut(str(e))  # raised with our words ("zip: not a run export (missing ...)")
    if isinstance(e, OSError):  # the system's: it names server paths
        return "A file could not be read or written on the server. The details are in the server log."
    return "Something went wrong here. The details are in the server log."


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def _raised_in(e: BaseException, prefixes: tuple[str, ...]) -> bool:
    """Whether the innermost Python frame of e's traceback is in one of these packages (a `raise` of
    ours, or a built-in called there); numpy's or torch's own errors are not."""
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith(prefixes)


@contextmanager
def guard(what: str = "") -> Iterator[None]:
    """Catch rnnlab's exceptions (and anything else) in a page body and show st.error instead.

    Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and passes through.
    `what` may be a person's file name: it is shown as text, like the message.
    """
    import streamlit as st  # here, not at the top: message() serves Streamlit-free code (ui.runs, ui.worker)

    try:
        yield
    except Exception as e:
        log.exception("page error%s", f" in {clip(what)!r}" if what else "")
        st.error((f"**{plain(clip(what))}:** " if what else "") + plain(message(e)), icon="🚫")
