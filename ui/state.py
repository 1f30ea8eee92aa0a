"""The view's state: sidebar controls generated from `rnnlab.config.FIELDS`, kept in sync with the URL.

One import for the pages and app.py. The code lives in three modules, one per concern:

- `ui.url`: the URL <-> controls binding (parse a link, seed the controls, lock `hide=` keys,
  resolve the `Screen`, write the address bar).
- `ui.sidebar`: the sidebar's widgets (one control per field, the preset picker, link notices).
- `ui.links`: shareable links (the app's address, a view's link, a preset's link, the Share box).

Every name that used to be defined here is re-exported, so `from ui.state import X` keeps working.
"""

from __future__ import annotations

from .links import base_url, preset_link_params, query_string, share_box, share_url
from .sidebar import (
    APPLIES,
    EXPANDED,
    STEP,
    cap_note,
    controls,
    preset_picker,
    show_notices,
    task_line,
)
from .url import (
    CFG,
    HIDE,
    PRESET,
    UI,
    UI_FIELD,
    UI_FIELDS,
    URL_KEYS,
    Lock,
    Screen,
    apply_settings,
    lock,
    parse_url,
    resolve,
    set_controls,
    sync_from_url,
    url_params,
    write_url,
)

__all__ = [
    "APPLIES",
    "CFG",
    "EXPANDED",
    "HIDE",
    "PRESET",
    "STEP",
    "UI",
    "UI_FIELD",
    "UI_FIELDS",
    "URL_KEYS",
    "Lock",
    "Screen",
    "apply_settings",
    "base_url",
    "cap_note",
    "controls",
    "lock",
    "parse_url",
    "preset_link_params",
    "preset_picker",
    "query_string",
    "resolve",
    "set_controls",
    "share_box",
    "share_url",
    "show_notices",
    "sync_from_url",
    "task_line",
    "url_params",
    "write_url",
]
